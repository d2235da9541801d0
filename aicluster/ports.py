"""Loopback ports of the local cluster's own processes, chosen once per cluster and kept, so
that several local clusters can run side by side and re-runs keep their addresses."""

from __future__ import annotations

import json
import socket
from pathlib import Path


def _free_port(taken: set[int]) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in taken:
            return port


def allocate_ports(path: Path, names: list[str]) -> dict[str, int]:
    """Returns a port per name, reusing those recorded in the file and adding new ones."""
    ports: dict[str, int] = json.loads(path.read_text()) if path.is_file() else {}
    taken = set(ports.values())
    for name in names:
        if name not in ports:
            ports[name] = _free_port(taken)
            taken.add(ports[name])
    text = json.dumps(ports, indent=2, sort_keys=True) + "\n"
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return {name: ports[name] for name in names}
