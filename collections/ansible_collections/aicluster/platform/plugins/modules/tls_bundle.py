#!/usr/bin/python
"""Issues a private CA and one serving certificate for a process on the control host."""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: tls_bundle
short_description: Keep a private CA and a serving certificate in a folder
description:
  - Writes C(ca.key), C(ca.crt), C(tls.key) and C(tls.crt) (ECDSA P-256) into I(path).
  - Existing files are kept while the serving certificate is signed by the CA, names exactly the
    requested common name and SANs, and stays valid for more than I(renew_days); otherwise the
    serving certificate, and the CA too when the CA is missing or expiring, is issued again.
options:
  path: {description: Folder of the four files; created with mode 0700., type: path, required: true}
  common_name: {description: Common name of the serving certificate., type: str, required: true}
  dns_sans: {description: DNS names of the serving certificate., type: list, elements: str, default: []}
  ip_sans: {description: IP addresses of the serving certificate., type: list, elements: str, default: []}
  valid_days: {description: Validity of newly issued certificates., type: int, default: 365}
  renew_days: {description: Issue again when fewer days of validity are left., type: int, default: 30}
author: aicluster
"""

EXAMPLES = r"""
- name: Issue the webhook serving certificate
  aicluster.platform.tls_bundle:
    path: "{{ kueue_work_dir }}/certs"
    common_name: kueue-webhook-service.kueue-system.svc
    dns_sans: [kueue-webhook-service.kueue-system.svc, localhost]
    ip_sans: [127.0.0.1]
"""

RETURN = r"""
issued:
  description: Which certificates were issued now (C(ca), C(serving)); empty when all were kept.
  type: list
  returned: always
"""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _load(path: Path, loader: Any) -> Any:
    try:
        return loader(path.read_bytes())
    except (OSError, ValueError):
        return None


def _write(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)
    temporary.chmod(mode)
    temporary.replace(path)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "common_name": {"type": "str", "required": True},
            "dns_sans": {"type": "list", "elements": "str", "default": []},
            "ip_sans": {"type": "list", "elements": "str", "default": []},
            "valid_days": {"type": "int", "default": 365},
            "renew_days": {"type": "int", "default": 30},
        },
        supports_check_mode=False,
    )
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    params = module.params
    if params["renew_days"] >= params["valid_days"]:
        module.fail_json(msg="renew_days must be below valid_days")
    try:
        wanted_sans = sorted(
            [f"DNS:{name}" for name in params["dns_sans"]]
            + [f"IP:{ipaddress.ip_address(ip)}" for ip in params["ip_sans"]]
        )
    except ValueError as error:
        module.fail_json(msg=f"ip_sans: {error}")
    if not wanted_sans:
        module.fail_json(msg="give at least one of dns_sans and ip_sans")
    folder = Path(params["path"])
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    renew_before = _now() + datetime.timedelta(days=params["renew_days"])

    def private_key(data: bytes) -> Any:
        return serialization.load_pem_private_key(data, password=None)

    ca_key = _load(folder / "ca.key", private_key)
    ca_cert = _load(folder / "ca.crt", x509.load_pem_x509_certificate)
    serving_key = _load(folder / "tls.key", private_key)
    serving_cert = _load(folder / "tls.crt", x509.load_pem_x509_certificate)

    def sans_of(cert: Any) -> list[str]:
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return []
        return sorted(
            [f"DNS:{n}" for n in names.get_values_for_type(x509.DNSName)]
            + [f"IP:{n}" for n in names.get_values_for_type(x509.IPAddress)]
        )

    ca_ok = (
        ca_key is not None
        and ca_cert is not None
        and ca_cert.public_key() == ca_key.public_key()
        and ca_cert.not_valid_after_utc > renew_before
    )
    serving_ok = (
        ca_ok
        and serving_key is not None
        and serving_cert is not None
        and serving_cert.public_key() == serving_key.public_key()
        and serving_cert.issuer == ca_cert.subject
        and serving_cert.not_valid_after_utc > renew_before
        and sans_of(serving_cert) == wanted_sans
        and serving_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == params["common_name"]
    )
    if serving_ok:
        serving_cert.verify_directly_issued_by(ca_cert)
        module.exit_json(changed=False, issued=[])

    issued = []
    start = _now() - datetime.timedelta(minutes=5)
    end = _now() + datetime.timedelta(days=params["valid_days"])
    if not ca_ok:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, params["common_name"] + "-ca")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write(
            folder / "ca.key",
            ca_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            0o600,
        )
        _write(folder / "ca.crt", ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
        issued.append("ca")
    serving_key = ec.generate_private_key(ec.SECP256R1())
    san_entries = [x509.DNSName(name) for name in params["dns_sans"]] + [
        x509.IPAddress(ipaddress.ip_address(ip)) for ip in params["ip_sans"]
    ]
    serving_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, params["common_name"])]))
        .issuer_name(ca_cert.subject)
        .public_key(serving_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(san_entries), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(
        folder / "tls.key",
        serving_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        0o600,
    )
    _write(folder / "tls.crt", serving_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    issued.append("serving")
    module.exit_json(changed=True, issued=issued)


if __name__ == "__main__":
    main()
