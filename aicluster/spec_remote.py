"""The parts of a cluster spec for targets whose machines are reached over SSH: the cloud
settings (aws, gcp, azure) and the on-prem host list, with their checks."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from aicluster.catalog import CLOUDS, high_speed_interconnect, load_catalog
from aicluster.errors import FieldError

if TYPE_CHECKING:
    from aicluster.spec import ClusterSpec, NodePool

HOSTNAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$")
HOST_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Control-plane machines when the spec names none: general-purpose, 8 vCPUs, 32 GiB.
CONTROL_PLANE_MACHINE_TYPES = {"aws": "m7i.2xlarge", "gcp": "n2-standard-8", "azure": "Standard_D8s_v5"}
DEFAULT_DISK_GB = {"gpu": 500, "cpu": 100}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SshAccess(_Strict):
    """How Ansible logs in. Only paths of keys appear in a spec, never key material."""

    user: str = "ubuntu"
    # Cloud targets install this public key on every machine (one of the two fields).
    public_key: str | None = None
    public_key_file: str | None = None
    # Private key Ansible uses; without it, ssh's own defaults and agent apply.
    private_key_file: str | None = None
    port: int = Field(default=22, ge=1, le=65535)
    # Python on the hosts, where Ansible's discovery would pick the wrong one.
    python_interpreter: str | None = None


class ControlPlane(_Strict):
    count: int = 1
    machine_type: str | None = None
    disk_size_gb: int = Field(default=100, ge=30, le=4096)


class CloudSettings(_Strict):
    region: str
    zones: list[str] = Field(min_length=1)
    network_cidr: str = "10.40.0.0/16"
    # Who may reach the bastion's SSH port and the API server's load balancer.
    admin_cidrs: list[str] = Field(min_length=1)
    ssh: SshAccess = Field(default_factory=SshAccess)
    control_plane: ControlPlane = Field(default_factory=ControlPlane)
    os_image: str | None = None
    project_id: str | None = None
    resource_group_name: str | None = None


class CapacityReservation(_Strict):
    type: Literal["on-demand", "capacity-block"] = "on-demand"
    id: str | None = None


class OnpremHost(_Strict):
    name: str
    address: str
    pool: str | None = None
    user: str | None = None
    gpu_product: str | None = None


class Onprem(_Strict):
    ssh: SshAccess = Field(default_factory=SshAccess)
    bastion_host: str | None = None
    control_plane: list[OnpremHost] = Field(min_length=1)
    hosts: list[OnpremHost] = Field(default_factory=list)


def machine_type_of(pool: NodePool, cloud: str) -> str | None:
    """The pool's machine type on a cloud: the spec's choice, else the catalog's first match."""
    chosen = pool.machine_type.get(cloud)
    if chosen is not None or pool.gpu is None:
        return chosen
    shapes = load_catalog()[pool.gpu.product].machine_types[cloud]
    return next((name for name, count in shapes.items() if count == pool.gpu.count), None)


def uses_high_speed_networking(pool: NodePool, cloud: str) -> bool:
    """On unless the spec turns it off, wherever the machine type offers it."""
    machine_type = machine_type_of(pool, cloud)
    offered = machine_type is not None and high_speed_interconnect(cloud, machine_type) is not None
    return offered if pool.high_speed_networking is None else pool.high_speed_networking


def _cidr_errors(path: str, text: str, admin: bool) -> list[FieldError]:
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        return [FieldError(path, f"not a CIDR range: {error}")]
    if admin and network.prefixlen == 0:
        return [FieldError(path, "opens SSH and the API server to the whole internet; "
                                 "name the ranges your administrators come from")]
    if not admin and not (network.is_private and 16 <= network.prefixlen <= 24):
        return [FieldError(path, "must be a private range between /16 and /24")]
    return []


def _ssh_key_errors(path: str, ssh: SshAccess) -> list[FieldError]:
    if (ssh.public_key is None) == (ssh.public_key_file is None):
        return [FieldError(path, "give exactly one of public_key or public_key_file")]
    if ssh.public_key is not None and not ssh.public_key.startswith(("ssh-", "ecdsa-")):
        return [FieldError(f"{path}.public_key", "not an OpenSSH public key")]
    return []


def _cloud_errors(spec: ClusterSpec) -> list[FieldError]:
    cloud = spec.cloud
    assert cloud is not None
    errors: list[FieldError] = []
    errors += _cidr_errors("cloud.network_cidr", cloud.network_cidr, admin=False)
    for index, cidr in enumerate(cloud.admin_cidrs):
        errors += _cidr_errors(f"cloud.admin_cidrs[{index}]", cidr, admin=True)
    errors += _ssh_key_errors("cloud.ssh", cloud.ssh)
    if cloud.control_plane.count not in (1, 3):
        errors.append(FieldError("cloud.control_plane.count", "must be 1 or 3 (etcd quorum)"))
    if len(set(cloud.zones)) != len(cloud.zones):
        errors.append(FieldError("cloud.zones", "lists a zone twice"))
    if spec.target == "gcp" and not cloud.project_id:
        errors.append(FieldError("cloud.project_id", "required for target gcp"))
    if spec.target != "gcp" and cloud.project_id is not None:
        errors.append(FieldError("cloud.project_id", f"only for target gcp, not {spec.target}"))
    if spec.target != "azure" and cloud.resource_group_name is not None:
        errors.append(FieldError("cloud.resource_group_name", f"only for target azure, not {spec.target}"))
    for index, pool in enumerate(spec.node_pools):
        errors += _cloud_pool_errors(f"node_pools[{index}]", pool, spec.target)
    return errors


def _cloud_pool_errors(base: str, pool: NodePool, cloud: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if pool.gpu is None and cloud not in pool.machine_type:
        errors.append(FieldError(f"{base}.machine_type.{cloud}",
                                 f"a CPU pool on {cloud} needs its machine type"))
    machine_type = machine_type_of(pool, cloud)
    if pool.high_speed_networking and machine_type is not None \
            and high_speed_interconnect(cloud, machine_type) is None:
        errors.append(FieldError(f"{base}.high_speed_networking",
                                 f"{machine_type} has no high-speed GPU interconnect on {cloud}"))
    reservation = pool.capacity_reservation
    if reservation is not None:
        if reservation.type == "capacity-block" and cloud != "aws":
            errors.append(FieldError(f"{base}.capacity_reservation.type",
                                     "capacity blocks exist on aws only"))
        if reservation.id is None and (reservation.type == "capacity-block" or cloud != "aws"):
            errors.append(FieldError(f"{base}.capacity_reservation.id",
                                     f"required for a {reservation.type} reservation on {cloud}"))
    if pool.resources is not None:
        errors.append(FieldError(f"{base}.resources", "simulated node shape: only for target local"))
    return errors


def _address_errors(path: str, address: str) -> list[FieldError]:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        if len(address) > 253 or not HOSTNAME.match(address):
            return [FieldError(path, f"{address!r} is neither an IP address nor a host name")]
    return []


def _onprem_errors(spec: ClusterSpec) -> list[FieldError]:
    onprem = spec.onprem
    assert onprem is not None
    errors: list[FieldError] = []
    pools = {pool.name: pool for pool in spec.node_pools}
    seen_names: set[str] = set()
    seen_addresses: set[str] = set()
    members: dict[str, int] = dict.fromkeys(pools, 0)
    groups = [("control_plane", onprem.control_plane), ("hosts", onprem.hosts)]
    for group, hosts in groups:
        for index, host in enumerate(hosts):
            base = f"onprem.{group}[{index}]"
            if not HOST_NAME.match(host.name) or len(host.name) > 63:
                errors.append(FieldError(f"{base}.name", f"{host.name!r} must be a lowercase DNS label"))
            if host.name in seen_names:
                errors.append(FieldError(f"{base}.name", f"duplicate host name {host.name!r}"))
            if host.address in seen_addresses:
                errors.append(FieldError(f"{base}.address", f"{host.address} is listed twice"))
            seen_names.add(host.name)
            seen_addresses.add(host.address)
            errors += _address_errors(f"{base}.address", host.address)
            if group == "control_plane":
                if host.pool is not None or host.gpu_product is not None:
                    errors.append(FieldError(base, "control-plane hosts take no pool or gpu_product"))
                continue
            if host.pool not in pools:
                errors.append(FieldError(f"{base}.pool", f"{host.pool!r} is not a node pool; pools: "
                                         + ", ".join(sorted(pools))))
                continue
            members[host.pool] += 1
            pool_gpu = pools[host.pool].gpu
            expected = pool_gpu.product if pool_gpu else None
            if host.gpu_product is not None and host.gpu_product != expected:
                errors.append(FieldError(f"{base}.gpu_product",
                                         f"{host.gpu_product!r} differs from pool {host.pool}'s "
                                         f"{expected or 'no GPU'}"))
    for index, pool in enumerate(spec.node_pools):
        count = members[pool.name]
        if not pool.nodes.min <= count <= pool.nodes.max:
            errors.append(FieldError(f"node_pools[{index}].nodes",
                                     f"{count} hosts listed for pool {pool.name}, outside "
                                     f"min..max ({pool.nodes.min}..{pool.nodes.max})"))
        if pool.resources is not None:
            errors.append(FieldError(f"node_pools[{index}].resources",
                                     "simulated node shape: only for target local"))
    if onprem.bastion_host is not None:
        errors += _address_errors("onprem.bastion_host", onprem.bastion_host)
    return errors


def remote_target_errors(spec: ClusterSpec) -> list[FieldError]:
    """The cloud or on-prem section a target needs, present exactly when it needs it."""
    errors: list[FieldError] = []
    if spec.target in CLOUDS:
        if spec.cloud is None:
            return [FieldError("cloud", f"required for target {spec.target}")]
        errors += _cloud_errors(spec)
    elif spec.cloud is not None:
        errors.append(FieldError("cloud", f"only for cloud targets, not {spec.target}"))
    if spec.target == "onprem":
        if spec.onprem is None:
            return [*errors, FieldError("onprem", "required for target onprem: the hosts to use")]
        errors += _onprem_errors(spec)
    elif spec.onprem is not None:
        errors.append(FieldError("onprem", f"only for target onprem, not {spec.target}"))
    if spec.target not in CLOUDS:
        for index, pool in enumerate(spec.node_pools):
            for field in ("high_speed_networking", "capacity_reservation", "disk_size_gb"):
                if getattr(pool, field) is not None:
                    errors.append(FieldError(f"node_pools[{index}].{field}", "only for cloud targets"))
    return errors
