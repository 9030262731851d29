"""``python -m onesim.entry <command> [args...]``: what the installed wrapper scripts exec.

The wrappers under ``usr/bin`` (see :mod:`onesim.layout`) stay one line long and independent of
where the console scripts of the venv live.
"""

from __future__ import annotations

import importlib
import os
import sys

__all__ = ["COMMANDS", "main"]

#: Command name -> "module:function", as declared in pyproject's console scripts.
COMMANDS = {
    "oned": "onesim.oned.main:main",
    "onezone": "onesim.cli.onezone:main",
    "onedb": "onesim.cli.onedb:main",
    "onesim-zone": "onesim.zone_local:main",
    "onesim-standin": "onesim.standin:main",
}

DAEMONS = ("oned", "onesim-standin")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m onesim.entry {{{','.join(COMMANDS)}}} [args...]", file=sys.stderr)
        return 2
    if argv[0] in DAEMONS:
        # A daemon keeps no descriptor it inherited (e.g. the flock of the vip.sh run that
        # started it through an init script, which would otherwise stay locked for good).
        os.closerange(3, 1 << 16)
    module_name, function_name = COMMANDS[argv[0]].split(":")
    sys.argv = [argv[0], *argv[1:]]
    function = getattr(importlib.import_module(module_name), function_name)
    result = function()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
