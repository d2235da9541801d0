//go:build deps

// Package deps pins the Kueue controller manager for this build module.
package deps

import _ "sigs.k8s.io/kueue/pkg/controller/core"
