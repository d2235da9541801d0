"""Checks, before the provision stage of a cloud target creates anything, that the cloud can be
reached: credentials in its standard chain, its Terraform provider, and a route to its API.
Only the presence of credentials is looked at; none is read, copied or printed."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from aicluster.errors import AiclusterError
from aicluster.terraform import PROVIDER_MIRROR_ENV

REGISTRY_HOST = "registry.terraform.io"


@dataclass(frozen=True)
class CloudFacts:
    provider: str
    api_host: str
    credential_help: str


CLOUD_FACTS = {
    "aws": CloudFacts(
        "hashicorp/aws", "sts.amazonaws.com",
        "set AWS_PROFILE (a profile of ~/.aws/config), or AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, or AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE; on an instance "
        "with a role, set AICLUSTER_CLOUD_IDENTITY=instance"),
    "gcp": CloudFacts(
        "hashicorp/google", "compute.googleapis.com",
        "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a "
        "credentials file; on a VM with a service account, set AICLUSTER_CLOUD_IDENTITY=instance"),
    "azure": CloudFacts(
        "hashicorp/azurerm", "management.azure.com",
        "run `az login`, or set ARM_CLIENT_ID with ARM_CLIENT_SECRET, ARM_CLIENT_CERTIFICATE_PATH "
        "or ARM_USE_OIDC, plus ARM_SUBSCRIPTION_ID; with a managed identity, set ARM_USE_MSI=true"),
}


class CloudUnreachableError(AiclusterError):
    """The cloud of a target cannot be used from this machine; nothing was created."""

    exit_code = 2


def _file(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name)
    return bool(value) and Path(value).expanduser().is_file()


def credential_source(cloud: str, env: Mapping[str, str], home: Path) -> str | None:
    """Which link of the cloud's standard credential chain is present, if any."""
    if env.get("AICLUSTER_CLOUD_IDENTITY") == "instance":
        return "the machine's own identity (AICLUSTER_CLOUD_IDENTITY=instance)"
    if cloud == "aws":
        if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
            return "AWS_ACCESS_KEY_ID"
        if env.get("AWS_ROLE_ARN") and _file(env, "AWS_WEB_IDENTITY_TOKEN_FILE"):
            return "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)"
        if env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") or env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
            return "container credentials"
        config_files = [home / ".aws" / "credentials", home / ".aws" / "config"]
        for name in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
            if env.get(name):
                config_files.append(Path(env[name]).expanduser())
        profile = env.get("AWS_PROFILE") or "default"
        headers = (f"[{profile}]", f"[profile {profile}]")
        for path in config_files:
            if path.is_file() and any(line.strip() in headers for line in path.read_text().splitlines()):
                return f"profile {profile} ({path})"
        return None
    if cloud == "gcp":
        if _file(env, "GOOGLE_APPLICATION_CREDENTIALS"):
            return "GOOGLE_APPLICATION_CREDENTIALS"
        if env.get("GOOGLE_CREDENTIALS") or env.get("GOOGLE_OAUTH_ACCESS_TOKEN"):
            return "GOOGLE_CREDENTIALS"
        gcloud = Path(env["CLOUDSDK_CONFIG"]).expanduser() if env.get("CLOUDSDK_CONFIG") \
            else home / ".config" / "gcloud"
        if (gcloud / "application_default_credentials.json").is_file():
            return f"application default credentials ({gcloud})"
        return None
    if cloud == "azure":
        if env.get("ARM_USE_MSI", "").lower() == "true":
            return "managed identity (ARM_USE_MSI)"
        secret = any(env.get(name) for name in ("ARM_CLIENT_SECRET", "ARM_CLIENT_CERTIFICATE_PATH",
                                                 "ARM_OIDC_TOKEN", "ARM_USE_OIDC"))
        if env.get("ARM_CLIENT_ID") and secret:
            return "service principal (ARM_CLIENT_ID)"
        if (home / ".azure" / "azureProfile.json").is_file() and \
                (home / ".azure" / "msal_token_cache.json").is_file():
            return f"Azure CLI login ({home / '.azure'})"
        return None
    raise ValueError(f"not a cloud: {cloud}")


def provider_available(cloud: str, env: Mapping[str, str], home: Path,
                       resolves: Callable[[str], bool]) -> bool:
    """True when Terraform can get the cloud's provider: a local mirror, a plugin cache that holds
    it, or a resolvable registry."""
    provider = CLOUD_FACTS[cloud].provider
    places = [home / ".terraform.d" / "plugins"]
    for name in (PROVIDER_MIRROR_ENV, "TF_PLUGIN_CACHE_DIR"):
        if env.get(name):
            places.append(Path(env[name]).expanduser())
    for place in places:
        if (place / REGISTRY_HOST / provider).is_dir():
            return True
    return resolves(REGISTRY_HOST)


def _resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return True


def cloud_problems(cloud: str, env: Mapping[str, str] | None = None, home: Path | None = None,
                   resolves: Callable[[str], bool] = _resolves) -> list[str]:
    """Every reason the cloud cannot be used now, each with how to fix it; empty when ready."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    facts = CLOUD_FACTS[cloud]
    problems = []
    if credential_source(cloud, env, home) is None:
        problems.append(f"no {cloud} credentials in the standard chain: {facts.credential_help}")
    if not provider_available(cloud, env, home, resolves):
        problems.append(
            f"the Terraform provider {facts.provider} is not installed and {REGISTRY_HOST} cannot be "
            f"resolved: run `terraform providers mirror DIR` for terraform/{cloud} on a connected "
            f"machine and set {PROVIDER_MIRROR_ENV}=DIR")
    if not resolves(facts.api_host):
        problems.append(f"no network route to {cloud}: {facts.api_host} cannot be resolved from this "
                        "machine (check DNS, proxy settings or the egress firewall)")
    return problems


def require_cloud(cloud: str) -> None:
    """Raises, naming every problem, unless the cloud is ready; runs before anything is created."""
    problems = cloud_problems(cloud)
    if problems:
        raise CloudUnreachableError(
            f"target {cloud} cannot be provisioned from this machine; nothing was created:\n"
            + "\n".join(f"  - {problem}" for problem in problems))
