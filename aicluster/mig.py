"""MIG layouts: where a pool's MIG devices sit on one GPU, and what the pool's nodes then advertise."""

from __future__ import annotations

from dataclasses import dataclass

from aicluster.catalog import GpuProduct, MigProfile

GPU_COMPUTE_SLICES = 7
GPU_MEMORY_SLICES = 8
NVIDIA_GPU = "nvidia.com/gpu"


class MigLayoutError(ValueError):
    """A layout that does not fit one GPU."""


@dataclass(frozen=True)
class MigDevice:
    """One MIG device of a GPU: its profile and the first memory slice it occupies."""

    profile: MigProfile
    placement_start: int


def _starts(profile: MigProfile) -> list[int]:
    # NVML places an instance at a start aligned to its memory slices, within the GPU's memory and
    # compute slices (so 4g.40gb only at 0, 3g.40gb at 0 or 4, 1g.10gb at 0..6).
    size = profile.memory_slices
    return [start for start in range(0, GPU_MEMORY_SLICES, size)
            if start + size <= GPU_MEMORY_SLICES and start + profile.compute_slices <= GPU_COMPUTE_SLICES]


def place(product: GpuProduct, devices: dict[str, int]) -> list[MigDevice]:
    """Places devices ({profile: instances}) on one GPU of product; raises MigLayoutError if they do
    not fit. Every valid placement is searched, so a layout fits exactly when NVML could create it."""
    wanted: list[MigProfile] = []
    for name, instances in devices.items():
        profile = product.mig_profiles.get(name)
        if profile is None:
            raise MigLayoutError(f"{product.name} has no MIG profile {name!r}; "
                                 f"its profiles: {', '.join(product.mig_profiles)}")
        if instances > profile.max_instances:
            raise MigLayoutError(f"{instances} x {name}: at most {profile.max_instances} fit one "
                                 f"{product.name}")
        wanted += [profile] * instances
    compute = sum(profile.compute_slices for profile in wanted)
    memory = sum(profile.memory_slices for profile in wanted)
    if compute > GPU_COMPUTE_SLICES or memory > GPU_MEMORY_SLICES:
        raise MigLayoutError(f"the layout needs {compute} compute and {memory} memory slices; a GPU has "
                             f"{GPU_COMPUTE_SLICES} and {GPU_MEMORY_SLICES}")
    wanted.sort(key=lambda profile: (-profile.memory_slices, -profile.compute_slices, profile.name))
    placed = _search(wanted, [], frozenset())
    if placed is None:
        raise MigLayoutError(f"no placement of {', '.join(f'{n} x {p}' for p, n in devices.items())} "
                             f"fits one GPU's memory slices")
    return sorted(placed, key=lambda device: (device.placement_start, device.profile.name))


def _search(remaining: list[MigProfile], placed: list[MigDevice],
            used: frozenset[int]) -> list[MigDevice] | None:
    if not remaining:
        return placed
    profile, rest = remaining[0], remaining[1:]
    for start in _starts(profile):
        slices = frozenset(range(start, start + profile.memory_slices))
        # An instance's compute slices lie within its memory slices: disjoint memory, disjoint compute.
        if slices & used:
            continue
        found = _search(rest, [*placed, MigDevice(profile, start)], used | slices)
        if found is not None:
            return found
    return None


def mig_resource(profile: str) -> str:
    """The device plugin's extended resource of a profile under the mixed strategy."""
    return f"nvidia.com/mig-{profile}"


def device_plugin_resources(gpus_per_node: int, time_slicing_replicas: int,
                            mig_devices: dict[str, int], mig_strategy: str | None) -> dict[str, int]:
    """The extended resources (name: count per node) the NVIDIA device plugin advertises."""
    if not mig_devices:
        return {NVIDIA_GPU: gpus_per_node * time_slicing_replicas}
    if mig_strategy == "single":
        return {NVIDIA_GPU: gpus_per_node * sum(mig_devices.values())}
    return {mig_resource(profile): gpus_per_node * instances for profile, instances in mig_devices.items()}


def feature_discovery_mig_labels(product: GpuProduct, gpus_per_node: int, mig_devices: dict[str, int],
                                 mig_strategy: str | None) -> dict[str, str]:
    """The labels GPU Feature Discovery adds to a node whose GPUs are partitioned: per profile under
    the mixed strategy (and on DRA pools, whose driver publishes every MIG device); under the single
    strategy the MIG device stands in for the GPU in the product, count and memory labels."""
    labels = {"nvidia.com/mig.capable": "true"}
    if mig_strategy is not None:
        labels["nvidia.com/mig.strategy"] = mig_strategy
    if mig_strategy == "single":
        ((name, instances),) = mig_devices.items()
        profile = product.mig_profiles[name]
        labels.update({
            "nvidia.com/gpu.product": f"{product.product_label}-MIG-{name}",
            "nvidia.com/gpu.count": str(gpus_per_node * instances),
            "nvidia.com/gpu.memory": str(profile.memory_mib),
        })
        return labels
    for name, instances in mig_devices.items():
        profile = product.mig_profiles[name]
        labels[f"nvidia.com/mig-{name}.count"] = str(gpus_per_node * instances)
        labels[f"nvidia.com/mig-{name}.memory"] = str(profile.memory_mib)
        labels[f"nvidia.com/mig-{name}.slices.gi"] = str(profile.compute_slices)
    return labels
