"""``Lab.down`` of a lab object that never got the lock (an ``up()`` that gave up waiting,
a fixture's teardown) never kills the processes of the lab a live session owns; ``force``
(``onelab down --force``) still does, and so does a plain ``down`` of a CLI lab, whose
``up`` process has exited and whose keeper holds the lock."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from onelab.lab import Lab
from onelab.state import LabBusy

HOLD = """
import fcntl, json, os, sys
fd = os.open(sys.argv[1] + "/lock", os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


class _Salt:
    mode = "plain"

    def attach(self, lab):
        self.lab = lab


class _Killed(Exception):
    pass


@pytest.fixture
def held(tmp_path):
    """The lab lock of ``tmp_path`` held by another live process."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    yield holder
    holder.stdin.close()
    holder.wait(timeout=10)


def _lab(tmp_path, monkeypatch, kills: list[str]) -> Lab:
    def kill(self):
        kills.append("killed")
        raise _Killed  # stop there: the rest of down() needs root

    monkeypatch.setattr(Lab, "_kill_lab_processes", kill)
    return Lab(3, salt=_Salt(), state_dir=tmp_path)


def _owner(tmp_path, pid: int) -> None:
    (tmp_path / "owner.json").write_text(json.dumps({"pid": pid, "command": "pytest tests/e2e"}))


def test_down_without_the_lock_leaves_a_live_sessions_lab_alone(tmp_path, monkeypatch, held):
    _owner(tmp_path, held.pid)
    kills: list[str] = []
    with pytest.raises(LabBusy, match="already up"):
        _lab(tmp_path, monkeypatch, kills).down()
    assert kills == []
    assert held.poll() is None


def test_forced_down_and_a_cli_labs_down_still_kill(tmp_path, monkeypatch, held):
    _owner(tmp_path, held.pid)
    kills: list[str] = []
    with pytest.raises(_Killed):
        _lab(tmp_path, monkeypatch, kills).down(force=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _owner(tmp_path, dead.pid)  # the `onelab up` that took the lock has returned
    with pytest.raises(_Killed):
        _lab(tmp_path, monkeypatch, kills).down()
    assert kills == ["killed", "killed"]
