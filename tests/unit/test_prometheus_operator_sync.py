"""How the local Prometheus takes over the scrape configs that prometheus-operator generates."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path

import pytest
import yaml

from aicluster.prometheus_operator_sync import (
    EMPTY,
    GeneratedConfigError,
    scrape_configs_of,
    write_if_changed,
)

GENERATED = """
global:
  evaluation_interval: 30s
  scrape_interval: 5s
  external_labels:
    prometheus: monitoring/local
rule_files:
- /etc/prometheus/rules/prometheus-local-rulefiles-0/*.yaml
scrape_configs:
- job_name: serviceMonitor/team-a/vllm/0
  honor_labels: true
  kubernetes_sd_configs:
  - role: endpointslice
    api_server: https://127.0.0.1:6443
    authorization:
      credentials_file: /var/lib/aicluster/prometheus/token
    tls_config:
      ca_file: /var/lib/aicluster/prometheus/ca.crt
    namespaces:
      names: [team-a]
  relabel_configs:
  - source_labels: [__meta_kubernetes_service_label_app]
    regex: vllm
    action: keep
  - source_labels: [__tmp_hash, __tmp_disable_sharding]
    regex: $(SHARD);|.+;.+
    action: keep
- job_name: podMonitor/team-a/trainer/0
  kubernetes_sd_configs:
  - role: pod
"""


def secret_data(text: str) -> dict[str, str]:
    return {"prometheus.yaml.gz": base64.b64encode(gzip.compress(text.encode())).decode()}


def test_only_the_scrape_configs_are_taken_in_order_and_unchanged() -> None:
    taken = yaml.safe_load(scrape_configs_of(secret_data(GENERATED)))
    generated = yaml.safe_load(GENERATED.replace("$(SHARD)", "0"))
    assert list(taken) == ["scrape_configs"]
    assert taken["scrape_configs"] == generated["scrape_configs"]
    assert [job["job_name"] for job in taken["scrape_configs"]] == [
        "serviceMonitor/team-a/vllm/0",
        "podMonitor/team-a/trainer/0",
    ]


def test_the_shard_is_substituted_as_the_config_reloader_does() -> None:
    """The local Prometheus is the only shard: a target kept on shard 0 must be scraped."""
    taken = scrape_configs_of(secret_data(GENERATED))
    assert "$(" not in taken
    relabel = yaml.safe_load(taken)["scrape_configs"][0]["relabel_configs"][-1]
    assert relabel["regex"] == "0;|.+;.+"


def test_a_configuration_without_monitors_gives_an_empty_list() -> None:
    assert scrape_configs_of(secret_data("global:\n  scrape_interval: 5s\n")) == EMPTY
    assert yaml.safe_load(EMPTY) == {"scrape_configs": []}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "has no key prometheus.yaml.gz"),
        ({"prometheus.yaml.gz": base64.b64encode(b"not gzip").decode()}, "is no gzipped YAML"),
        (secret_data("- a list\n"), "is no mapping"),
        (secret_data("scrape_configs: {job_name: x}\n"), "scrape_configs is no list"),
    ],
)
def test_what_the_operator_does_not_write_is_refused(data: dict[str, str], message: str) -> None:
    with pytest.raises(GeneratedConfigError, match=message):
        scrape_configs_of(data)


def test_the_file_is_written_privately_and_only_when_it_changes(tmp_path: Path) -> None:
    target = tmp_path / "operator-scrape-configs.yml"
    assert write_if_changed(target, EMPTY)
    assert target.stat().st_mode & 0o777 == 0o600
    assert not write_if_changed(target, EMPTY)
    assert write_if_changed(target, "scrape_configs: [{job_name: a}]\n")
    assert target.read_text() == "scrape_configs: [{job_name: a}]\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["operator-scrape-configs.yml"]
