"""MIG partitions: which layouts fit a GPU, what the spec refuses, what nodes advertise, and the
MIG devices the simulated DRA driver publishes."""

from __future__ import annotations

import pytest

from aicluster.catalog import load_catalog
from aicluster.errors import SpecError
from aicluster.mig import MigLayoutError, device_plugin_resources, place
from aicluster.simulators.gpu_dra_driver import device_slice
from aicluster.spec import parse_spec
from aicluster.targets import terraform_variables

H100 = load_catalog()["H100-80GB"]


def layout(devices: dict[str, int]) -> list[tuple[str, int]]:
    return [(device.profile.name, device.placement_start) for device in place(H100, devices)]


def test_layouts_that_nvml_can_create_are_placed_on_aligned_memory_slices() -> None:
    assert layout({"1g.10gb": 7}) == [("1g.10gb", start) for start in range(7)]
    assert layout({"7g.80gb": 1}) == [("7g.80gb", 0)]
    assert layout({"3g.40gb": 2}) == [("3g.40gb", 0), ("3g.40gb", 4)]
    # 4g.40gb only fits at slice 0, so the 3g.40gb goes to 4.
    assert layout({"3g.40gb": 1, "4g.40gb": 1}) == [("4g.40gb", 0), ("3g.40gb", 4)]
    # Four 1g.10gb beside a 3g.40gb only fit when the 3g.40gb takes the upper half: a search, not a
    # first fit, finds it.
    assert layout({"3g.40gb": 1, "1g.10gb": 4}) == [("1g.10gb", 0), ("1g.10gb", 1), ("1g.10gb", 2),
                                                     ("1g.10gb", 3), ("3g.40gb", 4)]


@pytest.mark.parametrize(("devices", "message"), [
    ({"1g.10gb": 8}, "8 x 1g.10gb: at most 7 fit one H100-80GB"),
    ({"3g.40gb": 2, "1g.10gb": 1}, "the layout needs 7 compute and 9 memory slices"),
    ({"2g.20gb": 3, "1g.10gb": 2}, "the layout needs 8 compute and 8 memory slices"),
    ({"4g.40gb": 2}, "2 x 4g.40gb: at most 1 fit one H100-80GB"),
    ({"1g.5gb": 1}, "H100-80GB has no MIG profile '1g.5gb'"),
])
def test_layouts_that_do_not_fit_are_refused(devices: dict[str, int], message: str) -> None:
    with pytest.raises(MigLayoutError, match=message.replace("(", r"\(")):
        place(H100, devices)


def test_what_the_device_plugin_advertises_per_node() -> None:
    assert device_plugin_resources(8, 1, {}, None) == {"nvidia.com/gpu": 8}
    assert device_plugin_resources(1, 4, {}, None) == {"nvidia.com/gpu": 4}
    assert device_plugin_resources(8, 1, {"1g.10gb": 7}, "single") == {"nvidia.com/gpu": 56}
    assert device_plugin_resources(8, 1, {"3g.40gb": 1, "4g.40gb": 1}, "mixed") == {
        "nvidia.com/mig-3g.40gb": 8, "nvidia.com/mig-4g.40gb": 8}


def spec_with(gpu: dict, **pool: object) -> dict:
    gpu_spec = {"product": "A100-80GB", "count": 8, **gpu}
    pool_spec = {"name": "a100", "gpu": gpu_spec, "nodes": {"min": 0, "max": 2}, **pool}
    return {"name": "demo", "node_pools": [pool_spec]}


def errors_of(document: dict) -> list[str]:
    with pytest.raises(SpecError) as raised:
        parse_spec(document, "test.yaml")
    return [str(error) for error in raised.value.errors]


def test_the_spec_refuses_mig_it_cannot_deliver() -> None:
    assert errors_of({"name": "demo", "node_pools": [
        {"name": "l4", "gpu": {"product": "L4", "count": 1, "mig": {"devices": {"1g.10gb": 1}}},
         "nodes": {"min": 0, "max": 1}}]}) == [
        "node_pools[0].gpu.mig: L4 does not support MIG; MIG-capable products: A100-40GB, A100-80GB, B200, "
        "H100-80GB, H200-141GB"]
    assert errors_of(spec_with({"mig": {"devices": {"1g.10gb": 7, "2g.20gb": 0}, "strategy": "single"},
                                "time_slicing_replicas": 2})) == [
        "node_pools[0].gpu.mig.devices.2g.20gb: must be at least 1, not 0",
        "node_pools[0].gpu.mig.strategy: the single strategy needs exactly one profile in devices; use mixed "
        "for several",
        "node_pools[0].gpu.time_slicing_replicas: a pool shares its GPUs through MIG or through "
        "time-slicing, not both"]
    dra_with_strategy = spec_with({"access": "dra", "mig": {"devices": {"1g.10gb": 7}, "strategy": "mixed"}})
    assert errors_of(dra_with_strategy) == [
        "node_pools[0].gpu.mig.strategy: the MIG strategy is a device plugin setting; a DRA pool publishes "
        "every MIG device in its slice"]
    assert errors_of(spec_with({"mig": {"devices": {"2g.20gb": 4}}})) == [
        "node_pools[0].gpu.mig.devices: 4 x 2g.20gb: at most 3 fit one A100-80GB"]
    assert errors_of(spec_with({"mig": {"devices": {}}}))[0].startswith("node_pools[0].gpu.mig.devices:")
    assert errors_of(spec_with({"mig": {"devices": {"1g.10gb": 7}, "strategy": "all"}}))[0].startswith(
        "node_pools[0].gpu.mig.strategy:")
    assert errors_of(spec_with({}, labels={"nvidia.com/mig.config": "all-1g.10gb"})) == [
        "node_pools[0].labels.nvidia.com/mig.config: reserved: aicluster sets this label itself"]


def pool_contract(gpu: dict) -> dict:
    return terraform_variables(parse_spec(spec_with(gpu)))["node_pools"]["a100"]


def test_pools_carry_their_mig_layout_resources_and_feature_discovery_labels() -> None:
    mixed = pool_contract({"mig": {"devices": {"3g.40gb": 1, "4g.40gb": 1}}})
    assert mixed["gpu_mig"] == {"devices": {"3g.40gb": 1, "4g.40gb": 1}, "strategy": "mixed"}
    assert mixed["gpu_resources"] == {"nvidia.com/mig-3g.40gb": 8, "nvidia.com/mig-4g.40gb": 8}
    assert {key: value for key, value in mixed["gpu_labels"].items() if "mig" in key} == {
        "nvidia.com/mig.capable": "true", "nvidia.com/mig.strategy": "mixed",
        "nvidia.com/mig-3g.40gb.count": "8", "nvidia.com/mig-3g.40gb.memory": "40960",
        "nvidia.com/mig-3g.40gb.slices.gi": "3",
        "nvidia.com/mig-4g.40gb.count": "8", "nvidia.com/mig-4g.40gb.memory": "40960",
        "nvidia.com/mig-4g.40gb.slices.gi": "4"}
    single = pool_contract({"mig": {"devices": {"1g.10gb": 7}, "strategy": "single"}})
    assert single["gpu_resources"] == {"nvidia.com/gpu": 56}
    assert single["gpu_labels"]["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb"
    assert single["gpu_labels"]["nvidia.com/gpu.count"] == "56"
    dra = pool_contract({"access": "dra", "mig": {"devices": {"1g.10gb": 7}}})
    assert dra["gpu_resources"] == {} and dra["gpu_mig"] == {"devices": {"1g.10gb": 7}, "strategy": None}
    assert "nvidia.com/mig.strategy" not in dra["gpu_labels"]
    plain = pool_contract({})
    assert plain["gpu_resources"] == {"nvidia.com/gpu": 8} and plain["gpu_mig"] is None
    assert not any("mig" in key for key in plain["gpu_labels"])


def test_the_simulated_dra_driver_publishes_mig_devices_as_the_driver_names_them() -> None:
    labels = pool_contract({"access": "dra", "mig": {"devices": {"3g.40gb": 1, "1g.10gb": 4}}})["gpu_labels"]
    node = {"metadata": {"name": "node-1", "uid": "u-1", "labels": labels}}
    devices = device_slice(node, "gpu.nvidia.com")["spec"]["devices"]
    assert len(devices) == 8 * 5
    by_name = {device["name"]: device for device in devices}
    big = by_name["gpu-7-mig-3g40gb-9-4"]
    assert big["attributes"]["type"] == {"string": "mig"}
    assert big["attributes"]["profile"] == {"string": "3g.40gb"}
    assert big["attributes"]["productName"] == {"string": "NVIDIA A100-SXM4-80GB"}
    assert big["attributes"]["uuid"]["string"].startswith("MIG-")
    assert big["capacity"] == {"memory": {"value": "40960Mi"}, **{f"memorySlice{i}": {"value": "1"}
                                                                  for i in range(4, 8)}}
    parents = {device["attributes"]["parentUUID"]["string"] for device in devices}
    assert len(parents) == 8
    assert len({device["attributes"]["uuid"]["string"] for device in devices}) == 40
    assert sorted(name for name in by_name if name.startswith("gpu-0-")) == [
        "gpu-0-mig-1g10gb-19-0", "gpu-0-mig-1g10gb-19-1", "gpu-0-mig-1g10gb-19-2", "gpu-0-mig-1g10gb-19-3",
        "gpu-0-mig-3g40gb-9-4"]
    whole = device_slice({"metadata": {"name": "node-2", "uid": "u-2", "labels": pool_contract(
        {"access": "dra"})["gpu_labels"]}}, "gpu.nvidia.com")["spec"]["devices"]
    assert [device["name"] for device in whole] == [f"gpu-{minor}" for minor in range(8)]
