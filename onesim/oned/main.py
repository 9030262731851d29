"""``oned`` command line: ``oned [-f] [-v] [-h]``.

Without ``-f`` the daemon detaches (fork + setsid) and the command returns at once, as the real
``oned`` does; the init script and the tests run ``oned -f`` in the background themselves.
"""

from __future__ import annotations

import argparse
import os
import sys

from onesim import schema
from onesim.oned.daemon import Oned
from onesim.paths import Paths

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oned", description="OpenNebula daemon (simulated)")
    parser.add_argument("-f", "--foreground", action="store_true", help="run in the foreground")
    parser.add_argument("-v", "--version", action="store_true", help="print version and exit")
    return parser


def _detach() -> bool:
    """Fork into the background; True in the child, which goes on to run oned."""
    if os.fork() > 0:
        return False
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    return True


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.version:
        print(f"OpenNebula {schema.SHARED_VERSION}")
        print("Copyright 2002-2025, OpenNebula Project, OpenNebula Systems (simulated by onesim)")
        return 0
    if not args.foreground and not _detach():
        return 0
    return Oned(Paths.from_env()).run()


if __name__ == "__main__":
    sys.exit(main())
