"""Servers that stand in for a check's workload pods on a simulated cluster.

Simulated nodes run no containers, so a check that needs a workload to answer (a model backend, a
service exposing metrics) runs it as a server of the validating process, on this host's address, and
publishes it behind a Service through an EndpointSlice, exactly where a pod's address would be. The
Gateway, Prometheus and everything else that reaches it are the cluster's own. Loopback addresses are
refused in EndpointSlices, hence this host's address on its default route.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aicluster.validation.cluster import CheckContext


def host_address() -> str | None:
    """This host's address on its default route, or None when it has none."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 9))  # no packet is sent: this only picks the source address
        address = probe.getsockname()[0]
        if not address.startswith("127."):
            return address
    return None


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler], address: str) -> Iterator[int]:
    """Runs the handler on address (a free port) for the duration; yields the port."""
    server = ThreadingHTTPServer((address, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def publish(
    ctx: CheckContext,
    namespace: str,
    name: str,
    address: str,
    port: int,
    service_port: int,
    annotations: dict[str, str] | None = None,
) -> None:
    """A Service without a selector and the EndpointSlice that points it at address:port."""
    ctx.cluster.core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": name, "labels": ctx.labels(), "annotations": annotations or {}},
            "spec": {"ports": [{"name": "http", "port": service_port, "targetPort": port}]},
        },
    )
    ctx.cluster.custom.create_namespaced_custom_object(
        "discovery.k8s.io",
        "v1",
        namespace,
        "endpointslices",
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-stand-in",
                "labels": {"kubernetes.io/service-name": name, **ctx.labels()},
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        },
    )
    ctx.record(
        f"published the stand-in {name} at {address}:{port}",
        f"Service {namespace}/{name}:{service_port} with an EndpointSlice to it",
    )


def text_handler(respond: Any) -> type[BaseHTTPRequestHandler]:
    """A handler whose GET answers respond(path) -> (status, content type, body)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = respond(self.path)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
