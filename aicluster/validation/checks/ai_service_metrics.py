"""ai_service_metrics: the monitoring system discovers a workload that exposes Prometheus metrics, scrapes
it, and its query API returns exactly what the workload counted.

As upstream's TestAIServiceMetrics does, scraping is configured by a ServiceMonitor where the cluster
serves that kind (prometheus-operator); elsewhere by the Service's prometheus.io scrape annotations."""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request
from typing import Any

from aicluster.validation import stand_ins
from aicluster.validation.checks import requirement
from aicluster.validation.cluster import CheckContext, is_simulated
from aicluster.validation.results import Outcome, Status, fail, skip

PROMETHEUS_NAMES = ("prometheus", "prometheus-operated", "prometheus-server", "prometheus-k8s")
REQUESTS = 10
# Annotations by which Prometheus's Kubernetes service discovery keeps a Service's endpoints.
SCRAPE_ANNOTATIONS = {"prometheus.io/scrape": "true", "prometheus.io/path": "/metrics"}
MONITORING_GROUP, MONITORING_VERSION = "monitoring.coreos.com", "v1"


def service_monitor(ctx: CheckContext, namespace: str, name: str) -> dict[str, Any]:
    """A ServiceMonitor that selects this run's Service in namespace and scrapes its /metrics."""
    return {
        "apiVersion": f"{MONITORING_GROUP}/{MONITORING_VERSION}",
        "kind": "ServiceMonitor",
        "metadata": {"name": name, "namespace": namespace, "labels": ctx.labels()},
        "spec": {
            "selector": {"matchLabels": ctx.labels()},
            "namespaceSelector": {"matchNames": [namespace]},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "5s"}],
        },
    }


def prometheus_services(ctx: CheckContext) -> list[Any]:
    return [
        s
        for s in ctx.cluster.core.list_service_for_all_namespaces().items
        if s.metadata.name in PROMETHEUS_NAMES
        or (s.metadata.labels or {}).get("app.kubernetes.io/name") == "prometheus"
    ]


class InferenceStub:
    """An inference server's metrics: requests served, their latency, and the queue depth."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.requests = 0
        self.lock = threading.Lock()

    def respond(self, path: str) -> tuple[int, str, str]:
        if path.startswith("/v1/completions"):
            with self.lock:
                self.requests += 1
            return 200, "application/json", '{"choices": [{"text": "ok"}]}'
        if path.startswith("/metrics"):
            return 200, "text/plain; version=0.0.4", self.metrics()
        return 404, "text/plain", "not found\n"

    def metrics(self) -> str:
        with self.lock:
            count = self.requests
        label = f'conformance_run="{self.run}"'
        return (
            "\n".join(
                [
                    "# HELP ai_conformance_inference_requests_total Inference requests served.",
                    "# TYPE ai_conformance_inference_requests_total counter",
                    f"ai_conformance_inference_requests_total{{{label}}} {count}",
                    "# HELP ai_conformance_inference_request_duration_seconds Inference request latency.",
                    "# TYPE ai_conformance_inference_request_duration_seconds histogram",
                    f'ai_conformance_inference_request_duration_seconds_bucket{{{label},le="0.1"}} {count}',
                    f'ai_conformance_inference_request_duration_seconds_bucket{{{label},le="+Inf"}} {count}',
                    f"ai_conformance_inference_request_duration_seconds_sum{{{label}}} {0.01 * count}",
                    f"ai_conformance_inference_request_duration_seconds_count{{{label}}} {count}",
                    "# HELP ai_conformance_inference_queue_depth Requests waiting.",
                    "# TYPE ai_conformance_inference_queue_depth gauge",
                    f"ai_conformance_inference_queue_depth{{{label}}} 0",
                ]
            )
            + "\n"
        )


@requirement("ai_service_metrics", "TestAIServiceMetrics", timeout=180)
def ai_service_metrics(ctx: CheckContext) -> Outcome:
    services = prometheus_services(ctx)
    if not services:
        raise fail(
            "no monitoring system found: no Prometheus Service (prometheus, prometheus-operated, "
            "app.kubernetes.io/name=prometheus) in any namespace"
        )
    service = services[0]
    port = service.spec.ports[0]
    ctx.implementation = (
        f"Prometheus (Service {service.metadata.namespace}/{service.metadata.name}:{port.port})"
    )

    def query(expression: str) -> list[dict[str, Any]] | None:
        text = ctx.cluster.service_get(
            service, port, "/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        )
        answer = json.loads(text) if text and text.startswith("{") else None
        return answer["data"]["result"] if answer and answer.get("status") == "success" else None

    if query("up") is None:
        raise fail(f"the Prometheus query API of {ctx.implementation} does not answer")
    ctx.record(f"{ctx.implementation} answers queries")
    nodes = ctx.cluster.nodes()
    ctx.uses_nodes(nodes)
    address = stand_ins.host_address() if any(is_simulated(node) for node in nodes) else None
    if address is None:
        raise skip(
            f"{ctx.implementation} answers queries; on a cluster whose nodes run containers this check "
            "does not yet deploy its own inference pod"
        )
    stub = InferenceStub(ctx.run_id)
    with (
        ctx.namespace() as namespace,
        stand_ins.serving(stand_ins.text_handler(stub.respond), address) as served,
    ):
        # Nothing tells Prometheus about this workload but a ServiceMonitor or the Service's annotations.
        if "servicemonitors" in ctx.cluster.served_resources(f"{MONITORING_GROUP}/{MONITORING_VERSION}"):
            stand_ins.publish(ctx, namespace, "inference", address, served, 8080)
            ctx.cluster.custom.create_namespaced_custom_object(
                MONITORING_GROUP,
                MONITORING_VERSION,
                namespace,
                "servicemonitors",
                service_monitor(ctx, namespace, "inference"),
            )
            discovery = "a ServiceMonitor"
            ctx.record(
                f"created the ServiceMonitor {namespace}/inference",
                "it selects the Service by this run's label",
            )
        else:
            stand_ins.publish(ctx, namespace, "inference", address, served, 8080, SCRAPE_ANNOTATIONS)
            discovery = "the Service's scrape annotations"
        for _ in range(REQUESTS):
            with urllib.request.urlopen(f"http://{address}:{served}/v1/completions", timeout=5) as response:
                response.read()
        ctx.record(f"sent {REQUESTS} requests to the inference workload", f"it counted {stub.requests}")
        selector = f'conformance_run="{ctx.run_id}"'

        def counted() -> list[dict[str, Any]] | None:
            result = query(f"ai_conformance_inference_requests_total{{{selector}}}")
            return result if result and float(result[0]["value"][1]) == REQUESTS else None

        series = ctx.wait(counted, 120, f"Prometheus to discover, scrape and report {REQUESTS} requests")
        labels = series[0]["metric"]
        latency = query(f"ai_conformance_inference_request_duration_seconds_count{{{selector}}}")
        depth = query(f"ai_conformance_inference_queue_depth{{{selector}}}")
        ctx.record(
            "queried the workload's metrics",
            f"requests_total={series[0]['value'][1]} with labels "
            f"{labels}; latency count {latency and latency[0]['value'][1]}; queue depth "
            f"{depth and depth[0]['value'][1]}",
        )
        if not latency or not depth:
            raise fail("the latency histogram or the queue depth of the workload was not scraped")
        if labels.get("namespace") != namespace:
            raise fail(f"the scraped series does not name the workload's namespace: {labels}")
    return Outcome(
        Status.PASS,
        f"{ctx.implementation} discovered the workload through {discovery}, scraped it, and reported all "
        f"{REQUESTS} requests with latency and queue depth",
    )
