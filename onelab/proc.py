"""Small process helpers: running commands with a timeout, polling, looking at /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# What a freshly booted Debian root shell has; lab hosts never see the venv or the caller's env.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class CommandError(RuntimeError):
    """A command exited non-zero; carries its output for the error message."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str):
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        detail = (stderr or stdout).strip()
        super().__init__(f"{' '.join(self.argv)} exited {returncode}: {detail}")


def run(
    argv: Sequence[str],
    *,
    timeout: float = 60,
    check: bool = True,
    input: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``argv`` and capture its output as text; raise :class:`CommandError` if asked."""
    done = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        env=env,
        stdin=None if input is not None else subprocess.DEVNULL,
        check=False,
    )
    if check and done.returncode != 0:
        raise CommandError(argv, done.returncode, done.stdout, done.stderr)
    return done


def wait_until(
    predicate: Callable[[], T], *, timeout: float, interval: float = 0.1, what: str = "condition"
) -> T:
    """Poll ``predicate`` until it returns something truthy; raise ``TimeoutError`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def netns_pids(netns: str) -> list[int]:
    """PIDs (machine view) of every process in network namespace ``netns``."""
    done = run(["ip", "netns", "pids", netns], check=False, timeout=10)
    if done.returncode != 0:
        return []
    return [int(word) for word in done.stdout.split()]


def cmdline(pid: int) -> list[str]:
    """The argv of ``pid`` (empty if it is gone or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    words = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    if len(words) == 1 and " " in words[0]:
        # setproctitle (Salt uses it) rewrites argv into one space-separated string.
        words = words[0].split()
    return words


def proc_state(pid: int) -> str | None:
    """The one-letter state of ``pid`` (``R``, ``S``, ``T``, ``Z`` …) or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def is_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    state = proc_state(pid)
    return state is not None and state != "Z"


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` in bytes (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def pss_bytes(pid: int) -> int:
    """Proportional set size of ``pid`` (shared pages split among their users); 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    found: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        tasks = list(task_dir.iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(word) for word in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def send_signal(pids: Iterable[int], signum: int) -> list[int]:
    """Signal each PID, ignoring the ones that are already gone; return those signalled."""
    hit = []
    for pid in pids:
        try:
            os.kill(pid, signum)
            hit.append(pid)
        except ProcessLookupError:
            continue
    return hit


def kill_and_wait(pids: Iterable[int], *, timeout: float = 10) -> None:
    """SIGKILL the PIDs and wait until none of them is alive any more."""
    targets = send_signal(list(pids), signal.SIGKILL)
    wait_until(
        lambda: not any(is_alive(pid) for pid in targets),
        timeout=timeout,
        what=f"processes {targets} to die",
    )
