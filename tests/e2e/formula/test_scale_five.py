"""Five front-ends: a deploy interrupted mid-join (the Salt master stopped) finishes on re-run
without duplicate servers; then scale 5 -> 3 -> 5 one server at a time.

The tests of this module share one lab and run in order (each builds on the previous one).
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.long

MINIONS = ["vmm01", "vmm02", "vmm03", "vmm04", "vmm05"]


@pytest.fixture(scope="module")
def lab_size():
    return 5


def _members(formula, on="vmm01"):
    return sorted((s["id"], s["name"]) for s in formula.zone_servers(on))


def _wait_minions_idle(formula, timeout=180):
    def idle():
        running = formula.call("vmm0*", "saltutil.running")
        return isinstance(running, dict) and len(running) == 5 and not any(running.values())

    formula.wait("the minions to finish their jobs", idle, timeout, interval=2)


def test_a_deploy_interrupted_mid_join_completes_on_rerun(formula, lab):
    argv = formula.run_cli.cmdline("state.orchestrate", "onenebula_ha.orch.deploy")
    started = time.monotonic()
    first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # vmm03 added to the zone by the leader: its join is in flight.
        formula.wait(
            "vmm03 to be added to the zone",
            lambda: lab.running("vmm01", "opennebula") and "vmm03" in dict(formula.zone("vmm01")),
            timeout=400,
            interval=0.5,
        )
        lab.master_stop()
    finally:
        first.kill()
        first.wait(timeout=30)
    interrupted_at = time.monotonic() - started
    lab.master_start()
    formula.wait(
        "every minion to answer again",
        lambda: formula.call("vmm0*", "test.ping") == {m: True for m in MINIONS},
        timeout=120,
        interval=2,
    )
    _wait_minions_idle(formula)

    orch = formula.orchestrate("deploy")
    sys.stderr.write(
        f"\ndeploy of 5 interrupted after {interrupted_at:.0f}s, re-run {orch.seconds:.0f}s\n"
    )
    assert orch.returncode == 0 and orch.ok, orch.failures()
    assert _members(formula) == [(i, m) for i, m in enumerate(MINIONS)]
    assert formula.server_ids() == {m: i for i, m in enumerate(MINIONS)}
    status = formula.status()
    assert status["healthy"], status["table"]
    assert lab.vip_holders() == [status["leader"]]


def test_scale_down_five_to_three_one_at_a_time(formula, lab):
    for target, remaining in (("vmm05", MINIONS[:4]), ("vmm04", MINIONS[:3])):
        orch = formula.orchestrate("remove", pillar={"target": target})
        assert orch.returncode == 0 and orch.ok, orch.failures()
        assert [name for _, name in _members(formula)] == remaining
        zone = formula.zone("vmm01")
        assert sorted(zone.values()) == ["follower"] * (len(remaining) - 1) + ["leader"]
        assert not lab.running(target, "opennebula")
        assert formula.server_ids()[target] == -1
    status = formula.status()
    assert status["leader"] in MINIONS[:3]
    assert lab.vip_holders() == [status["leader"]]


def test_scale_up_three_to_five_one_at_a_time(formula, lab):
    for new, expected in (("vmm04", MINIONS[:4]), ("vmm05", MINIONS)):
        orch = formula.orchestrate("add")
        assert orch.returncode == 0 and orch.ok, orch.failures()
        assert any(f"joining {new}" in name for name in orch.changed), orch.changed
        assert [name for _, name in _members(formula)] == expected
    assert formula.server_ids() == {m: i for i, m in enumerate(MINIONS)}
    status = formula.status()
    assert status["healthy"], status["table"]
    # The members' agents re-applied by the add count the majority of five.
    health = formula.call("vmm0*", "onenebula_fence.health")
    assert {m: (a.get("health") or {}).get("needed") for m, a in health.items()} == {
        m: 3 for m in MINIONS
    }, health
