"""Prints the folder of the wheels of the test tools pinned in the bill of materials (the AWS CLI and
moto's server), downloading them into the per-user cache on the first run. The controller fetches
them (pip checks each file against the index's sha256) and the test host installs them offline:
the host needs no route to PyPI, nor the controller's certificate authorities."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from aicluster.bom import load_bom
from aicluster.paths import cache_dir


def main() -> None:
    tools = load_bom().raw["test_tools"]
    requirements = [f"awscli=={tools['awscli']}", f"moto[server]=={tools['moto']}"]
    key = hashlib.sha256("\n".join([sys.version.split()[0], *requirements]).encode()).hexdigest()[:12]
    folder = cache_dir() / "wheels" / key
    complete = folder / ".complete"
    if not complete.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
                        "--dest", str(folder), *requirements], check=True, stdout=sys.stderr)
        complete.write_text("\n".join(requirements) + "\n")
    print(folder)


if __name__ == "__main__":
    main()
