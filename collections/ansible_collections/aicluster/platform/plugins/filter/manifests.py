"""Jinja filters for release manifests: kustomize-style JSON patches and local webhook endpoints."""

from __future__ import annotations

import copy
from typing import Any

from ansible.errors import AnsibleFilterError


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise AnsibleFilterError(f"json_patch: path {path!r} is not a JSON pointer")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def json_patch(document: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """Applies the add, replace and remove operations of an RFC 6902 patch to a copy of the document."""
    result = copy.deepcopy(document)
    for operation in operations or []:
        op, parts = operation.get("op"), _pointer(operation.get("path", ""))
        parent: Any = result
        for part in parts[:-1]:
            try:
                parent = parent[int(part)] if isinstance(parent, list) else parent[part]
            except (KeyError, IndexError, ValueError) as error:
                raise AnsibleFilterError(f"json_patch: {operation['path']} does not exist") from error
        last = parts[-1]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op == "add":
                parent.insert(index, copy.deepcopy(operation["value"]))
            elif op == "replace":
                parent[index] = copy.deepcopy(operation["value"])
            elif op == "remove":
                del parent[index]
            else:
                raise AnsibleFilterError(f"json_patch: unsupported operation {op!r}")
        elif op in ("add", "replace"):
            if op == "replace" and last not in parent:
                raise AnsibleFilterError(f"json_patch: {operation['path']} does not exist")
            parent[last] = copy.deepcopy(operation["value"])
        elif op == "remove":
            parent.pop(last, None)
        else:
            raise AnsibleFilterError(f"json_patch: unsupported operation {op!r}")
    return result


def local_webhooks(
    document: dict[str, Any], port: int, ca_bundle: str, name_prefix: str = ""
) -> dict[str, Any]:
    """A webhook configuration whose webhooks call https://127.0.0.1:<port><path> instead of a Service."""
    result = copy.deepcopy(document)
    metadata = result.setdefault("metadata", {})
    metadata["name"] = name_prefix + metadata.get("name", "")
    for hook in result.get("webhooks") or []:
        service = (hook.get("clientConfig") or {}).get("service") or {}
        if "path" not in service:
            raise AnsibleFilterError(f"local_webhooks: webhook {hook.get('name')} calls no service path")
        hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{service['path']}", "caBundle": ca_bundle}
    return result


class FilterModule:
    def filters(self) -> dict:
        return {"json_patch": json_patch, "local_webhooks": local_webhooks}
