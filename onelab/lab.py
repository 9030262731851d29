"""The lab: 3 or 5 OpenNebula front-end hosts, a Salt master and a client on one machine.

>>> lab = Lab(3, salt=PlainSalt())  # plain Salt daemons (what the CLI uses)
>>> lab.up()                    # network, hosts with MariaDB, master, accepted minions
>>> lab.exec("vmm01", ["hostname"]).stdout
'vmm01\\n'
>>> lab.partition("vmm02", "peers"); lab.heal()
>>> lab.power_cycle("vmm03")
>>> lab.down()                  # nothing of it is left on the machine

The caller chooses the Salt backend (:class:`onelab.salt_backend.SaltBackend`): the CLI, the
demo and the benchmark pass :class:`onelab.salt_plain.PlainSalt`, tests pass a
:class:`onelab.salt_factories.FactoriesSalt` to get pytest-salt-factories daemons (see
``tests/e2e/conftest.py``). This module imports neither.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from onelab import mariadb, network, proc, rootfs, saltconfig, sshd, topology
from onelab.host import Host, HostError
from onelab.salt_backend import SaltBackend
from onelab.state import LabBusy, LabLock, read_json, write_json

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_FILE = "lab.json"
# Paths the lab created outside its state directory (mount points, /etc/netns files).
CREATED_FILE = "created.json"
SERVICE_PROGRAMS = {"mariadb": "mariadbd", "opennebula": "oned", "salt-minion": "salt-minion"}

__all__ = ["Lab", "LabBusy", "LabError"]


class LabError(RuntimeError):
    """An operation does not apply to the lab as it is (unknown host, host powered off …)."""


class Lab:
    """A lab on this machine; see the module documentation."""

    def __init__(
        self,
        size: int = 3,
        *,
        salt: SaltBackend,
        warmup_ms: int | None = None,
        state_dir: Path | None = None,
        repo_root: Path = REPO_ROOT,
    ):
        self.size = size
        self.warmup_ms = warmup_ms
        self.state_dir = Path(state_dir or topology.state_dir())
        self.repo_root = repo_root
        self.frontends = [Host(spec, self.state_dir) for spec in topology.frontends(size)]
        self.master = Host(topology.MASTER_HOST, self.state_dir)
        self.client = Host(topology.CLIENT_HOST, self.state_dir)
        self.salt = salt
        self.salt.attach(self)
        self._lock = LabLock(self.state_dir)
        #: When :meth:`up` had the machine to itself (monotonic; lock wait excluded).
        self.locked_at: float | None = None

    # -- layout -------------------------------------------------------------------------------

    @property
    def hosts(self) -> list[Host]:
        return [*self.frontends, self.master, self.client]

    @property
    def state_tree(self) -> Path:
        """What the master serves as ``salt://``: the repository's Salt trees (symlinks)."""
        return self.state_dir / "formula"

    @property
    def pillar_dir(self) -> Path:
        """A pillar root of the master that tests and the demo fill."""
        return self.state_dir / "pillar"

    @property
    def shared_dir(self) -> Path:
        """The "shared file system" every front-end sees (same path inside each host).

        The formula bind-mounts it on ``/var/lib/one/datastores`` (``mount.mounted`` with
        ``fstype: none``, ``opts: bind``); such mounts live in the host's mount namespace and
        vanish with the host.
        """
        return self.state_dir / "shared"

    def host(self, name: str) -> Host:
        for candidate in self.hosts:
            if candidate.name == name:
                return candidate
        raise LabError(
            f"{name!r} is not a host of this lab ({', '.join(h.name for h in self.hosts)})"
        )

    def frontend(self, name: str) -> Host:
        host = self.host(name)
        if not host.is_frontend:
            raise LabError(f"{name} is not a front-end")
        return host

    def _start_lock_keeper(self) -> None:
        """Keep a CLI lab locked after ``onelab up`` returns, until ``down`` kills the keeper.

        A process of the client host (never power-cycled or restarted) inherits the locked
        file. A test session's lab is not kept this way: it must be freed if the session dies.
        """
        assert self._lock.fd is not None
        subprocess.Popen(
            ["ip", "netns", "exec", self.client.spec.netns, "sleep", "infinity"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=(self._lock.fd,),
        )

    # -- up / down ----------------------------------------------------------------------------

    @classmethod
    def attach(cls, salt: SaltBackend, state_dir: Path | None = None) -> Lab:
        """The lab already up on this machine (for CLI commands after ``onelab up``)."""
        directory = Path(state_dir or topology.state_dir())
        saved = read_json(directory / STATE_FILE)
        if not saved:
            raise LabError(f"no lab is up (no {directory / STATE_FILE})")
        return cls(saved["size"], salt=salt, state_dir=directory, warmup_ms=saved.get("warmup_ms"))

    def up(self, *, wait: float = 0) -> dict[str, float]:
        """Bring the whole lab up; return the time each phase took (seconds).

        Waits up to ``wait`` seconds for another lab to go away, then raises
        :class:`LabBusy`. Whatever a crashed earlier run left is cleaned first. On any failure
        the lab is torn down again before the error propagates.
        """
        waiting = time.monotonic()
        self._lock.acquire(wait=wait, mode=self.salt.mode)
        started = self.locked_at = time.monotonic()
        # "total" counts from the moment this lab had the machine to itself.
        timings: dict[str, float] = {"lock_wait": started - waiting}
        try:
            self._remove_leftovers()
            self._prepare_state_dir()
            mark = time.monotonic()
            self._create_network()
            if self.salt.mode == "plain":
                self._start_lock_keeper()
            timings["network"] = time.monotonic() - mark
            mark = time.monotonic()
            self._parallel(self._install_and_boot, self.frontends)
            timings["hosts"] = time.monotonic() - mark
            mark = time.monotonic()
            self.salt.start_master()
            timings["master"] = time.monotonic() - mark
            mark = time.monotonic()
            self.salt.start_minions(self.frontends)
            timings["minions"] = time.monotonic() - mark
            self._save_state()
        except BaseException:
            log.exception("lab up failed; tearing down")
            self.down()
            raise
        timings["total"] = time.monotonic() - started
        return timings

    def down(self, *, force: bool = False) -> None:
        """Remove everything the lab created: processes, namespaces, bridge, mounts, files.

        ``force`` tears down even a lab whose lock another live process (a test session)
        still holds.
        """
        if not self._lock.held and not self._lock.try_acquire():
            owner = self._lock.owner().get("pid")
            if not force and isinstance(owner, int) and proc.is_alive(owner):
                # A live session (a test module, the demo, a chaos run) owns the lab: a
                # caller that never got the lock (an up() that gave up waiting) must not
                # kill the processes of that session's lab.
                raise LabBusy(self._lock.busy_message())
            # A CLI lab (its `up` has returned): its keeper holds the lock; it goes first.
            self._kill_lab_processes()
            try:
                proc.wait_until(self._lock.try_acquire, timeout=15, what="the lab lock")
            except TimeoutError:
                if not force:
                    raise LabBusy(self._lock.busy_message()) from None
        with contextlib.suppress(Exception):
            self.salt.stop_all()
        self._remove_leftovers()
        self._lock.release(remove=True)
        with contextlib.suppress(OSError):
            self.state_dir.rmdir()

    def _prepare_state_dir(self) -> None:
        for directory in (self.pillar_dir, self.shared_dir, self.state_dir / "hosts"):
            directory.mkdir(parents=True, exist_ok=True)
        saltconfig.build_state_tree(self.repo_root, self.state_tree)
        created: list[str] = []
        for path in rootfs.machine_mount_points():
            _make_dir(Path(path), created)
        # ``ip netns exec`` shows /etc/netns/<ns>/hosts as /etc/hosts: the master and the
        # client resolve the lab's names too (front-ends have their own /etc/hosts).
        hosts_text = "127.0.0.1\tlocalhost\n" + "\n".join(topology.hosts_file_lines()) + "\n"
        for host in (self.master, self.client):
            directory = Path("/etc/netns") / host.spec.netns
            _make_dir(directory, created)
            (directory / "hosts").write_text(hosts_text)
            created.append(str(directory / "hosts"))
        write_json(self.state_dir / CREATED_FILE, {"created": created})

    def _create_network(self) -> None:
        network.create_bridge()
        for host in self.hosts:
            network.create_host_network(host.spec)

    def _install_and_boot(self, host: Host) -> None:
        tree = host.tree
        assert tree is not None
        tree.create(warmup_ms=self.warmup_ms)
        install_opennebula(tree.root)
        tree.chown_package_files()
        host.start_anchor()
        mariadb.install(host)
        sshd.install(host)
        host.boot()

    def _save_state(self) -> None:
        write_json(
            self.state_dir / STATE_FILE,
            {
                "size": self.size,
                "mode": self.salt.mode,
                "warmup_ms": self.warmup_ms,
                "frontends": [host.name for host in self.frontends],
                "shared_dir": str(self.shared_dir),
                "pillar_dir": str(self.pillar_dir),
                "up_since": time.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )

    def _kill_lab_processes(self) -> None:
        """SIGKILL every process in a lab namespace (host init processes first)."""
        namespaces = network.lab_namespaces()
        for name in namespaces:
            spec = topology.BY_NAME.get(name.removeprefix(topology.NETNS_PREFIX))
            if spec is not None and spec.role == "frontend":
                anchor = Host(spec, self.state_dir).anchor_pid
                if anchor is not None:
                    proc.send_signal([anchor], signal.SIGKILL)
        pids = [pid for name in namespaces for pid in proc.netns_pids(name)]
        proc.kill_and_wait(pids, timeout=20)
        for host in self.frontends:
            host.reap_launcher()

    def _remove_leftovers(self) -> None:
        """Clean by the fixed names and the state directory; safe on a clean machine."""
        self._kill_lab_processes()
        for name in network.lab_namespaces():
            network.delete_namespace(name)
        network.delete_stale_links()
        network.delete_bridge()
        created = read_json(self.state_dir / CREATED_FILE).get("created", [])
        for path in reversed(created):
            with contextlib.suppress(OSError):
                if os.path.isdir(path) and not os.path.islink(path):
                    if not os.path.ismount(path):
                        os.rmdir(path)  # only if still empty
                else:
                    os.unlink(path)
        if self.state_dir.exists():
            for entry in self.state_dir.iterdir():
                if entry.name in ("lock", "owner.json"):
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()

    @staticmethod
    def _parallel(function, hosts: Sequence[Host]) -> None:
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            for future in [pool.submit(function, host) for host in hosts]:
                future.result()

    # -- running things -----------------------------------------------------------------------

    def exec(
        self, name: str, argv: Sequence[str], *, timeout: float = 60, check: bool = False
    ) -> subprocess.CompletedProcess:
        """Run ``argv`` as root inside host ``name``; output is captured as text."""
        return self.host(name).run(argv, timeout=timeout, check=check)

    def service(self, name: str, service: str, action: str) -> subprocess.CompletedProcess:
        """``service <service> <action>`` inside front-end ``name``."""
        return self._powered(name).service(service, action)

    # -- faults -------------------------------------------------------------------------------

    def kill_oned(self, name: str) -> list[int]:
        """SIGKILL the front-end's oned (a crash); return the PIDs killed."""
        return self._signal_oned(name, signal.SIGKILL)

    def freeze(self, name: str) -> list[int]:
        """SIGSTOP the front-end's oned (a hung process that keeps its sockets)."""
        return self._signal_oned(name, signal.SIGSTOP)

    def thaw(self, name: str) -> list[int]:
        """SIGCONT the front-end's oned."""
        return self._signal_oned(name, signal.SIGCONT)

    def freeze_host(self, name: str) -> list[int]:
        """Pause front-end ``name`` as a hypervisor pauses a VM; return the PIDs stopped.

        Its link goes down (the bridge port: nothing reaches the host or leaves it, ARP for
        its addresses included), then every process of the host is SIGSTOPped, its init
        too. Addresses stay configured on ``eth0``, as in a paused VM. :meth:`thaw_host`
        brings both back together.
        """
        host = self._powered(name)
        network.set_link(host.spec, up=False)
        try:
            return host.stop_all()
        except BaseException:
            self.thaw_host(name)
            raise

    def thaw_host(self, name: str) -> list[int]:
        """Resume a front-end paused by :meth:`freeze_host`; return the PIDs continued.

        The link comes up first and the processes are continued right after it (a few
        milliseconds): like a resumed VM, the host may answer ARP before its programs have
        run again, the worst case for anything that must drop an address on wake-up.
        """
        host = self._powered(name)
        network.set_link(host.spec, up=True)
        return host.continue_all()

    def frozen(self, name: str) -> bool:
        """Whether front-end ``name`` is paused (link down and its init stopped)."""
        host = self.frontend(name)
        anchor = host.anchor_pid
        return (
            anchor is not None
            and not network.link_up(host.spec)
            and proc.proc_state(anchor) in ("T", "t")
        )

    def _signal_oned(self, name: str, signum: int) -> list[int]:
        hit = self._powered(name).signal_program("oned", signum)
        if not hit:
            raise LabError(f"no oned runs on {name}")
        return hit

    def partition(self, name: str, scope: str = "peers") -> None:
        """Cut host ``name`` off from its ``peers``, the ``master`` or ``all`` (both ways)."""
        network.partition(self.host(name).spec, scope, [h.spec for h in self.frontends])

    def heal(self, name: str | None = None) -> None:
        """Remove the partitions of host ``name`` (of every host without a name)."""
        for host in [self.host(name)] if name else self.hosts:
            network.heal(host.spec)

    def master_stop(self) -> None:
        self.salt.stop_master()

    def master_start(self) -> None:
        self.salt.start_master()

    def power_cycle(self, name: str, *, minion: bool = True) -> None:
        """Cut the power of front-end ``name`` (every process dies at once), then boot it.

        Boot empties ``/run`` and ``/tmp``, starts the services enabled in ``/etc/rc2.d``
        (MariaDB, and whatever the formula enabled) and, with ``minion``, the Salt minion.
        The VIP does not survive; partitions (the network's state) do.
        """
        host = self.frontend(name)
        if minion and not self.salt.starts_minions_without_master:
            # Starting the minion waits for it to report to the master: it must be reachable.
            if self._cut_from_master(host):
                raise LabError(f"{name} is cut off from the master: heal it, or use minion=False")
            if not self.salt.master_running():
                raise LabError("the master is down: start it, or use minion=False")
        host.power_off()
        self.boot(name, minion=minion)

    def _master_reachable(self, host: Host) -> bool:
        return self.salt.master_running() and not self._cut_from_master(host)

    def _cut_from_master(self, host: Host) -> bool:
        summary = network.partition_summary(host.spec)
        return summary == "all" or topology.MASTER_HOST.ip in summary.split(",")

    def power_off(self, name: str) -> None:
        """Cut the power of front-end ``name`` and leave it off."""
        self.frontend(name).power_off()

    def boot(self, name: str, *, minion: bool = True) -> None:
        """Boot a powered-off front-end."""
        host = self.frontend(name)
        if host.anchor_pid is not None:
            raise LabError(f"{name} is already running")
        assert host.tree is not None
        host.tree.clear_volatile()
        # A host paused before its power cut boots with its cable plugged in again.
        network.set_link(host.spec, up=True)
        host.start_anchor()
        host.boot()
        if minion:
            # Unreachable master: the minion starts anyway and connects when it can.
            self.salt.start_minions([host], wait=self._master_reachable(host))

    def start_client_minion(self) -> None:
        """Start a Salt minion on the client host: a minion of the master that is no
        front-end, as a hypervisor or any other server of a real estate is (its id is
        ``client``). The lab does not start it by itself."""
        self.salt.start_minions([self.client])

    def _powered(self, name: str) -> Host:
        host = self.frontend(name)
        if host.anchor_pid is None:
            raise LabError(f"{name} is powered off")
        return host

    # -- observation ----------------------------------------------------------------------------

    def vip_holders(self) -> list[str]:
        """Front-ends that carry the VIP on eth0 (more than one means split brain)."""
        return [host.name for host in self.frontends if network.holds_vip(host.spec)]

    def running(self, name: str, service: str) -> bool:
        """Whether ``service`` (``mariadb``, ``opennebula`` or ``salt-minion``) has a process."""
        return bool(self.host(name).find_pids(SERVICE_PROGRAMS.get(service, service)))

    def rss_bytes(self) -> int:
        """Total resident memory of every process of the lab."""
        return sum(host.rss_bytes() for host in self.hosts)

    def status(self) -> dict:
        """A snapshot of the lab for ``onelab status`` (JSON-friendly)."""
        frontends = {}
        for host in self.frontends:
            powered = host.anchor_pid is not None
            frontends[host.name] = {
                "ip": host.spec.ip,
                "powered": powered,
                "services": {
                    svc: powered and self.running(host.name, svc) for svc in SERVICE_PROGRAMS
                },
                "vip": network.holds_vip(host.spec),
                "link": "up" if network.link_up(host.spec) else "down",
                "frozen": powered and self.frozen(host.name),
                "partition": network.partition_summary(host.spec),
            }
        return {
            "state_dir": str(self.state_dir),
            "size": self.size,
            "mode": read_json(self.state_dir / STATE_FILE).get("mode", self.salt.mode),
            "master": {
                "ip": self.master.spec.ip,
                "running": bool(self.master.find_pids("salt-master")),
                "partition": network.partition_summary(self.master.spec),
            },
            "client": {"ip": self.client.spec.ip},
            "frontends": frontends,
            "vip": topology.VIP,
            "vip_holders": self.vip_holders(),
            "shared_dir": str(self.shared_dir),
            "rss_mb": round(self.rss_bytes() / 2**20),
        }


def _make_dir(path: Path, created: list[str]) -> None:
    """``mkdir -p`` that records (in creation order) each directory it had to create."""
    if os.path.lexists(path):
        return
    _make_dir(path.parent, created)
    path.mkdir()
    created.append(str(path))


def missing_prerequisites() -> str | None:
    """Why the lab cannot run on this machine (None if it can)."""
    if os.geteuid() != 0:
        return "the lab needs root (namespaces, mounts, bridges)"
    tools = ("ip", "nsenter", "unshare", "nft", "mariadbd", "sshd", "arping", "ping", "insserv")
    missing = [tool for tool in tools if not shutil.which(tool)]
    if missing:
        return f"missing tools for the lab: {', '.join(missing)} (run make setup)"
    return None


def install_opennebula(root: Path) -> bool:
    """Install the simulated OpenNebula package files below a host's tree, if onesim has them."""
    try:
        from onesim import layout
    except ImportError:
        log.warning("onesim.layout is not available: hosts get no OpenNebula files")
        return False
    layout.install(root, python=sys.executable)
    return True


__all__ += ["HostError", "install_opennebula", "missing_prerequisites"]
