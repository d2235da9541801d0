"""Spec parsing and validation: every problem is reported with its field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from aicluster.errors import SpecError
from aicluster.paths import INVENTORIES_DIR
from aicluster.spec import load_spec, parse_spec

BAD_SPECS = Path(__file__).parent.parent / "data" / "bad-specs"


def minimal(**overrides: object) -> dict:
    spec: dict = {
        "name": "demo",
        "node_pools": [
            {"name": "gpu", "gpu": {"product": "H100-80GB", "count": 8},
             "nodes": {"min": 0, "max": 2, "initial": 1}},
        ],
    }
    spec.update(overrides)
    return spec


def errors_of(document: object) -> list[str]:
    with pytest.raises(SpecError) as raised:
        parse_spec(document, "test.yaml")
    return [str(error) for error in raised.value.errors]


@pytest.mark.parametrize("path", sorted(INVENTORIES_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_example_specs_are_valid(path: Path) -> None:
    spec = load_spec(path)
    expected_target = path.stem if path.stem in ("aws", "gcp", "azure", "onprem") else "local"
    assert spec.target == expected_target
    assert any(pool.gpu for pool in spec.node_pools)


def test_defaults_fill_target_components_and_profile() -> None:
    spec = parse_spec(minimal())
    assert spec.target == "local"
    assert spec.components.kueue is True
    assert spec.conformance.profile == "1.37"
    assert spec.node_pools[0].nodes.desired == 1
    assert spec.resolved_kubernetes_version.startswith("v1.")


def test_initial_defaults_to_min() -> None:
    spec = parse_spec(minimal(node_pools=[{"name": "c", "nodes": {"min": 2, "max": 3}}]))
    assert spec.node_pools[0].nodes.desired == 2


def test_large_example_has_a_thousand_gpu_nodes() -> None:
    spec = load_spec(INVENTORIES_DIR / "local-large.yaml")
    assert sum(pool.nodes.desired for pool in spec.node_pools if pool.gpu) == 1000


def test_wrong_types_are_named() -> None:
    errors = errors_of(minimal(node_pools=[
        {"name": "gpu", "gpu": {"product": "L4", "count": "8"}, "nodes": {"min": "0", "max": 2}},
    ]))
    assert "node_pools[0].gpu.count: Input should be a valid integer" in errors
    assert "node_pools[0].nodes.min: Input should be a valid integer" in errors


def test_unknown_gpu_product_lists_the_known_ones() -> None:
    errors = errors_of(minimal(node_pools=[
        {"name": "gpu", "gpu": {"product": "H999", "count": 8}, "nodes": {"min": 0, "max": 1}},
    ]))
    assert len(errors) == 1
    assert errors[0].startswith("node_pools[0].gpu.product: unknown GPU product 'H999'")
    assert "H100-80GB" in errors[0]


def test_min_greater_than_max() -> None:
    errors = errors_of(minimal(node_pools=[{"name": "c", "nodes": {"min": 5, "max": 2}}]))
    assert errors == ["node_pools[0].nodes.min: 5 is greater than max (2)"]


def test_initial_outside_range() -> None:
    errors = errors_of(minimal(node_pools=[
        {"name": "c", "nodes": {"min": 1, "max": 2, "initial": 3}},
    ]))
    assert errors == ["node_pools[0].nodes.initial: 3 is outside min..max (1..2)"]


def test_duplicate_pool_names() -> None:
    pool = {"name": "same", "nodes": {"min": 0, "max": 1}}
    errors = errors_of(minimal(node_pools=[pool, pool]))
    assert errors == ["node_pools[1].name: duplicate pool name 'same' (also node_pools[0])"]


def test_missing_and_unknown_fields() -> None:
    errors = errors_of({"node_pools": [{"name": "c", "nodes": {"max": 1}, "colour": "red"}]})
    assert "name: required field is missing" in errors
    assert "node_pools[0].nodes.min: required field is missing" in errors
    assert "node_pools[0].colour: unknown field" in errors


def test_every_error_is_reported_at_once() -> None:
    errors = errors_of(minimal(name="Bad_Name", node_pools=[
        {"name": "a", "gpu": {"product": "X", "count": 1}, "nodes": {"min": 3, "max": 1}},
        {"name": "a", "nodes": {"min": 0, "max": 1}, "labels": {"nvidia.com/gpu.product": "x"}},
    ]))
    assert len(errors) == 5
    assert errors[0].startswith("name: 'Bad_Name'")


def test_target_and_profile_must_be_known() -> None:
    errors = errors_of(minimal(target="mars"))
    assert errors[0].startswith("target: Input should be 'local'")
    errors = errors_of(minimal(conformance={"profile": "0.9"}))
    assert errors[0].startswith("conformance.profile: unknown profile '0.9'")


def test_kubernetes_version_must_be_pinned() -> None:
    assert parse_spec(minimal(kubernetes_version="1.37")).kubernetes_version == "1.37"
    errors = errors_of(minimal(kubernetes_version="1.20"))
    assert errors[0].startswith("kubernetes_version: '1.20' is not pinned in bom.yaml")


def test_label_and_taint_checks() -> None:
    errors = errors_of(minimal(node_pools=[{
        "name": "c", "nodes": {"min": 0, "max": 1},
        "labels": {"bad key!": "x", "ok": "bad value!"},
        "taints": [{"key": "k", "value": "bad value!", "effect": "NoSchedule"}],
    }]))
    assert "node_pools[0].labels.bad key!: not a valid Kubernetes label key" in errors
    assert "node_pools[0].labels.ok: not a valid label value: 'bad value!'" in errors
    assert "node_pools[0].taints[0].value: invalid value 'bad value!'" in errors
    errors = errors_of(minimal(node_pools=[{
        "name": "c", "nodes": {"min": 0, "max": 1}, "taints": [{"key": "k", "effect": "Often"}],
    }]))
    assert errors[0].startswith("node_pools[0].taints[0].effect: Input should be 'NoSchedule'")


CLOUD = {"region": "r1", "zones": ["r1-a"], "admin_cidrs": ["198.51.100.0/24"],
         "ssh": {"public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample example"}}


def test_cloud_gpu_counts_follow_the_catalog() -> None:
    errors = errors_of(minimal(target="aws", cloud=CLOUD, node_pools=[
        {"name": "gpu", "gpu": {"product": "H100-80GB", "count": 4}, "nodes": {"min": 0, "max": 1}},
    ]))
    assert errors == ["node_pools[0].gpu.count: no aws machine type provides 4 x H100-80GB; "
                      "catalog: p5.48xlarge (8)"]
    errors = errors_of(minimal(target="azure", cloud=CLOUD, node_pools=[
        {"name": "gpu", "gpu": {"product": "L4", "count": 1}, "nodes": {"min": 0, "max": 1}},
    ]))
    assert errors == ["node_pools[0].gpu.product: L4 is not offered on azure by the GPU catalog"]


def test_too_many_gpus_per_node() -> None:
    errors = errors_of(minimal(node_pools=[
        {"name": "gpu", "gpu": {"product": "L4", "count": 16}, "nodes": {"min": 0, "max": 1}},
    ]))
    assert errors == ["node_pools[0].gpu.count: 16 GPUs per node: no L4 machine has more than 8"]


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nnode_pools: [\n")
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert "not valid YAML: line" in str(raised.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read the file"):
        load_spec(tmp_path / "absent.yaml")


def test_non_mapping_document() -> None:
    assert errors_of(["a", "list"]) == ["the spec must be a YAML mapping"]


@pytest.mark.parametrize("path", sorted(BAD_SPECS.glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_spec_files_are_rejected_with_the_expected_paths(path: Path) -> None:
    header = [line[len("# expect: "):] for line in path.read_text().splitlines()
              if line.startswith("# expect: ")]
    assert header, f"{path} needs '# expect: <field path>' lines"
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    paths = [error.path for error in raised.value.errors]
    assert sorted(paths) == sorted(header), raised.value


def test_scheduling_tenants_are_checked() -> None:
    errors = errors_of(minimal(scheduling={"tenants": [
        {"name": "a", "namespaces": ["shared", "kube-system"], "gpu_quota": {"gpu": 8, "cpu": 1}},
        {"name": "a", "namespaces": ["shared"], "gpu_quota": {"ghost": 1}},
    ]}))
    assert "scheduling.tenants[0].namespaces[1]: 'kube-system' is reserved for the platform" in errors
    assert "scheduling.tenants[0].gpu_quota.cpu: not a GPU pool; GPU pools: gpu" in errors
    assert "scheduling.tenants[1].name: duplicate tenant 'a'" in errors
    assert "scheduling.tenants[1].namespaces[0]: 'shared' already belongs to tenant 'a'" in errors
    assert "scheduling.tenants[1].gpu_quota.ghost: not a GPU pool; GPU pools: gpu" in errors


def test_default_priority_classes() -> None:
    spec = parse_spec(minimal())
    assert [(p.name, p.value) for p in spec.scheduling.priority_classes] == [
        ("high", 1000), ("standard", 100), ("low", 10)]


def test_a_pool_reaches_its_gpus_through_one_path_only() -> None:
    """A pool's GPUs are exposed either by the device plugin or by DRA, never both."""
    def pool(**gpu: object) -> dict:
        return minimal(node_pools=[{"name": "gpu", "gpu": {"product": "H100-80GB", "count": 8, **gpu},
                                    "nodes": {"min": 0, "max": 1}}])

    both = errors_of(pool(access=["dra", "device-plugin"]))
    assert len(both) == 1 and both[0].startswith("node_pools[0].gpu.access:")
    assert errors_of(pool(access="both"))[0].startswith("node_pools[0].gpu.access:")
    assert errors_of(pool(access="dra", time_slicing_replicas=4)) == [
        "node_pools[0].gpu.time_slicing_replicas: time-slicing is a device plugin setting; a DRA pool "
        "shares GPUs through claims"]
    assert errors_of({**pool(access="dra"), "components": {"dra": False}}) == [
        "node_pools[0].gpu.access: the pool uses DRA but components.dra is false"]
    assert errors_of({**pool(access="device-plugin"), "components": {"device_plugin": False}}) == [
        "node_pools[0].gpu.access: the pool uses the device plugin but components.device_plugin is false"]
    assert parse_spec(pool(access="device-plugin", time_slicing_replicas=4), "test.yaml")
