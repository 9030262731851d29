"""The lab's lock and its small state files.

One lab at a time: ``<state>/lock`` is held (``flock``) for as long as a lab lives. A lab
brought up by the CLI hands the locked file to a keeper process in the client host, so the
lock stays held after ``onelab up`` returns and is released when ``onelab down`` kills it; a
lab owned by a test session is held by that process only, so a crashed session frees it and
the next ``up`` cleans what it left.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sys
import time
from pathlib import Path


class LabBusy(RuntimeError):
    """Another lab is up (or being brought up) on this machine."""


class LabLock:
    """The exclusive lock of the state directory."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.path = state_dir / "lock"
        self.owner_file = state_dir / "owner.json"
        self.fd: int | None = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    def acquire(self, *, wait: float = 0, mode: str = "plain") -> None:
        """Take the lock, waiting up to ``wait`` seconds; raise :class:`LabBusy` otherwise.

        Taking a lock this object already holds is a no-op.
        """
        if self.fd is not None:
            return
        deadline = time.monotonic() + wait
        while True:
            if self.try_acquire():
                self.owner_file.write_text(
                    json.dumps(
                        {
                            "pid": os.getpid(),
                            "mode": mode,
                            "command": " ".join(sys.argv),
                            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                        }
                    )
                )
                return
            if time.monotonic() >= deadline:
                raise LabBusy(self.busy_message())
            time.sleep(1)

    def try_acquire(self) -> bool:
        """One non-blocking attempt; True if this process now holds the lock."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
        # The file may have been removed by a ``down`` between our open and our flock.
        try:
            same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            return self.try_acquire()
        self.fd = fd
        return True

    def owner(self) -> dict:
        """Who took the lock last (pid, mode, command, since), as far as the file says."""
        try:
            return json.loads(self.owner_file.read_text())
        except (OSError, ValueError):
            return {}

    def busy_message(self) -> str:
        owner = self.owner()
        who = (
            f"started by pid {owner.get('pid')} ({owner.get('command', '?')}) "
            f"at {owner.get('since', '?')}"
            if owner
            else "owner unknown"
        )
        return (
            f"a lab is already up on this machine ({who}); only one lab can run at a time. "
            f"Wait for it to finish or run `onelab down` (state: {self.state_dir})."
        )

    def release(self, *, remove: bool = False) -> None:
        """Release the lock; with ``remove`` also delete the lock file (at ``down``)."""
        if self.fd is None:
            return
        if remove:
            self.path.unlink(missing_ok=True)
            self.owner_file.unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = None


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)
