//go:build deps

// Package deps pins Karpenter's KWOK provider for this build module.
package deps

import _ "sigs.k8s.io/karpenter/kwok/cloudprovider"
