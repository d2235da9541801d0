"""The join-token publisher of cloud clusters, run for each secret store against stand-ins for the
commands that would reach the cloud (kubeadm, curl, aws), with the real openssl: the payload is
what joining machines expect, and the token never appears on a command line."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path

import jinja2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from aicluster.paths import REPO_ROOT

ROLE = REPO_ROOT / "roles" / "node_join_publisher"
TOKEN = "abcdef.0123456789abcdef"
STAND_INS = {
    "kubeadm": f'echo "$*" >> "$RECORD/argv"\necho {TOKEN}\n',
    "aws": 'echo "aws $*" >> "$RECORD/argv"\n'
           'for arg in "$@"; do\n'
           '  case "$arg" in file://*) cp "${arg#file://}" "$RECORD/aws-value";; esac\n'
           'done\n',
    "curl": 'echo "curl $*" >> "$RECORD/argv"\n'
            'previous=""\n'
            'for arg in "$@"; do\n'
            '  case "$previous" in\n'
            '    --data-binary) cp "${arg#@}" "$RECORD/body";;\n'
            '    -K) cp "$arg" "$RECORD/curlrc";;\n'
            '  esac\n'
            '  previous="$arg"\n'
            'done\n'
            'case "$*" in\n'
            '  *api/token*) echo imds-session;;\n'
            '  *placement/region*) echo us-east-1;;\n'
            '  *project-id*) echo demo-project;;\n'
            '  *oauth2/token*|*service-accounts/default/token*) echo \'{"access_token": "ACCESS"}\';;\n'
            '  *) echo "{}";;\n'
            'esac\n',
}


def render(store: str, name: str, ca_cert: Path) -> str:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    template = environment.from_string((ROLE / "templates" / "publish-node-join.sh.j2").read_text())
    return template.render(ansible_managed="managed", node_join_publisher_secret_store=store,
                           node_join_publisher_secret_name=name, node_join_publisher_token_ttl="4h",
                           node_join_publisher_admin_kubeconfig="/etc/kubernetes/admin.conf",
                           node_join_publisher_ca_cert=str(ca_cert))


@pytest.fixture
def ca_cert(tmp_path: Path) -> Path:
    cert = tmp_path / "ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(tmp_path / "ca.key"), "-out", str(cert),
                    "-subj", "/CN=kubernetes", "-days", "1"], check=True, capture_output=True)
    return cert


def expected_hash(cert: Path) -> str:
    public_key = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def run_publisher(tmp_path: Path, store: str, name: str, ca_cert: Path) -> Path:
    bin_dir, record = tmp_path / "bin", tmp_path / "record"
    bin_dir.mkdir()
    record.mkdir()
    for command, body in STAND_INS.items():
        path = bin_dir / command
        path.write_text("#!/usr/bin/env bash\nset -eu\n" + body)
        path.chmod(0o755)
    script = tmp_path / "publish"
    script.write_text(render(store, name, ca_cert))
    subprocess.run(["bash", "-n", str(script)], check=True)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "RECORD": str(record)}
    completed = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    assert f"to {store} {name}" in completed.stdout
    argv = (record / "argv").read_text()
    assert TOKEN not in argv, "the token must never be a command-line argument"
    assert "ACCESS" not in argv, "the access token must never be a command-line argument"
    assert "token create --ttl 4h" in argv
    return record


def test_aws_writes_a_secure_string_parameter(tmp_path: Path, ca_cert: Path) -> None:
    record = run_publisher(tmp_path, "aws-ssm", "/aicluster/demo/node-join", ca_cert)
    argv = (record / "argv").read_text()
    assert "ssm put-parameter --region us-east-1 --name /aicluster/demo/node-join --type SecureString" in argv
    payload = json.loads((record / "aws-value").read_text())
    assert payload == {"token": TOKEN, "ca_cert_hash": expected_hash(ca_cert)}


def test_gcp_adds_a_secret_version(tmp_path: Path, ca_cert: Path) -> None:
    record = run_publisher(tmp_path, "gcp-secret-manager", "demo-node-join", ca_cert)
    assert "projects/demo-project/secrets/demo-node-join:addVersion" in (record / "argv").read_text()
    data = json.loads((record / "body").read_text())["payload"]["data"]
    assert json.loads(base64.b64decode(data)) == {"token": TOKEN, "ca_cert_hash": expected_hash(ca_cert)}
    assert "Authorization: Bearer ACCESS" in (record / "curlrc").read_text()


def test_azure_sets_a_key_vault_secret(tmp_path: Path, ca_cert: Path) -> None:
    record = run_publisher(tmp_path, "azure-key-vault", "demo-kv-1a2b3c/node-join", ca_cert)
    url = "https://demo-kv-1a2b3c.vault.azure.net/secrets/node-join?api-version=7.4"
    assert url in (record / "argv").read_text()
    value = json.loads((record / "body").read_text())["value"]
    assert json.loads(value) == {"token": TOKEN, "ca_cert_hash": expected_hash(ca_cert)}
