"""Serves the scrape configuration that prometheus-operator generates with the local Prometheus.

On a real cluster prometheus-operator turns ServiceMonitors and PodMonitors into a Prometheus
configuration, stores it gzipped in the Secret `prometheus-<name>`, the kubelet mounts that Secret
into the Prometheus pod and the config-reloader sidecar makes Prometheus reload it. On the local
cluster Prometheus runs as a process of this host, so this process plays the mount and the reloader:
it reads the Secret, writes the generated `scrape_configs` to a file that the local configuration
includes (`scrape_config_files`), and asks Prometheus to reload when they change. Like the
reloader, it substitutes the pod's environment into `$(NAME)` references: the local Prometheus is
the only shard, SHARD=0 (the generated relabelling keeps a target only on its shard). The rest of the
generated file (global settings, rule files, alerting) belongs to the in-cluster server and is left
out: the local configuration keeps its own.

    python -m aicluster.prometheus_operator_sync --kubeconfig FILE --namespace NS --secret NAME \
        --output FILE --reload-url URL
"""

from __future__ import annotations

import argparse
import base64
import gzip
import logging
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from aicluster.simulators.signals import exit_on_stop_signals

LOG = logging.getLogger("prometheus-operator-sync")
CONFIG_KEY = "prometheus.yaml.gz"
# The environment the config-reloader would substitute: the local Prometheus is shard 0 of 1.
POD_ENVIRONMENT = {"SHARD": "0"}
EMPTY = "scrape_configs: []\n"


class GeneratedConfigError(ValueError):
    """The Secret does not hold a configuration that prometheus-operator generates."""


def scrape_configs_of(secret_data: dict[str, str]) -> str:
    """The scrape_configs of the operator's generated configuration, as a scrape config file."""
    if CONFIG_KEY not in secret_data:
        raise GeneratedConfigError(f"the Secret has no key {CONFIG_KEY}")
    try:
        text = gzip.decompress(base64.b64decode(secret_data[CONFIG_KEY])).decode()
        for name, value in POD_ENVIRONMENT.items():
            text = text.replace(f"$({name})", value)
        document: Any = yaml.safe_load(text) or {}
    except (ValueError, OSError, yaml.YAMLError) as error:
        raise GeneratedConfigError(f"{CONFIG_KEY} is no gzipped YAML: {error}") from error
    if not isinstance(document, dict):
        raise GeneratedConfigError(f"{CONFIG_KEY} is no mapping")
    scrape_configs = document.get("scrape_configs") or []
    if not isinstance(scrape_configs, list):
        raise GeneratedConfigError(f"{CONFIG_KEY}: scrape_configs is no list")
    if not scrape_configs:
        return EMPTY
    return yaml.safe_dump({"scrape_configs": scrape_configs}, sort_keys=False)


def write_if_changed(path: Path, text: str) -> bool:
    """Writes text (mode 0600, atomically) unless the file already holds it; True when it wrote."""
    if path.exists() and path.read_text() == text:
        return False
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.chmod(0o600)
    temporary.replace(path)
    return True


def reload(url: str) -> None:
    request = urllib.request.Request(url, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--secret", required=True, help="the operator's configuration Secret")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--reload-url", required=True)
    parser.add_argument("--refresh-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    core = client.CoreV1Api(config.new_client_from_config(config_file=args.kubeconfig))
    LOG.info("serving %s/%s's scrape configs from %s", args.namespace, args.secret, args.output)
    exit_on_stop_signals(LOG)
    pending_reload = False
    while True:
        try:
            secret = core.read_namespaced_secret(args.secret, args.namespace)
            if write_if_changed(args.output, scrape_configs_of(secret.data or {})):
                LOG.info("the generated scrape configs changed; reloading Prometheus")
                pending_reload = True
        except ApiException as error:
            # 404 until the operator has reconciled the Prometheus object the first time.
            LOG.warning("reading the Secret: API error %s: %s", error.status, error.reason)
        except GeneratedConfigError as error:
            LOG.error("%s/%s: %s", args.namespace, args.secret, error)
        if pending_reload:
            try:
                reload(args.reload_url)
                pending_reload = False
            except (urllib.error.URLError, OSError) as error:
                # Prometheus keeps its last good configuration; retried on the next round.
                LOG.warning("reloading Prometheus failed: %s", error)
        time.sleep(args.refresh_seconds)


if __name__ == "__main__":
    sys.exit(main())
