"""advanced_inference_ingress: a Gateway API Inference Extension implementation routes to model pools.

A stored InferencePool proves only that the CRD exists; the implementation is the Gateway controller
that resolves an HTTPRoute's InferencePool backend and reports itself on the pool's status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aicluster.validation.checks import requirement
from aicluster.validation.checks.ai_inference import GATEWAY, shared_gateway
from aicluster.validation.cluster import CheckContext, condition_of, condition_true
from aicluster.validation.results import Outcome, Status, fail

INFERENCE_POOL_CRDS = (
    "inferencepools.inference.networking.k8s.io",
    "inferencepools.inference.networking.x-k8s.io",
)
# Seconds the Gateway controller has to report on a route to an InferencePool.
REPORT_WINDOW = 30


@requirement("advanced_inference_ingress", "TestAdvancedInferenceIngress", timeout=90)
def advanced_inference_ingress(ctx: CheckContext) -> Outcome:
    found = [name for name in INFERENCE_POOL_CRDS if ctx.cluster.crd(name)]
    if not found:
        raise fail("Gateway API Inference Extension is not installed: no InferencePool CRD")
    crd = ctx.cluster.api_client.sanitize_for_serialization(ctx.cluster.crd(found[0]))
    if not condition_true(crd, "Established"):
        raise fail(f"CRD {found[0]} is not Established")
    group = found[0].split(".", 1)[1]
    version = next(v["name"] for v in crd["spec"]["versions"] if v.get("served"))
    pools = ctx.cluster.list_custom(group, version, "inferencepools")
    ctx.record(f"InferencePool CRD {found[0]} served at {version}", f"{len(pools)} pools stored")
    classes = {c["metadata"]["name"]: c for c in ctx.cluster.list_custom(GATEWAY, "v1", "gatewayclasses")
               if condition_true(c, "Accepted")}
    gateway = shared_gateway(ctx, set(classes))
    if gateway is None:
        raise fail("no Programmed Gateway takes routes from every namespace, so no route can reach a pool")
    controller = classes[gateway["spec"]["gatewayClassName"]]["spec"]["controllerName"]
    ctx.implementation = f"{controller} with {group}/{version} InferencePools"
    parent = {"name": gateway["metadata"]["name"], "namespace": gateway["metadata"]["namespace"],
              "sectionName": "http"}
    with ctx.namespace() as namespace:
        pool = inference_pool(group, version)
        ctx.cluster.custom.create_namespaced_custom_object(group, version, namespace, "inferencepools", pool)
        ctx.record("created InferencePool model-pool", "", pool)
        route = pool_route(parent, group)
        ctx.cluster.custom.create_namespaced_custom_object(GATEWAY, "v1", namespace, "httproutes", route)
        ctx.record(f"created HTTPRoute to-pool on Gateway {parent['namespace']}/{parent['name']}", "", route)
        resolved = route_resolution(ctx, namespace)
        if resolved is None:
            raise fail(f"{controller} reported nothing on an HTTPRoute to an InferencePool within "
                       f"{REPORT_WINDOW}s")
        if resolved.get("status") != "True":
            raise fail(f"{controller} does not route to InferencePools: the route's ResolvedRefs is "
                       f"{resolved.get('status')} ({resolved.get('reason')}: {resolved.get('message', '')})")
        accepted = pool_parent(ctx, group, version, namespace, gateway)
        if accepted is None:
            raise fail(f"{controller} resolved the route but never reported the Gateway on the "
                       "InferencePool's status")
    return Outcome(Status.PASS, f"{controller} resolved an HTTPRoute to an InferencePool and accepted the "
                                "pool on its Gateway")


def inference_pool(group: str, version: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": "model-server"}}}
    if group == "inference.networking.k8s.io":
        spec |= {"targetPorts": [{"number": 8000}],
                 "endpointPickerRef": {"name": "model-pool-epp", "port": {"number": 9002}}}
    else:  # the alpha API of the x-k8s.io group
        spec |= {"targetPortNumber": 8000, "extensionRef": {"name": "model-pool-epp"}}
        spec["selector"] = {"app": "model-server"}
    return {"apiVersion": f"{group}/{version}", "kind": "InferencePool", "metadata": {"name": "model-pool"},
            "spec": spec}


def pool_route(parent: dict[str, str], group: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GATEWAY}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "to-pool"},
        "spec": {"parentRefs": [parent],
                 "rules": [{"backendRefs": [
                     {"group": group, "kind": "InferencePool", "name": "model-pool"}]}]},
    }


def route_resolution(ctx: CheckContext, namespace: str) -> dict[str, Any] | None:
    """The ResolvedRefs condition the Gateway controller set on the route, or None if it set none."""
    def reported() -> dict[str, Any] | None:
        route = ctx.cluster.custom.get_namespaced_custom_object(GATEWAY, "v1", namespace, "httproutes",
                                                                "to-pool")
        for parent in (route.get("status") or {}).get("parents") or []:
            condition = condition_of({"status": parent}, "ResolvedRefs")
            if condition:
                ctx.record("the controller reported on HTTPRoute to-pool", "", {"status": route["status"]})
                return condition
        return None

    return reported_within_window(ctx, reported, "a report on the route")


def pool_parent(ctx: CheckContext, group: str, version: str, namespace: str,
                gateway: dict[str, Any]) -> dict[str, Any] | None:
    """The InferencePool's status entry for the Gateway, once the controller accepted the pool there."""
    def accepted() -> dict[str, Any] | None:
        pool = ctx.cluster.custom.get_namespaced_custom_object(group, version, namespace, "inferencepools",
                                                               "model-pool")
        for parent in (pool.get("status") or {}).get("parents") or []:
            ref = parent.get("parentRef") or {}
            ours = ref.get("name") == gateway["metadata"]["name"]
            if ours and condition_true({"status": parent}, "Accepted"):
                ctx.record("the controller accepted InferencePool model-pool", "", {"status": pool["status"]})
                return parent
        return None

    return reported_within_window(ctx, accepted, "the InferencePool to be accepted on the Gateway")


def reported_within_window(ctx: CheckContext, check: Callable[[], dict[str, Any] | None],
                           what: str) -> dict[str, Any] | None:
    """What the controller reported within the window, or None: silence is a finding, not an error."""
    try:
        return ctx.wait(check, REPORT_WINDOW, what)
    except Outcome:
        return None
