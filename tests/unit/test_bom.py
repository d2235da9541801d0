"""The bill of materials is the one source of versions: the Go build modules, the roles
and the GPU catalog must agree with it."""

from __future__ import annotations

import dataclasses
import re

from aicluster.binaries import recipe_digest
from aicluster.bom import load_bom
from aicluster.catalog import feature_discovery_labels, load_catalog
from aicluster.paths import REPO_ROOT


def go_mod(build_dir: str) -> str:
    return (REPO_ROOT / build_dir / "go.mod").read_text()


def test_every_build_module_requires_the_pinned_version() -> None:
    bom = load_bom()
    for binary_set in bom.binaries.values():
        if binary_set.build_in_module:
            # Built inside the pinned module itself, with its own go.mod and go.sum.
            assert not binary_set.build_dir, binary_set.name
            continue
        text = go_mod(binary_set.build_dir)
        assert re.search(rf"^\s*(require\s+)?{re.escape(binary_set.module)} "
                         rf"{re.escape(binary_set.version)}\b", text, re.M), binary_set.name
        assert (REPO_ROOT / binary_set.build_dir / "go.sum").is_file()


def test_kubernetes_staging_modules_match_the_release() -> None:
    bom = load_bom()
    for name in ("kubernetes", "kubernetes-previous"):
        binary_set = bom.binaries[name]
        staging = "v0." + binary_set.version.split(".", 1)[1]
        replaces = re.findall(r"^\s*(k8s\.io/\S+) => (\S+) (\S+)$", go_mod(binary_set.build_dir), re.M)
        assert len(replaces) >= 33, name
        for module, target, version in replaces:
            assert target == module and version == staging, (name, module)


def test_the_previous_kubelet_is_one_minor_before_the_pinned_release() -> None:
    bom = load_bom()
    pinned = tuple(map(int, bom.kubernetes_version.lstrip("v").split(".")[:2]))
    previous = tuple(map(int, bom.binaries["kubernetes-previous"].version.lstrip("v").split(".")[:2]))
    assert previous == (pinned[0], pinned[1] - 1)
    assert list(bom.binaries["kubernetes-previous"].packages.values()) == ["k8s.io/kubernetes/cmd/kubelet"]


def test_each_binary_name_belongs_to_one_set() -> None:
    names = [name for binary_set in load_bom().binaries.values() for name in binary_set.packages]
    assert len(names) == len(set(names)), sorted(name for name in set(names) if names.count(name) > 1)


def test_control_plane_release_is_the_binaries_release() -> None:
    bom = load_bom()
    assert bom.kubernetes_version == bom.binaries["kubernetes"].version
    minor = ".".join(bom.kubernetes_version.lstrip("v").split(".")[:2])
    assert minor in bom.supported_minors
    assert tuple(map(int, minor.split("."))) >= (1, 34), "DRA v1 needs Kubernetes 1.34 or newer"


def test_recipe_digest_is_stable() -> None:
    binary_set = load_bom().binaries["etcd"]
    assert recipe_digest(binary_set) == recipe_digest(binary_set)


def test_catalog_labels_follow_feature_discovery() -> None:
    h100 = load_catalog()["H100-80GB"]
    labels = feature_discovery_labels(h100, 8, "580.126.20", "13.0.0")
    assert labels == {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
        "nvidia.com/gpu.count": "8",
        "nvidia.com/gpu.memory": "81559",
        "nvidia.com/gpu.family": "hopper",
        "nvidia.com/gpu.compute.major": "9",
        "nvidia.com/gpu.compute.minor": "0",
        "nvidia.com/cuda.driver.major": "580",
        "nvidia.com/cuda.driver.minor": "126",
        "nvidia.com/cuda.driver.rev": "20",
        "nvidia.com/cuda.runtime.major": "13",
        "nvidia.com/cuda.runtime.minor": "0",
    }
    for product in load_catalog().values():
        for shapes in product.machine_types.values():
            assert all(count >= 1 for count in shapes.values())


def test_driver_branch_supports_dra() -> None:
    driver = load_bom().raw["nvidia_driver"]
    assert int(str(driver["branch"])) >= 565, "the NVIDIA DRA driver needs driver branch >= 565"
    assert str(driver["version"]).startswith(str(driver["branch"]) + ".")


def test_only_sets_that_need_cgo_build_with_it() -> None:
    bom = load_bom()
    with_cgo = [name for name, binary_set in bom.binaries.items() if binary_set.cgo]
    assert with_cgo == ["nvidia-container-toolkit"]
    toolkit = bom.binaries["nvidia-container-toolkit"]
    without = dataclasses.replace(toolkit, cgo=False)
    assert recipe_digest(toolkit) != recipe_digest(without), "turning cgo on or off must rebuild the set"
