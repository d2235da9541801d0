"""The cluster spec: one YAML file that describes a cluster, validated before anything runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aicluster.bom import load_bom
from aicluster.catalog import CLOUDS, GpuProduct, load_catalog
from aicluster.errors import FieldError, SpecError
from aicluster.mig import MigLayoutError, place
from aicluster.profiles import profile_versions
from aicluster.spec_remote import CapacityReservation, CloudSettings, Onprem, remote_target_errors

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Labels that aicluster derives from the GPU product; a spec may not set them by hand.
RESERVED_LABEL_PREFIXES = ("nvidia.com/gpu", "nvidia.com/mig", "kubernetes.io/hostname", "aicluster.io/")
MAX_LOCAL_NODES = 5000
CONFORMANCE_PROFILES = tuple(profile_versions())


Target = Literal["local", "aws", "gcp", "azure", "onprem"]
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


GpuAccess = Literal["device-plugin", "dra"]
MigStrategy = Literal["single", "mixed"]


class MigSpec(_Strict):
    """Every GPU of the pool partitioned into the same MIG devices."""

    # MIG devices per GPU by profile, e.g. {"1g.10gb": 7} or {"3g.40gb": 1, "4g.40gb": 1}.
    devices: dict[str, int] = Field(min_length=1)
    # Device plugin pools: "mixed" advertises nvidia.com/mig-<profile> per profile, "single" advertises
    # every MIG device as nvidia.com/gpu (one profile only). DRA pools publish each MIG device instead.
    strategy: MigStrategy | None = None


class GpuSpec(_Strict):
    product: str
    count: int = Field(ge=1, description="GPUs per node")
    # How pods reach the pool's GPUs: the device plugin's nvidia.com/gpu extended resource, or
    # DRA (the gpu.nvidia.com DeviceClass, which also serves nvidia.com/gpu requests).
    access: GpuAccess = "device-plugin"
    # Device plugin time-slicing: each GPU is advertised this many times (1 = no sharing).
    time_slicing_replicas: int = Field(default=1, ge=1, le=64)
    mig: MigSpec | None = None

    @property
    def mig_strategy(self) -> MigStrategy | None:
        """The device plugin's MIG strategy: None for unpartitioned GPUs and for DRA pools."""
        if self.mig is None or self.access == "dra":
            return None
        return self.mig.strategy or "mixed"


class NodeCount(_Strict):
    min: int = Field(ge=0)
    max: int = Field(ge=1)
    initial: int | None = Field(default=None, ge=0)

    @property
    def desired(self) -> int:
        return self.min if self.initial is None else self.initial


class Taint(_Strict):
    key: str
    value: str = ""
    effect: TaintEffect


class LocalResources(_Strict):
    cpu: str
    memory: str


class NodePool(_Strict):
    name: str
    gpu: GpuSpec | None = None
    nodes: NodeCount
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)
    machine_type: dict[str, str] = Field(default_factory=dict)
    resources: LocalResources | None = None
    # Cloud targets only: root disk, GPU interconnect (default: on where the machine type has it)
    # and reserved capacity.
    disk_size_gb: int | None = Field(default=None, ge=30, le=16384)
    high_speed_networking: bool | None = None
    capacity_reservation: CapacityReservation | None = None


class Components(_Strict):
    kueue: bool = True
    dra: bool = True
    device_plugin: bool = True
    cluster_autoscaler: bool = True
    observability: bool = True
    gateway: bool = True
    ai_operator: bool = True


class Tenant(_Strict):
    """A team that queues work: a Kueue ClusterQueue with a LocalQueue in each namespace."""

    name: str
    namespaces: list[str] = Field(min_length=1)
    gpu_quota: dict[str, int] = Field(default_factory=dict, description="GPUs per GPU pool")
    weight: int = Field(default=1, ge=1, le=1000)


class PriorityClass(_Strict):
    name: str
    value: int = Field(ge=-2147483648, le=1000000000)
    description: str = ""


def _default_priority_classes() -> list[PriorityClass]:
    return [
        PriorityClass(name="high", value=1000, description="Production training and serving"),
        PriorityClass(name="standard", value=100, description="Default for queued work"),
        PriorityClass(name="low", value=10, description="Preemptible experiments"),
    ]


class Scheduling(_Strict):
    cohort: str = "gpu"
    tenants: list[Tenant] = Field(default_factory=list)
    priority_classes: list[PriorityClass] = Field(default_factory=_default_priority_classes)


class Conformance(_Strict):
    profile: str = CONFORMANCE_PROFILES[-1]


class ClusterSpec(_Strict):
    name: str
    target: Target = "local"
    kubernetes_version: str | None = None
    node_pools: list[NodePool] = Field(min_length=1)
    components: Components = Field(default_factory=Components)
    scheduling: Scheduling = Field(default_factory=Scheduling)
    conformance: Conformance = Field(default_factory=Conformance)
    cloud: CloudSettings | None = None
    onprem: Onprem | None = None

    @property
    def resolved_kubernetes_version(self) -> str:
        """The pinned release; validation ensures the spec's version names it."""
        return load_bom().kubernetes_version

    def pool(self, name: str) -> NodePool:
        for pool in self.node_pools:
            if pool.name == name:
                return pool
        raise KeyError(name)


def _format_location(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _pydantic_errors(error: ValidationError) -> list[FieldError]:
    result = []
    for item in error.errors():
        # Drop the union/enum member names pydantic appends to locations.
        location = tuple(
            part for part in item["loc"] if not (isinstance(part, str) and part.endswith("]"))
        )
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "missing":
            message = "required field is missing"
        result.append(FieldError(_format_location(location), message))
    return result


def _check_kubernetes_version(spec: ClusterSpec) -> list[FieldError]:
    if spec.kubernetes_version is None:
        return []
    bom = load_bom()
    pinned = bom.kubernetes_version.lstrip("v")
    wanted = spec.kubernetes_version.lstrip("v")
    minor = ".".join(wanted.split(".")[:2])
    if wanted == pinned or (wanted == minor and minor in bom.supported_minors):
        return []
    return [
        FieldError(
            "kubernetes_version",
            f"{spec.kubernetes_version!r} is not pinned in bom.yaml "
            f"(supported: {pinned} or minor {', '.join(bom.supported_minors)})",
        )
    ]


def _check_labels(path: str, labels: dict[str, str]) -> list[FieldError]:
    errors = []
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if (prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix))) or not (
            len(name) <= 63 and LABEL_NAME.match(name)
        ):
            errors.append(FieldError(f"{path}.{key}", "not a valid Kubernetes label key"))
        elif key.startswith(RESERVED_LABEL_PREFIXES):
            errors.append(
                FieldError(f"{path}.{key}", "reserved: aicluster sets this label itself")
            )
        if len(value) > 63 or not LABEL_VALUE.match(value):
            errors.append(FieldError(f"{path}.{key}", f"not a valid label value: {value!r}"))
    return errors


def _check_pool(index: int, pool: NodePool, target: Target) -> list[FieldError]:
    base = f"node_pools[{index}]"
    errors: list[FieldError] = []
    if len(pool.name) > 30 or not DNS_LABEL.match(pool.name):
        errors.append(
            FieldError(
                f"{base}.name",
                f"{pool.name!r} must be a lowercase DNS label of at most 30 characters",
            )
        )
    counts = pool.nodes
    if counts.min > counts.max:
        errors.append(
            FieldError(f"{base}.nodes.min", f"{counts.min} is greater than max ({counts.max})")
        )
    if counts.initial is not None and not counts.min <= counts.initial <= counts.max:
        errors.append(
            FieldError(
                f"{base}.nodes.initial",
                f"{counts.initial} is outside min..max ({counts.min}..{counts.max})",
            )
        )
    if pool.gpu is not None:
        errors += _check_gpu(base, pool, target)
    errors += _check_labels(f"{base}.labels", pool.labels)
    for taint_index, taint in enumerate(pool.taints):
        taint_path = f"{base}.taints[{taint_index}]"
        if not taint.key or len(taint.key) > 316:
            errors.append(FieldError(f"{taint_path}.key", "must be a non-empty taint key"))
        if taint.value and not LABEL_VALUE.match(taint.value):
            errors.append(FieldError(f"{taint_path}.value", f"invalid value {taint.value!r}"))
    for cloud in pool.machine_type:
        if cloud not in CLOUDS:
            errors.append(
                FieldError(
                    f"{base}.machine_type.{cloud}",
                    f"unknown cloud; expected one of {', '.join(CLOUDS)}",
                )
            )
    return errors


def _check_mig(base: str, gpu: GpuSpec, product: GpuProduct) -> list[FieldError]:
    assert gpu.mig is not None
    if not product.mig_profiles:
        capable = sorted(name for name, item in load_catalog().items() if item.mig_profiles)
        return [FieldError(f"{base}.mig", f"{product.name} does not support MIG; MIG-capable products: "
                                          f"{', '.join(capable)}")]
    errors = [FieldError(f"{base}.mig.devices.{name}", f"must be at least 1, not {instances}")
              for name, instances in gpu.mig.devices.items() if instances < 1]
    if gpu.access == "dra" and gpu.mig.strategy is not None:
        errors.append(FieldError(f"{base}.mig.strategy", "the MIG strategy is a device plugin setting; a "
                                                         "DRA pool publishes every MIG device in its slice"))
    if gpu.mig.strategy == "single" and len(gpu.mig.devices) != 1:
        errors.append(FieldError(f"{base}.mig.strategy", "the single strategy needs exactly one profile in "
                                                         "devices; use mixed for several"))
    if gpu.time_slicing_replicas > 1:
        errors.append(FieldError(f"{base}.time_slicing_replicas", "a pool shares its GPUs through MIG or "
                                                                  "through time-slicing, not both"))
    if not errors:
        try:
            place(product, gpu.mig.devices)
        except MigLayoutError as error:
            errors.append(FieldError(f"{base}.mig.devices", str(error)))
    return errors


def _check_gpu(base: str, pool: NodePool, target: Target) -> list[FieldError]:
    assert pool.gpu is not None
    catalog = load_catalog()
    product = catalog.get(pool.gpu.product)
    if product is None:
        return [
            FieldError(
                f"{base}.gpu.product",
                f"unknown GPU product {pool.gpu.product!r}; "
                f"known products: {', '.join(sorted(catalog))}",
            )
        ]
    errors: list[FieldError] = []
    if pool.gpu.access == "dra" and pool.gpu.time_slicing_replicas > 1:
        errors.append(FieldError(
            f"{base}.gpu.time_slicing_replicas",
            "time-slicing is a device plugin setting; a DRA pool shares GPUs through claims",
        ))
    if pool.gpu.mig is not None:
        errors += _check_mig(f"{base}.gpu", pool.gpu, product)
    if pool.gpu.count > product.max_gpus_per_machine():
        errors.append(
            FieldError(
                f"{base}.gpu.count",
                f"{pool.gpu.count} GPUs per node: no {product.name} machine has more than "
                f"{product.max_gpus_per_machine()}",
            )
        )
    if target in CLOUDS:
        shapes = product.machine_types[target]
        chosen = pool.machine_type.get(target)
        if not shapes:
            errors.append(
                FieldError(
                    f"{base}.gpu.product",
                    f"{product.name} is not offered on {target} by the GPU catalog",
                )
            )
        elif chosen is not None and chosen not in shapes:
            errors.append(
                FieldError(
                    f"{base}.machine_type.{target}",
                    f"{chosen!r} does not carry {product.name}; catalog: {', '.join(shapes)}",
                )
            )
        elif chosen is not None and shapes[chosen] != pool.gpu.count:
            errors.append(
                FieldError(
                    f"{base}.gpu.count",
                    f"{chosen} provides {shapes[chosen]} GPUs, not {pool.gpu.count}",
                )
            )
        elif chosen is None and pool.gpu.count not in shapes.values():
            errors.append(
                FieldError(
                    f"{base}.gpu.count",
                    f"no {target} machine type provides {pool.gpu.count} x "
                    f"{product.name}; catalog: "
                    + ", ".join(f"{name} ({n})" for name, n in shapes.items()),
                )
            )
    return errors


def _check_scheduling(spec: ClusterSpec) -> list[FieldError]:
    errors: list[FieldError] = []
    gpu_pools = {pool.name for pool in spec.node_pools if pool.gpu is not None}
    if not DNS_LABEL.match(spec.scheduling.cohort):
        errors.append(FieldError("scheduling.cohort", "must be a lowercase DNS label"))
    tenant_names: dict[str, int] = {}
    namespace_owner: dict[str, str] = {}
    for index, tenant in enumerate(spec.scheduling.tenants):
        base = f"scheduling.tenants[{index}]"
        if not DNS_LABEL.match(tenant.name) or len(tenant.name) > 63:
            errors.append(FieldError(f"{base}.name", f"{tenant.name!r} must be a DNS label"))
        if tenant.name in tenant_names:
            errors.append(FieldError(f"{base}.name", f"duplicate tenant {tenant.name!r}"))
        tenant_names.setdefault(tenant.name, index)
        for ns_index, namespace in enumerate(tenant.namespaces):
            if not DNS_LABEL.match(namespace) or len(namespace) > 63:
                errors.append(FieldError(f"{base}.namespaces[{ns_index}]",
                                         f"{namespace!r} must be a DNS label"))
            elif namespace in ("kube-system", "kueue-system"):
                errors.append(FieldError(f"{base}.namespaces[{ns_index}]",
                                         f"{namespace!r} is reserved for the platform"))
            elif namespace in namespace_owner:
                errors.append(FieldError(f"{base}.namespaces[{ns_index}]",
                                         f"{namespace!r} already belongs to tenant "
                                         f"{namespace_owner[namespace]!r}"))
            namespace_owner.setdefault(namespace, tenant.name)
        for pool_name, gpus in tenant.gpu_quota.items():
            if pool_name not in gpu_pools:
                errors.append(FieldError(f"{base}.gpu_quota.{pool_name}",
                                         f"not a GPU pool; GPU pools: {', '.join(sorted(gpu_pools))}"))
            elif gpus < 0:
                errors.append(FieldError(f"{base}.gpu_quota.{pool_name}", "must not be negative"))
    seen_classes: set[str] = set()
    for index, priority in enumerate(spec.scheduling.priority_classes):
        if not DNS_LABEL.match(priority.name):
            errors.append(FieldError(f"scheduling.priority_classes[{index}].name",
                                     f"{priority.name!r} must be a DNS label"))
        if priority.name in seen_classes:
            errors.append(FieldError(f"scheduling.priority_classes[{index}].name",
                                     f"duplicate priority class {priority.name!r}"))
        seen_classes.add(priority.name)
    return errors


def semantic_errors(spec: ClusterSpec) -> list[FieldError]:
    """Checks that need more than one field, or the catalog and bill of materials."""
    errors: list[FieldError] = []
    if len(spec.name) > 40 or not DNS_LABEL.match(spec.name):
        errors.append(
            FieldError("name", f"{spec.name!r} must be a lowercase DNS label of at most 40 chars")
        )
    errors += _check_kubernetes_version(spec)
    seen: dict[str, int] = {}
    for index, pool in enumerate(spec.node_pools):
        if pool.name in seen:
            errors.append(
                FieldError(
                    f"node_pools[{index}].name",
                    f"duplicate pool name {pool.name!r} (also node_pools[{seen[pool.name]}])",
                )
            )
        seen.setdefault(pool.name, index)
        errors += _check_pool(index, pool, spec.target)
    if spec.target == "local":
        total = sum(pool.nodes.max for pool in spec.node_pools)
        if total > MAX_LOCAL_NODES:
            errors.append(
                FieldError(
                    "node_pools",
                    f"the local target simulates at most {MAX_LOCAL_NODES} nodes; "
                    f"the pools' max sizes add up to {total}",
                )
            )
    errors += _check_scheduling(spec)
    errors += remote_target_errors(spec)
    for index, pool in enumerate(spec.node_pools):
        if pool.gpu is None:
            continue
        if pool.gpu.access == "dra" and not spec.components.dra:
            errors.append(FieldError(f"node_pools[{index}].gpu.access",
                                     "the pool uses DRA but components.dra is false"))
        if pool.gpu.access == "device-plugin" and not spec.components.device_plugin:
            errors.append(FieldError(f"node_pools[{index}].gpu.access", "the pool uses the device "
                                     "plugin but components.device_plugin is false"))
    if spec.conformance.profile not in CONFORMANCE_PROFILES:
        errors.append(
            FieldError(
                "conformance.profile",
                f"unknown profile {spec.conformance.profile!r}; "
                f"expected one of {', '.join(CONFORMANCE_PROFILES)}",
            )
        )
    return errors


def parse_spec(document: Any, source: str = "<spec>") -> ClusterSpec:
    """Validates a parsed YAML document; raises SpecError listing every problem."""
    if not isinstance(document, dict):
        raise SpecError(source, [FieldError("", "the spec must be a YAML mapping")])
    try:
        spec = ClusterSpec.model_validate(document)
    except ValidationError as error:
        raise SpecError(source, _pydantic_errors(error)) from None
    errors = semantic_errors(spec)
    if errors:
        raise SpecError(source, errors)
    return spec


def load_spec(path: Path) -> ClusterSpec:
    """Reads and validates a spec file."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError(source, [FieldError("", f"cannot read the file: {error.strerror}")]) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise SpecError(source, [FieldError("", f"not valid YAML: {where}{problem}")]) from None
    return parse_spec(document, source)
