"""The container runtime roles (containerd, nvidia_container_toolkit, gvisor): their pins in the bill
of materials, their argument specs, the configuration files they render (parsed as containerd and
Kubernetes read them), the checks they derive from the host, and the CDI refresh script's two paths
(a driver present, none)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from aicluster.bom import load_bom
from aicluster.paths import REPO_ROOT

ROLES = REPO_ROOT / "roles"
BIN = Path(sys.executable).parent
RUNTIME_ROLES = ("containerd", "nvidia_container_toolkit", "gvisor")


def ansible_env() -> dict[str, str]:
    return {**os.environ, "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
            "ANSIBLE_ROLES_PATH": str(ROLES), "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable}


def run_playbook(play: list[dict], directory: Path) -> subprocess.CompletedProcess[str]:
    playbook = directory / "play.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
                          env=ansible_env(), cwd=REPO_ROOT, capture_output=True, text=True, check=False)


# --- the bill of materials --------------------------------------------------------------------

def test_release_pins_name_the_pinned_versions() -> None:
    raw = load_bom().raw["binaries"]
    containerd, runc, crictl = raw["containerd"], raw["containerd"]["runc"], raw["cri-tools"]
    number = containerd["version"].removeprefix("v")
    for arch in ("amd64", "arm64"):
        assert containerd["release"][arch]["url"].endswith(
            f"/v{number}/containerd-{number}-linux-{arch}.tar.gz")
        assert runc["release"][arch]["url"].endswith(f"/{runc['version']}/runc.{arch}")
        assert crictl["release"][arch]["url"].endswith(
            f"/{crictl['version']}/crictl-{crictl['version']}-linux-{arch}.tar.gz")
        for pin in (containerd["release"][arch], runc["release"][arch], crictl["release"][arch]):
            assert re.fullmatch(r"[0-9a-f]{64}", pin["sha256"]), pin
    assert tuple(int(part) for part in number.split(".")) >= (2, 0, 0), "CDI needs containerd 2.x"


def test_toolkit_and_gvisor_pins() -> None:
    raw = load_bom().raw["binaries"]
    toolkit = raw["nvidia-container-toolkit"]
    assert toolkit["cgo"] is True, "go-nvml and the CUDA probe are cgo only"
    assert toolkit["package_version"].startswith(toolkit["version"].removeprefix("v") + "-")
    assert set(toolkit["packages"]) == {"nvidia-ctk", "nvidia-container-runtime", "nvidia-cdi-hook",
                                        "nvidia-container-runtime-hook"}
    gvisor = raw["gvisor"]
    assert re.fullmatch(r"v0\.0\.0-\d{14}-[0-9a-f]{12}", gvisor["version"]), "a go-branch pseudo-version"
    release = gvisor["release"]
    assert re.fullmatch(r"\d{8}\.\d+", release["name"])
    for key in ("url", "sha512_url"):
        assert f"/release/{release['name']}/{{arch}}/{{name}}" in release[key]
    assert release["sha512_url"] == release["url"] + ".sha512"


# --- argument specs ---------------------------------------------------------------------------

BAD_INPUTS = {
    "containerd": {"containerd_binaries_source": "tarball"},
    "nvidia_container_toolkit": {"nvidia_container_toolkit_source": "operator"},
    "gvisor": {"gvisor_platform": "kvm-ish"},
}


@pytest.mark.parametrize("role", RUNTIME_ROLES)
def test_bad_input_is_rejected_by_the_argument_spec(role: str, tmp_path: Path) -> None:
    variables = BAD_INPUTS[role]
    completed = run_playbook([{
        "name": "Apply one role with a bad input", "hosts": "localhost", "gather_facts": False,
        "vars_files": [str(REPO_ROOT / "bom.yaml")], "roles": [{"role": role, **variables}]}], tmp_path)
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output
    assert "Validating arguments against arg spec" in output, output
    assert next(iter(variables)) in output, output


# --- rendered files ---------------------------------------------------------------------------

def template_task(role: str, template: str, dest: Path) -> dict:
    return {"name": f"Render {role}/{template}",
            "ansible.builtin.template": {"src": str(ROLES / role / "templates" / template), "dest": str(dest),
                                         "mode": "0644"}}


def role_vars(role: str, os_file: str = "Debian.yml") -> list[str]:
    files = [str(ROLES / role / "defaults" / "main.yml"), str(ROLES / role / "vars" / "main.yml")]
    if (ROLES / role / "vars" / os_file).is_file():
        files.append(str(ROLES / role / "vars" / os_file))
    return files


FACTS = {"ansible_facts": {"architecture": "x86_64", "distribution": "Debian", "os_family": "Debian"}}


def render_play(name: str, role: str, templates: dict[str, str], out: Path, overrides: dict) -> dict:
    """A play rendering some of a role's templates; overrides are task vars, which win over the
    role's defaults and vars (loaded here as vars_files)."""
    return {"name": name, "hosts": "localhost", "gather_facts": False,
            "vars_files": [str(REPO_ROOT / "bom.yaml"), *role_vars(role)], "vars": FACTS,
            "tasks": [{**template_task(role, template, out / dest), "vars": overrides}
                      for template, dest in templates.items()]}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rendered")
    mirror = {"registry": "registry.example:5000", "server": "https://mirror.example",
              "mirrors": [{"url": "https://mirror.example", "ca_file": "/etc/ssl/mirror.pem"}]}
    nvidia = ("config.toml", "containerd-runtime.toml", "runtimeclass.yaml", "nvidia-cdi-refresh.sh")
    gvisor = ("runsc.toml", "containerd-runtime.toml", "runtimeclass.yaml")
    plays = [
        render_play("containerd", "containerd",
                    {"config.toml.j2": "config.toml", "crictl.yaml.j2": "crictl.yaml"},
                    out, {"containerd_runc_source": "release"}),
        render_play("registry hosts", "containerd", {"hosts.toml.j2": "hosts.toml"}, out, {"item": mirror}),
        render_play("containerd 2.1", "containerd", {"config.toml.j2": "config-2.1.toml"}, out,
                    {"containerd_version": "v2.1.4", "containerd_runc_source": "package"}),
        render_play("nvidia", "nvidia_container_toolkit", {f"{name}.j2": f"nvidia-{name}" for name in nvidia},
                    out, {"nvidia_container_toolkit_source": "local"}),
        render_play("gvisor", "gvisor", {f"{name}.j2": f"gvisor-{name}" for name in gvisor}, out,
                    {"gvisor_runtime_class_overhead": {"memory": "64Mi"},
                     "gvisor_runsc_flags": {"debug": True}}),
    ]
    completed = run_playbook(plays, out)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return out


def load_toml(path: Path) -> dict:
    return tomllib.loads(path.read_text())


def test_containerd_config_is_version_3_with_systemd_cgroups_and_imports(rendered: Path) -> None:
    config = load_toml(rendered / "config.toml")
    assert config["version"] == 3
    assert config["imports"] == ["/etc/containerd/conf.d/*.toml"]
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]
    runc = runtime["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"] == {"BinaryName": "/usr/local/sbin/runc", "SystemdCgroup": True}
    assert runtime["cdi_spec_dirs"] == ["/etc/cdi", "/var/run/cdi"]
    assert runtime["cni"] == {"bin_dirs": ["/opt/cni/bin"], "conf_dir": "/etc/cni/net.d"}
    assert "enable_cdi" not in runtime, "containerd 2.4 always enables CDI and has no enable_cdi"
    images = config["plugins"]["io.containerd.cri.v1.images"]
    assert images["registry"] == {"config_path": "/etc/containerd/certs.d"}


def test_containerd_before_2_4_gets_enable_cdi_and_the_package_runc(rendered: Path) -> None:
    runtime = load_toml(rendered / "config-2.1.toml")["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["enable_cdi"] is True
    assert runtime["containerd"]["runtimes"]["runc"]["options"]["BinaryName"] == "/usr/sbin/runc"


def test_registry_hosts_file(rendered: Path) -> None:
    hosts = load_toml(rendered / "hosts.toml")
    assert hosts == {"server": "https://mirror.example", "host": {"https://mirror.example": {
        "capabilities": ["pull", "resolve"], "skip_verify": False, "ca": "/etc/ssl/mirror.pem"}}}


def test_crictl_points_at_the_socket(rendered: Path) -> None:
    crictl = yaml.safe_load((rendered / "crictl.yaml").read_text())
    assert crictl["runtime-endpoint"] == crictl["image-endpoint"] == "unix:///run/containerd/containerd.sock"


def test_nvidia_runtime_refuses_unprivileged_envvar_requests(rendered: Path) -> None:
    config = load_toml(rendered / "nvidia-config.toml")
    assert config["accept-nvidia-visible-devices-envvar-when-unprivileged"] is False
    assert config["accept-nvidia-visible-devices-as-volume-mounts"] is True
    assert config["nvidia-container-runtime"]["mode"] == "auto"
    assert config["nvidia-ctk"]["path"] == "/usr/local/bin/nvidia-ctk"
    assert config["nvidia-container-cli"]["ldconfig"] == "@/sbin/ldconfig"


def test_runtime_dropins_add_one_runtime_each(rendered: Path) -> None:
    nvidia = load_toml(rendered / "nvidia-containerd-runtime.toml")
    gvisor = load_toml(rendered / "gvisor-containerd-runtime.toml")
    for dropin in (nvidia, gvisor):
        assert dropin["version"] == 3
        assert list(dropin["plugins"]) == ["io.containerd.cri.v1.runtime"]
    assert nvidia["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"] == {"nvidia": {
        "runtime_type": "io.containerd.runc.v2",
        "options": {"BinaryName": "/usr/local/bin/nvidia-container-runtime", "SystemdCgroup": True}}}
    assert gvisor["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"] == {"runsc": {
        "runtime_type": "io.containerd.runsc.v1", "runtime_path": "/usr/local/bin/containerd-shim-runsc-v1",
        "options": {"TypeUrl": "io.containerd.runsc.v1.options",
                    "ConfigPath": "/etc/containerd/runsc/config.toml"}}}
    shim = load_toml(rendered / "gvisor-runsc.toml")
    assert shim["binary_name"] == "/usr/local/bin/runsc"
    assert shim["runsc_config"] == {"debug": "True", "network": "sandbox", "platform": "systrap"}


def test_runtime_classes_validate_against_the_pinned_kubernetes(rendered: Path) -> None:
    minor = ".".join(load_bom().kubernetes_version.lstrip("v").split(".")[:2])
    files = [rendered / "nvidia-runtimeclass.yaml", rendered / "gvisor-runtimeclass.yaml"]
    completed = subprocess.run([str(BIN / "kubernetes-validate"), "--strict", "--kubernetes-version",
                                f"{minor}.0", *map(str, files)], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    nvidia, gvisor = (yaml.safe_load(path.read_text()) for path in files)
    assert (nvidia["metadata"]["name"], nvidia["handler"]) == ("nvidia", "nvidia")
    assert nvidia["scheduling"] == {"nodeSelector": {"nvidia.com/gpu.present": "true"}}
    assert (gvisor["metadata"]["name"], gvisor["handler"]) == ("gvisor", "runsc")
    assert gvisor["overhead"] == {"podFixed": {"memory": "64Mi"}}
    assert "scheduling" not in gvisor


# --- what the roles derive from the host ------------------------------------------------------

PROPRIETARY = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.126.20  Release Build  (builder@host)\n"
OPEN = ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.126.20  Release Build  "
        "(dvs-builder@U22)\n")
CONTAINERD = "containerd github.com/containerd/containerd/v2 2.4.0+unknown \n"


def derived(tmp_path: Path, cases: list[dict]) -> list[dict]:
    names = ["_nvidia_container_toolkit_containerd_version", "_nvidia_container_toolkit_containerd_imports",
             "_nvidia_container_toolkit_imported", "_nvidia_container_toolkit_driver_version",
             "_nvidia_container_toolkit_expected_status"]
    plays = []
    for index, case in enumerate(cases):
        registered = {
            "__nvidia_container_toolkit_containerd_version": {"stdout": case.get("containerd", CONTAINERD)},
            "__nvidia_container_toolkit_containerd_config": {"content": "{{ config | b64encode }}"},
            "__nvidia_container_toolkit_driver": (
                {"content": "{{ driver | b64encode }}"} if case.get("driver") else {"failed": True}),
            "config": case["config"], "driver": case.get("driver", ""),
        }
        plays.append({
            "name": f"case {index}", "hosts": "localhost", "gather_facts": False,
            "vars_files": [str(REPO_ROOT / "bom.yaml"), *role_vars("nvidia_container_toolkit")],
            "vars": registered,
            "tasks": [{"name": "Write the derived values", "ansible.builtin.copy": {
                "content": "{{ {" + ", ".join(f"'{name}': {name}" for name in names) + "} | to_json }}",
                "dest": str(tmp_path / f"case-{index}.json"), "mode": "0644"}}]})
    completed = run_playbook(plays, tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return [yaml.safe_load((tmp_path / f"case-{index}.json").read_text()) for index in range(len(cases))]


def test_the_dropin_must_be_in_a_folder_containerd_imports(tmp_path: Path) -> None:
    conf_d, config_d, nothing, two = derived(tmp_path, [
        {"config": 'version = 3\nimports = ["/etc/containerd/conf.d/*.toml"]\n'},
        # The folder the toolkit once wrote to by mistake: containerd never reads it.
        {"config": "version = 3\nimports = ['/etc/containerd/config.d/*.toml']\n"},
        {"config": "version = 3\n"},
        {"config": 'imports = ["/etc/containerd/other.toml", "/etc/containerd/conf.d/50-*.toml"]\n'},
    ])
    assert conf_d["_nvidia_container_toolkit_imported"] is True
    assert conf_d["_nvidia_container_toolkit_containerd_version"] == "2.4.0"
    assert config_d["_nvidia_container_toolkit_imported"] is False
    assert nothing["_nvidia_container_toolkit_imported"] is False
    assert two["_nvidia_container_toolkit_containerd_imports"] == [
        "/etc/containerd/other.toml", "/etc/containerd/conf.d/50-*.toml"]
    assert two["_nvidia_container_toolkit_imported"] is True


def test_the_cdi_refresh_is_keyed_on_the_driver_version(tmp_path: Path) -> None:
    proprietary, open_modules, none = derived(tmp_path, [
        {"config": "", "driver": PROPRIETARY}, {"config": "", "driver": OPEN}, {"config": ""}])
    for case in (proprietary, open_modules):
        assert case["_nvidia_container_toolkit_driver_version"] == "580.126.20"
        assert case["_nvidia_container_toolkit_expected_status"] == (
            "driver=580.126.20\nspec=/var/run/cdi/nvidia.yaml")
    assert none["_nvidia_container_toolkit_driver_version"] == ""
    assert none["_nvidia_container_toolkit_expected_status"] == "driver=none\nspec=none"


# --- the CDI refresh script -------------------------------------------------------------------

def refresh_script(rendered: Path, root: Path) -> Path:
    """The rendered script with its paths moved under root, and a recording nvidia-ctk on its bin."""
    text = (rendered / "nvidia-nvidia-cdi-refresh.sh").read_text()
    paths = (("spec", "/var/run/cdi/nvidia.yaml"), ("status", "/var/lib/aicluster/nvidia-cdi.status"),
             ("version_file", "/proc/driver/nvidia/version"), ("bin", "/usr/local/bin"))
    for name, path in paths:
        assert f"{name}='{path}'" in text
        text = text.replace(f"{name}='{path}'", f"{name}='{root}{path}'")
    for folder in ("var/run/cdi", "var/lib/aicluster", "proc/driver/nvidia", "usr/local/bin"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    ctk = root / "usr/local/bin/nvidia-ctk"
    # Records its arguments; "cdi generate" writes the --output file as the real command does.
    ctk.write_text('#!/bin/sh\necho "$*" >> "$(dirname "$0")/calls"\n'
                   'for arg in "$@"; do case "$arg" in\n'
                   '  --output=*) echo "cdiVersion: 0.5.0" > "${arg#--output=}";;\n'
                   'esac; done\n')
    ctk.chmod(ctk.stat().st_mode | stat.S_IEXEC)
    script = root / "refresh.sh"
    script.write_text(text)
    script.chmod(0o755)
    return script


def test_refresh_without_a_driver_removes_a_stale_spec_and_records_it(rendered: Path, tmp_path: Path) -> None:
    script = refresh_script(rendered, tmp_path)
    stale = tmp_path / "var/run/cdi/nvidia.yaml"
    stale.write_text("stale")
    completed = subprocess.run([str(script)], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "no CDI spec generated" in completed.stderr
    assert not stale.exists()
    assert (tmp_path / "var/lib/aicluster/nvidia-cdi.status").read_text() == "driver=none\nspec=none\n"
    assert not (tmp_path / "usr/local/bin/calls").exists(), "nvidia-ctk must not run without a driver"


@pytest.mark.parametrize("version_line", [PROPRIETARY, OPEN], ids=["proprietary", "open"])
def test_refresh_with_a_driver_generates_the_spec(rendered: Path, tmp_path: Path, version_line: str) -> None:
    script = refresh_script(rendered, tmp_path)
    (tmp_path / "proc/driver/nvidia/version").write_text(version_line + "GCC version:  gcc 12\n")
    completed = subprocess.run([str(script)], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    spec = tmp_path / "var/run/cdi/nvidia.yaml"
    calls = (tmp_path / "usr/local/bin/calls").read_text().splitlines()
    hook = tmp_path / "usr/local/bin/nvidia-cdi-hook"
    assert calls == ["system create-device-nodes --control-devices --load-kernel-modules",
                     f"cdi generate --output={spec} --nvidia-cdi-hook-path={hook}"]
    assert spec.read_text() == "cdiVersion: 0.5.0\n"
    status = (tmp_path / "var/lib/aicluster/nvidia-cdi.status").read_text()
    assert status == f"driver=580.126.20\nspec={spec}\n"
