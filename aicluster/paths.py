"""Where aicluster keeps its source data, its cache and each cluster's state."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DATA = Path(__file__).resolve().parent / "data"
BOM_FILE = REPO_ROOT / "bom.yaml"
PLAYBOOKS_DIR = REPO_ROOT / "playbooks"
TERRAFORM_DIR = REPO_ROOT / "terraform"
INVENTORIES_DIR = REPO_ROOT / "inventories"
DEFAULT_SPEC = INVENTORIES_DIR / "local-small.yaml"


def cache_dir() -> Path:
    """Per-user cache of downloaded and built binaries, shared by every clone."""
    explicit = os.environ.get("AICLUSTER_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aicluster"


def state_root() -> Path:
    """Root of every cluster's work directory."""
    explicit = os.environ.get("AICLUSTER_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "aicluster"


def cluster_dir(cluster_name: str) -> Path:
    """The work directory of one cluster: Terraform state, inventory, logs, kubeconfig."""
    return state_root() / "clusters" / cluster_name
