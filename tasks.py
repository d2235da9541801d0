"""Command line of aicluster: `invoke --list` shows the tasks. Each only parses its
arguments and calls the aicluster package."""

from __future__ import annotations

from invoke import Context, task

from aicluster import cli, devtasks

SPEC_HELP = {
    "spec": "Path of a cluster spec (default: inventories/local-small.yaml).",
    "cloud": "Target whose example spec to use: local, aws, gcp, azure or onprem.",
}


@task(help={**SPEC_HELP, "skip_validate": "Stop after configure: no conformance validation."})
def build(c: Context, spec: str | None = None, cloud: str | None = None, skip_validate: bool = False) -> None:
    """Run every stage: provision, inventory, configure, then validate and report."""
    cli.build(spec, cloud, skip_validate)


@task(help=SPEC_HELP)
def provision(c: Context, spec: str | None = None, cloud: str | None = None) -> None:
    """Run Terraform for the cluster's machines and write the inventory."""
    cli.provision(spec, cloud)


@task(help=SPEC_HELP)
def configure(c: Context, spec: str | None = None, cloud: str | None = None) -> None:
    """Run the Ansible roles against the cluster's inventory."""
    cli.configure(spec, cloud)


@task(help=SPEC_HELP)
def ping(c: Context, spec: str | None = None, cloud: str | None = None) -> None:
    """Check that every host of an on-prem or cloud cluster answers over SSH."""
    cli.ping(spec, cloud)


@task(help=SPEC_HELP)
def status(c: Context, spec: str | None = None, cloud: str | None = None) -> None:
    """Print the kubeconfig path and the node pools."""
    cli.status(spec, cloud)


@task(help=SPEC_HELP)
def destroy(c: Context, spec: str | None = None, cloud: str | None = None) -> None:
    """Stop every process, destroy the machines and remove the cluster's files."""
    cli.destroy(spec, cloud)


@task(help={
    **SPEC_HELP,
    "kubeconfig": "Validate any cluster through this kubeconfig instead of a spec's cluster.",
    "profile": "Checklist version to validate against (default: the newest, 1.37).",
    "only": "Comma-separated requirement ids to check, e.g. gang_scheduling,cluster_autoscaling.",
    "output": "Folder for junit.xml, results.json, e2e.log, evidence, reports and PRODUCT.yaml.",
    "json": "Print a machine-readable summary on stdout (progress goes to stderr).",
    "checklist": "The program's docs/AIConformance-X.Y.yaml, whose exact descriptions PRODUCT.yaml uses.",
    "product_dir": "Folder name of the product in the submission (evidence paths use it).",
    "timeout_scale": "Multiply every check's timeouts, for slow clusters (default 1.0).",
    "negative_window": "Seconds a gang that cannot fit is watched for placed pods (default 30).",
    "autoscaler_node_pool_label": "key=value label of the accelerator pool that autoscaling tests.",
})
def validate(c: Context, spec: str | None = None, cloud: str | None = None, kubeconfig: str | None = None,
             profile: str | None = None, only: str | None = None, output: str | None = None,
             json: bool = False, checklist: str | None = None, product_dir: str = "aicluster",
             timeout_scale: float = 1.0, negative_window: float = 30.0,
             autoscaler_node_pool_label: str | None = None) -> None:
    """Check the cluster against the AI conformance checklist; write evidence and a draft PRODUCT.yaml."""
    cli.validate(spec, cloud, kubeconfig, profile, only, output, json, checklist, product_dir, timeout_scale,
                 negative_window, autoscaler_node_pool_label)


@task
def lint(c: Context) -> None:
    """Run ruff, yamllint, ansible-lint (production profile), terraform fmt, the loader, checkov, tflint."""
    devtasks.lint()


@task(help={"pytest_args": "Extra arguments for pytest, e.g. '-k spec'."})
def test(c: Context, pytest_args: str = "") -> None:
    """Run the linters and the whole test suite (unit and integration)."""
    devtasks.test(pytest_args)


@task(help={"role": "Role under roles/ whose scenario to run.", "scenario": "Scenario (default: default).",
            "command": "Molecule command: test (default), converge, verify, destroy, login, ..."})
def molecule(c: Context, role: str, scenario: str = "default", command: str = "test") -> None:
    """Run one role's Molecule scenario in the Debian 12 systemd container."""
    devtasks.molecule(role, scenario, command)
