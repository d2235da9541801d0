//go:build deps

// Package deps pins the kwok and kwokctl commands for this build module.
package deps

import (
	_ "sigs.k8s.io/kwok/pkg/kwok/cmd"
	_ "sigs.k8s.io/kwok/pkg/kwokctl/cmd"
)
