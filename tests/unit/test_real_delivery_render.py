"""Every release of bom.yaml renders from its pinned module (helm template for charts), passes strict
offline validation against the Kubernetes 1.37 schemas and its own CRDs, and renders identically twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from aicluster.bom import load_bom
from aicluster.platform_release import ReleaseError, RenderRequest, render, resolve, validate_offline

BOM = load_bom()
IMAGES = BOM.raw["images"]
# Values the roles give: the bill of materials' image, and where a chart refuses its defaults or
# depends on subcharts of other roles.
VALUES = {
    "jobset": ({"image": {"repository": IMAGES["jobset"]["repository"],
                          "tag": IMAGES["jobset"]["tag"]}}, []),
    "kueue": ({"controllerManager": {"manager": {"image": {"repository": IMAGES["kueue"]["repository"],
                                                          "tag": IMAGES["kueue"]["tag"]}}}}, []),
    "kubeflow-trainer": ({"jobset": {"install": False}}, ["jobset", "lws"]),
    "dra-driver-nvidia-gpu": ({"gpuResourcesEnabledOverride": True,
                               "resourceApiVersion": "resource.k8s.io/v1",
                               "image": {"repository": IMAGES["dra-driver-nvidia-gpu"]["repository"],
                                         "tag": IMAGES["dra-driver-nvidia-gpu"]["tag"]}}, []),
    "nvidia-device-plugin": ({"image": {"repository": IMAGES["nvidia-device-plugin"]["repository"],
                                        "tag": IMAGES["nvidia-device-plugin"]["tag"]},
                              "gfd": {"enabled": False}, "nfd": {"enabled": False}}, []),
}
MANIFESTS_NAMESPACE = {"prometheus-operator": "default", "prometheus-adapter": "monitoring",
                      "kube-state-metrics": "kube-system"}

def request(name: str, allow: bool) -> RenderRequest:
    values, drop = VALUES.get(name, ({}, []))
    return RenderRequest(release=name, namespace="aicluster-test", values=values, drop_dependencies=drop,
                         manifests_namespace=MANIFESTS_NAMESPACE.get(name, ""), allow_unpinned_images=allow)


@pytest.mark.parametrize("name", sorted(BOM.raw["releases"]))
def test_release_renders_and_validates_offline(name: str, tmp_path: Path) -> None:
    module_dir, helm = resolve(BOM, name, tmp_path / "log")
    objects = render(BOM, request(name, allow=True), module_dir, helm)
    assert objects, name
    assert validate_offline(objects, objects, BOM.kubernetes_version) == []
    assert render(BOM, request(name, allow=True), module_dir, helm) == objects
    kinds = [obj["kind"] for obj in objects]
    assert kinds == sorted(kinds, key=lambda kind: kind != "CustomResourceDefinition")
    images = BOM.raw["releases"][name].get("images", [])
    if any(BOM.raw["images"][image]["digest"] is None for image in images):
        with pytest.raises(ReleaseError, match="images without a digest"):
            render(BOM, request(name, allow=False), module_dir, helm)
    elif images:
        pinned = render(BOM, request(name, allow=False), module_dir, helm)
        text = repr(pinned)
        for image in images:
            assert f"{BOM.raw['images'][image]['repository']}@{BOM.raw['images'][image]['digest']}" in text
