"""What an OpenNebula front-end package installs, written below a root directory.

``install(root)`` lays out the system-wide paths (``root/etc/one/oned.conf``,
``root/usr/bin/oned``, ``root/etc/init.d/opennebula`` ...). The lab bind-mounts these trees over
each host's ``/etc/one``, ``/var/lib/one``, ``/etc/init.d``, ``/usr/local/bin`` ..., so every
script refers to the real absolute paths, never to ``root``. Only the wrappers know where the
Python interpreter (with ``onesim`` importable) lives.

Installed files (all relative to ``root``):

* ``usr/bin/{oned,onezone,onedb}`` - wrappers: ``exec <python> -m onesim.entry <cmd> "$@"``
* ``usr/lib/one/{fireedge,oneflow,onegate}/*-server`` - stand-in service daemons
* ``etc/one/oned.conf``, ``etc/one/monitord.conf`` - shipped defaults (kept if present, like
  dpkg conffiles, unless ``overwrite_config``)
* ``var/lib/one/remotes/hooks/raft/vip.sh`` - the Raft VIP hook
* ``usr/share/one/follower_cleanup`` - run by the init script after stopping oned
* ``etc/init.d/opennebula{,-fireedge,-flow,-gate}`` - SysV scripts with LSB headers
* ``var/lib/one/.one/one_auth`` - a random oneadmin password, created only if absent, as the
  package's postinst does (an HA zone must then share one file across its servers)
* empty ``var/log/one``, ``var/lock/one``
"""

from __future__ import annotations

import secrets
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STANDIN_SERVICES", "install"]

FILES_DIR = Path(__file__).resolve().parent / "files"

WRAPPED_COMMANDS = ("oned", "onezone", "onedb")


@dataclass(frozen=True)
class _Standin:
    service: str  # init script name
    daemon: str  # path of the daemon wrapper (absolute, as on a host)
    standin: str  # onesim.standin service key
    log: str
    description: str


STANDIN_SERVICES = (
    _Standin(
        "opennebula-fireedge",
        "/usr/lib/one/fireedge/fireedge-server",
        "fireedge",
        "fireedge.log",
        "OpenNebula FireEdge Server",
    ),
    _Standin(
        "opennebula-flow",
        "/usr/lib/one/oneflow/oneflow-server",
        "flow",
        "oneflow.log",
        "OpenNebula Flow Service",
    ),
    _Standin(
        "opennebula-gate",
        "/usr/lib/one/onegate/onegate-server",
        "gate",
        "onegate.log",
        "OpenNebula Gate Service",
    ),
)


def _wrapper(python: str, command: str, comment: str) -> str:
    return (
        "#!/bin/sh\n"
        f"# {comment} (installed by onesim.layout)\n"
        f'exec {shlex.quote(python)} -m onesim.entry {command} "$@"\n'
    )


def _write(path: Path, text: str, mode: int, written: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    written.append(path)


def install(root: Path, python: str = sys.executable, overwrite_config: bool = False) -> list[Path]:
    """Write the package files below ``root``; return the paths written.

    ``python`` is the interpreter the wrappers exec; it must be able to import ``onesim`` (the
    project venv, where the project is installed in editable mode).
    """
    root = Path(root)
    written: list[Path] = []

    for command in WRAPPED_COMMANDS:
        _write(
            root / "usr/bin" / command,
            _wrapper(python, command, f"OpenNebula {command} (simulated)"),
            0o755,
            written,
        )

    template = (FILES_DIR / "init.d/standin.in").read_text()
    for standin in STANDIN_SERVICES:
        _write(
            root / standin.daemon.lstrip("/"),
            _wrapper(python, f"onesim-standin {standin.standin}", standin.description),
            0o755,
            written,
        )
        script = (
            template.replace("@NAME@", standin.service)
            .replace("@DAEMON@", standin.daemon)
            .replace("@LOG@", standin.log)
            .replace("@DESCRIPTION@", standin.description)
        )
        _write(root / "etc/init.d" / standin.service, script, 0o755, written)

    for source, target, mode in (
        ("init.d/opennebula", "etc/init.d/opennebula", 0o755),
        ("hooks/raft/vip.sh", "var/lib/one/remotes/hooks/raft/vip.sh", 0o755),
        ("share/follower_cleanup", "usr/share/one/follower_cleanup", 0o755),
    ):
        _write(root / target, (FILES_DIR / source).read_text(), mode, written)

    for name in ("oned.conf", "monitord.conf"):
        target = root / "etc/one" / name
        if overwrite_config or not target.exists():
            _write(target, (FILES_DIR / "etc" / name).read_text(), 0o640, written)

    one_auth = root / "var/lib/one/.one/one_auth"
    if not one_auth.exists():
        one_auth.parent.mkdir(parents=True, exist_ok=True)
        one_auth.parent.chmod(0o700)
        _write(one_auth, f"oneadmin:{secrets.token_hex(16)}\n", 0o600, written)

    for directory in ("var/log/one", "var/lock/one", "var/lib/one/remotes/hooks"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    return written
