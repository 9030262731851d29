"""The private file-system view of a front-end host.

A front-end sees the machine's file system except for the paths below, which are its own
(bind mounts, or overlays where the machine's content must stay visible underneath):

* ``/etc`` — a copy of the machine's ``/etc``, trimmed to what a fresh Debian host with MariaDB
  installed has (init scripts, rc links), with a ``oneadmin`` user as the OpenNebula package
  creates it, the lab's names in ``/etc/hosts``, an empty ``/etc/fstab``;
* ``/usr`` and ``/root`` — overlays: packages installed into the host (the simulated OpenNebula
  files) land in ``/usr/bin``, ``/usr/share/one`` … of that host only; ``/root/.ssh`` starts
  empty;
* ``/var/lib/one``, ``/var/log/one``, ``/var/lib/mysql``, ``/var/log/mysql``, ``/run/mysqld``,
  ``/run/lock`` (hence ``/var/lock/one``), ``/run/one``, ``/run/sshd``, ``/tmp``, ``/var/tmp``.

Each host runs its own OpenSSH server (the machine's ``ssh`` init script is kept), with its
own host keys (the machine's are not copied: :mod:`onelab.sshd` generates them when the host
is installed) and its PID file in its private ``/run/sshd`` (the rest of ``/run`` is the
machine's).

Everything lives below ``<state>/hosts/<host>/root`` laid out like the host's own root, so
``onesim.layout.install(<that root>)`` puts each file where the package would.
"""

from __future__ import annotations

import os
import pwd
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from onelab import topology
from onelab.topology import HostSpec

ONEADMIN = "oneadmin"
ONEADMIN_ID = 9869
ONEADMIN_HOME = "/var/lib/one"

# Private bind mounts, in mount order: (host path, mode, owner) of the directory behind it.
# Owners are names resolved against the host's own /etc/passwd copy.
PRIVATE_DIRS: tuple[tuple[str, int, str], ...] = (
    ("/var/lib/one", 0o750, ONEADMIN),
    ("/var/log/one", 0o750, ONEADMIN),
    ("/var/lib/mysql", 0o755, "mysql"),
    ("/var/log/mysql", 0o2750, "mysql"),
    ("/run/mysqld", 0o755, "mysql"),
    ("/run/lock", 0o1777, "root"),
    ("/run/one", 0o755, ONEADMIN),
    ("/run/sshd", 0o755, "root"),
    ("/tmp", 0o1777, "root"),
    ("/var/tmp", 0o1777, "root"),
)
# Overlays: the machine's tree shows through, the host's own files go to the upper layer.
OVERLAYS: tuple[tuple[str, int], ...] = (("/usr", 0o755), ("/root", 0o700))
# Emptied at every boot, as tmpfs-backed /run and /tmp are on a real host.
VOLATILE_DIRS = ("/run/mysqld", "/run/lock", "/run/one", "/run/sshd", "/tmp")
# Directories below the private mounts that the OpenNebula package creates.
PACKAGE_DIRS: tuple[tuple[str, int, str], ...] = (
    ("/etc/one", 0o750, ONEADMIN),
    ("/run/lock/one", 0o755, ONEADMIN),
    ("/var/lib/one/.one", 0o700, ONEADMIN),
    ("/var/lib/one/datastores", 0o750, ONEADMIN),
)
# Init scripts kept from the machine: a host is Debian plus MariaDB and an OpenSSH server (plus
# OpenNebula later).
KEPT_INIT_SCRIPTS = ("mariadb", "ssh")
# sshd's PID file: the machine's /run is shared, the host's /run/sshd is its own.
SSHD_PID_FILE = "/run/sshd/sshd.pid"
SSHD_CONFIG = f"""\
# Written by onelab: /run is shared with the machine, /run/sshd is this host's own.
PidFile {SSHD_PID_FILE}
"""
# Not copied from the machine's /etc: per-namespace overrides of ``ip netns exec``.
SKIPPED_ETC = ("netns",)

# The machine's runlevel is systemctl's, which answers "unknown" without systemd (and Salt's
# service module logs an error at each call); a sysvinit host booted by the lab is in 2.
RUNLEVEL_SCRIPT = """\
#!/bin/sh
# Installed by onelab: this host was booted into runlevel 2 (see /etc/rc2.d).
echo "N 2"
"""

MARIADB_SIZING = """\
# Written by onelab: several small hosts share one machine.
[mysqld]
innodb_buffer_pool_size = 32M
innodb_log_file_size = 16M
performance_schema = OFF
log_error = /var/log/mysql/error.log
"""


def runtime_passthrough() -> list[str]:
    """Machine paths the lab's own programs run from (this checkout, its virtualenv) that a
    private directory would hide, e.g. a CI clone under ``/tmp``: hosts see them again
    through a bind mount, so wrappers and Salt minions find their Python."""
    checkout = Path(__file__).resolve().parent.parent
    candidates = sorted({checkout, Path(sys.prefix).resolve()})
    private = [Path(target) for target, _mode, _owner in PRIVATE_DIRS]
    hidden = [path for path in candidates if any(p == path or p in path.parents for p in private)]
    # A path inside another passed-through path is already visible.
    return [str(path) for path in hidden if not any(other in path.parents for other in hidden)]


def machine_mount_points() -> list[str]:
    """Host paths that must exist on the machine to be mounted over."""
    return [path for path, _mode, _owner in PRIVATE_DIRS]


@dataclass(frozen=True)
class HostTree:
    """The directory tree behind one front-end's private view."""

    spec: HostSpec
    base: Path

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def work(self) -> Path:
        return self.base / "work"

    @property
    def init_config(self) -> Path:
        return self.base / "init.json"

    @property
    def ready_file(self) -> Path:
        return self.base / "ready"

    def path(self, host_path: str) -> Path:
        """Where ``host_path`` (as the host sees it) lives on the machine, if private."""
        return self.root / host_path.lstrip("/")

    def mounts(self) -> list[dict]:
        """The mount list handed to :mod:`onelab.hostinit`."""
        # Passed-through paths are first bound to a stash outside the private dirs: once the
        # private /tmp is mounted, their original path would name the empty private copy.
        passthrough = [
            (path, str(self.base / "passthrough" / str(index)))
            for index, path in enumerate(runtime_passthrough())
        ]
        specs: list[dict] = [
            {"kind": "bind", "source": path, "target": stash, "create": True}
            for path, stash in passthrough
        ]
        specs.append({"kind": "bind", "source": str(self.path("/etc")), "target": "/etc"})
        for target, _mode in OVERLAYS:
            specs.append(
                {
                    "kind": "overlay",
                    "lower": target,
                    "upper": str(self.path(target)),
                    "work": str(self.work / target.lstrip("/")),
                    "target": target,
                }
            )
        for target, _mode, _owner in PRIVATE_DIRS:
            specs.append({"kind": "bind", "source": str(self.path(target)), "target": target})
        for path, stash in passthrough:
            specs.append({"kind": "bind", "source": stash, "target": path, "create": True})
        return specs

    # -- building ---------------------------------------------------------------------------

    def create(self, *, warmup_ms: int | None = None) -> None:
        """Build the tree of a freshly installed host (before its first boot)."""
        self.base.mkdir(parents=True, exist_ok=True)
        self._copy_etc()
        self._configure_etc(warmup_ms)
        ids = _Ids(self.path("/etc"))
        for target, mode in OVERLAYS:
            upper = self.path(target)
            upper.mkdir(parents=True, exist_ok=True)
            upper.chmod(mode)
            (self.work / target.lstrip("/")).mkdir(parents=True, exist_ok=True)
        # The machine's /root/.ssh must not show through: an opaque dir hides the lower one.
        ssh_dir = self.path("/root/.ssh")
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        os.setxattr(ssh_dir, "trusted.overlay.opaque", b"y")
        for target, mode, owner in PRIVATE_DIRS + PACKAGE_DIRS:
            directory = self.path(target)
            directory.mkdir(parents=True, exist_ok=True)
            os.chown(directory, ids.uid(owner), ids.gid(owner))
            directory.chmod(mode)
        runlevel = self.path("/usr/sbin/runlevel")
        runlevel.parent.mkdir(parents=True, exist_ok=True)
        runlevel.write_text(RUNLEVEL_SCRIPT)
        runlevel.chmod(0o755)

    def _copy_etc(self) -> None:
        etc = self.path("/etc")
        if etc.exists():
            shutil.rmtree(etc)
        shutil.copytree(
            "/etc",
            etc,
            symlinks=True,
            ignore=lambda directory, names: SKIPPED_ETC if directory == "/etc" else (),
        )

    def _configure_etc(self, warmup_ms: int | None) -> None:
        etc = self.path("/etc")
        (etc / "hostname").write_text(f"{self.spec.name}\n")
        (etc / "machine-id").write_text(f"{uuid.uuid4().hex}\n")
        hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        (etc / "hosts").write_text("\n".join(hosts + topology.hosts_file_lines()) + "\n")
        # No DNS in the lab: names come from /etc/hosts only.
        (etc / "resolv.conf").unlink(missing_ok=True)
        (etc / "resolv.conf").write_text("# onelab: no name server, see /etc/hosts\n")
        (etc / "fstab").write_text("# /etc/fstab: static file system information.\n")
        _add_oneadmin(etc)
        _reset_init_scripts(etc)
        _configure_sshd(etc)
        (etc / "mysql" / "mariadb.conf.d" / "90-onelab-sizing.cnf").write_text(MARIADB_SIZING)
        if warmup_ms is not None:
            (etc / "default" / "opennebula").write_text(f"ONESIM_WARMUP_MS={int(warmup_ms)}\n")

    def clear_volatile(self) -> None:
        """Empty the directories a reboot empties (stale PID files, sockets, locks)."""
        for target in VOLATILE_DIRS:
            directory = self.path(target)
            for entry in directory.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        ids = _Ids(self.path("/etc"))
        for target, mode, owner in PACKAGE_DIRS:
            directory = self.path(target)
            if not directory.exists():
                directory.mkdir(parents=True)
                os.chown(directory, ids.uid(owner), ids.gid(owner))
                directory.chmod(mode)

    def chown_package_files(self) -> None:
        """Give oneadmin what the OpenNebula package gives it (after files were installed)."""
        ids = _Ids(self.path("/etc"))
        uid, gid = ids.uid(ONEADMIN), ids.gid(ONEADMIN)
        for target in ("/etc/one", "/var/lib/one", "/var/log/one", "/run/lock/one", "/run/one"):
            top = self.path(target)
            for directory, subdirs, files in os.walk(top):
                os.chown(directory, uid, gid)
                for name in subdirs + files:
                    os.chown(os.path.join(directory, name), uid, gid, follow_symlinks=False)


class _Ids:
    """User and group IDs as the host's own /etc/passwd and /etc/group define them."""

    def __init__(self, etc: Path):
        self._users = _read_ids(etc / "passwd", 2, 3)
        self._groups = {name: gid for name, (gid, _x) in _read_ids(etc / "group", 2, 2).items()}

    def uid(self, user: str) -> int:
        return self._users[user][0]

    def gid(self, user: str) -> int:
        return self._users[user][1]


def _read_ids(path: Path, first: int, second: int) -> dict[str, tuple[int, int]]:
    found = {}
    for line in path.read_text().splitlines():
        fields = line.split(":")
        if len(fields) > max(first, second) and fields[first].isdigit():
            found[fields[0]] = (int(fields[first]), int(fields[second]))
    return found


def _add_oneadmin(etc: Path) -> None:
    """Create oneadmin the way the OpenNebula package does (fixed uid/gid 9869)."""
    try:
        pwd.getpwuid(ONEADMIN_ID)
    except KeyError:
        pass
    else:  # the machine itself uses 9869: the copies would clash
        raise RuntimeError(f"uid {ONEADMIN_ID} is taken on this machine")
    days = int(time.time() // 86400)
    entries = {
        "passwd": f"{ONEADMIN}:x:{ONEADMIN_ID}:{ONEADMIN_ID}::{ONEADMIN_HOME}:/bin/bash",
        "group": f"{ONEADMIN}:x:{ONEADMIN_ID}:",
        "shadow": f"{ONEADMIN}:!:{days}::::::",
        "gshadow": f"{ONEADMIN}:!::",
    }
    for name, line in entries.items():
        path = etc / name
        text = path.read_text() if path.exists() else ""
        if not any(row.split(":")[0] == ONEADMIN for row in text.splitlines()):
            path.write_text(text + ("" if text.endswith("\n") or not text else "\n") + line + "\n")


def _reset_init_scripts(etc: Path) -> None:
    """Keep only MariaDB's init script and no rc links (the lab enables it at install)."""
    init_d = etc / "init.d"
    for script in init_d.iterdir():
        if script.name not in KEPT_INIT_SCRIPTS:
            script.unlink()
    for rc_dir in etc.glob("rc?.d"):
        for link in rc_dir.iterdir():
            if link.name[:1] in ("S", "K"):
                link.unlink()


def _configure_sshd(etc: Path) -> None:
    """A freshly installed OpenSSH server: no host keys yet (the machine's copies go, each
    host generates its own), its PID file in the host's private /run/sshd."""
    ssh = etc / "ssh"
    if not ssh.is_dir():
        return
    for key in ssh.glob("ssh_host_*"):
        key.unlink()
    drop_in = ssh / "sshd_config.d"
    drop_in.mkdir(exist_ok=True)
    (drop_in / "onelab.conf").write_text(SSHD_CONFIG)
    script = etc / "init.d" / "ssh"
    if script.exists():
        script.write_text(script.read_text().replace("/run/sshd.pid", SSHD_PID_FILE))
