//go:build deps

// Package deps pins the kubelet of the release before the pinned one, which this build module
// compiles: a node left at that release is what upgrade.yml upgrades.
package deps

import (
	_ "k8s.io/kubernetes/cmd/kubelet/app"
)
