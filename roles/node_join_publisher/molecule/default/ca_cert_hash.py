"""Prints the sha256:<hex> pin of the PEM certificate on stdin: the hash of its public key's
SubjectPublicKeyInfo, which `kubeadm join --discovery-token-ca-cert-hash` checks. Computed here with
the controller's cryptography package, independently of the openssl pipeline the publisher runs."""

from __future__ import annotations

import hashlib
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization


def main() -> None:
    certificate = x509.load_pem_x509_certificate(sys.stdin.buffer.read())
    public_key = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    print("sha256:" + hashlib.sha256(public_key).hexdigest())


if __name__ == "__main__":
    main()
