#!/usr/bin/python
"""Renders a pinned module's Helm chart or release manifests into objects for kube_apply."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: release_render
short_description: Render a release of the bill of materials (chart or manifests) into objects
description:
  - Resolves the release's pinned Go module through the module proxy into the per-user cache and
    renders its chart with C(helm template) (offline, C(--include-crds), C(--no-hooks)) or reads
    its manifest files, then pins every image the bill of materials lists by digest.
  - Fails when an image has no digest, unless I(allow_unpinned_images) is true.
  - With I(kubeconfig) and I(split_served), also asks the API server which kinds it serves;
    objects of other kinds are returned in C(offline) after validation against the Kubernetes
    schemas (strict) or the schemas of the CRDs rendered with them. Used for dry runs, where
    CRDs are not created.
  - Runs on the controller with the aicluster package importable; it never changes anything.
options:
  bom: {description: The bill of materials (C(aicluster_bom))., type: dict, required: true}
  release:
    description: Release under C(releases) in the bill of materials; empty for I(definitions) only.
    type: str
    default: ""
  definitions:
    description: Objects of the calling role, rendered with the release and put through the same image policy.
    type: list
    elements: dict
    default: []
  namespace: {description: Namespace the release is installed into., type: str, required: true}
  release_name: {description: Helm release name; the release name when empty., type: str, default: ""}
  values: {description: Chart values., type: dict, default: {}}
  kube_version: {description: Kubernetes version the chart is rendered for., type: str, default: ""}
  api_versions:
    description: Extra API versions the chart may assume.
    type: list
    elements: str
    default: []
  drop_dependencies:
    description: Subcharts left out of the chart (installed by their own roles, or disabled).
    type: list
    elements: str
    default: []
  exclude:
    description: Objects dropped from the output, as C(kind) and optional C(name) (owned by the role itself).
    type: list
    elements: dict
    default: []
  container_args:
    description:
      - Flags set on containers of the release's workloads, each as C(kind), C(name), C(container)
        and C(args) (flag to value); a flag present is replaced, one absent appended.
    type: list
    elements: dict
    default: []
  manifests_namespace:
    description: Namespace the manifests were written for; moved to I(namespace).
    type: str
    default: ""
  allow_unpinned_images:
    description: Render images that have no digest, by tag.
    type: bool
    default: false
  kubeconfig: {description: Kubeconfig, for I(split_served)., type: path}
  split_served:
    description:
      - Return in C(offline) the objects of kinds the server does not serve, and namespaced objects
        whose namespace does not exist yet (a dry run creates no namespace).
    type: bool
    default: false
  crd_releases:
    description:
      - Releases whose CRDs the objects use (e.g. prometheus-operator for a ServiceMonitor); their
        CRDs are rendered from their pinned modules and returned first in I(definitions), so that
        they exist whichever role installs the rest of that release, and validate offline objects.
    type: list
    elements: str
    default: []
  extra_crds:
    description: CRDs (objects) to validate offline objects against, besides the rendered ones.
    type: list
    elements: dict
    default: []
  log_file: {description: Log of a helm build, if one is needed., type: path}
author: aicluster
"""

EXAMPLES = r"""
- name: Render the Kueue chart
  aicluster.platform.release_render:
    bom: "{{ aicluster_bom }}"
    release: kueue
    namespace: kueue-system
    values: {controllerManager: {replicas: 2}}
  register: __kueue_release
"""

RETURN = r"""
definitions:
  description: Objects to apply, CRDs and namespaces first.
  type: list
  returned: always
offline:
  description: Objects of kinds the server does not serve (with I(split_served)), validated offline.
  type: list
  returned: always
images:
  description: Every image the objects run.
  type: list
  returned: always
module_dir:
  description: Folder of the pinned module.
  type: str
  returned: always
"""


Objects = list[dict[str, Any]]


def split_by_served(kubeconfig: str, documents: Objects) -> tuple[Objects, Objects]:
    from ansible_collections.aicluster.platform.plugins.module_utils.kube_api import KubeClient, UnknownKind

    client = KubeClient(kubeconfig)
    served, offline = [], []
    namespaces: dict[str, bool] = {}

    def namespace_exists(name: str) -> bool:
        if name not in namespaces:
            namespaces[name] = client.get("v1", "Namespace", None, name) is not None
        return namespaces[name]

    for doc in documents:
        try:
            entry = client.resource(doc["apiVersion"], doc["kind"])
        except UnknownKind:
            offline.append(doc)
            continue
        namespace = (doc.get("metadata") or {}).get("namespace")
        if entry.get("namespaced") and namespace and not namespace_exists(namespace):
            offline.append(doc)
        else:
            served.append(doc)
    return served, offline


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "bom": {"type": "dict", "required": True},
            "release": {"type": "str", "default": ""},
            "definitions": {"type": "list", "elements": "dict", "default": []},
            "namespace": {"type": "str", "required": True},
            "release_name": {"type": "str", "default": ""},
            "values": {"type": "dict", "default": {}},
            "kube_version": {"type": "str", "default": ""},
            "api_versions": {"type": "list", "elements": "str", "default": []},
            "drop_dependencies": {"type": "list", "elements": "str", "default": []},
            "exclude": {"type": "list", "elements": "dict", "default": []},
            "container_args": {"type": "list", "elements": "dict", "default": []},
            "manifests_namespace": {"type": "str", "default": ""},
            "allow_unpinned_images": {"type": "bool", "default": False},
            "kubeconfig": {"type": "path"},
            "split_served": {"type": "bool", "default": False},
            "crd_releases": {"type": "list", "elements": "str", "default": []},
            "extra_crds": {"type": "list", "elements": "dict", "default": []},
            "log_file": {"type": "path"},
        },
        supports_check_mode=True,
        required_if=[("split_served", True, ("kubeconfig",))],
    )
    params = module.params
    try:
        from aicluster.bom import parse_bom
        from aicluster.errors import AiclusterError
        from aicluster.platform_release import (
            ReleaseError,
            RenderRequest,
            images_of,
            ordered,
            render,
            resolve,
            validate_offline,
        )
    except ImportError as error:
        module.fail_json(msg=f"release_render needs the aicluster package on the controller: {error}")
    bom = parse_bom({"aicluster_bom": params["bom"]})
    log_file = Path(params["log_file"] or Path(tempfile.gettempdir()) / "aicluster-release-render.log")
    try:
        module_dir, helm = (resolve(bom, params["release"], log_file) if params["release"]
                            else (Path(), None))
        request = RenderRequest(
            release=params["release"], namespace=params["namespace"], values=params["values"],
            release_name=params["release_name"], kube_version=params["kube_version"],
            api_versions=params["api_versions"], drop_dependencies=params["drop_dependencies"],
            exclude=params["exclude"], manifests_namespace=params["manifests_namespace"],
            container_args=params["container_args"],
            allow_unpinned_images=params["allow_unpinned_images"], definitions=params["definitions"],
        )
        documents = render(bom, request, module_dir, helm)
        crds: list[dict[str, Any]] = []
        for name in params["crd_releases"]:
            crd_dir, crd_helm = resolve(bom, name, log_file)
            own = RenderRequest(release=name, namespace=params["namespace"], allow_unpinned_images=True)
            crds += [doc for doc in render(bom, own, crd_dir, crd_helm)
                     if doc.get("kind") == "CustomResourceDefinition"]
        if crds:
            names = {doc["metadata"]["name"] for doc in documents}
            documents = ordered([doc for doc in crds if doc["metadata"]["name"] not in names] + documents)
        offline: list[dict[str, Any]] = []
        if params["split_served"]:
            documents, offline = split_by_served(params["kubeconfig"], documents)
            errors = validate_offline(offline, [*documents, *params["extra_crds"]],
                                      params["kube_version"] or bom.kubernetes_version)
            if errors:
                raise ReleaseError(f"release {params['release']}: objects invalid offline: "
                                   + "; ".join(errors[:20]))
    except (ReleaseError, AiclusterError) as error:
        module.fail_json(msg=str(error))
    images = sorted({image for doc in [*documents, *offline] for image in images_of(doc)})
    module.exit_json(changed=False, definitions=documents, offline=offline, images=images,
                     module_dir=str(module_dir) if params["release"] else "")


if __name__ == "__main__":
    main()
