"""dra_support (checklists 1.33 to 1.35): the DRA v1 API is served and allocates published devices."""

from __future__ import annotations

from aicluster.validation import devices
from aicluster.validation.checks import requirement
from aicluster.validation.cluster import CheckContext, pod_manifest
from aicluster.validation.results import Outcome, fail

DRA_RESOURCES = {"deviceclasses", "resourceclaims", "resourceclaimtemplates", "resourceslices"}


@requirement("dra_support", "TestAcceleratorsDRASupport", timeout=90)
def dra_support(ctx: CheckContext) -> Outcome:
    served = ctx.cluster.served_resources(f"{devices.DRA_GROUP}/{devices.DRA_VERSION}")
    ctx.record(
        f"GET /apis/{devices.DRA_GROUP}/{devices.DRA_VERSION}", ", ".join(sorted(served)) or "not served"
    )
    missing = DRA_RESOURCES - served
    if missing:
        raise fail(f"{devices.DRA_GROUP}/{devices.DRA_VERSION} does not serve {', '.join(sorted(missing))}")
    ctx.implementation = "Kubernetes DRA (resource.k8s.io/v1)"
    candidates = []
    for device_class in devices.device_classes(ctx):
        drivers = {
            driver for driver in published_drivers(ctx) if devices.class_selects_driver(device_class, driver)
        }
        for driver in sorted(drivers):
            nodes = devices.dra_nodes(ctx, driver)
            if nodes:
                candidates.append((device_class["metadata"]["name"], driver, nodes[0]))
    if not candidates:
        raise fail(
            "the DRA API is served, but no DeviceClass selects devices that a driver publishes on a "
            "Ready node: nothing can be allocated"
        )
    class_name, driver, target = candidates[0]
    ctx.uses_nodes([target.node])
    ctx.record(
        f"chose DeviceClass {class_name}",
        f"driver {driver} publishes {len(target.devices)} devices on {target.node.metadata.name}",
    )
    with ctx.namespace() as namespace:
        ctx.cluster.custom.create_namespaced_custom_object(
            devices.DRA_GROUP,
            devices.DRA_VERSION,
            namespace,
            "resourceclaimtemplates",
            devices.claim_template("one-device", class_name),
        )
        manifest = pod_manifest(
            "dra-allocation",
            image=ctx.options.workload_image,
            command=["true"],
            claims=[{"name": "device", "resourceClaimTemplateName": "one-device"}],
            resources={"claims": [{"name": "device"}]},
        )
        ctx.cluster.core.create_namespaced_pod(namespace, manifest)
        ctx.record("created a pod with a claim for one device", "", manifest)
        claims = ctx.wait(
            lambda: [
                c
                for c in devices.pod_claims(ctx, namespace, "dra-allocation")
                if devices.allocated_devices(c)
            ],
            60,
            "the claim to be allocated",
        )
        allocated = devices.allocated_devices(claims[0])
        ctx.record(
            "the scheduler allocated the claim",
            ", ".join("/".join(d) for d in allocated),
            {"allocation": claims[0]["status"]["allocation"]},
        )
        pod = ctx.wait(
            lambda: (
                (p := ctx.cluster.core.read_namespaced_pod("dra-allocation", namespace)).status.phase
                in ("Running", "Succeeded")
                and p
            ),
            60,
            "the pod to run",
        )
    return Outcome(
        ctx.verdict("").status,
        f"all four DRA v1 kinds served; a claim got {allocated[0][2]} from "
        f"driver {driver} and its pod ran on {pod.spec.node_name}",
    )


def published_drivers(ctx: CheckContext) -> set[str]:
    return {
        item["spec"].get("driver", "")
        for item in ctx.cluster.list_custom(devices.DRA_GROUP, devices.DRA_VERSION, "resourceslices")
    }
