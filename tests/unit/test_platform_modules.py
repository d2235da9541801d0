"""The aicluster.platform modules' logic that needs no cluster: TLS bundles and kube_apply's rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from aicluster.paths import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "collections"))
from ansible_collections.aicluster.platform.plugins.module_utils import kube_api
from ansible_collections.aicluster.platform.plugins.modules import kube_apply


def run_module(module: str, args: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Runs one module of the collection on localhost, as a role's task would."""
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
        ANSIBLE_HOME=str(tmp_path / "home"),
    )
    binary_dir = Path(sys.executable).parent
    completed = subprocess.run(
        [
            str(binary_dir / "ansible"),
            "localhost",
            "-c",
            "local",
            "-i",
            "localhost,",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-m",
            f"aicluster.platform.{module}",
            "-a",
            json.dumps(args),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    output = json.loads(completed.stdout)
    return output["plays"][0]["tasks"][0]["hosts"]["localhost"]


def sans(path: Path) -> list[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return sorted(
        names.get_values_for_type(x509.DNSName)
        + [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
    )


def test_tls_bundle_issues_once_and_reissues_only_the_serving_certificate(tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    args = {
        "path": str(folder),
        "common_name": "hook.system.svc",
        "dns_sans": ["hook.system.svc"],
        "ip_sans": ["127.0.0.1"],
    }
    first = run_module("tls_bundle", args, tmp_path)
    assert first["changed"] is True and first["issued"] == ["ca", "serving"]
    assert (folder / "tls.key").stat().st_mode & 0o777 == 0o600
    assert (folder / "ca.key").stat().st_mode & 0o777 == 0o600
    ca = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
    serving = x509.load_pem_x509_certificate((folder / "tls.crt").read_bytes())
    serving.verify_directly_issued_by(ca)
    assert sans(folder / "tls.crt") == ["127.0.0.1", "hook.system.svc"]

    again = run_module("tls_bundle", args, tmp_path)
    assert again["changed"] is False and again["issued"] == []

    renamed = run_module("tls_bundle", {**args, "dns_sans": ["hook.system.svc", "localhost"]}, tmp_path)
    assert renamed["changed"] is True and renamed["issued"] == ["serving"]
    assert sans(folder / "tls.crt") == ["127.0.0.1", "hook.system.svc", "localhost"]
    assert (folder / "ca.crt").read_bytes() == ca.public_bytes(Encoding.PEM)


def test_tls_bundle_rejects_a_bad_address(tmp_path: Path) -> None:
    result = run_module(
        "tls_bundle", {"path": str(tmp_path / "c"), "common_name": "x", "ip_sans": ["not-an-ip"]}, tmp_path
    )
    assert result["failed"] is True and "ip_sans" in result["msg"]
    assert not (tmp_path / "c" / "tls.crt").exists()


def test_kube_apply_names_the_object_that_lacks_a_field(tmp_path: Path) -> None:
    result = run_module(
        "kube_apply",
        {
            "kubeconfig": str(tmp_path / "none"),
            "definitions": [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}},
                {"kind": "Namespace", "metadata": {"name": "b"}},
            ],
        },
        tmp_path,
    )
    assert result["failed"] is True and result["msg"] == "object 1 lacks apiVersion"


def manifest(kind: str, name: str, api_version: str = "v1") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}


def test_objects_of_one_kind_are_grouped_without_reordering() -> None:
    objects = [
        manifest("Namespace", "a"),
        manifest("ConfigMap", "b"),
        manifest("ConfigMap", "c"),
        manifest("Namespace", "d"),
    ]
    groups = kube_apply.consecutive_by_kind(objects)
    assert [[m["metadata"]["name"] for m in group] for group in groups] == [["a"], ["b", "c"], ["d"]]


def test_labels_are_merged_into_a_copy() -> None:
    original = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "labels": {"a": "1"}}}
    labelled = kube_apply.with_labels(original, {"b": "2"})
    assert labelled["metadata"]["labels"] == {"a": "1", "b": "2"}
    assert original["metadata"]["labels"] == {"a": "1"}


def test_content_ignores_status_and_bookkeeping() -> None:
    stored = {
        "apiVersion": "v1",
        "kind": "Node",
        "spec": {"taints": []},
        "status": {"phase": "Ready"},
        "metadata": {
            "name": "n",
            "labels": {"a": "1"},
            "resourceVersion": "7",
            "generation": 2,
            "managedFields": [{"manager": "kwok"}],
            "uid": "u",
            "creationTimestamp": "t",
        },
    }
    preview = {
        **stored,
        "status": {"phase": "NotReady"},
        "metadata": {**stored["metadata"], "resourceVersion": "8", "managedFields": []},
    }
    assert kube_api.content(preview) == kube_api.content(stored)
    relabelled = {**stored, "metadata": {**stored["metadata"], "labels": {"a": "2"}}}
    assert kube_api.content(relabelled) != kube_api.content(stored)


def test_retrying_backs_off_on_passing_errors_and_gives_up_on_lasting_ones(monkeypatch: Any) -> None:
    waits: list[float] = []
    clock = [0.0]

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(kube_api.time, "sleep", sleep)
    monkeypatch.setattr(kube_api.time, "monotonic", lambda: clock[0])
    answers = iter([kube_api.KubeError(503, "webhook not ready")] * 5 + ["applied"])

    def flaky() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert kube_api.retrying(flaky, timeout=60) == "applied"
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0]

    def refused() -> None:
        raise kube_api.KubeError(422, "spec.replicas: Invalid value")

    waits.clear()
    with pytest.raises(kube_api.KubeError, match="Invalid value"):
        kube_api.retrying(refused, timeout=60)
    assert waits == []

    def down() -> None:
        raise kube_api.KubeError(0, "cannot reach the API server")

    waits.clear()
    clock[0] = 0.0
    with pytest.raises(kube_api.KubeError, match="cannot reach"):
        kube_api.retrying(down, timeout=10)
    assert sum(waits) == pytest.approx(10) and max(waits) <= 4.0
