"""Find anything of a lab still on the machine (what ``down`` must have removed)."""

from __future__ import annotations

import os
from pathlib import Path

from onelab import network, proc, topology

HOSTINIT_NAME = "hostinit.py"


def find(state_dir: Path | None = None, *, mount_points: list[str] | None = None) -> dict:
    """Everything of a lab still present, by kind; all lists empty means clean.

    ``mount_points`` are the machine directories the lab created (only the caller knows which
    existed before the lab), reported if they still exist.
    """
    state_dir = Path(state_dir or topology.state_dir())
    found = {
        "namespaces": network.lab_namespaces(),
        "links": _lab_links(),
        "processes": _lab_processes(state_dir),
        "mounts": _lab_mounts(state_dir),
        "files": ([str(state_dir)] if state_dir.exists() else [])
        + [str(path) for path in Path("/etc/netns").glob(f"{topology.NETNS_PREFIX}*")],
        "mount_points": [path for path in (mount_points or []) if os.path.lexists(path)],
        "nft_tables": _root_nft_tables(),
    }
    return found


def is_clean(found: dict) -> bool:
    return not any(found.values())


def _lab_links() -> list[str]:
    return ([topology.BRIDGE] if network.bridge_exists() else []) + network.lab_links()


def _lab_processes(state_dir: Path) -> list[str]:
    """Processes (zombies included) whose command line points into the lab."""
    marker = str(state_dir)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        argv = proc.cmdline(int(entry.name))
        text = " ".join(argv)
        if marker in text or HOSTINIT_NAME in text:
            found.append(f"{entry.name} {text}")
            continue
        # A zombie has no command line any more: recognise the lab's launchers by name, if
        # nobody but us or the machine's init would ever reap them (other sessions' children
        # are theirs to reap).
        if (
            not argv
            and proc.proc_state(int(entry.name)) == "Z"
            and _comm(entry) == "unshare"
            and _ppid(entry) in (1, os.getpid())
        ):
            found.append(f"{entry.name} <zombie {_comm(entry)}>")
    return found


def _ppid(entry: Path) -> int:
    try:
        for line in (entry / "status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def _comm(entry: Path) -> str:
    try:
        return (entry / "comm").read_text().strip()
    except OSError:
        return ""


def _lab_mounts(state_dir: Path) -> list[str]:
    marker = str(state_dir)
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        return [line.strip() for line in handle if marker in line]


def _root_nft_tables() -> list[str]:
    done = proc.run(["nft", "list", "tables"], check=False, timeout=10)
    return [
        line.strip()
        for line in done.stdout.splitlines()
        if network.PARTITION_TABLE in line or network.ISOLATE_TABLE in line
    ]
