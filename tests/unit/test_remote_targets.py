"""Cloud and on-prem targets without a cloud: the spec's checks, the rendered Terraform inputs and
the generated inventory against committed golden files, the cloud preflight, the leak report and
the connectivity check's reading of Ansible's output."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aicluster.ansible import unreachable_hosts
from aicluster.cloud_preflight import cloud_problems, credential_source
from aicluster.errors import SpecError
from aicluster.inventory import SshClient, build_inventory
from aicluster.paths import INVENTORIES_DIR, TERRAFORM_DIR
from aicluster.spec import load_spec, parse_spec
from aicluster.targets import terraform_variables
from aicluster.teardown import find_leftovers, leak_search, release_controller_resources
from aicluster.terraform import TerraformRunner

GOLDEN = Path(__file__).parent.parent / "data" / "golden"
UPDATE = os.environ.get("AICLUSTER_UPDATE_GOLDEN") == "1"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGoldenGoldenGoldenGoldenGoldenGoldenGold golden"
CLOUDS = ("aws", "gcp", "azure")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home directory whose ~/.ssh holds the key pair the example specs name."""
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_ed25519.pub").write_text(PUBLIC_KEY + "\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def compare_with_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.is_file(), f"no golden file {path}: run with AICLUSTER_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"{name} differs from its golden file (AICLUSTER_UPDATE_GOLDEN=1)"


def inventory_text(outputs: dict, work_dir: Path, client: SshClient) -> str:
    inventory = build_inventory(outputs, work_dir, "/venv/bin/python", client)
    return yaml.safe_dump(inventory, sort_keys=True)


# -- golden files ----------------------------------------------------------------------------

@pytest.mark.parametrize("target", [*CLOUDS, "onprem", "local-small", "local-large", "local-mig"])
def test_example_spec_renders_the_golden_terraform_inputs(target: str, home: Path) -> None:
    variables = terraform_variables(load_spec(INVENTORIES_DIR / f"{target}.yaml"))
    compare_with_golden(f"{target}.tfvars.json", json.dumps(variables, indent=2, sort_keys=True) + "\n")


def summarise_large_groups(group: dict) -> None:
    """Replaces a group's hosts by their count, first and last names and distinct host variables."""
    hosts = group.get("hosts") or {}
    if len(hosts) > 10:
        names = sorted(hosts, key=lambda name: (len(name), name))
        group["hosts"] = {"count": len(names), "first": names[0], "last": names[-1],
                          "host_vars": sorted({yaml.safe_dump(v, sort_keys=True) for v in hosts.values()})}
    for child in (group.get("children") or {}).values():
        summarise_large_groups(child)


@pytest.mark.parametrize("example", ["local-small", "local-large"])
def test_local_module_gives_the_golden_inventory(example: str, tmp_path: Path) -> None:
    """The real local module, through Terraform: its outputs for the example spec give the same
    inventory on every run (the large one: 1,000 GPU nodes, summarised by pool to keep the file short)."""
    spec = load_spec(INVENTORIES_DIR / f"{example}.yaml")
    runner = TerraformRunner(TERRAFORM_DIR / "local", tmp_path / "terraform", tmp_path / "provision.log")
    runner.sync_module(terraform_variables(spec))
    runner.init()
    runner.plan()
    runner.apply_plan()
    assert not runner.plan().changed
    outputs = runner.outputs()
    inventory = build_inventory(outputs, Path("/state/clusters") / spec.name, "/venv/bin/python")
    if example == "local-large":
        summarise_large_groups(inventory["all"])
    compare_with_golden(f"{example}.inventory.yml", yaml.safe_dump(inventory, sort_keys=True))


@pytest.mark.parametrize("target", CLOUDS)
def test_cloud_outputs_give_the_golden_inventory(target: str, home: Path) -> None:
    """The module's outputs for the example spec (recorded from the outputs contract, since no
    cloud is reachable here) become the same inventory on every run."""
    spec = load_spec(INVENTORIES_DIR / f"{target}.yaml")
    outputs = json.loads((GOLDEN / f"{target}.outputs.json").read_text())
    variables = terraform_variables(spec)
    assert set(outputs["node_pools"]) == set(variables["node_pools"])
    for name, pool in variables["node_pools"].items():
        assert outputs["node_pools"][name]["machine_type"] == pool["machine_type"]
        assert outputs["node_pools"][name]["gpu_labels"] == pool["gpu_labels"]
    assert outputs["cluster_name"] == spec.name and outputs["target"] == target
    work_dir = Path("/state/clusters") / spec.name
    assert spec.cloud is not None
    client = SshClient(private_key_file=spec.cloud.ssh.private_key_file)
    text = inventory_text(outputs, work_dir, client).replace(str(home), "~")
    compare_with_golden(f"{target}.inventory.yml", text)


def test_onprem_module_turns_the_host_list_into_the_golden_inventory(tmp_path: Path, home: Path) -> None:
    """The real on-prem module, through Terraform: it creates nothing and its outputs give the
    inventory; a second plan reports no changes."""
    spec = load_spec(INVENTORIES_DIR / "onprem.yaml")
    runner = TerraformRunner(TERRAFORM_DIR / "onprem", tmp_path / "terraform", tmp_path / "provision.log")
    runner.sync_module(terraform_variables(spec))
    runner.init()
    first = runner.plan()
    assert first.summary == "outputs changed, no resource changes."
    runner.apply_plan()
    assert not runner.has_state(), "the on-prem module must create no resource"
    assert not runner.plan().changed
    outputs = runner.outputs()
    assert [node["name"] for node in outputs["nodes"]] == ["gpu-1", "gpu-2", "cpu-1"]
    assert outputs["node_pools"]["h100"]["desired_size"] == 2
    assert spec.onprem is not None
    client = SshClient(private_key_file=spec.onprem.ssh.private_key_file)
    text = inventory_text(outputs, Path("/state/clusters") / spec.name, client).replace(str(home), "~")
    compare_with_golden("onprem.inventory.yml", text)


def test_sync_module_copies_submodules_and_drops_stale_files(tmp_path: Path) -> None:
    module = tmp_path / "module"
    (module / "modules" / "network").mkdir(parents=True)
    (module / "main.tf").write_text('module "network" {\n  source = "./modules/network"\n}\n')
    (module / "modules" / "network" / "main.tf").write_text("")
    (module / "modules" / "network" / "user-data.tftpl").write_text("#cloud-config\n")
    (module / "README.md").write_text("docs stay behind")
    runner = TerraformRunner(module, tmp_path / "work", tmp_path / "log")
    runner.sync_module({"cluster_name": "x"})
    work = tmp_path / "work"
    assert (work / "modules" / "network" / "user-data.tftpl").read_text() == "#cloud-config\n"
    assert not (work / "README.md").exists()
    (module / "modules" / "network" / "user-data.tftpl").unlink()
    runner.sync_module({"cluster_name": "x"})
    assert not (work / "modules" / "network" / "user-data.tftpl").exists()
    assert json.loads((work / "terraform.tfvars.json").read_text()) == {"cluster_name": "x"}


# -- spec checks -------------------------------------------------------------------------------

def cloud_spec(target: str = "aws", **cloud: object) -> dict:
    settings: dict = {"region": "r1", "zones": ["r1-a"], "admin_cidrs": ["198.51.100.0/24"],
                      "ssh": {"public_key": PUBLIC_KEY}}
    if target == "gcp":
        settings["project_id"] = "p"
    settings.update(cloud)
    return {"name": "demo", "target": target, "cloud": settings, "node_pools": [
        {"name": "gpu", "gpu": {"product": "H100-80GB", "count": 8}, "nodes": {"min": 0, "max": 2}},
        {"name": "cpu", "nodes": {"min": 1, "max": 2}, "machine_type": {target: "standard"}},
    ]}


def errors_of(document: dict) -> list[str]:
    with pytest.raises(SpecError) as raised:
        parse_spec(document, "test.yaml")
    return [str(error) for error in raised.value.errors]


def test_cloud_targets_need_their_cloud_section() -> None:
    document = cloud_spec()
    del document["cloud"]
    assert errors_of(document) == ["cloud: required for target aws"]
    assert errors_of({**cloud_spec(), "target": "local"})[0] == "cloud: only for cloud targets, not local"


def test_cloud_settings_are_checked_with_field_paths() -> None:
    errors = errors_of(cloud_spec(admin_cidrs=["0.0.0.0/0", "10.1.2.3/8"], network_cidr="8.8.0.0/16",
                                  ssh={}, control_plane={"count": 2}, zones=["a", "a"]))
    assert errors[0] == "cloud.network_cidr: must be a private range between /16 and /24"
    assert errors[1].startswith("cloud.admin_cidrs[0]: opens SSH and the API server to the whole internet")
    assert errors[2].startswith("cloud.admin_cidrs[1]: not a CIDR range")
    assert "cloud.ssh: give exactly one of public_key or public_key_file" in errors
    assert "cloud.control_plane.count: must be 1 or 3 (etcd quorum)" in errors
    assert "cloud.zones: lists a zone twice" in errors


def test_cloud_specific_fields_belong_to_their_cloud() -> None:
    document = cloud_spec("gcp")
    del document["cloud"]["project_id"]
    assert errors_of(document) == ["cloud.project_id: required for target gcp"]
    assert errors_of(cloud_spec("aws", project_id="p")) == ["cloud.project_id: only for target gcp, not aws"]


def test_cloud_pools_need_machine_types_and_supported_interconnects() -> None:
    document = cloud_spec()
    del document["node_pools"][1]["machine_type"]
    document["node_pools"].append({"name": "l4", "gpu": {"product": "L4", "count": 1},
                                   "nodes": {"min": 0, "max": 1}, "high_speed_networking": True})
    document["node_pools"][0]["capacity_reservation"] = {"type": "capacity-block"}
    assert errors_of(document) == [
        "node_pools[0].capacity_reservation.id: required for a capacity-block reservation on aws",
        "node_pools[1].machine_type.aws: a CPU pool on aws needs its machine type",
        "node_pools[2].high_speed_networking: g6.xlarge has no high-speed GPU interconnect on aws",
    ]
    gcp = cloud_spec("gcp")
    gcp["node_pools"][0]["capacity_reservation"] = {"type": "capacity-block", "id": "r"}
    assert errors_of(gcp) == ["node_pools[0].capacity_reservation.type: capacity blocks exist on aws only"]


def test_high_speed_networking_defaults_to_what_the_machine_type_offers(home: Path) -> None:
    spec = load_spec(INVENTORIES_DIR / "aws.yaml")
    pools = terraform_variables(spec)["node_pools"]
    assert pools["h100"]["high_speed_networking"] is True
    assert pools["l4"]["high_speed_networking"] is False
    assert pools["h100"]["gpu_labels"]["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"


def test_a_missing_public_key_file_names_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    spec = load_spec(INVENTORIES_DIR / "aws.yaml")
    with pytest.raises(SpecError, match=r"cloud\.ssh\.public_key_file: cannot read .*id_ed25519\.pub"):
        terraform_variables(spec)


def onprem_spec(**changes: object) -> dict:
    document = yaml.safe_load((INVENTORIES_DIR / "onprem.yaml").read_text())
    document["onprem"].update(changes)
    return document


def test_onprem_hosts_are_checked_against_the_pools() -> None:
    hosts = [
        {"name": "gpu-1", "address": "192.0.2.21", "pool": "h100", "gpu_product": "L4"},
        {"name": "gpu-1", "address": "192.0.2.21", "pool": "nope"},
        {"name": "cpu-1", "address": "not an address!", "pool": "cpu"},
    ]
    errors = errors_of(onprem_spec(hosts=hosts))
    assert errors == [
        "onprem.hosts[0].gpu_product: 'L4' differs from pool h100's H100-80GB",
        "onprem.hosts[1].name: duplicate host name 'gpu-1'",
        "onprem.hosts[1].address: 192.0.2.21 is listed twice",
        "onprem.hosts[1].pool: 'nope' is not a node pool; pools: cpu, h100",
        "onprem.hosts[2].address: 'not an address!' is neither an IP address nor a host name",
    ]


def test_onprem_pools_hold_as_many_hosts_as_their_bounds_allow() -> None:
    errors = errors_of(onprem_spec(hosts=[{"name": "cpu-1", "address": "192.0.2.31", "pool": "cpu"}]))
    assert errors == ["node_pools[0].nodes: 0 hosts listed for pool h100, outside min..max (1..8)"]


def test_onprem_needs_its_hosts() -> None:
    document = onprem_spec()
    del document["onprem"]
    assert errors_of(document) == ["onprem: required for target onprem: the hosts to use"]


# -- cloud preflight ---------------------------------------------------------------------------

def never_resolves(host: str) -> bool:
    return False


@pytest.mark.parametrize("cloud", CLOUDS)
def test_a_cloud_without_credentials_provider_or_route_names_all_three(cloud: str, tmp_path: Path) -> None:
    problems = cloud_problems(cloud, env={}, home=tmp_path, resolves=never_resolves)
    assert len(problems) == 3
    assert problems[0].startswith(f"no {cloud} credentials in the standard chain: ")
    assert "terraform providers mirror" in problems[1]
    assert problems[2].startswith(f"no network route to {cloud}")


def test_credentials_are_found_in_each_link_of_the_chain(tmp_path: Path) -> None:
    aws_dir = tmp_path / ".aws"
    aws_dir.mkdir()
    (aws_dir / "config").write_text("[profile gpu]\nregion = us-east-1\n")
    assert credential_source("aws", {"AWS_PROFILE": "gpu"}, tmp_path) == f"profile gpu ({aws_dir / 'config'})"
    assert credential_source("aws", {"AWS_PROFILE": "other"}, tmp_path) is None
    assert credential_source("aws", {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}, tmp_path)
    key_file = tmp_path / "sa.json"
    key_file.write_text("{}")
    assert credential_source("gcp", {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)}, tmp_path)
    missing = {"GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "no")}
    assert credential_source("gcp", missing, tmp_path) is None
    assert credential_source("azure", {"ARM_CLIENT_ID": "id"}, tmp_path) is None
    assert credential_source("azure", {"ARM_CLIENT_ID": "id", "ARM_USE_OIDC": "true"}, tmp_path)


def test_a_provider_mirror_satisfies_the_provider_check(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    (mirror / "registry.terraform.io" / "hashicorp" / "aws").mkdir(parents=True)
    env = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b",
           "AICLUSTER_TERRAFORM_PROVIDER_MIRROR": str(mirror)}
    def resolves(host: str) -> bool:
        return host == "sts.amazonaws.com"

    assert cloud_problems("aws", env=env, home=tmp_path, resolves=resolves) == []


def test_build_for_an_unreachable_cloud_creates_nothing(tmp_path: Path, home: Path) -> None:
    """`invoke build --cloud aws` here: no credentials, no provider, no route; exit 2, no files."""
    state = tmp_path / "state"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "AICLUSTER_"))}
    env.update(HOME=str(home), AICLUSTER_STATE_DIR=str(state))
    invoke = str(Path(sys.executable).parent / "invoke")
    completed = subprocess.run([invoke, "build", "--cloud", "aws"], cwd=TERRAFORM_DIR.parent, env=env,
                               capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "target aws cannot be provisioned from this machine; nothing was created" in completed.stderr
    assert "no aws credentials in the standard chain" in completed.stderr
    assert not state.exists()


def test_credentials_never_reach_the_output_or_a_file(tmp_path: Path, home: Path) -> None:
    """With credentials in the environment, a build that stops at the missing provider prints none of
    them and writes none of them anywhere: aicluster only checks that the chain has something."""
    canary = f"aicluster-canary-{secrets.token_hex(12)}"
    state = tmp_path / "state"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "AICLUSTER_"))}
    env.update(HOME=str(home), AICLUSTER_STATE_DIR=str(state),
               AWS_ACCESS_KEY_ID="AKIA" + canary[-16:].upper(), AWS_SECRET_ACCESS_KEY=canary,
               AWS_SESSION_TOKEN=f"{canary}-session")
    invoke = str(Path(sys.executable).parent / "invoke")
    completed = subprocess.run([invoke, "build", "--cloud", "aws"], cwd=TERRAFORM_DIR.parent, env=env,
                               capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "no aws credentials" not in completed.stderr, "the credentials in the environment were not seen"
    assert "the Terraform provider hashicorp/aws is not installed" in completed.stderr
    assert canary not in completed.stdout + completed.stderr
    assert canary[-16:].upper() not in completed.stdout + completed.stderr
    written = [path for root in (home, tmp_path) for path in root.rglob("*")
               if path.is_file() and canary.encode() in path.read_bytes()]
    assert written == []


# -- teardown leak report, connectivity --------------------------------------------------------

def test_leak_report_reads_each_cloud_cli() -> None:
    def answer(stdout: str, code: int = 0) -> object:
        return lambda command: subprocess.CompletedProcess(command, code, stdout, "AccessDenied\n")

    aws = leak_search("aws", "demo", "us-east-1", None)
    assert "Key=aicluster.io/cluster,Values=demo" in aws.command
    listed = json.dumps({"ResourceTagMappingList": [{"ResourceARN": "arn:aws:ec2:us-east-1:1:volume/vol-1"}]})
    assert find_leftovers(aws, answer(listed)).leftovers == ["arn:aws:ec2:us-east-1:1:volume/vol-1"]
    failed = find_leftovers(aws, answer("", 254))
    assert failed.leftovers == [] and failed.unchecked is not None and "AccessDenied" in failed.unchecked
    gcp = leak_search("gcp", "demo", "us-central1", "proj")
    assert "--query=labels.aicluster_io_cluster=demo" in gcp.command
    disks = json.dumps([{"name": "//compute/disk-1"}])
    assert find_leftovers(gcp, answer(disks)).leftovers == ["//compute/disk-1"]
    azure = leak_search("azure", "demo", "eastus", None)
    assert "aicluster.io_cluster=demo" in azure.command
    assert find_leftovers(azure, answer("[]")).leftovers == []


def test_leak_report_without_the_cli_says_how_to_look(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    report = find_leftovers(leak_search("azure", "demo", "eastus", None))
    assert report.unchecked is not None
    assert report.unchecked.startswith("the az CLI is not installed; look for leftovers with: az resource")


def test_release_without_a_reachable_api_says_what_it_could_not_do(tmp_path: Path) -> None:
    assert release_controller_resources(tmp_path / "none").skipped is not None
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9",
                                               "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    released = release_controller_resources(kubeconfig)
    assert released.deleted == []
    assert released.skipped is not None and released.skipped.startswith("the cluster API cannot be reached")


def test_unreachable_hosts_are_read_from_ansible_output() -> None:
    report = {"plays": [{"tasks": [{"hosts": {
        "cp-1": {"changed": False, "ping": "pong"},
        "gpu-1": {"unreachable": True, "msg": "Failed to connect to the host via ssh: ssh: connect to "
                                              "host 10.9.0.3 port 22: Connection refused"},
        "gpu-2": {"failed": True, "msg": "python3: not found"},
    }}]}]}
    assert unreachable_hosts(report) == {
        "gpu-1": "Failed to connect to the host via ssh: ssh: connect to host 10.9.0.3 port 22: "
                 "Connection refused",
        "gpu-2": "python3: not found",
    }
