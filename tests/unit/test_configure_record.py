"""The record of the last configure: what counts as a change, and what does not."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from aicluster import configure_record
from aicluster.configure_record import ClusterState, differences, object_digest

CLUSTER_QUEUE = {
    "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ClusterQueue",
    "metadata": {"name": "team-a", "uid": "u-1", "resourceVersion": "10", "generation": 1,
                 "managedFields": [{"manager": "aicluster-kueue", "operation": "Apply"}]},
    "spec": {"resourceGroups": [{"flavors": [{"name": "h100", "resources": [
        {"name": "nvidia.com/gpu", "nominalQuota": 8}]}]}]},
    "status": {"admittedWorkloads": 0},
}


def state(**changes: object) -> ClusterState:
    base = {"processes": {"101": "kube-apiserver 5000", "102": "etcd 4990"},
            "files": {"kubeconfig": "812:1:100600", "kueue/config.yaml": "400:2:100644"},
            "objects": {"kueue.x-k8s.io/ClusterQueue//team-a": "d1"}, "ready_nodes": 6}
    return ClusterState(**{**base, **changes})  # type: ignore[arg-type]


def test_the_same_state_has_no_differences() -> None:
    assert differences(state(), state()) == []


def test_a_restarted_process_a_chmod_and_a_deleted_object_are_each_named() -> None:
    now = state(processes={"101": "kube-apiserver 5000", "230": "etcd 9000"},
                files={"kubeconfig": "812:1:100644", "kueue/config.yaml": "400:2:100644"},
                objects={})
    assert differences(state(), now) == [
        "2 processes: etcd (gone), etcd (new)",
        "1 files: kubeconfig (changed)",
        "1 objects: kueue.x-k8s.io/ClusterQueue//team-a (gone)",
    ]


def test_fewer_ready_nodes_is_a_difference_and_long_lists_are_cut() -> None:
    many = {f"f{i}": "1:1:100644" for i in range(7)}
    found = differences(state(files={}), state(files=many, ready_nodes=5))
    assert found[0] == "7 files: f0 (new), f1 (new), f2 (new), f3 (new) and 3 more"
    assert found[1] == "5 nodes Ready, 6 at the last configure"


def test_status_and_bookkeeping_do_not_change_an_objects_digest() -> None:
    updated = json.loads(json.dumps(CLUSTER_QUEUE))
    updated["status"] = {"admittedWorkloads": 3}
    updated["metadata"].update(resourceVersion="99", generation=2,
                               managedFields=[{"manager": "kueue", "operation": "Update"}])
    assert object_digest(updated) == object_digest(CLUSTER_QUEUE)


def test_a_changed_quota_or_a_recreated_object_changes_its_digest() -> None:
    edited = json.loads(json.dumps(CLUSTER_QUEUE))
    edited["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] = 80
    recreated = json.loads(json.dumps(CLUSTER_QUEUE))
    recreated["metadata"]["uid"] = "u-2"
    assert object_digest(edited) != object_digest(CLUSTER_QUEUE)
    assert object_digest(recreated) != object_digest(CLUSTER_QUEUE)


def test_only_objects_with_an_aicluster_field_manager_are_recorded() -> None:
    assert configure_record.applied_by_aicluster(CLUSTER_QUEUE)
    foreign = {**CLUSTER_QUEUE, "metadata": {**CLUSTER_QUEUE["metadata"],
                                             "managedFields": [{"manager": "kubectl-client-side-apply"}]}}
    assert not configure_record.applied_by_aicluster(foreign)


def test_file_states_skip_logs_data_and_other_stages_files(tmp_path: Path) -> None:
    for name in ("kubeconfig", "kueue/config.yaml", "logs/configure.log", "prometheus/data/wal",
                 "kwok/clusters/c/etcd/member/db", "validation/report.md", "terraform/main.tf",
                 "ansible/extra-vars.yml", "spec.yaml", "kwok/clusters/c/x.log", "configure-record.json",
                 "dcgm-exporter/targets.json", "prometheus/operator-scrape-configs.yml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "kubeconfig").chmod(0o600)
    states = configure_record.file_states(tmp_path)
    assert sorted(states) == ["kubeconfig", "kueue/config.yaml"]
    assert states["kubeconfig"].endswith(f":{stat.S_IFREG | 0o600:o}")


def test_the_inputs_digest_follows_variables_inventory_and_role_files(tmp_path: Path) -> None:
    (tmp_path / "roles" / "kueue" / "tasks").mkdir(parents=True)
    task = tmp_path / "roles" / "kueue" / "tasks" / "main.yml"
    task.write_text("---\n")
    (tmp_path / "roles" / "kueue" / "__pycache__").mkdir()
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: {}\n")
    first = configure_record.inputs_digest({"a": 1}, inventory, tmp_path)
    (tmp_path / "roles" / "kueue" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert configure_record.inputs_digest({"a": 1}, inventory, tmp_path) == first
    assert configure_record.inputs_digest({"a": 2}, inventory, tmp_path) != first
    task.write_text("---\n- name: more\n")
    assert configure_record.inputs_digest({"a": 1}, inventory, tmp_path) != first


UNREACHABLE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"""


def test_a_record_is_private_and_forgotten_before_a_run(tmp_path: Path) -> None:
    configure_record.save(tmp_path, "digest", state())
    path = tmp_path / configure_record.RECORD_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = configure_record.load(tmp_path)
    assert loaded is not None and loaded.inputs == "digest" and loaded.state == state()
    record, reasons = configure_record.unchanged_since(tmp_path, tmp_path / "kubeconfig", "other")
    assert record is not None and reasons == [
        "the inputs changed (spec, inventory, binaries, playbooks or roles)"]
    configure_record.forget(tmp_path)
    assert configure_record.load(tmp_path) is None
    assert configure_record.unchanged_since(tmp_path, tmp_path / "kubeconfig", "digest") == (
        None, ["no record of a completed configure"])


def test_an_api_server_that_does_not_answer_means_ansible_runs(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(UNREACHABLE_KUBECONFIG)
    configure_record.save(tmp_path, "digest", state())
    _, reasons = configure_record.unchanged_since(tmp_path, kubeconfig, "digest")
    assert len(reasons) == 1 and reasons[0].startswith("the cluster's API cannot be read ("), reasons
    assert reasons[0].endswith("Connection refused)"), reasons
    assert not configure_record.record_configure(tmp_path, kubeconfig, "digest")
