//go:build deps

// Package deps pins the Kubeflow Trainer controller manager for this build module: the imports of
// its main package that live outside the standard library, so that go.sum covers them.
package deps

import (
	_ "github.com/kubeflow/trainer/v2/pkg/controller"
	_ "github.com/kubeflow/trainer/v2/pkg/runtime/core"
	_ "github.com/kubeflow/trainer/v2/pkg/statusserver"
	_ "github.com/kubeflow/trainer/v2/pkg/util/cert"
	_ "github.com/kubeflow/trainer/v2/pkg/webhooks"
	_ "go.uber.org/zap"
	_ "k8s.io/apiserver/pkg/util/feature"
	_ "sigs.k8s.io/controller-runtime"
	_ "sigs.k8s.io/jobset/api/jobset/v1alpha2"
	_ "sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"
	_ "volcano.sh/apis/pkg/apis/scheduling/v1beta1"
)
