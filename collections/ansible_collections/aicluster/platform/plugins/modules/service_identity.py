#!/usr/bin/python
"""Gives a process of this host a service account's identity: the account, its RBAC, its token, and a
kubeconfig that carries the token."""

from __future__ import annotations

import os
import time
from base64 import b64decode
from pathlib import Path
from typing import Any

import yaml
from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aicluster.platform.plugins.module_utils.kube_api import (
    KubeClient,
    KubeError,
    retrying,
)

DOCUMENTATION = r"""
module: service_identity
short_description: A service account, its cluster role and token, and a kubeconfig for a local process
description:
  - Applies (server-side) the namespace (restricted by Pod Security), the service account, a
    service-account-token Secret and, with I(cluster_rules), a ClusterRole and its binding; waits until
    the controller manager has filled in the token; writes a kubeconfig (mode 0600) that reaches the
    admin kubeconfig's server with that token, the bare token with I(token_file) and the server's CA
    certificate with I(ca_file).
  - Reports a change only when an object's content or a written file changes.
options:
  admin_kubeconfig:
    description: Kubeconfig with the rights to create all of it.
    type: path
    required: true
  name: {description: Service account (and ClusterRole) name., type: str, required: true}
  namespace: {description: Namespace of the service account., type: str, required: true}
  cluster_rules:
    description: Rules of the ClusterRole bound to the account; none when empty.
    type: list
    elements: dict
    default: []
  kubeconfig: {description: Where to write the token kubeconfig., type: path, required: true}
  token_file: {description: Where to write the bare token; none when unset., type: path, required: false}
  ca_file:
    description: Where to write the API server's CA certificate (PEM); none when unset.
    type: path
    required: false
  field_manager:
    description: Field manager of the applied objects.
    type: str
    default: aicluster-identity
  token_timeout: {description: Seconds to wait for the token., type: int, default: 60}
author: aicluster
"""

EXAMPLES = r"""
- name: Give the controller its service account's identity
  aicluster.platform.service_identity:
    admin_kubeconfig: "{{ aicluster_kubeconfig }}"
    name: kueue-controller-manager
    namespace: kueue-system
    cluster_rules: "{{ kueue_rules }}"
    kubeconfig: "{{ kueue_work_dir }}/kubeconfig"
"""

RETURN = r"""
server:
  description: URL of the API server the kubeconfig reaches.
  type: str
  returned: success
objects:
  description: Each object and whether it was created, configured or unchanged.
  type: list
  returned: always
"""

LABELS = {"app.kubernetes.io/managed-by": "aicluster"}


def objects(name: str, namespace: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    wanted: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "labels": {**LABELS, "pod-security.kubernetes.io/enforce": "restricted"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace, "labels": LABELS},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": f"{name}-token",
                "namespace": namespace,
                "labels": LABELS,
                "annotations": {"kubernetes.io/service-account.name": name},
            },
        },
    ]
    if rules:
        wanted += [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": name, "labels": LABELS},
                "rules": rules,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": name, "labels": LABELS},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
            },
        ]
    return wanted


def token_kubeconfig(admin: dict[str, Any], name: str, token: str) -> str:
    cluster = admin["clusters"][0]["cluster"]
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {
                    "server": cluster["server"],
                    "certificate-authority-data": cluster["certificate-authority-data"],
                },
            }
        ],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": "local", "user": name}}],
        "current-context": name,
    }
    return yaml.safe_dump(document, sort_keys=False)


def write_private(path: Path, text: str) -> bool:
    """Writes text with mode 0600 unless the file already holds it; True when it wrote."""
    if path.exists() and path.read_text() == text and (path.stat().st_mode & 0o777) == 0o600:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(text)
    temporary.chmod(0o600)
    temporary.replace(path)
    return True


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "admin_kubeconfig": {"type": "path", "required": True},
            "name": {"type": "str", "required": True},
            "namespace": {"type": "str", "required": True},
            "cluster_rules": {"type": "list", "elements": "dict", "default": []},
            "kubeconfig": {"type": "path", "required": True},
            "token_file": {"type": "path", "required": False},
            "ca_file": {"type": "path", "required": False},
            "field_manager": {"type": "str", "default": "aicluster-identity"},
            "token_timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=False,
    )
    params = module.params
    client = KubeClient(params["admin_kubeconfig"])
    results = []
    try:
        for manifest in objects(params["name"], params["namespace"], params["cluster_rules"]):
            result = retrying(lambda manifest=manifest: client.ensure(manifest, params["field_manager"]), 60)
            results.append({"kind": manifest["kind"], "name": manifest["metadata"]["name"], "result": result})
        deadline = time.monotonic() + params["token_timeout"]
        token = ""
        while not token:
            secret = client.get("v1", "Secret", params["namespace"], f"{params['name']}-token") or {}
            token = b64decode((secret.get("data") or {}).get("token", "")).decode()
            if not token:
                if time.monotonic() > deadline:
                    module.fail_json(
                        msg=f"the controller manager filled in no token for {params['namespace']}/"
                        f"{params['name']} within {params['token_timeout']}s",
                        objects=results,
                    )
                time.sleep(0.5)
    except KubeError as error:
        module.fail_json(msg=str(error), objects=results)
    admin = yaml.safe_load(Path(params["admin_kubeconfig"]).read_text())
    written = write_private(Path(params["kubeconfig"]), token_kubeconfig(admin, params["name"], token))
    if params["token_file"]:
        written = write_private(Path(params["token_file"]), token) or written
    cluster = admin["clusters"][0]["cluster"]
    if params["ca_file"]:
        ca = b64decode(cluster["certificate-authority-data"]).decode()
        written = write_private(Path(params["ca_file"]), ca) or written
    changed = written or any(r["result"] != "unchanged" for r in results)
    module.exit_json(changed=changed, objects=results, server=cluster["server"])


if __name__ == "__main__":
    main()
