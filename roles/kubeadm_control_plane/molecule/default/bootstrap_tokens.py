#!/usr/bin/python3
"""What the scenarios' verify asserts about bootstrap tokens, run on a test host.

`bootstrap_tokens.py list`: on a control-plane host, prints as JSON each bootstrap token's
description, lifetime in seconds, secret and whole token (<id>.<secret>), read from the cluster's Secrets.
`bootstrap_tokens.py logged`: reads such a list on stdin and prints how many of the secrets appear
in this host's journal (0 is the answer the roles promise).
"""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
import sys


def when(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def list_tokens() -> list[dict[str, object]]:
    listed = subprocess.run(
        ["kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "-n", "kube-system", "get", "secrets",
         "--field-selector=type=bootstrap.kubernetes.io/token", "-o", "json"],
        capture_output=True, text=True, check=True)
    tokens = []
    for secret in json.loads(listed.stdout)["items"]:
        data = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
        lifetime = when(data["expiration"]) - when(secret["metadata"]["creationTimestamp"])
        tokens.append({"description": data.get("description", ""),
                       "lifetime": lifetime.total_seconds(), "secret": data["token-secret"],
                       "token": f"{data['token-id']}.{data['token-secret']}"})
    return tokens


def logged(tokens: list[dict[str, object]]) -> int:
    journal = subprocess.run(["journalctl", "--no-pager", "-o", "cat"], capture_output=True,
                             text=True, check=True).stdout
    return sum(1 for token in tokens if str(token["secret"]) in journal)


def main() -> None:
    if sys.argv[1:] == ["list"]:
        print(json.dumps(list_tokens()))
    elif sys.argv[1:] == ["logged"]:
        print(logged(json.load(sys.stdin)))
    else:
        sys.exit("usage: bootstrap_tokens.py list|logged")


if __name__ == "__main__":
    main()
