"""ai_inference: Gateway API is served and an implementation accepts weighted and header-matched routes."""

from __future__ import annotations

from typing import Any

from aicluster.validation.checks import requirement
from aicluster.validation.cluster import CheckContext, condition_true
from aicluster.validation.results import Outcome, fail

GATEWAY = "gateway.networking.k8s.io"
REQUIRED_CRDS = ("gatewayclasses", "gateways", "httproutes")


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
    accepted = [
        c for c in ctx.cluster.list_custom(GATEWAY, "v1", "gatewayclasses") if condition_true(c, "Accepted")
    ]
    if not accepted:
        raise fail("no Gateway API implementation: no GatewayClass is Accepted by a controller")
    gateway_class = accepted[0]
    ctx.implementation = (
        f"GatewayClass {gateway_class['metadata']['name']} ({gateway_class['spec']['controllerName']})"
    )
    ctx.record("found an accepted GatewayClass", ctx.implementation)
    with ctx.namespace() as namespace:
        gateway_name = "inference"
        ctx.cluster.custom.create_namespaced_custom_object(
            GATEWAY,
            "v1",
            namespace,
            "gateways",
            {
                "apiVersion": f"{GATEWAY}/v1",
                "kind": "Gateway",
                "metadata": {"name": gateway_name},
                "spec": {
                    "gatewayClassName": gateway_class["metadata"]["name"],
                    "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}],
                },
            },
        )
        ctx.subtest("GatewayProgrammed", lambda: gateway_programmed(ctx, namespace, gateway_name))
        for version in ("v1", "v2"):
            ctx.cluster.core.create_namespaced_service(
                namespace,
                {
                    "metadata": {"name": f"model-{version}"},
                    "spec": {"selector": {"model-version": version}, "ports": [{"port": 8080}]},
                },
            )
        route = inference_route(gateway_name)
        ctx.cluster.custom.create_namespaced_custom_object(GATEWAY, "v1", namespace, "httproutes", route)
        ctx.record("created an HTTPRoute with a header match and a 90/10 weighted split", "", route)
        ctx.subtest("RouteAccepted", lambda: route_accepted(ctx, namespace, route["metadata"]["name"]))
    return ctx.verdict(f"{ctx.implementation} programmed a Gateway and accepted header and weighted routes")


def gateway_programmed(ctx: CheckContext, namespace: str, name: str) -> str:
    def state() -> dict[str, Any] | None:
        gateway = ctx.cluster.custom.get_namespaced_custom_object(GATEWAY, "v1", namespace, "gateways", name)
        return gateway if condition_true(gateway, "Programmed") else None

    gateway = ctx.wait(state, 90, f"Gateway {name} to be Programmed")
    addresses = [a.get("value") for a in (gateway.get("status") or {}).get("addresses") or []]
    ctx.record(f"Gateway {name} is Programmed", f"addresses: {addresses or 'none'}")
    return f"Programmed, addresses {addresses or 'none'}"


def inference_route(gateway: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GATEWAY}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "models"},
        "spec": {
            "parentRefs": [{"name": gateway}],
            "rules": [
                {
                    "matches": [{"headers": [{"name": "x-model-version", "value": "v2"}]}],
                    "backendRefs": [{"name": "model-v2", "port": 8080}],
                },
                {
                    "backendRefs": [
                        {"name": "model-v1", "port": 8080, "weight": 90},
                        {"name": "model-v2", "port": 8080, "weight": 10},
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
