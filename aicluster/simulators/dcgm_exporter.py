"""The DCGM exporter for simulated GPU nodes.

On a real GPU node NVIDIA's DCGM exporter reads every GPU through DCGM and serves its fields in the
Prometheus text format on :9400/metrics, labelled with the GPU (gpu, UUID, pci_bus_id, device,
modelName, Hostname) and, through the kubelet's pod-resources API, with the pod, namespace and
container that hold it. Simulated nodes have no GPUs, so this process serves, for every GPU node of
the cluster, the series the exporter would serve there, under the same field names and labels:
which pod holds which GPU follows the cluster (device-plugin requests of running pods, DRA claim
allocations), and a held GPU's load is the pod's `aicluster.io/simulated-gpu-utilization`
annotation (percent; 50 when absent). `GET /metrics?node=NAME` serves one node, as one exporter per
node would; the file given by --targets-file lists one scrape target per node for Prometheus.

    python -m aicluster.simulators.dcgm_exporter --kubeconfig FILE --port 9400 --targets-file FILE
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from aicluster.simulators.gpu_identity import gpu_pci_bus_id, gpu_uuid
from aicluster.simulators.signals import exit_on_stop_signals

LOG = logging.getLogger("dcgm-exporter")
UTILIZATION_ANNOTATION = "aicluster.io/simulated-gpu-utilization"
DEFAULT_UTILIZATION = 50.0
GPU_RESOURCE = "nvidia.com/gpu"
IDLE_WATTS, WATTS_PER_PERCENT = 50.0, 3.5
FIELDS = (
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    (
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
        "counter",
        "Total number of NVLink bandwidth counters for all lanes.",
    ),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered."),
    ("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "counter", "Total number of single-bit volatile ECC errors."),
    ("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter", "Total number of double-bit volatile ECC errors."),
)


@dataclass
class Gpu:
    node: str
    index: int
    model: str
    memory_mib: int
    driver: str
    holder: tuple[str, str, str] | None = None  # namespace, pod, container
    utilization: float = 0.0


@dataclass
class ClusterGpus:
    """Every GPU of the cluster's GPU nodes and who holds it, refreshed from the API server."""

    gpus: dict[str, list[Gpu]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def replace(self, gpus: dict[str, list[Gpu]]) -> None:
        with self.lock:
            self.gpus = gpus

    def snapshot(self, node: str | None) -> list[Gpu]:
        with self.lock:
            nodes = [node] if node else sorted(self.gpus)
            return [gpu for name in nodes for gpu in self.gpus.get(name, [])]


def utilization_of(pod: Any) -> float:
    value = (pod.metadata.annotations or {}).get(UTILIZATION_ANNOTATION)
    try:
        return max(0.0, min(100.0, float(value))) if value is not None else DEFAULT_UTILIZATION
    except ValueError:
        return DEFAULT_UTILIZATION


def gpu_container(pod: Any) -> str:
    for container in pod.spec.containers:
        limits = (container.resources.limits or {}) if container.resources else {}
        if GPU_RESOURCE in limits or (container.resources and container.resources.claims):
            return container.name
    return pod.spec.containers[0].name


def read_cluster(core: client.CoreV1Api, custom: client.CustomObjectsApi) -> dict[str, list[Gpu]]:
    nodes = core.list_node(label_selector="nvidia.com/gpu.present=true").items
    pods = [
        p
        for p in core.list_pod_for_all_namespaces(field_selector="status.phase=Running").items
        if p.spec.node_name
    ]
    pods_by_uid = {p.metadata.uid: p for p in pods}
    try:
        claims = custom.list_cluster_custom_object("resource.k8s.io", "v1", "resourceclaims")["items"]
    except ApiException:
        claims = []
    gpus: dict[str, list[Gpu]] = {}
    for node in nodes:
        labels = node.metadata.labels
        count = int(labels.get("nvidia.com/gpu.count", "0") or 0)
        driver = ".".join(
            labels.get(f"nvidia.com/cuda.driver.{part}", "0") for part in ("major", "minor", "rev")
        )
        gpus[node.metadata.name] = [
            Gpu(
                node.metadata.name,
                index,
                labels.get("nvidia.com/gpu.product", "unknown").replace("-", " "),
                int(labels.get("nvidia.com/gpu.memory", "0") or 0),
                driver,
            )
            for index in range(count)
        ]
    held_through_claims: set[str] = set()
    for claim in claims:
        allocation = (claim.get("status") or {}).get("allocation") or {}
        holders = [
            pods_by_uid.get(r.get("uid")) for r in (claim.get("status") or {}).get("reservedFor") or []
        ]
        pod = next((p for p in holders if p is not None), None)
        for result in (allocation.get("devices") or {}).get("results") or []:
            node_gpus = gpus.get(result.get("pool", ""))
            device = result.get("device", "")
            if pod is None or not node_gpus or not device.startswith("gpu-"):
                continue
            index = int(device.removeprefix("gpu-"))
            if index < len(node_gpus):
                held_through_claims.add(pod.metadata.uid)
                node_gpus[index].holder = (pod.metadata.namespace, pod.metadata.name, gpu_container(pod))
                node_gpus[index].utilization = utilization_of(pod)
    for pod in sorted(pods, key=lambda p: (p.metadata.creation_timestamp, p.metadata.name)):
        node_gpus = gpus.get(pod.spec.node_name)
        wanted = sum(
            int(((c.resources.limits or {}) if c.resources else {}).get(GPU_RESOURCE, "0"))
            for c in pod.spec.containers
        )
        # Pods on DRA nodes (also those whose nvidia.com/gpu request DRA serves) hold GPUs through claims.
        if not node_gpus or not wanted or pod.spec.resource_claims or pod.metadata.uid in held_through_claims:
            continue
        replicas = int(nodes_label(nodes, pod.spec.node_name, "nvidia.com/gpu.replicas") or 1)
        free = [gpu for gpu in node_gpus if gpu.holder is None]
        for gpu in free[: max(1, -(-wanted // replicas))]:
            gpu.holder = (pod.metadata.namespace, pod.metadata.name, gpu_container(pod))
            gpu.utilization = utilization_of(pod)
    return gpus


def nodes_label(nodes: list[Any], name: str, label: str) -> str | None:
    return next(((n.metadata.labels or {}).get(label) for n in nodes if n.metadata.name == name), None)


def render(gpus: list[Gpu], uptime: float) -> str:
    lines: list[str] = []
    for name, kind, description in FIELDS:
        lines += [f"# HELP {name} {description}", f"# TYPE {name} {kind}"]
        for gpu in gpus:
            labels = {
                "gpu": str(gpu.index),
                "UUID": gpu_uuid(gpu.node, gpu.index),
                "pci_bus_id": gpu_pci_bus_id(gpu.index),
                "device": f"nvidia{gpu.index}",
                "modelName": gpu.model,
                "Hostname": gpu.node,
                "DCGM_FI_DRIVER_VERSION": gpu.driver,
            }
            if gpu.holder:
                labels.update(namespace=gpu.holder[0], pod=gpu.holder[1], container=gpu.holder[2])
            value = field_value(name, gpu, uptime)
            text = ",".join(f'{key}="{value_text}"' for key, value_text in labels.items())
            lines.append(f"{name}{{{text}}} {value:g}")
    return "\n".join(lines) + "\n"


def field_value(name: str, gpu: Gpu, uptime: float) -> float:
    load = gpu.utilization if gpu.holder else 0.0
    used = round(gpu.memory_mib * load / 100 * 0.9) if gpu.holder else 0
    return {
        "DCGM_FI_DEV_GPU_UTIL": load,
        "DCGM_FI_DEV_MEM_COPY_UTIL": round(load * 0.6),
        "DCGM_FI_DEV_FB_USED": used,
        "DCGM_FI_DEV_FB_FREE": gpu.memory_mib - used - round(gpu.memory_mib * 0.01),
        "DCGM_FI_DEV_GPU_TEMP": round(30 + load * 0.45),
        "DCGM_FI_DEV_POWER_USAGE": round(IDLE_WATTS + WATTS_PER_PERCENT * load, 1),
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL": round(uptime * load * 1e6),
        "DCGM_FI_DEV_XID_ERRORS": 0,
        "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": 0,
        "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": 0,
    }[name]


def handler_for(state: ClusterGpus) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/health":
                self._send(200, "text/plain", "OK\n")
            elif url.path == "/metrics":
                node = parse_qs(url.query).get("node", [None])[0]
                self._send(
                    200,
                    "text/plain; version=0.0.4",
                    render(state.snapshot(node), time.monotonic() - state.started),
                )
            else:
                self._send(404, "text/plain", "not found\n")

        def _send(self, status: int, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def write_targets(path: Path, port: int, nodes: list[str]) -> None:
    """One Prometheus file_sd target per node, as one exporter per node would be."""
    targets = [
        {"targets": [f"127.0.0.1:{port}"], "labels": {"__param_node": node, "node": node}} for node in nodes
    ]
    text = json.dumps(targets, indent=1)
    if path.exists() and path.read_text() == text:
        return
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--port", type=int, default=9400)
    parser.add_argument("--targets-file", type=Path, required=True)
    parser.add_argument("--refresh-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    api_client = config.new_client_from_config(config_file=args.kubeconfig)
    core, custom = client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)
    state = ClusterGpus()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    LOG.info("serving DCGM fields of simulated GPUs on 127.0.0.1:%d/metrics", args.port)

    exit_on_stop_signals(LOG)
    while True:
        try:
            gpus = read_cluster(core, custom)
            state.replace(gpus)
            write_targets(args.targets_file, args.port, sorted(gpus))
        except ApiException as error:
            LOG.warning("API error %s: %s", error.status, error.reason)
        except Exception:  # the exporter must keep serving through transient failures
            LOG.exception("unexpected error while reading the cluster")
        time.sleep(args.refresh_seconds)


if __name__ == "__main__":
    sys.exit(main())
