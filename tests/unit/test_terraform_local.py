"""The local Terraform module, run through the embedded engine: its outputs follow the
contract that the inventory stage reads, and its variable validation rejects bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from aicluster.inventory import check_contract
from aicluster.paths import INVENTORIES_DIR, TERRAFORM_DIR
from aicluster.spec import load_spec
from aicluster.targets import terraform_variables
from aicluster.terraform import TerraformError, TerraformRunner


def runner(tmp_path: Path) -> TerraformRunner:
    return TerraformRunner(TERRAFORM_DIR / "local", tmp_path / "tf", tmp_path / "tf.log")


def test_apply_outputs_follow_the_contract_and_replan_is_empty(tmp_path: Path) -> None:
    spec = load_spec(INVENTORIES_DIR / "local-small.yaml")
    terraform = runner(tmp_path)
    terraform.sync_module(terraform_variables(spec))
    terraform.init()
    first = terraform.plan()
    assert first.changed and first.summary.startswith("Plan: 5 to add")
    terraform.apply_plan()
    outputs = terraform.outputs()
    check_contract(outputs)
    assert [node["name"] for node in outputs["nodes"]] == [
        "local-small-cpu-0", "local-small-cpu-1", "local-small-h100-0", "local-small-h100-1",
        "local-small-l4-0", "local-small-l4-1"]
    h100 = outputs["node_pools"]["h100"]
    assert h100["gpus_per_node"] == 8
    assert h100["gpu_labels"]["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert h100["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    assert terraform.plan().changed is False
    terraform.destroy()
    assert terraform.has_state() is False


def test_variable_validation_rejects_bad_sizes(tmp_path: Path) -> None:
    spec = load_spec(INVENTORIES_DIR / "local-small.yaml")
    variables = terraform_variables(spec)
    variables["node_pools"]["cpu"]["desired_size"] = 9
    terraform = runner(tmp_path)
    terraform.sync_module(variables)
    terraform.init()
    with pytest.raises(TerraformError, match="Invalid value for variable"):
        terraform.plan()
    assert "min_size <= desired_size <= max_size" in (tmp_path / "tf.log").read_text()
