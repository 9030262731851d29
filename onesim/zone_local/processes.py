"""Starting, signalling and reaping the oned processes of a loopback zone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from onesim.zone_local.servers import ZoneServer, wait


class Processes:
    """The oned processes started from this object, by server id.

    A zone re-attached from its state file (another process started it) has none: it signals
    the recorded pids only.
    """

    def __init__(self) -> None:
        self._children: dict[int, subprocess.Popen] = {}

    def start(
        self,
        server: ZoneServer,
        env: dict[str, str],
        timeout: float,
        on_spawn: Callable[[], None] = lambda: None,
    ) -> None:
        """Start oned on ``server`` (removing a stale lock, like pre_cleanup) until it answers.

        oned creates its lock file once its API port is bound; ``on_spawn`` runs as soon as
        ``server.pid`` is set.
        """
        if running(server):
            return
        server.lock_path.unlink(missing_ok=True)
        with open(Path(server.location) / "var" / "oned.stdout", "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "onesim.entry", "oned", "-f"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._children[server.id] = process
        server.pid = process.pid
        on_spawn()
        wait(
            lambda: process.poll() is None and server.lock_path.exists(),
            time.monotonic() + timeout,
            f"{server.name} to start",
            fail_fast=lambda: process.poll() is not None,
        )

    def signal(self, server: ZoneServer, signum: int) -> None:
        if running(server):
            os.kill(server.pid, signum)

    def signal_and_wait(self, server: ZoneServer, signum: int, timeout: float) -> None:
        """Send ``signum`` and wait for the exit; SIGKILL after ``timeout``. Clears the pid."""
        pid = server.pid
        if not pid or not alive(pid):
            server.pid = None
            return
        os.kill(pid, signal.SIGCONT)  # a frozen process must run to exit
        os.kill(pid, signum)
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            self._reap(server.id)
            time.sleep(0.02)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
            while alive(pid):
                self._reap(server.id)
                time.sleep(0.02)
        self._reap(server.id)
        server.pid = None

    def _reap(self, server_id: int) -> None:
        process = self._children.get(server_id)
        if process is not None and process.poll() is not None:
            self._children.pop(server_id, None)

    def forget(self) -> None:
        """Reap whatever exited and drop every handle (the zone is down)."""
        for process in self._children.values():
            process.poll()
        self._children.clear()


def running(server: ZoneServer) -> bool:
    return bool(server.pid) and alive(server.pid)


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except OSError:
        return False
    return True


def is_oned(pid: int) -> bool:
    """True if ``pid`` still runs an oned (guards against a recycled pid)."""
    try:
        return b"oned" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
