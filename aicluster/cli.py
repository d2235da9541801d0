"""The commands behind tasks.py: each resolves the spec, runs the pipeline, reports errors."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from aicluster import pipeline
from aicluster.console import Console
from aicluster.errors import AiclusterError, ClusterUnreachableError
from aicluster.paths import DEFAULT_SPEC, INVENTORIES_DIR
from aicluster.spec import ClusterSpec, load_spec
from aicluster.status import list_nodes, pool_statuses, pool_table, read_outputs
from aicluster.validation import stage as validation_stage
from aicluster.validation.cluster import ValidationOptions
from aicluster.validation.stage import ValidateRequest


def resolve_spec_path(spec: str | None, cloud: str | None) -> Path:
    """--spec PATH, or --cloud NAME (the example spec of that target), or the small local one."""
    if spec and cloud:
        raise AiclusterError("give either --spec or --cloud, not both")
    if spec:
        return Path(spec)
    if cloud:
        path = DEFAULT_SPEC if cloud == "local" else INVENTORIES_DIR / f"{cloud}.yaml"
        if not path.is_file():
            known = sorted(p.stem for p in INVENTORIES_DIR.glob("*.yaml"))
            raise AiclusterError(f"no example spec for --cloud {cloud} ({path}); "
                                 f"pass --spec PATH (examples: {', '.join(known)})")
        return path
    return DEFAULT_SPEC


def _run(action: Callable[[Console], None]) -> None:
    console = Console()
    try:
        action(console)
    except KeyboardInterrupt:
        console.say("interrupted: run the same command again to resume")
        sys.exit(130)
    except AiclusterError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code)


def _spec(spec: str | None, cloud: str | None) -> tuple[ClusterSpec, Path]:
    path = resolve_spec_path(spec, cloud)
    return load_spec(path), path


def print_status(console: Console, spec: ClusterSpec) -> None:
    workspace = pipeline.Workspace.of(spec)
    outputs = read_outputs(workspace.outputs)
    nodes = list_nodes(workspace.kubeconfig)
    console.say(f"cluster:    {spec.name} ({spec.target})")
    console.say(f"kubeconfig: {workspace.kubeconfig}")
    console.say(f"logs:       {workspace.root / 'logs'}")
    console.say(pool_table(pool_statuses(outputs, nodes)))


def build(spec: str | None = None, cloud: str | None = None, skip_validate: bool = False) -> None:
    def action(console: Console) -> None:
        cluster, path = _spec(spec, cloud)
        started = time.monotonic()
        workspace = pipeline.build(console, cluster, path)
        console.say(f"built {cluster.name} in {time.monotonic() - started:.1f}s")
        console.say()
        print_status(console, cluster)
        if skip_validate:
            return
        console.say()
        request = ValidateRequest(kubeconfig=workspace.kubeconfig, output=workspace.root / "validation",
                                  profile=cluster.conformance.profile)
        summary = validation_stage.validate(console, request)
        # The build succeeded either way; `invoke validate` is the gate that exits 1 on a failed MUST.
        report = request.output / "report.md"
        if summary.failed_musts:
            console.say(f"conformance profile {summary.profile} NOT MET: failed MUSTs "
                        f"{', '.join(summary.failed_musts)}; see {report}")
        else:
            console.say(f"conformance profile {summary.profile}: no MUST failed; see {report}")

    _run(action)


def provision(spec: str | None = None, cloud: str | None = None) -> None:
    _run(lambda console: _provision(console, spec, cloud))


def _provision(console: Console, spec: str | None, cloud: str | None) -> None:
    cluster, _ = _spec(spec, cloud)
    pipeline.provision(console, cluster)


def configure(spec: str | None = None, cloud: str | None = None) -> None:
    def action(console: Console) -> None:
        cluster, _ = _spec(spec, cloud)
        pipeline.configure(console, cluster)

    _run(action)


def ping(spec: str | None = None, cloud: str | None = None) -> None:
    def action(console: Console) -> None:
        cluster, _ = _spec(spec, cloud)
        pipeline.ping(console, cluster)

    _run(action)


def status(spec: str | None = None, cloud: str | None = None) -> None:
    def action(console: Console) -> None:
        cluster, _ = _spec(spec, cloud)
        print_status(console, cluster)

    _run(action)


def destroy(spec: str | None = None, cloud: str | None = None) -> None:
    def action(console: Console) -> None:
        cluster, _ = _spec(spec, cloud)
        pipeline.destroy(console, cluster)

    _run(action)


def validate(spec: str | None = None, cloud: str | None = None, kubeconfig: str | None = None,
             profile: str | None = None, only: str | None = None, output: str | None = None,
             json_summary: bool = False, checklist: str | None = None, product_dir: str = "aicluster",
             timeout_scale: float = 1.0, negative_window: float = 30.0,
             autoscaler_node_pool_label: str | None = None) -> None:
    """Validates the spec's cluster, or any cluster given its kubeconfig; exits with the stage's code."""
    console = Console(sys.stderr if json_summary else None)
    code = 2
    try:
        if kubeconfig and (spec or cloud):
            raise AiclusterError("give either --kubeconfig or --spec/--cloud, not both")
        if kubeconfig:
            kubeconfig_path = Path(kubeconfig)
            default_output = Path.cwd() / "aicluster-validation"
        else:
            cluster, _ = _spec(spec, cloud)
            workspace = pipeline.Workspace.of(cluster)
            kubeconfig_path = workspace.kubeconfig
            default_output = workspace.root / "validation"
            if not kubeconfig_path.is_file():
                raise ClusterUnreachableError(f"cluster {cluster.name} is not built (no {kubeconfig_path}): "
                                              "run `invoke build` first, or pass --kubeconfig")
        if timeout_scale <= 0 or negative_window <= 0:
            raise AiclusterError("--timeout-scale and --negative-window must be above zero")
        request = ValidateRequest(
            kubeconfig=kubeconfig_path, output=Path(output) if output else default_output, profile=profile,
            only=[item.strip() for item in only.split(",") if item.strip()] if only else None,
            checklist=Path(checklist) if checklist else None, product_dir=product_dir,
            json_summary=json_summary,
            options=ValidationOptions(timeout_scale=timeout_scale, negative_window=negative_window,
                                      autoscaler_node_pool_label=autoscaler_node_pool_label))
        code = validation_stage.validate(console, request).exit_code
    except KeyboardInterrupt:
        console.say("interrupted: the run's namespaces were deleted; run the same command again")
        sys.exit(130)
    except AiclusterError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code if isinstance(error, ClusterUnreachableError) else 2)
    sys.exit(code)


__all__ = ["build", "configure", "destroy", "ping", "provision", "status", "validate"]
