"""Bringing labs up and down: 5 front-ends, one lab at a time, crash leftovers, nothing left.

These tests make their own labs (not the module's ``lab`` fixture): they must watch ``up``
and ``down`` themselves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from lab_test_helpers import add_vip

from onelab import leftovers, proc, rootfs
from onelab.lab import CREATED_FILE, Lab
from onelab.salt_factories import FactoriesSalt
from onelab.salt_plain import PlainSalt
from onelab.state import LabBusy

pytestmark = pytest.mark.long

LAB_LOCK_WAIT = 600


def _missing_mount_points() -> list[str]:
    """Machine directories the lab will have to create (so must remove again)."""
    return [path for path in rootfs.machine_mount_points() if not os.path.lexists(path)]


def assert_nothing_left(lab: Lab, mount_points: list[str]) -> None:
    # Zombies of the lab's launchers are reaped by the machine's init within seconds.
    found = {}

    def clean() -> bool:
        nonlocal found
        found = leftovers.find(lab.state_dir, mount_points=mount_points)
        return leftovers.is_clean(found)

    try:
        proc.wait_until(clean, timeout=20, interval=0.5, what="the lab to be gone")
    except TimeoutError:
        pytest.fail(f"left on the machine: {json.dumps(found, indent=1)}")


def test_down_cleans_what_a_crashed_lab_left(lab_prerequisites):
    mount_points = _missing_mount_points()
    crashed = Lab(3, salt=PlainSalt(), warmup_ms=2000)  # plain daemons, as `onelab up` runs them
    crashed.up(wait=LAB_LOCK_WAIT)
    try:
        # A crash: every process of the lab dies at once; namespaces, bridge and files stay.
        crashed._kill_lab_processes()
        found = leftovers.find(crashed.state_dir, mount_points=mount_points)
        assert found["namespaces"] and found["links"] and found["files"], found
        created = json.loads((crashed.state_dir / CREATED_FILE).read_text())["created"]
        assert set(mount_points) <= set(created)
        mount_points = created  # every path the lab made on the machine must go
    finally:
        crashed.down()
    assert_nothing_left(crashed, mount_points)


def test_five_front_ends_one_lab_at_a_time_and_nothing_left_after_down(
    salt_factories, lab_prerequisites
):
    mount_points = _missing_mount_points()
    lab = Lab(5, salt=FactoriesSalt(salt_factories), warmup_ms=2000)
    try:
        timings = lab.up(wait=LAB_LOCK_WAIT)
        sys.stderr.write(f"\n5 front-ends up: {timings}, RSS {lab.rss_bytes() / 2**20:.0f} MB\n")
        names = [host.name for host in lab.frontends]
        assert names == ["vmm01", "vmm02", "vmm03", "vmm04", "vmm05"]
        ret = lab.salt.master.salt_cli(timeout=120).run("test.ping", minion_tgt="*")
        assert ret.data == dict.fromkeys(names, True), ret

        # One lab at a time, with a message that says why.
        with pytest.raises(LabBusy, match="already up"):
            Lab(3, salt=PlainSalt()).up()
        cli = subprocess.run(
            [sys.executable, "-m", "onelab.cli", "up", "3"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cli.returncode == 1
        assert "already up" in cli.stderr

        # State that lives in the hosts must vanish with them.
        lab.exec("vmm01", ["mount", "--bind", str(lab.shared_dir), "/var/lib/one/datastores"])
        assert lab.exec("vmm01", ["mountpoint", "-q", "/var/lib/one/datastores"]).returncode == 0
        lab.partition("vmm02", "all")
        lab.partition("vmm04", "master")
        add_vip(lab, "vmm03")
    finally:
        lab.down()
    assert_nothing_left(lab, mount_points)
    assert not lab.salt.master.is_running()
    assert not any(minion.is_running() for minion in lab.salt.minions.values())
