//go:build deps

// Package deps pins the JobSet controller manager for this build module: the imports of its main
// package that live outside the standard library, so that go.sum covers them.
package deps

import (
	_ "k8s.io/apiserver/pkg/util/feature"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	_ "sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	_ "sigs.k8s.io/jobset/pkg/controllers"
	_ "sigs.k8s.io/jobset/pkg/util/cert"
	_ "sigs.k8s.io/jobset/pkg/util/tlsconfig"
	_ "sigs.k8s.io/jobset/pkg/webhooks"
)
