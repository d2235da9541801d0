"""Real-cluster configuration generated from the inventory: the cluster autoscaler's flags and
environment per cloud (from the sample module outputs), and the adapter's GPU metric rules."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from aicluster.paths import REPO_ROOT
from aicluster.platform_release import ReleaseError, set_container_args
from tests.unit.collections_path_loader import load_filter

GOLDEN = REPO_ROOT / "tests" / "data" / "golden"
ca_args = load_filter("cluster_autoscaler", "cluster_autoscaler_args")
ca_env = load_filter("cluster_autoscaler", "cluster_autoscaler_env")
# The role's defaults (roles/karpenter/defaults/main.yml) for real machines.
SETTINGS = {"scale_down_enabled": True, "scale_down_unneeded_time": "10m",
            "scale_down_delay_after_add": "10m", "balance_similar_node_groups": True,
            "expander": "least-waste", "max_node_provision_time": "20m"}
COMMON = ["--scale-down-enabled=true", "--scale-down-unneeded-time=10m",
          "--scale-down-delay-after-add=10m", "--balance-similar-node-groups=true",
          "--expander=least-waste", "--max-node-provision-time=20m"]


def outputs(target: str) -> dict:
    return json.loads((GOLDEN / f"{target}.outputs.json").read_text())


def regional(pools: dict) -> dict:
    """The sample's zonal group URLs (one zonal MIG per pool, terraform/gcp/README.md) turned into
    regional ones, which the GCE provider cannot scale."""
    pools = copy.deepcopy(pools)
    for pool in pools.values():
        pool["autoscaling_group"] = re.sub(r"/zones/([a-z0-9]+-[a-z0-9]+)-[a-z]/", r"/regions/\1/",
                                           pool["autoscaling_group"])
    return pools


def test_aws_discovers_the_cluster_s_tagged_groups() -> None:
    sample = outputs("aws")
    args = ca_args(sample["node_pools"], "aws", sample["cluster_name"], SETTINGS)
    assert args[0] == "--cloud-provider=aws"
    assert set(COMMON) <= set(args)
    assert ("--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,"
            "k8s.io/cluster-autoscaler/aicluster-aws") in args
    # h100 has 8 GPUs per node: a node where one pod holds one GPU (1/8) is above the threshold.
    assert "--scale-down-gpu-utilization-threshold=0.0625" in args
    assert not any(arg.startswith("--nodes=") for arg in args)
    assert ca_env(sample["node_pools"], "aws") == []


def test_gce_names_every_pool_s_zonal_group_with_its_sizes() -> None:
    sample = outputs("gcp")
    args = ca_args(sample["node_pools"], "gcp", sample["cluster_name"], SETTINGS)
    assert args[0] == "--cloud-provider=gce"
    base = "https://www.googleapis.com/compute/v1/projects/my-gpu-project/zones/us-central1-a/instanceGroups"
    assert [arg for arg in args if arg.startswith("--nodes=")] == [
        f"--nodes=1:3:{base}/aicluster-gcp-np-cpu", f"--nodes=0:4:{base}/aicluster-gcp-np-h100",
        f"--nodes=0:4:{base}/aicluster-gcp-np-l4"]
    assert "--scale-down-gpu-utilization-threshold=0.0625" in args


def test_gce_refuses_a_regional_group() -> None:
    sample = outputs("gcp")
    with pytest.raises(AnsibleFilterError, match=r"pool cpu: .*not a zonal managed instance group"):
        ca_args(regional(sample["node_pools"]), "gcp", sample["cluster_name"], SETTINGS)


def test_azure_discovers_scale_sets_by_tag_with_the_managed_identity() -> None:
    sample = outputs("azure")
    args = ca_args(sample["node_pools"], "azure", sample["cluster_name"], SETTINGS)
    assert args[0] == "--cloud-provider=azure"
    assert ("--node-group-auto-discovery=label:k8s.io_cluster-autoscaler_enabled=true,"
            "k8s.io_cluster-autoscaler_aicluster-azure=owned") in args
    env = {item["name"]: item["value"] for item in ca_env(sample["node_pools"], "azure", "client-1")}
    assert env == {"ARM_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
                   "ARM_RESOURCE_GROUP": "aicluster-azure-rg", "ARM_VM_TYPE": "vmss",
                   "ARM_USE_MANAGED_IDENTITY_EXTENSION": "true", "ARM_USER_ASSIGNED_IDENTITY_ID": "client-1"}
    assert "ARM_USER_ASSIGNED_IDENTITY_ID" not in {i["name"] for i in ca_env(sample["node_pools"], "azure")}


def test_onprem_has_no_autoscaler_and_says_why() -> None:
    inventory = yaml.safe_load((GOLDEN / "onprem.inventory.yml").read_text())
    pools = inventory["all"]["vars"]["aicluster_node_pools"]
    with pytest.raises(AnsibleFilterError, match="on-prem machines are not created on demand"):
        ca_args(pools, "onprem", "aicluster-onprem", SETTINGS)


def test_gpu_threshold_follows_the_largest_shared_gpu_node() -> None:
    pools = {"cpu": {"gpus_per_node": 0}, "t4": {"gpus_per_node": 1, "gpu_sharing_replicas": 4}}
    assert "--scale-down-gpu-utilization-threshold=0.125" in ca_args(pools, "aws", "c", SETTINGS)
    assert "--scale-down-gpu-utilization-threshold=0.5" in ca_args({"cpu": {"gpus_per_node": 0}},
                                                                   "aws", "c", SETTINGS)


def test_adapter_rules_serve_gpu_metrics_per_pod() -> None:
    """One file (roles/prometheus_adapter/files/rules.yml) configures the local adapter and the
    real cluster's ConfigMap: each rule names pods and namespaces by the exporter's labels."""
    rules = yaml.safe_load((REPO_ROOT / "roles/prometheus_adapter/files/rules.yml").read_text())["rules"]
    served = {rule["name"]["as"]: rule for rule in rules}
    assert set(served) == {"gpu_utilization", "gpu_memory_used_mib", "inference_queue_depth"}
    for name, series in [("gpu_utilization", "DCGM_FI_DEV_GPU_UTIL"),
                         ("gpu_memory_used_mib", "DCGM_FI_DEV_FB_USED"),
                         ("inference_queue_depth", "vllm:num_requests_waiting")]:
        rule = served[name]
        assert rule["seriesQuery"] in (f'{series}{{namespace!="",pod!=""}}',
                                       f'{{__name__="{series}",namespace!="",pod!=""}}')
        assert rule["resources"]["overrides"] == {"namespace": {"resource": "namespace"},
                                                  "pod": {"resource": "pod"}}
        assert re.fullmatch(rule["name"]["matches"], series)
        assert "<<.GroupBy>>" in rule["metricsQuery"] and "<<.LabelMatchers>>" in rule["metricsQuery"]
    template = (REPO_ROOT / "roles/prometheus_adapter/templates/custom_metrics.yaml.j2").read_text()
    assert "lookup('ansible.builtin.file', 'rules.yml')" in template


def test_container_flags_are_replaced_or_appended_and_a_missing_container_is_an_error() -> None:
    deployment = {"kind": "Deployment", "metadata": {"name": "a"}, "spec": {"template": {"spec": {
        "containers": [{"name": "c", "args": ["--url=https://old/", "--x=1"]}]}}}}
    override = {"kind": "Deployment", "name": "a", "container": "c",
                "args": {"--url": "http://new/", "--relist": "15s"}}
    [changed] = set_container_args([deployment], [override])
    assert changed["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "--url=http://new/", "--x=1", "--relist=15s"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"][0] == "--url=https://old/"
    with pytest.raises(ReleaseError, match="no container d in Deployment a"):
        set_container_args([deployment], [{**override, "container": "d"}])


def test_the_role_default_settings_match_the_tested_ones() -> None:
    defaults = yaml.safe_load(Path(REPO_ROOT / "roles/karpenter/defaults/main.yml").read_text())
    for key, value in SETTINGS.items():
        assert defaults[f"karpenter_cluster_autoscaler_{key}"] == value, key
