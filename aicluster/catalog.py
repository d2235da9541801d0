"""The GPU catalog: products, their node labels and the machine types that carry them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from aicluster.paths import PACKAGE_DATA

CLOUDS = ("aws", "gcp", "azure")


@dataclass(frozen=True)
class MigProfile:
    """A MIG profile such as 1g.10gb: compute slices of 7 and memory slices of 8 per instance."""

    name: str
    max_instances: int
    memory_slices: int
    profile_id: int

    @property
    def compute_slices(self) -> int:
        return int(self.name.split("g.", 1)[0])

    @property
    def memory_mib(self) -> int:
        """The nominal memory of the profile's name (NVML reports a little less)."""
        return int(self.name.split(".", 1)[1].removesuffix("gb")) * 1024


@dataclass(frozen=True)
class GpuProduct:
    """One GPU product as the catalog describes it."""

    name: str
    product_label: str
    dra_product_name: str
    memory_mib: int
    architecture: str
    compute_capability: str
    interconnect: str
    local_cpu: str
    local_memory: str
    machine_types: dict[str, dict[str, int]]
    mig_profiles: dict[str, MigProfile]

    def max_gpus_per_machine(self) -> int:
        counts = [n for shapes in self.machine_types.values() for n in shapes.values()]
        return max(counts, default=8)


@cache
def _catalog_document() -> dict[str, Any]:
    with (PACKAGE_DATA / "gpu_catalog.yaml").open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.safe_load(handle)
    return document


@cache
def load_catalog() -> dict[str, GpuProduct]:
    document = _catalog_document()
    products: dict[str, GpuProduct] = {}
    for name, entry in document["gpus"].items():
        products[name] = GpuProduct(
            name=name,
            product_label=entry["product_label"],
            dra_product_name=entry["dra_product_name"],
            memory_mib=int(entry["memory_mib"]),
            architecture=entry["architecture"],
            compute_capability=str(entry["compute_capability"]),
            interconnect=entry["interconnect"],
            local_cpu=str(entry["local_shape"]["cpu"]),
            local_memory=str(entry["local_shape"]["memory"]),
            machine_types={cloud: dict(entry["machine_types"].get(cloud) or {}) for cloud in CLOUDS},
            mig_profiles={
                profile: MigProfile(profile, int(shape["max"]), int(shape["memory_slices"]),
                                    int(shape["profile_id"]))
                for profile, shape in ((entry.get("mig") or {}).get("profiles") or {}).items()
            },
        )
    return products


def high_speed_interconnect(cloud: str, machine_type: str) -> str | None:
    """The GPU interconnect (efa, gpudirect-*, infiniband) a machine type offers, if any."""
    offered: dict[str, str] = _catalog_document().get("high_speed_networking", {}).get(cloud) or {}
    return offered.get(machine_type)


def feature_discovery_labels(product: GpuProduct, gpus_per_node: int,
                             driver_version: str, cuda_version: str) -> dict[str, str]:
    """The node labels NVIDIA GPU Feature Discovery publishes for this product and driver."""
    major, _, minor = product.compute_capability.partition(".")
    driver_major, driver_minor, driver_rev = [*driver_version.split("."), "0", "0"][:3]
    cuda_major, cuda_minor = [*cuda_version.split("."), "0"][:2]
    return {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": product.product_label,
        "nvidia.com/gpu.count": str(gpus_per_node),
        "nvidia.com/gpu.memory": str(product.memory_mib),
        "nvidia.com/gpu.family": product.architecture,
        "nvidia.com/gpu.compute.major": major,
        "nvidia.com/gpu.compute.minor": minor or "0",
        "nvidia.com/cuda.driver.major": driver_major,
        "nvidia.com/cuda.driver.minor": driver_minor,
        "nvidia.com/cuda.driver.rev": driver_rev,
        "nvidia.com/cuda.runtime.major": cuda_major,
        "nvidia.com/cuda.runtime.minor": cuda_minor,
    }
