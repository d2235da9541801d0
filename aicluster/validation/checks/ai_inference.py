"""ai_inference: Gateway API is served, an implementation programs a Gateway, and requests really follow an
HTTPRoute's header match and weighted split."""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

from aicluster.validation import stand_ins
from aicluster.validation.checks import requirement
from aicluster.validation.cluster import CheckContext, condition_true, is_simulated
from aicluster.validation.results import Outcome, fail, skip

GATEWAY = "gateway.networking.k8s.io"
REQUIRED_CRDS = ("gatewayclasses", "gateways", "httproutes")
MODEL_HEADER = "x-model-version"
WEIGHTS = {"v1": 90, "v2": 10}
SPLIT_REQUESTS, HEADER_REQUESTS = 100, 20
# Largest accepted gap, in percentage points, between the observed and the configured share of v2.
SPLIT_TOLERANCE = 7


@requirement("ai_inference", "TestAIInferenceGatewayRouting", timeout=120)
def ai_inference(ctx: CheckContext) -> Outcome:
    for plural in REQUIRED_CRDS:
        crd = ctx.cluster.crd(f"{plural}.{GATEWAY}")
        if crd is None:
            raise fail(f"Gateway API is not installed: CRD {plural}.{GATEWAY} is missing")
        plain = ctx.cluster.api_client.sanitize_for_serialization(crd)
        if not (condition_true(plain, "Established") and condition_true(plain, "NamesAccepted")):
            raise fail(f"CRD {plural}.{GATEWAY} is not Established and NamesAccepted")
        if "v1" not in [v.name for v in crd.spec.versions if v.served]:
            raise fail(f"CRD {plural}.{GATEWAY} does not serve v1")
    ctx.record("Gateway API CRDs served at v1", ", ".join(REQUIRED_CRDS))
    classes = {
        c["metadata"]["name"]: c
        for c in ctx.cluster.list_custom(GATEWAY, "v1", "gatewayclasses")
        if condition_true(c, "Accepted")
    }
    if not classes:
        raise fail("no Gateway API implementation: no GatewayClass is Accepted by a controller")
    shared = shared_gateway(ctx, set(classes))
    with ctx.namespace() as namespace:
        if shared is None:
            name = next(iter(classes))
            gateway = {
                "apiVersion": f"{GATEWAY}/v1",
                "kind": "Gateway",
                "metadata": {"name": "inference"},
                "spec": {
                    "gatewayClassName": name,
                    "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}],
                },
            }
            ctx.cluster.custom.create_namespaced_custom_object(GATEWAY, "v1", namespace, "gateways", gateway)
            ctx.record("created a Gateway with an HTTP listener on port 80", "", gateway)
            parent = {"name": "inference", "namespace": namespace, "sectionName": "http"}
        else:
            parent = {
                "name": shared["metadata"]["name"],
                "namespace": shared["metadata"]["namespace"],
                "sectionName": "http",
            }
            ctx.record(
                "found the platform's shared Gateway",
                f"{parent['namespace']}/{parent['name']}, HTTP listener open to routes of every namespace",
            )
        gateway_class = classes[
            (shared or {"spec": {"gatewayClassName": next(iter(classes))}})["spec"]["gatewayClassName"]
        ]
        ctx.implementation = (
            f"GatewayClass {gateway_class['metadata']['name']} ({gateway_class['spec']['controllerName']})"
        )
        ctx.subtest("GatewayProgrammed", lambda: gateway_programmed(ctx, parent["namespace"], parent["name"]))
        with backends(ctx, namespace) as served:
            route = inference_route(parent)
            ctx.cluster.custom.create_namespaced_custom_object(GATEWAY, "v1", namespace, "httproutes", route)
            ctx.record(
                f"created an HTTPRoute: header {MODEL_HEADER}: v2 -> model-v2; otherwise "
                f"{WEIGHTS['v1']}/{WEIGHTS['v2']} across model-v1 and model-v2",
                "",
                route,
            )
            ctx.subtest("RouteAccepted", lambda: route_accepted(ctx, namespace, route["metadata"]["name"]))
            ctx.subtest("DataPlaneFollowsTheRoute", lambda: data_plane(ctx, parent, served))
    return ctx.verdict(
        f"{ctx.implementation}: header-matched requests reached model-v2 only and the "
        f"{WEIGHTS['v1']}/{WEIGHTS['v2']} split held"
    )


def shared_gateway(ctx: CheckContext, classes: set[str]) -> dict[str, Any] | None:
    """A programmed Gateway of an accepted class whose HTTP listener takes routes from every namespace."""
    for gateway in ctx.cluster.list_custom(GATEWAY, "v1", "gateways"):
        listeners = [
            listener
            for listener in gateway["spec"].get("listeners") or []
            if listener.get("protocol") == "HTTP"
            and listener.get("name") == "http"
            and ((listener.get("allowedRoutes") or {}).get("namespaces") or {}).get("from") == "All"
        ]
        if (
            gateway["spec"].get("gatewayClassName") in classes
            and listeners
            and condition_true(gateway, "Programmed")
        ):
            return gateway
    return None


def gateway_programmed(ctx: CheckContext, namespace: str, name: str) -> str:
    def state() -> dict[str, Any] | None:
        gateway = ctx.cluster.custom.get_namespaced_custom_object(GATEWAY, "v1", namespace, "gateways", name)
        return gateway if condition_true(gateway, "Programmed") else None

    gateway = ctx.wait(state, 90, f"Gateway {namespace}/{name} to be Programmed")
    addresses = [a.get("value") for a in (gateway.get("status") or {}).get("addresses") or []]
    ctx.record(f"Gateway {namespace}/{name} is Programmed", f"addresses: {addresses or 'none'}")
    return f"Programmed, addresses {addresses or 'none'}"


@contextlib.contextmanager
def backends(ctx: CheckContext, namespace: str) -> Iterator[dict[str, int] | None]:
    """Services model-v1 and model-v2 whose backends answer with their own name: on a simulated cluster,
    stand-ins on this host (simulated pods run no server); elsewhere none, and the data plane is skipped."""
    nodes = ctx.cluster.nodes()
    # The evidence is the cluster's: on simulated nodes the backends are stand-ins for its pods.
    ctx.uses_nodes(nodes)
    address = stand_ins.host_address() if any(is_simulated(node) for node in nodes) else None
    if address is None:
        for version in WEIGHTS:
            ctx.cluster.core.create_namespaced_service(namespace, {
                "metadata": {"name": f"model-{version}", "labels": ctx.labels()},
                "spec": {"ports": [{"name": "http", "port": 8080}]}})
        yield None
        return
    with contextlib.ExitStack() as stack:
        ports = {}
        for version in WEIGHTS:
            name = f"model-{version}"
            handler = stand_ins.text_handler(lambda _path, name=name: (200, "text/plain", name))
            ports[version] = stack.enter_context(stand_ins.serving(handler, address))
            stand_ins.publish(ctx, namespace, name, address, ports[version], 8080)
        yield ports


def inference_route(parent: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GATEWAY}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "models"},
        "spec": {
            "parentRefs": [parent],
            "rules": [
                {
                    "matches": [{"headers": [{"name": MODEL_HEADER, "value": "v2"}]}],
                    "backendRefs": [{"name": "model-v2", "port": 8080}],
                },
                {
                    "backendRefs": [
                        {"name": f"model-{version}", "port": 8080, "weight": weight}
                        for version, weight in WEIGHTS.items()
                    ]
                },
            ],
        },
    }


def route_accepted(ctx: CheckContext, namespace: str, name: str) -> str:
    def accepted() -> dict[str, Any] | None:
        route = ctx.cluster.custom.get_namespaced_custom_object(GATEWAY, "v1", namespace, "httproutes", name)
        parents = (route.get("status") or {}).get("parents") or []
        ok = parents and all(
            condition_true({"status": p}, "Accepted") and condition_true({"status": p}, "ResolvedRefs")
            for p in parents
        )
        return route if ok else None

    route = ctx.wait(accepted, 60, f"HTTPRoute {name} to be Accepted with ResolvedRefs")
    ctx.record(f"HTTPRoute {name} accepted", "", {"status": route.get("status")})
    return "Accepted and ResolvedRefs by every parent Gateway"


def data_plane(ctx: CheckContext, parent: dict[str, str], served: dict[str, int] | None) -> str:
    if not served:
        raise skip(
            "sending requests through the Gateway needs backends that serve; this check runs them only "
            "on a simulated cluster, on the host that validates"
        )
    gateway = ctx.cluster.custom.get_namespaced_custom_object(
        GATEWAY, "v1", parent["namespace"], "gateways", parent["name"]
    )
    addresses = [a.get("value") for a in (gateway.get("status") or {}).get("addresses") or []]
    port = next(listener["port"] for listener in gateway["spec"]["listeners"] if listener["name"] == "http")
    if not addresses:
        raise fail(f"Gateway {parent['namespace']}/{parent['name']} reports no address")
    url = f"http://{addresses[0]}:{port}/v1/completions"

    def send(headers: dict[str, str]) -> str:
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.read().decode()
        except (urllib.error.URLError, OSError) as error:
            return f"error: {error}"

    # The route may take a moment to reach the data plane after it is accepted.
    ctx.wait(lambda: send({}).startswith("model-"), 30, f"the Gateway at {url} to route a request")
    by_header = Counter(send({MODEL_HEADER: "v2"}) for _ in range(HEADER_REQUESTS))
    split = Counter(send({}) for _ in range(SPLIT_REQUESTS))
    ctx.record(f"sent {HEADER_REQUESTS} requests with {MODEL_HEADER}: v2 to {url}", dict(by_header))
    ctx.record(f"sent {SPLIT_REQUESTS} requests without the header", dict(split))
    if by_header != Counter({"model-v2": HEADER_REQUESTS}):
        raise fail(f"header-matched requests went to {dict(by_header)}, not all to model-v2")
    share = 100 * split["model-v2"] / SPLIT_REQUESTS
    if set(split) != {"model-v1", "model-v2"} or abs(share - WEIGHTS["v2"]) > SPLIT_TOLERANCE:
        raise fail(f"the split gave {dict(split)}: model-v2 {share:.0f}% for a weight of {WEIGHTS['v2']}%")
    return (
        f"{HEADER_REQUESTS}/{HEADER_REQUESTS} header requests to model-v2; split {split['model-v1']}/"
        f"{split['model-v2']} for weights {WEIGHTS['v1']}/{WEIGHTS['v2']}"
    )
