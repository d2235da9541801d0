"""Real-cluster delivery (aicluster.platform_release): images are pinned by digest from bom.yaml,
unpinned images are refused unless allowed, manifests move namespace, and objects validate offline."""

from __future__ import annotations

import copy

import pytest

from aicluster.bom import load_bom, parse_bom
from aicluster.platform_release import (
    ReleaseError,
    RenderRequest,
    image_reference,
    render,
    set_namespace,
    unpinned_images,
    validate_offline,
)

DIGEST = "sha256:" + "ab" * 32


def deployment(image: str, args: list[str] | None = None) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "d"}},
                     "template": {"metadata": {"labels": {"app": "d"}},
                                  "spec": {"containers": [{"name": "c", "image": image,
                                                           "args": args or []}]}}}}


def bom_with(digest: str | None):
    raw = copy.deepcopy(load_bom().raw)
    raw["images"] = {"op": {"repository": "quay.io/x/op", "tag": "v1", "digest": digest},
                     "reloader": {"repository": "quay.io/x/reloader", "tag": "v1", "digest": digest}}
    return parse_bom({"aicluster_bom": raw})


def test_every_release_names_a_pinned_module_and_known_images() -> None:
    bom = load_bom()
    for name, release in bom.raw["releases"].items():
        bom.source(release["source"])
        assert ("chart" in release) != ("manifests" in release), name
        for image in release.get("images", []):
            assert image in bom.raw["images"], (name, image)
    for name, image in bom.raw["images"].items():
        assert image["digest"] is None or image["digest"].startswith("sha256:"), name
        assert len(image["digest"] or "sha256:" + "0" * 64) == 71, name


def test_images_and_image_arguments_are_pinned_by_digest() -> None:
    bom = bom_with(DIGEST)
    objects = render(bom, RenderRequest(release="", namespace="ns", definitions=[
        deployment("quay.io/x/op:v1", ["--reloader=quay.io/x/reloader:v1"])]), module_dir=None, helm=None)
    container = objects[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"quay.io/x/op@{DIGEST}"
    assert container["args"] == [f"--reloader=quay.io/x/reloader@{DIGEST}"]
    assert image_reference(bom, "op") == f"quay.io/x/op@{DIGEST}"


def test_an_unpinned_image_is_refused_unless_allowed() -> None:
    bom = bom_with(None)
    request = RenderRequest(release="", namespace="ns", definitions=[
        deployment("quay.io/x/op:v1", ["--reloader=quay.io/x/reloader:v1"])])
    refused = r"images without a digest: quay\.io/x/op:v1, quay\.io/x/reloader:v1"
    with pytest.raises(ReleaseError, match=refused):
        render(bom, request, module_dir=None, helm=None)
    request.allow_unpinned_images = True
    objects = render(bom, request, module_dir=None, helm=None)
    assert objects[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "quay.io/x/op:v1"
    # An image the bill of materials does not know is refused as well.
    assert unpinned_images([deployment("docker.io/other:1")]) == ["docker.io/other:1"]


def test_manifests_move_to_the_release_namespace() -> None:
    objects = set_namespace([
        deployment("x@" + DIGEST),
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "b"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "r"},
         "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "default"}]},
    ], "default", "monitoring")
    assert objects[0]["metadata"]["namespace"] == "monitoring"
    assert "namespace" not in objects[1]["metadata"]
    assert objects[1]["subjects"][0]["namespace"] == "monitoring"


def test_offline_validation_is_strict_for_builtin_kinds_and_custom_resources() -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"},
                    "scope": "Namespaced",
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {
                        "type": "object", "properties": {"spec": {"type": "object", "properties": {
                            "size": {"type": "integer"}}}}}}}]}}
    good = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}}
    assert validate_offline([good, deployment("x@" + DIGEST)], [crd], "v1.37.2") == []
    bad = {**good, "spec": {"size": "three", "colour": "red"}}
    errors = validate_offline([bad], [crd], "v1.37.2")
    assert any("size" in error for error in errors) and any("colour" in error for error in errors)
    broken = deployment("x@" + DIGEST)
    broken["spec"]["replica"] = 2
    assert validate_offline([broken], [], "v1.37.2")
    unknown = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    assert "no schema" in validate_offline([unknown], [crd], "v1.37.2")[0]
