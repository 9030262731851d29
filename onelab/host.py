"""A lab host: its namespaces, the process that holds them, and running things inside it.

Front-ends get the full treatment (own PID, mount, UTS and IPC namespaces held by
:mod:`onelab.hostinit`, a private file-system view, services booted from ``/etc/rc2.d``); the
Salt master and the client only need their own network namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from onelab import network, proc
from onelab.rootfs import HostTree
from onelab.topology import HostSpec

HOSTINIT = Path(__file__).with_name("hostinit.py")
# Namespaces a process joins to be "inside" a front-end (user and cgroup ones are shared).
ENTER_FLAGS = ("-m", "-u", "-i", "-n", "-p")
# The environment of a root login on a host: nothing leaks in from the caller (no venv PATH).
HOST_ENV = {
    "PATH": proc.SYSTEM_PATH,
    "HOME": "/root",
    "USER": "root",
    "LOGNAME": "root",
    "SHELL": "/bin/bash",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
}
READY_TIMEOUT = 30


class HostError(RuntimeError):
    """A host could not be started or is not in the state an operation needs."""


class Host:
    """One host of the lab, addressed by its :class:`~onelab.topology.HostSpec`."""

    def __init__(self, spec: HostSpec, state_dir: Path):
        self.spec = spec
        self.name = spec.name
        self.base = state_dir / "hosts" / spec.name
        self.tree = HostTree(spec, self.base) if self.is_frontend else None
        self._launcher: subprocess.Popen | None = None
        #: What :meth:`stop_all` stopped, continued by :meth:`continue_all` even if the
        #: namespace listing misses one of them then.
        self._stopped: set[int] = set()

    def __repr__(self) -> str:
        return f"Host({self.name!r})"

    @property
    def is_frontend(self) -> bool:
        return self.spec.role == "frontend"

    # -- the anchor (PID 1 of a front-end) --------------------------------------------------

    @property
    def _anchor_pid_file(self) -> Path:
        return self.base / "anchor.pid"

    @property
    def anchor_pid(self) -> int | None:
        """Machine PID of the host's init process, if it runs."""
        try:
            pid = int(self._anchor_pid_file.read_text())
        except (OSError, ValueError):
            return None
        return pid if proc.is_alive(pid) else None

    def start_anchor(self) -> int:
        """Start the host's init process and wait until its private view is complete."""
        assert self.tree is not None, "only front-ends have an anchor"
        tree = self.tree
        tree.ready_file.unlink(missing_ok=True)
        config = {
            "hostname": self.name,
            "mounts": tree.mounts(),
            "ready_file": str(tree.ready_file),
        }
        tree.init_config.write_text(json.dumps(config, indent=1))
        argv = [
            "ip", "netns", "exec", self.spec.netns,
            "unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "--mount-proc",
            "--propagation", "private",
            sys.executable, "-I", str(HOSTINIT), str(tree.init_config),
        ]  # fmt: skip
        with open(self.base / "anchor.log", "ab") as log:
            # A session of its own: the host outlives the command that booted it (CLI).
            launcher = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env=HOST_ENV,
            )
        try:
            status = proc.wait_until(
                lambda: _read(tree.ready_file) or (launcher.poll() is not None and "exited"),
                timeout=READY_TIMEOUT,
                what=f"{self.name} to build its private view",
            )
        except TimeoutError:
            launcher.kill()
            raise
        if status != "ok":
            raise HostError(f"{self.name}: host init failed: {status}")
        pid = proc.wait_until(
            lambda: proc.children(launcher.pid), timeout=5, what=f"{self.name} init pid"
        )[0]
        self._anchor_pid_file.write_text(f"{pid}\n")
        # Reaped by us (power_off, down) while we live, by the machine's init once we are gone.
        self._launcher = launcher
        return pid

    def enter_argv(self) -> list[str]:
        """Prefix that runs a command inside the host (its namespaces, its file-system view)."""
        if not self.is_frontend:
            return ["ip", "netns", "exec", self.spec.netns]
        pid = self.anchor_pid
        if pid is None:
            raise HostError(f"{self.name} is powered off")
        return ["nsenter", "-t", str(pid), *ENTER_FLAGS, "--"]

    # -- running things ---------------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 60,
        check: bool = True,
        input: str | None = None,
    ) -> subprocess.CompletedProcess:
        """Run ``argv`` as root inside the host with a clean login environment."""
        return proc.run(
            self.enter_argv() + list(argv), timeout=timeout, check=check, input=input, env=HOST_ENV
        )

    def service(
        self, name: str, action: str, *, timeout: float = 90
    ) -> subprocess.CompletedProcess:
        """``service <name> <action>`` inside the host, as an administrator would."""
        return self.run(["service", name, action], timeout=timeout, check=False)

    def boot(self) -> list[str]:
        """Start what ``/etc/rc2.d`` enables, in order, as sysv-rc does; return their names."""
        assert self.tree is not None
        rc2 = self.tree.path("/etc/rc2.d")
        started = []
        for link in sorted(rc2.iterdir()):
            if link.name.startswith("S"):
                self.run([f"/etc/rc2.d/{link.name}", "start"], timeout=120, check=False)
                started.append(link.name[3:])
        return started

    # -- processes ----------------------------------------------------------------------------

    def pids(self) -> list[int]:
        """Every process of the host (machine PIDs), found by its network namespace."""
        return proc.netns_pids(self.spec.netns)

    def find_pids(self, program: str) -> list[int]:
        """Processes of the host running ``program`` (matched on the argv's program names)."""
        return [pid for pid in self.pids() if _runs_program(proc.cmdline(pid), program)]

    def signal_program(self, program: str, signum: int) -> list[int]:
        """Send ``signum`` to every process of the host running ``program``."""
        return proc.send_signal(self.find_pids(program), signum)

    def stop_all(self, *, rounds: int = 10) -> list[int]:
        """SIGSTOP every process of the host (its init too); return the PIDs stopped.

        Listed again until no process of the host is left running: one that was forking
        while the first ones stopped is caught by the next round.
        """
        stopped: list[int] = []
        for _ in range(rounds):
            pending = [pid for pid in self.pids() if proc.proc_state(pid) not in ("T", "t", "Z")]
            if not pending:
                return stopped
            for pid in proc.send_signal(pending, signal.SIGSTOP):
                if pid not in stopped:
                    stopped.append(pid)
                    self._stopped.add(pid)
            # SIGSTOP takes effect asynchronously: wait for the signalled ones to stop.
            with contextlib.suppress(TimeoutError):
                proc.wait_until(
                    lambda signalled=pending: all(
                        proc.proc_state(pid) in ("T", "t", "Z", None) for pid in signalled
                    ),
                    timeout=2,
                    interval=0.01,
                    what="processes to stop",
                )
        raise HostError(f"{self.name}: processes keep appearing while the host is stopped")

    def continue_all(self, *, rounds: int = 10) -> list[int]:
        """SIGCONT every process of the host; return the PIDs signalled.

        Returns once none of them is stopped any more. A SIGCONT can meet a group stop still
        in progress in a many-threaded process (seen under load in CI: one process left in
        ``T`` after the signal), so the stopped ones are signalled again until they run.
        """
        # The host's processes now and every one stop_all stopped: a listing of the
        # namespace taken under load once missed a stopped process, which stayed in T.
        continued = proc.send_signal(sorted(set(self.pids()) | self._stopped), signal.SIGCONT)
        self._stopped.clear()
        for _ in range(rounds):
            try:
                proc.wait_until(
                    lambda: not _stopped(continued), timeout=2, interval=0.01,
                    what="processes to continue",
                )  # fmt: skip
                return continued
            except TimeoutError:
                proc.send_signal(_stopped(continued), signal.SIGCONT)
        raise HostError(f"{self.name}: processes {_stopped(continued)} stay stopped after SIGCONT")

    def power_off(self) -> None:
        """Kill every process of the host at once, as a power cut does."""
        anchor = self.anchor_pid
        if anchor is not None:
            # Killing PID 1 of the host's PID namespace makes the kernel kill all the rest.
            os.kill(anchor, signal.SIGKILL)
        proc.kill_and_wait(self.pids())
        self.reap_launcher()
        self._anchor_pid_file.unlink(missing_ok=True)
        network.drop_extra_addresses(self.spec)

    def reap_launcher(self) -> None:
        """Collect the exit of the ``unshare`` that started the host (if we started it)."""
        launcher = self._launcher
        if launcher is not None and launcher.poll() is None:
            launcher.kill()
        if launcher is not None:
            launcher.wait(timeout=10)
        self._launcher = None

    def rss_bytes(self) -> int:
        return sum(proc.rss_bytes(pid) for pid in self.pids())


def _stopped(pids: list[int]) -> list[int]:
    return [pid for pid in pids if proc.proc_state(pid) in ("T", "t")]


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _runs_program(argv: list[str], program: str) -> bool:
    """True if ``argv`` runs ``program`` directly or as a script given to an interpreter."""
    # e.g. ["python3", "-m", "onesim.entry", "oned", "-f"] or ["python3", ".../salt-minion", …]
    names = [os.path.basename(word) for word in argv[:5] if not word.startswith("-")]
    return program in names
