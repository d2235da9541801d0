"""Every role rejects bad inputs through its argument specs, before any task runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aicluster.paths import REPO_ROOT

ROLES = sorted(path.name for path in (REPO_ROOT / "roles").iterdir() if path.is_dir())
BAD_INPUTS = {
    "kwok_control_plane": ({"kwok_control_plane_ready_timeout": "soon"}, "kwok_control_plane_ready_timeout"),
    "simulated_nodes": ({"simulated_nodes_hosts": "node-0"}, "simulated_nodes_kubeconfig"),
    "kueue": ({"kueue_delivery": "helm"}, "kueue_delivery"),
    "nvidia_dra_driver": ({"nvidia_dra_driver_delivery": "daemonset"}, "nvidia_dra_driver_delivery"),
    "nvidia_device_plugin": ({"nvidia_device_plugin_device_list_strategy": "envvar"},
                             "nvidia_device_plugin_device_list_strategy"),
    "karpenter": ({"karpenter_delivery": "cloud"}, "karpenter_delivery"),
    "local_tls": ({"local_tls_valid_days": "forever"}, "local_tls_valid_days"),
    "local_service_identity": ({"local_service_identity_cluster_rules": "all"},
                               "local_service_identity_cluster_rules"),
    "local_controller": ({"local_controller_webhook_port": "any"}, "local_controller_webhook_port"),
    "jobset": ({"jobset_delivery": "operator"}, "jobset_delivery"),
    "kubeflow_trainer": ({"kubeflow_trainer_health_port": "any"}, "kubeflow_trainer_health_port"),
    "dcgm_exporter": ({"dcgm_exporter_delivery": "daemonset"}, "dcgm_exporter_delivery"),
    "prometheus": ({"prometheus_port": "web"}, "prometheus_port"),
    "prometheus_adapter": ({"prometheus_adapter_delivery": "helm"}, "prometheus_adapter_delivery"),
    "traefik_gateway": ({"traefik_gateway_http_port": "http"}, "traefik_gateway_http_port"),
    "grafana_dashboards": ({"grafana_dashboards_names": {"gpus": 1}}, "grafana_dashboards_names"),
    "host_preflight": ({"host_preflight_secure_boot": "maybe"}, "host_preflight_secure_boot"),
    "nvidia_driver": ({"nvidia_driver_kernel_module": "nouveau"}, "nvidia_driver_kernel_module"),
    "platform_release": ({"platform_release_namespace": "monitoring", "platform_release_dry_run": "perhaps"},
                         "platform_release_dry_run"),
    "containerd": ({"containerd_binaries_source": "tarball"}, "containerd_binaries_source"),
    "nvidia_container_toolkit": ({"nvidia_container_toolkit_source": "pip"},
                                 "nvidia_container_toolkit_source"),
    "gvisor": ({"gvisor_platform": "hypervisor"}, "gvisor_platform"),
    "kubernetes_node": ({"kubernetes_node_binaries_source": "tarball"}, "kubernetes_node_binaries_source"),
    "kubeadm_control_plane": ({"kubeadm_control_plane_bind_port": "https"},
                              "kubeadm_control_plane_bind_port"),
    "kubeadm_join": ({"kubeadm_join_pool": {"name": "cpu", "labels": {}, "taints": []},
                      "kubeadm_join_taints": "gpu"}, "kubeadm_join_taints"),
    "cni": ({"cni_plugin": "calico"}, "cni_plugin"),
    "node_join_publisher": ({"node_join_publisher_secret_store": "vault"},
                            "node_join_publisher_secret_store"),
}


def test_every_role_has_argument_specs_and_a_bad_input_case() -> None:
    for role in ROLES:
        assert (REPO_ROOT / "roles" / role / "meta" / "argument_specs.yml").is_file(), role
        assert (REPO_ROOT / "roles" / role / "tasks" / "preflight.yml").is_file(), role
    assert set(BAD_INPUTS) == set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_bad_input_is_rejected_with_the_variable_named(role: str, tmp_path: Path) -> None:
    variables, named = BAD_INPUTS[role]
    playbook = tmp_path / "play.yml"
    # What the inventory stage and the pipeline give every play.
    context = {
        "aicluster_cluster_name": "demo", "aicluster_target": "local",
        "aicluster_work_dir": str(tmp_path), "aicluster_kubeconfig": str(tmp_path / "kubeconfig"),
        "aicluster_node_pools": {}, "aicluster_binaries": {}, "aicluster_sources": {},
        "aicluster_local_ports": {},
        "aicluster_spec": {"scheduling": {"cohort": "gpu", "tenants": [], "priority_classes": []}},
    }
    playbook.write_text(yaml.safe_dump([{
        "name": "Apply one role with a bad input", "hosts": "localhost", "gather_facts": False,
        "vars_files": [str(REPO_ROOT / "bom.yaml")], "vars": context,
        "roles": [{"role": role, **variables}],
    }]))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
           "ANSIBLE_ROLES_PATH": str(REPO_ROOT / "roles"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False"}
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         str(playbook)], env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output
    assert "Validating arguments against arg spec" in output, output
    assert named in output, output
