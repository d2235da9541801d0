"""Prints, as JSON, the folder of each named binary set of the bill of materials, fetched or built
from its pinned Go module into the per-user cache when it is not there yet (a warm cache answers
at once). Sets marked `cgo: true` are built with cgo, which the builder otherwise turns off."""

from __future__ import annotations

import json
import sys

from aicluster import binaries
from aicluster.bom import load_bom
from aicluster.paths import cache_dir


def main(names: list[str]) -> None:
    bom = load_bom()
    log = cache_dir() / "logs" / "molecule-binaries.log"
    folders = {}
    for name in names:
        folder = binaries.ensure_binary_set(
            bom.binaries[name], lambda message: print(message, file=sys.stderr), log)
        folders[name] = str(folder)
    print(json.dumps(folders))


if __name__ == "__main__":
    main(sys.argv[1:])
