"""The container image and environment of the roles' Molecule scenarios.

Molecule tests every node role in a Debian 12 container that runs systemd as PID 1. No container
registry is needed: the image is bootstrapped from Debian's archive with debootstrap, imported into
podman and finished with a small `podman build`. It lives in a podman store of aicluster's own under
the per-user cache, tagged with a digest of its recipe, so it is built once per recipe and machine.

`python -m aicluster.molecule_image` builds the image when it is missing and prints its name.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aicluster.errors import AiclusterError
from aicluster.host_packages import ensure_packages
from aicluster.paths import BOM_FILE, REPO_ROOT, cache_dir

IMAGE_REPOSITORY = "localhost/aicluster/debian12-systemd"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
# Host packages the build and Molecule's podman driver need, by the command each provides.
HOST_PACKAGES = {"podman": "podman", "runc": "runc", "debootstrap": "debootstrap"}
# iproute2 gives Ansible the hosts' addresses, as on an installed server; python3-yaml is read by
# the kubeadm scenarios' static-pod stand-in (roles/kubeadm_control_plane/molecule/default).
IMAGE_PACKAGES = ("systemd", "systemd-sysv", "python3", "sudo", "ca-certificates", "iproute2",
                  "python3-yaml")

# crun fails on hosts with hybrid cgroups and no CAP_SYS_RESOURCE; runc with explicit limits works.
# The host need not run systemd, so podman manages cgroups itself and logs events to a file.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""

APT_SOURCES = f"""\
Types: deb
URIs: {MIRROR}
Suites: {SUITE} {SUITE}-updates
Components: main contrib non-free non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: {SECURITY_MIRROR}
Suites: {SUITE}-security
Components: main contrib non-free non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

# Units that cannot work in a container (no consoles, no kernel to tune, a read-only /sys).
MASKED_UNITS = (
    "getty.target", "console-getty.service", "systemd-remount-fs.service",
    "systemd-udevd.service", "systemd-udev-trigger.service", "systemd-modules-load.service",
    "systemd-sysctl.service", "sys-kernel-config.mount", "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount", "systemd-firstboot.service",
)

CONTAINERFILE = f"""\
FROM {{base}}
COPY debian.sources /etc/apt/sources.list.d/debian.sources
RUN rm -f /etc/apt/sources.list \\
 && apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {" ".join(IMAGE_PACKAGES)} \\
 && apt-get clean \\
 && systemctl mask {" ".join(MASKED_UNITS)} \\
 && systemctl set-default multi-user.target
ENV container=podman
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
"""


class MoleculeImageError(AiclusterError):
    """The Molecule image or its tools could not be made ready."""


def store_dir() -> Path:
    """The project's own podman store and configuration, under the per-user cache."""
    return cache_dir() / "containers"


def recipe_digest() -> str:
    """Changes whenever anything that goes into the image changes."""
    recipe = "\n".join([SUITE, MIRROR, "minbase", APT_SOURCES, CONTAINERFILE, CONTAINERS_CONF])
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def image_name() -> str:
    return f"{IMAGE_REPOSITORY}:{recipe_digest()}"


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _configuration() -> tuple[Path, Path]:
    """Writes containers.conf and storage.conf of the project's store; returns their paths."""
    root = store_dir()
    containers_conf = root / "containers.conf"
    storage_conf = root / "storage.conf"
    _write_if_changed(containers_conf, CONTAINERS_CONF)
    _write_if_changed(storage_conf, (
        "[storage]\n"
        'driver = "overlay"\n'
        f'graphroot = "{root / "storage"}"\n'
        f'runroot = "{root / "run"}"\n'
    ))
    return containers_conf, storage_conf


def podman_environment() -> dict[str, str]:
    containers_conf, storage_conf = _configuration()
    return {"CONTAINERS_CONF": str(containers_conf), "CONTAINERS_STORAGE_CONF": str(storage_conf)}


def _run(command: list[str], *, env: dict[str, str] | None = None, stdin: int | None = None,
         cwd: Path | None = None) -> str:
    completed = subprocess.run(command, env={**os.environ, **(env or {})}, stdin=stdin, cwd=cwd,
                               capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).strip().splitlines()[-30:])
        raise MoleculeImageError(f"{' '.join(command[:3])} … failed (exit {completed.returncode}):\n{tail}")
    return completed.stdout


def ensure_host_tools() -> None:
    """apt-installs podman, runc and debootstrap when one is missing (a fresh CI machine)."""
    ensure_packages(HOST_PACKAGES)


@contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time per store: concurrent test runs wait for the first one's image."""
    path = store_dir() / "build.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _image_exists(name: str, env: dict[str, str]) -> bool:
    completed = subprocess.run(["podman", "image", "exists", name], env={**os.environ, **env},
                               capture_output=True, check=False)
    return completed.returncode == 0


def _build(name: str, env: dict[str, str]) -> None:
    digest = recipe_digest()
    base = f"localhost/aicluster/debian12-rootfs:{digest}"
    work = store_dir() / "build"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as temporary:
        rootfs = Path(temporary) / "rootfs"
        started = time.monotonic()
        print(f"bootstrapping Debian {SUITE} (minbase) for {name}", file=sys.stderr, flush=True)
        _run(["debootstrap", "--variant=minbase", SUITE, str(rootfs), MIRROR])
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            _run(["podman", "import", "-", base], env=env, stdin=tar.stdout.fileno() if tar.stdout else None)
        finally:
            if tar.stdout:
                tar.stdout.close()
            tar.wait()
        shutil.rmtree(rootfs)
        context = Path(temporary) / "context"
        context.mkdir()
        (context / "debian.sources").write_text(APT_SOURCES)
        (context / "Containerfile").write_text(CONTAINERFILE.format(base=base))
        _run(["podman", "build", "--pull=never", "-t", name, "-f", "Containerfile", "."],
             env=env, cwd=context)
        print(f"built {name} in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    subprocess.run(["podman", "rmi", base], env={**os.environ, **env}, capture_output=True, check=False)


def _remove_older_images(current: str, env: dict[str, str]) -> None:
    """Images of earlier recipes are never used again."""
    listed = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPOSITORY],
                            env={**os.environ, **env}, capture_output=True, text=True, check=False)
    for image in listed.stdout.split():
        if image != current:
            subprocess.run(["podman", "rmi", image], env={**os.environ, **env}, capture_output=True,
                           check=False)


def ensure_image() -> str:
    """Builds the image when this recipe's is missing; returns its name."""
    ensure_host_tools()
    env = podman_environment()
    name = image_name()
    if _image_exists(name, env):
        return name
    with _build_lock():
        if not _image_exists(name, env):
            _build(name, env)
            _remove_older_images(name, env)
    return name


def molecule_environment(role: str = "") -> dict[str, str]:
    """The environment `molecule` needs, built on the current one; builds the image if needed.

    `role` names the role under test: its instance containers are then named after it, so several
    roles' scenarios can run at the same time in the shared store.
    """
    image = ensure_image()
    binary_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        **podman_environment(),
        "PATH": f"{binary_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "AICLUSTER_MOLECULE_IMAGE": image,
        "AICLUSTER_BOM_FILE": str(BOM_FILE),
        "ANSIBLE_ROLES_PATH": str(REPO_ROOT / "roles"),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO_ROOT / "collections"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PY_COLORS": "0",
        "NO_COLOR": "1",
    }
    if role:
        env["AICLUSTER_MOLECULE_INSTANCE"] = f"molecule-{role}"
    return env


def main() -> None:
    try:
        print(ensure_image())
    except MoleculeImageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
