//go:build deps

// Package deps pins prometheus-operator's operator command for this build module: the imports of its
// main package and of the module's internal packages that live outside
// the standard library, so that go.sum covers them.
package deps

import (
	_ "github.com/KimMachineGun/automemlimit/memlimit"
	_ "github.com/alecthomas/kingpin/v2"
	_ "github.com/blang/semver/v4"
	_ "github.com/go-kit/log"
	_ "github.com/go-kit/log/level"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/admission"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/alertmanager"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/k8sutil"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/kubelet"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/operator"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/prometheus/agent"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/prometheus/server"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/server"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/thanos"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/versionutil"
	_ "github.com/prometheus/client_golang/prometheus/collectors"
	_ "github.com/prometheus/client_golang/prometheus/collectors/version"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/prometheus/common/version"
	_ "go.uber.org/automaxprocs/maxprocs"
	_ "golang.org/x/sync/errgroup"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/component-base/cli/flag"
	_ "k8s.io/klog/v2"
)
