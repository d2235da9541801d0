//go:build deps

// Package deps pins the prometheus-adapter main package for this build module: the imports of its main
// package that live outside the standard library, so that go.sum covers them.
package deps

import (
	_ "k8s.io/api/core/v1"
	_ "k8s.io/apimachinery/pkg/apis/meta/v1"
	_ "k8s.io/apiserver/pkg/endpoints/openapi"
	_ "k8s.io/apiserver/pkg/server"
	_ "k8s.io/client-go/metadata"
	_ "k8s.io/client-go/metadata/metadatainformer"
	_ "k8s.io/client-go/rest"
	_ "k8s.io/client-go/tools/clientcmd"
	_ "k8s.io/client-go/transport"
	_ "k8s.io/component-base/logs"
	_ "k8s.io/klog/v2"
	_ "sigs.k8s.io/custom-metrics-apiserver/pkg/apiserver"
	_ "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd"
	_ "sigs.k8s.io/custom-metrics-apiserver/pkg/provider"
	_ "sigs.k8s.io/metrics-server/pkg/api"
	_ "sigs.k8s.io/prometheus-adapter/pkg/api/generated/openapi"
	_ "sigs.k8s.io/prometheus-adapter/pkg/client"
	_ "sigs.k8s.io/prometheus-adapter/pkg/client/metrics"
	_ "sigs.k8s.io/prometheus-adapter/pkg/config"
	_ "sigs.k8s.io/prometheus-adapter/pkg/custom-provider"
	_ "sigs.k8s.io/prometheus-adapter/pkg/external-provider"
	_ "sigs.k8s.io/prometheus-adapter/pkg/naming"
	_ "sigs.k8s.io/prometheus-adapter/pkg/resourceprovider"
)
