"""The status runner's reading of the fencing agents (second line): plain function."""

import pytest
from support.load import load_file


@pytest.fixture(scope="module")
def runner(repo_root):
    module = load_file(repo_root / "_runners" / "onenebula_ha.py", "onenebula_ha_runner_for_fence")
    return module


def _health(state, held, vip, remaining=1.7, follower_ok=False, error=None):
    return {
        "state": state,
        "term": 4,
        "lease": {"held": held, "remaining_s": remaining if held else 0.0, "error": error},
        "vip": {"address": "10.0.0.100/24", "held": vip},
        "follower_ok": follower_ok,
        "last_transition": {"what": "acquired", "why": "3 of 3 servers confirm term 4"},
    }


def _up(health, leader):
    return {"ok": True, "ret": {"reachable": True, "leader": leader, "health": health}}


def test_a_healthy_zone_has_one_lease_holder_and_no_problem(runner):
    summary = runner._fence_summary(
        {
            "vmm01": _up(_health("leader", True, True), True),
            "vmm02": _up(_health("follower", False, False, follower_ok=True), False),
            "vmm03": _up(_health("follower", False, False, follower_ok=True), False),
        }
    )
    assert summary["problems"] == [] and summary["lease_holders"] == ["vmm01"]
    assert summary["agents"]["vmm01"]["lease_s"] == 1.7
    assert summary["agents"]["vmm01"]["leader_endpoint"] is True
    assert summary["agents"]["vmm02"]["follower_endpoint"] is True


def test_problems_are_named(runner):
    summary = runner._fence_summary(
        {
            "vmm01": _up(_health("leader", True, True), True),
            "vmm02": _up(_health("leader", True, True), True),
            "vmm03": {"ok": True, "ret": {"reachable": False, "error": "ConnectionRefusedError"}},
            "vmm04": _up(_health("follower", False, True), False),
            "vmm05": {"ok": False, "error": "minion did not answer"},
        }
    )
    assert summary["problems"] == [
        "vmm03: fencing agent not answering (ConnectionRefusedError)",
        "vmm04: holds the VIP without a lease",
        "several agents hold a lease: vmm01, vmm02",
    ]
    assert summary["agents"]["vmm03"]["agent"] == "down"
    assert summary["agents"]["vmm05"]["agent"] == "unknown (minion did not answer)"
