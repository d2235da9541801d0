"""Command line of aicluster: `invoke --list` shows the tasks. Each only parses its
arguments and calls the aicluster package."""

from __future__ import annotations

from invoke import Context, task

from aicluster import cli, devtasks

SPEC_HELP = {
    "spec": "Path of a cluster spec (default: inventories/local-small.yaml).",
    "cloud": "Target whose example spec to use: local, aws, gcp, azure or onprem.",
}


@task(help=SPEC_HELP)
def build(c: Context, spec: str | None = None, cloud: str | None = None) -> None:
    """Run every stage: provision, inventory, configure (and validate, report)."""
    cli.build(spec, cloud)


@task(help=SPEC_HELP)
def provision(c: Context, spec: str | None = None, cloud: str | None = None) -> None:
    """Run Terraform for the cluster's machines and write the inventory."""
    cli.provision(spec, cloud)


@task(help=SPEC_HELP)
def configure(c: Context, spec: str | None = None, cloud: str | None = None) -> None:
    """Run the Ansible roles against the cluster's inventory."""
    cli.configure(spec, cloud)


@task(help=SPEC_HELP)
def status(c: Context, spec: str | None = None, cloud: str | None = None) -> None:
    """Print the kubeconfig path and the node pools."""
    cli.status(spec, cloud)


@task(help=SPEC_HELP)
def destroy(c: Context, spec: str | None = None, cloud: str | None = None) -> None:
    """Stop every process, destroy the machines and remove the cluster's files."""
    cli.destroy(spec, cloud)


@task
def lint(c: Context) -> None:
    """Run ruff, yamllint, ansible-lint (production profile) and terraform fmt."""
    devtasks.lint()


@task(help={"pytest_args": "Extra arguments for pytest, e.g. '-k spec'."})
def test(c: Context, pytest_args: str = "") -> None:
    """Run the linters and the whole test suite (unit and integration)."""
    devtasks.test(pytest_args)
