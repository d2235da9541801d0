"""Loads a filter plugin of the repository's aicluster.platform collection by file path."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from aicluster.paths import REPO_ROOT

PLUGINS = REPO_ROOT / "collections" / "ansible_collections" / "aicluster" / "platform" / "plugins"


def load_filter(module: str, name: str) -> Callable[..., Any]:
    spec = importlib.util.spec_from_file_location(f"aicluster_filter_{module}",
                                                  PLUGINS / "filter" / f"{module}.py")
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded.FilterModule().filters()[name]
