"""The node side of the NVIDIA DRA driver for simulated GPU nodes.

On a real GPU node the driver's kubelet plugin discovers GPUs through NVML and publishes them as
a ResourceSlice. Simulated nodes have no GPUs and no kubelet, so this process publishes, for every
node that uses DRA, the ResourceSlice that the plugin would publish there: one pool named after the
node, one device per GPU with the attributes the real driver sets (uuid, productName, brand,
architecture, cudaComputeCapability, driverVersion, cudaDriverVersion, PCI bus ID) and the GPU's
memory as capacity. A node whose GPUs are partitioned with MIG (GPU Feature Discovery's
nvidia.com/mig-<profile>.count labels) gets the driver's MIG devices instead: named as the driver
names them (gpu-<minor>-mig-<profile>-<profile id>-<placement>), type "mig", the profile and the
parent GPU's UUID, the profile's memory and the memory slices it occupies as capacity (the engine
counts that NVML reports per profile are not simulated). It keeps the slices in step as nodes come
and go. kube-scheduler allocates
ResourceClaims against these slices exactly as it does against a real driver's.

    python -m aicluster.simulators.gpu_dra_driver --kubeconfig FILE
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from aicluster.catalog import GpuProduct, load_catalog
from aicluster.mig import MigDevice, place
from aicluster.simulators.gpu_identity import gpu_pci_bus_id, gpu_uuid, mig_uuid
from aicluster.simulators.signals import exit_on_stop_signals

LOG = logging.getLogger("gpu-dra-driver")
GROUP, VERSION, PLURAL = "resource.k8s.io", "v1", "resourceslices"
MANAGED_LABEL = "aicluster.io/simulated-driver"


def _architecture(family: str) -> str:
    return "-".join(part.capitalize() for part in family.split("-")) if family else "Unknown"


def _version(*parts: str) -> str:
    numbers = [part for part in parts if part]
    while len(numbers) < 3:
        numbers.append("0")
    return ".".join(numbers[:3])


def _mig_layout(product: GpuProduct | None, labels: dict[str, str], gpus: int) -> list[MigDevice]:
    """The MIG devices of one GPU, from the node's per-profile count labels; [] when unpartitioned."""
    if product is None or gpus == 0 or labels.get("nvidia.com/mig.capable") != "true":
        return []
    devices = {}
    for key, value in labels.items():
        if key.startswith("nvidia.com/mig-") and key.endswith(".count") and int(value) > 0:
            devices[key.removeprefix("nvidia.com/mig-").removesuffix(".count")] = int(value) // gpus
    return place(product, devices) if devices else []


def device_slice(node: dict[str, Any], driver_name: str) -> dict[str, Any]:
    """The ResourceSlice that the NVIDIA DRA kubelet plugin would publish for this node."""
    name = node["metadata"]["name"]
    labels = node["metadata"].get("labels", {})
    count = int(labels.get("nvidia.com/gpu.count", "0"))
    product_label = labels.get("nvidia.com/gpu.product", "")
    product = next((p for p in load_catalog().values() if p.product_label == product_label), None)
    product_name = product.dra_product_name if product else product_label.replace("-", " ")
    memory_mib = int(labels.get("nvidia.com/gpu.memory", "0"))
    compute = _version(labels.get("nvidia.com/gpu.compute.major", ""),
                       labels.get("nvidia.com/gpu.compute.minor", ""))
    driver = _version(labels.get("nvidia.com/cuda.driver.major", ""),
                      labels.get("nvidia.com/cuda.driver.minor", ""),
                      labels.get("nvidia.com/cuda.driver.rev", ""))
    cuda = _version(labels.get("nvidia.com/cuda.runtime.major", ""),
                    labels.get("nvidia.com/cuda.runtime.minor", ""))
    layout = _mig_layout(product, labels, count)
    devices = []
    for minor in range(count):
        common = {
            "productName": {"string": product_name},
            "brand": {"string": "Nvidia"},
            "architecture": {"string": _architecture(labels.get("nvidia.com/gpu.family", ""))},
            "cudaComputeCapability": {"version": compute},
            "driverVersion": {"version": driver},
            "cudaDriverVersion": {"version": cuda},
            "resource.kubernetes.io/pciBusID": {"string": gpu_pci_bus_id(minor)},
        }
        if not layout:
            devices.append({
                "name": f"gpu-{minor}",
                "attributes": {"type": {"string": "gpu"}, "uuid": {"string": gpu_uuid(name, minor)},
                               **common},
                "capacity": {"memory": {"value": f"{memory_mib}Mi"}},
            })
            continue
        for mig in layout:
            start, size = mig.placement_start, mig.profile.memory_slices
            capacity = {"memory": {"value": f"{mig.profile.memory_mib}Mi"}}
            capacity.update({f"memorySlice{index}": {"value": "1"} for index in range(start, start + size)})
            profile_name = mig.profile.name.replace(".", "")
            devices.append({
                "name": f"gpu-{minor}-mig-{profile_name}-{mig.profile.profile_id}-{start}",
                "attributes": {
                    "type": {"string": "mig"},
                    "uuid": {"string": mig_uuid(name, minor, start)},
                    "parentUUID": {"string": gpu_uuid(name, minor)},
                    "profile": {"string": mig.profile.name},
                    **common,
                },
                "capacity": capacity,
            })
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ResourceSlice",
        "metadata": {
            "name": f"{name}-{driver_name}",
            "labels": {MANAGED_LABEL: "true"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name,
                                 "uid": node["metadata"]["uid"], "controller": True}],
        },
        "spec": {
            "driver": driver_name,
            "nodeName": name,
            "pool": {"name": name, "generation": 1, "resourceSliceCount": 1},
            "devices": devices,
        },
    }


class Publisher:
    """Keeps one ResourceSlice per selected node."""

    def __init__(self, api_client: client.ApiClient, driver_name: str, node_selector: str) -> None:
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.serializer = api_client
        self.driver_name = driver_name
        self.node_selector = node_selector

    def _node_dict(self, node: client.V1Node) -> dict[str, Any]:
        return self.serializer.sanitize_for_serialization(node)

    def _slices(self) -> dict[str, dict[str, Any]]:
        items = self.custom.list_cluster_custom_object(
            GROUP, VERSION, PLURAL, label_selector=f"{MANAGED_LABEL}=true")["items"]
        return {item["spec"]["nodeName"]: item for item in items
                if item["spec"].get("driver") == self.driver_name}

    def publish(self, node: dict[str, Any], existing: dict[str, Any] | None) -> None:
        wanted = device_slice(node, self.driver_name)
        if existing is None:
            self.custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, wanted)
            LOG.info("published %d GPUs of node %s", len(wanted["spec"]["devices"]),
                     node["metadata"]["name"])
        elif existing["spec"].get("devices") != wanted["spec"]["devices"]:
            wanted["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
            generation = int(existing["spec"]["pool"].get("generation", 1)) + 1
            wanted["spec"]["pool"]["generation"] = generation
            self.custom.replace_cluster_custom_object(
                GROUP, VERSION, PLURAL, existing["metadata"]["name"], wanted)
            LOG.info("updated the GPUs of node %s", node["metadata"]["name"])

    def withdraw(self, slice_object: dict[str, Any]) -> None:
        try:
            self.custom.delete_cluster_custom_object(
                GROUP, VERSION, PLURAL, slice_object["metadata"]["name"])
            LOG.info("withdrew the GPUs of node %s", slice_object["spec"]["nodeName"])
        except ApiException as error:
            if error.status != 404:
                raise

    def resync(self) -> str:
        """Brings every slice in step with the nodes; returns the node list's resourceVersion."""
        nodes = self.core.list_node(label_selector=self.node_selector)
        slices = self._slices()
        for node in nodes.items:
            data = self._node_dict(node)
            self.publish(data, slices.pop(node.metadata.name, None))
        for orphan in slices.values():
            self.withdraw(orphan)
        return nodes.metadata.resource_version

    def handle(self, event_type: str, node: client.V1Node) -> None:
        name = node.metadata.name
        existing = self._slices().get(name)
        if event_type == "DELETED" or node.metadata.deletion_timestamp:
            if existing is not None:
                self.withdraw(existing)
            return
        self.publish(self._node_dict(node), existing)


def run(publisher: Publisher, resync_seconds: int) -> None:
    # Ends inside the blocking watch, at once; the slices stay published, as a real plugin's do
    # while it restarts.
    exit_on_stop_signals(LOG)
    while True:
        try:
            resource_version = publisher.resync()
            stream = watch.Watch().stream(
                publisher.core.list_node, label_selector=publisher.node_selector,
                resource_version=resource_version, timeout_seconds=resync_seconds)
            for event in stream:
                publisher.handle(event["type"], event["object"])
        except ApiException as error:
            LOG.warning("API error %s: %s; resyncing", error.status, error.reason)
            time.sleep(2)
        except Exception:  # the process must keep publishing through transient failures
            LOG.exception("unexpected error; resyncing")
            time.sleep(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--driver-name", default="gpu.nvidia.com")
    parser.add_argument("--node-selector", default="aicluster.io/gpu-access=dra")
    parser.add_argument("--resync-seconds", type=int, default=60)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    api_client = config.new_client_from_config(config_file=args.kubeconfig)
    run(Publisher(api_client, args.driver_name, args.node_selector), args.resync_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
