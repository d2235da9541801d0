#!/usr/bin/python
"""Applies many Kubernetes objects in one step, with server-side apply, pruning and waits."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aicluster.platform.plugins.module_utils.kube_api import (
    KubeClient,
    KubeError,
    UnknownKind,
    condition_status,
    retrying,
)

DOCUMENTATION = r"""
module: kube_apply
short_description: Apply (or delete) a set of Kubernetes objects with server-side apply
description:
  - Applies every object of I(definitions) and I(files), in order, with server-side apply under
    I(field_manager). An object counts as changed only when the API server stored a new version
    of it, so a repeated run reports changed=false.
  - Requests that fail for a reason that passes (API server, webhook or a just-created CRD not yet
    serving) are retried until I(retry_timeout).
  - With I(prune), the objects of the listed kinds that carry the prune labels and were not applied
    now are deleted, so that objects which left the desired set go away.
  - With I(wait), waits until every applied object of the given kinds reports a condition.
options:
  kubeconfig: {description: Kubeconfig file of the cluster., type: path, required: true}
  definitions: {description: Objects to apply., type: list, elements: dict, default: []}
  files:
    description: YAML files (one or more documents each) to apply after I(definitions).
    type: list
    elements: path
    default: []
  labels: {description: Labels added to every object., type: dict, default: {}}
  state:
    description: Whether the objects should exist.
    type: str
    choices: [present, absent]
    default: present
  field_manager: {description: Field manager of the applied fields., type: str, default: aicluster}
  dry_run:
    description:
      - Send every change as a server-side dry run. Nothing is stored, so the task reports
        changed=false; C(would_change) and each object's C(result) say what a real run would do.
      - An object whose kind or namespace only a real run creates (a CRD or a Namespace that the
        dry run sent but did not store) cannot be sent; its result is C(unchecked) with the reason.
    type: bool
    default: false
  prune:
    description: Delete objects with these labels, of these kinds, that were not applied now.
    type: dict
    suboptions:
      labels: {description: Labels that mark the set; added to every object., type: dict, required: true}
      kinds:
        description: Kinds to prune, as C(apiVersion/Kind), e.g. C(kueue.x-k8s.io/v1beta2/ClusterQueue).
        type: list
        elements: str
        required: true
  wait:
    description: Wait until applied objects report a condition.
    type: dict
    suboptions:
      condition: {description: Condition type., type: str, required: true}
      status: {description: Condition status., type: str, default: "True"}
      kinds:
        description: Kinds to wait for; all applied objects when empty.
        type: list
        elements: str
        default: []
      timeout: {description: Seconds to wait., type: int, default: 120}
  retry_timeout:
    description: Seconds to retry requests that fail for a passing reason.
    type: int
    default: 60
author: aicluster
"""

EXAMPLES = r"""
- name: Apply the CRDs and wait until they are established
  aicluster.platform.kube_apply:
    kubeconfig: "{{ kueue_kubeconfig }}"
    files: "{{ kueue_crd_files }}"
    wait: {condition: Established}
"""

RETURN = r"""
objects:
  description: Each object and what happened to it (created, configured, unchanged, deleted, absent, pruned).
  type: list
  returned: always
would_change:
  description: Whether some object was or, in a dry run, would be created, changed or deleted.
  type: bool
  returned: success
"""


class ManifestLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml: CRDs weigh megabytes
    """YAML 1.1 reads a lone `=` (an enum value in some CRDs) as the "value" type; the API server's
    YAML 1.2 reads it as a string."""


ManifestLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def documents(module: AnsibleModule) -> list[dict[str, Any]]:
    manifests = list(module.params["definitions"])
    for path in module.params["files"]:
        with Path(path).open(encoding="utf-8") as stream:
            loaded = yaml.load_all(stream, Loader=ManifestLoader)  # a SafeLoader: no arbitrary objects
            manifests.extend(document for document in loaded if document)
    for index, manifest in enumerate(manifests):
        missing = [key for key in ("apiVersion", "kind") if not manifest.get(key)]
        if missing or not (manifest.get("metadata") or {}).get("name"):
            module.fail_json(msg=f"object {index} lacks {', '.join(missing) or 'metadata.name'}")
    return manifests


def with_labels(manifest: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    if not labels:
        return manifest
    metadata = dict(manifest["metadata"])
    metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
    return {**manifest, "metadata": metadata}


def consecutive_by_kind(manifests: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Splits the objects into runs of one kind, keeping their order (namespaces before their objects)."""
    groups: list[list[dict[str, Any]]] = []
    for manifest in manifests:
        if groups and (groups[-1][0]["apiVersion"], groups[-1][0]["kind"]) == (
            manifest["apiVersion"],
            manifest["kind"],
        ):
            groups[-1].append(manifest)
        else:
            groups.append([manifest])
    return groups


def describe(manifest: dict[str, Any], result: str) -> dict[str, str]:
    metadata = manifest["metadata"]
    entry = {"kind": manifest["kind"], "name": metadata["name"], "result": result}
    if metadata.get("namespace"):
        entry["namespace"] = metadata["namespace"]
    return entry


def unsendable_in_dry_run(client: KubeClient, manifest: dict[str, Any]) -> str | None:
    """Why a dry run cannot send the object: its kind is not served yet, or its namespace does not
    exist yet (a dry run stores neither the CRD nor the Namespace it sends)."""
    try:
        entry = client.resource(manifest["apiVersion"], manifest["kind"])
    except UnknownKind:
        return f"unchecked: {manifest['apiVersion']} is not served before a real run"
    namespace = manifest["metadata"].get("namespace")
    if entry.get("namespaced") and namespace and client.get("v1", "Namespace", None, namespace) is None:
        return f"unchecked: namespace {namespace} does not exist before a real run"
    return None


def apply_one(client: KubeClient, manifest: dict[str, Any], params: dict[str, Any]) -> str:
    key = object_key(manifest)
    if params["dry_run"] and params["state"] == "present":
        reason = unsendable_in_dry_run(client, manifest)
        if reason:
            return reason
    if params["state"] == "absent":
        return "deleted" if client.delete(*key, dry_run=params["dry_run"]) else "absent"
    return client.ensure(manifest, params["field_manager"], params["dry_run"])


def prune(client: KubeClient, applied: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, str]]:
    labels = params["prune"]["labels"]
    selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
    kept = {(m["kind"], m["metadata"].get("namespace"), m["metadata"]["name"]) for m in applied}
    pruned = []
    for qualified_kind in params["prune"]["kinds"]:
        api_version, _, kind = qualified_kind.rpartition("/")
        if params["dry_run"]:
            try:
                client.resource(api_version, kind)
            except UnknownKind:
                # Not served: no object of the kind exists to prune.
                continue
        items = retrying(
            lambda api_version=api_version, kind=kind: client.list(api_version, kind, selector),
            params["retry_timeout"],
        )
        for item in items:
            metadata = item["metadata"]
            if (kind, metadata.get("namespace"), metadata["name"]) in kept:
                continue
            client.delete(api_version, kind, metadata.get("namespace"), metadata["name"], params["dry_run"])
            pruned.append(describe({"kind": kind, "metadata": metadata}, "pruned"))
    return pruned


def current_objects(client: KubeClient, pending: list[dict[str, Any]]) -> dict[tuple, dict[str, Any] | None]:
    """The stored version of each pending object: one LIST per kind when many are pending."""
    found: dict[tuple, dict[str, Any] | None] = {}
    by_kind: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for manifest in pending:
        by_kind.setdefault((manifest["apiVersion"], manifest["kind"]), []).append(manifest)
    for (api_version, kind), manifests in by_kind.items():
        if len(manifests) > 10:
            items = client.list(api_version, kind, "")
            stored = {(item["metadata"].get("namespace"), item["metadata"]["name"]): item for item in items}
            for manifest in manifests:
                found[object_key(manifest)] = stored.get(object_key(manifest)[2:])
            continue
        for manifest in manifests:
            metadata = manifest["metadata"]
            found[object_key(manifest)] = client.get(
                api_version, kind, metadata.get("namespace"), metadata["name"]
            )
    return found


def object_key(manifest: dict[str, Any]) -> tuple[str, str, str | None, str]:
    metadata = manifest["metadata"]
    return (manifest["apiVersion"], manifest["kind"], metadata.get("namespace"), metadata["name"])


def wait_for(client: KubeClient, applied: list[dict[str, Any]], wait: dict[str, Any]) -> list[str]:
    """Waits for the condition; returns a description of each object that never reported it."""
    kinds = set(wait["kinds"])
    pending = [m for m in applied if not kinds or m["kind"] in kinds]
    deadline = time.monotonic() + wait["timeout"]
    last_seen: dict[tuple, str] = {}
    while pending:
        try:
            stored = current_objects(client, pending)
        except KubeError as error:
            if not error.transient:
                raise
            stored = {}
        still = []
        for manifest in pending:
            status, message = condition_status(stored.get(object_key(manifest)), wait["condition"])
            if status != wait["status"]:
                still.append(manifest)
                detail = f"{status or 'no condition'}{': ' + message if message else ''}"
                last_seen[object_key(manifest)] = detail
        pending = still
        if pending and time.monotonic() >= deadline:
            shown = [
                f"{m['kind']} {m['metadata']['name']} ({last_seen[object_key(m)]})" for m in pending[:10]
            ]
            more = f"; and {len(pending) - 10} more" if len(pending) > 10 else ""
            return shown + ([more] if more else [])
        if pending:
            time.sleep(0.5)
    return []


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "kubeconfig": {"type": "path", "required": True},
            "definitions": {"type": "list", "elements": "dict", "default": []},
            "files": {"type": "list", "elements": "path", "default": []},
            "labels": {"type": "dict", "default": {}},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "field_manager": {"type": "str", "default": "aicluster"},
            "dry_run": {"type": "bool", "default": False},
            "prune": {
                "type": "dict",
                "options": {
                    "labels": {"type": "dict", "required": True},
                    "kinds": {"type": "list", "elements": "str", "required": True},
                },
            },
            "wait": {
                "type": "dict",
                "options": {
                    "condition": {"type": "str", "required": True},
                    "status": {"type": "str", "default": "True"},
                    "kinds": {"type": "list", "elements": "str", "default": []},
                    "timeout": {"type": "int", "default": 120},
                },
            },
            "retry_timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=False,
    )
    params = module.params
    extra_labels = {**params["labels"], **((params["prune"] or {}).get("labels") or {})}
    manifests = [with_labels(manifest, extra_labels) for manifest in documents(module)]
    client = KubeClient(params["kubeconfig"])
    objects: list[dict[str, str]] = []
    try:
        for group in consecutive_by_kind(manifests):
            # Objects of one kind do not depend on each other: apply them side by side.
            with ThreadPoolExecutor(max_workers=min(8, len(group))) as pool:
                results = pool.map(
                    lambda manifest: retrying(
                        lambda: apply_one(client, manifest, params), params["retry_timeout"]
                    ),
                    group,
                )
                objects.extend(
                    describe(manifest, result) for manifest, result in zip(group, results, strict=True)
                )
        if params["prune"] and params["state"] == "present":
            objects.extend(prune(client, manifests, params))
        not_ready = []
        if params["wait"] and params["state"] == "present" and not params["dry_run"]:
            not_ready = wait_for(client, manifests, params["wait"])
    except KubeError as error:
        done = ", ".join(f"{o['kind']}/{o['name']} {o['result']}" for o in objects) or "nothing"
        module.fail_json(
            msg=f"{error} (done before the failure: {done})",
            objects=objects,
            changed=not params["dry_run"]
            and any(o["result"] not in ("unchanged", "absent") for o in objects),
        )
    # A dry run changes nothing: what it would change is reported in objects (and would_change).
    would_change = any(o["result"] not in ("unchanged", "absent") for o in objects)
    changed = would_change and not params["dry_run"]
    if not_ready:
        module.fail_json(
            msg=f"not {params['wait']['condition']} after {params['wait']['timeout']}s: "
            + "; ".join(not_ready),
            objects=objects,
            changed=changed,
        )
    module.exit_json(changed=changed, would_change=would_change, objects=objects)


if __name__ == "__main__":
    main()
