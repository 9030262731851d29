"""Beacon -> master event bus -> reactor -> orchestration -> minion, with real daemons."""

import copy
import json
import time
from pathlib import Path

import pytest
import yaml

from onelab.proc import wait_until

ROLE_TAG = "salt/beacon/ohr-fe1/onenebula_raft/role"
ERROR_TAG = "salt/beacon/ohr-fe1/onenebula_raft/error"
REPAIR = "onenebula_ha.orch.repair"
VIP_ORCH = "onenebula_ha.orch.remediate_vip"


def wait_for_event(event_listener, master, pattern, after, timeout=60):
    """The master's events matching ``pattern`` since ``after``, once there is one.

    Salt's event listener does the waiting (this is not a poll: see onelab.proc.wait_until).
    """
    matched = event_listener.wait_for_events(
        [(master.id, pattern)], after_time=after, timeout=timeout
    )
    assert matched.found_all_events, f"no {pattern} event within {timeout}s"
    return list(matched)


def at_least(count, events):
    """``events`` as a list once there are ``count`` of them, else None (for wait_until)."""
    events = list(events)
    return events if len(events) >= count else None


def orchestrations(event_listener, master, after, mods):
    """Orchestrations of ``mods`` the master started since ``after`` (their ``new`` events)."""
    started = []
    for event in event_listener.get_events([(master.id, "salt/run/*/new")], after_time=after):
        data = event.data
        if data.get("fun") != "runner.state.orchestrate":
            continue
        kwargs = next((a for a in data.get("fun_args", []) if isinstance(a, dict)), {})
        if kwargs.get("mods") == mods:
            started.append(kwargs)
    return started


def test_role_event_reaches_the_master_with_the_beacon_dict_as_data(
    event_listener, master, minion, synced_at, zone, leader_index
):
    event = wait_for_event(event_listener, master, ROLE_TAG, synced_at)[0]
    data = event.data
    # The master unwraps the minion's beacon events: the beacon's dict is the event data,
    # with the minion id at top level, not under data['data'].
    assert data["id"] == "ohr-fe1"
    assert "data" not in data
    assert (data["state"], data["startup"], data["previous"]) == ("leader", True, None)
    assert data["server_id"] == data["leader"] == zone.servers[leader_index].id
    assert isinstance(data["term"], int)
    assert zone.session.split(":", 1)[1] not in repr(data)


def test_reactor_gets_the_same_shape(event_listener, master, minion, synced_at):
    echo = wait_for_event(event_listener, master, "onenebula_ha/test/reactor-data", synced_at)[
        0
    ].data
    assert echo["tag"] == ROLE_TAG
    assert echo["id"] == "ohr-fe1"
    assert echo["state"] == "leader"
    assert echo["nested"] is False
    assert {"id", "state", "previous", "term", "server_id", "leader", "startup"} <= set(
        echo["keys"]
    )


def orchestration_returns(event_listener, master, after, mods):
    """The returns of the orchestrations of ``mods`` that ended since ``after``."""
    return [
        event.data
        for event in event_listener.get_events([(master.id, "salt/run/*/ret")], after_time=after)
        if event.data.get("fun") == "runner.state.orchestrate"
        and any(isinstance(a, dict) and a.get("mods") == mods for a in event.data["fun_args"])
    ]


def test_a_leader_no_majority_confirms_gets_no_vip_move(
    event_listener, master, minion, synced_at, hook_log
):
    # role event -> reactor/onenebula_ha/role.sls -> onenebula_ha.orch.remediate_vip. Only
    # the leader's front-end has a minion here: the master's own queries find no majority
    # of the front-ends following it, so the VIP is left alone and the note says why.
    deadline = time.monotonic() + 180
    while not (ended := orchestration_returns(event_listener, master, synced_at, VIP_ORCH)):
        assert time.monotonic() < deadline, "no remediate_vip orchestration ended"
        time.sleep(1)
    result = ended[0]
    assert result["success"] is True, result
    states = result["return"]["data"]["ohr-master"]
    assert [s["__id__"] for s in states.values()] == [
        "onenebula_ha-orch-remediate_vip-test-show_notification"
    ]
    (note,) = [s["comment"] for s in states.values()]
    assert "ohr-fe1 reports state leader in term" in note
    assert "but only 1 of 3 front-ends are in that term" in note
    started = orchestrations(event_listener, master, synced_at, VIP_ORCH)
    assert started[0]["pillar"]["onenebula_ha_vip"]["leader"] == "ohr-fe1"
    assert not hook_log.exists() or hook_log.read_text() == ""


def test_failed_follower_starts_the_real_repair_which_checks_the_zone_itself(
    event_listener, master, minion, synced_at, zone, leader_index, frontend_of
):
    # The real onenebula_ha.orch.repair, started by the reactor (its runner calls used to
    # fail with AuthenticationError there). Only the leader's front-end has a minion here,
    # so the master's own queries find no majority of front-ends following the leader: the
    # repair is refused, with the reason, and no lock is taken.
    victim = (leader_index + 1) % len(zone.servers)
    victim_server = zone.servers[victim]
    killed_at = time.time()
    zone.kill(victim)
    try:
        events = wait_for_event(event_listener, master, ERROR_TAG, killed_at, timeout=60)
        data = events[0].data
        assert (data["server_id"], data["name"], data["id"], data["reason"]) == (
            victim_server.id,
            victim_server.name,
            "ohr-fe1",
            "error",
        )
        assert data["in_error"] == [victim_server.id]
        assert data["seconds"] >= 2  # error_after

        deadline = time.monotonic() + 240
        while not (ended := orchestration_returns(event_listener, master, killed_at, REPAIR)):
            assert time.monotonic() < deadline, "the repair orchestration never ended"
            time.sleep(1)
        result = ended[0]
        assert result["success"] is True, result
        states = result["return"]["data"]["ohr-master"]
        notes = [s["comment"] for s in states.values() if "show_notification" in s["__id__"]]
        assert len(states) == 1, states  # the notification only: no step ran
        # ohr-fe1 alone answers as leader (or, on a loaded machine, not even in time).
        assert notes[0].startswith(
            f"onenebula_ha repair: nothing done: no repair of {frontend_of[victim]}: "
        ), notes
        assert (
            "but only 1 of 3 front-ends are in that term" in notes[0]
            or "no front-end reports state leader" in notes[0]
        ), notes

        # The beacon goes on reporting every second: one look per target per 30 s. The
        # refused repair can end before the fourth report (a fast run), so await them.
        reports = wait_until(
            lambda: at_least(4, event_listener.get_events([(master.id, ERROR_TAG)], killed_at)),
            timeout=60,
            interval=0.5,
            what="four error reports of the beacon",
        )
        repairs = orchestrations(event_listener, master, killed_at, REPAIR)
        looked_for = time.time() - killed_at
        assert 1 <= len(repairs) <= 1 + int(looked_for // 30) < len(reports), (
            len(repairs),
            looked_for,
            len(reports),
        )
        assert {r["pillar"]["target"] for r in repairs} == {frontend_of[victim]}
        lock = Path(master.config["cachedir"]) / "onenebula_ha" / "repair_lock.json"
        assert json.loads(lock.read_text()).get("holder") is None
    finally:
        zone.start(victim)
        zone.wait_leader()


def _apply_minion_state(master, salt_call, test_pillar, beacon):
    """``state.apply onenebula_ha.salt.minion`` with ``onenebula_ha:beacon`` set to ``beacon``."""
    pillar = copy.deepcopy(test_pillar)
    pillar["onenebula_ha"]["beacon"] = {"enabled": True, **beacon}
    # The master fixture's pillar file (the orchestrations render with it): changed for
    # this run only.
    pillar_file = Path(master.pillar_tree.base.write_path) / "onenebula_ha.sls"
    original = pillar_file.read_text()
    pillar_file.write_text(yaml.safe_dump(pillar))
    try:
        return salt_call.run("state.apply", "onenebula_ha.salt.minion")
    finally:
        pillar_file.write_text(original)


@pytest.fixture
def minion_salt_call(master, minion, synced_at, test_pillar, beacon_config):
    """salt-call on the minion; afterwards the beacon runs the package's configuration again.

    The test below changes the running beacon's configuration; putting it back through the
    same state keeps every other test of this package independent of the running order.
    """
    salt_call = minion.salt_call_cli(timeout=180, environ=minion.environ.copy())
    yield salt_call
    original = {k: v for item in beacon_config for k, v in item.items() if k != "zone"}
    ret = _apply_minion_state(master, salt_call, test_pillar, original)
    assert ret.returncode == 0, ret
    ret = salt_call.run("beacons.list", return_yaml=False)
    assert ret.data["onenebula_raft"] == beacon_config, ret


def test_minion_state_installs_the_beacon_configuration(
    master, minion, minion_salt_call, test_pillar
):
    salt_call = minion_salt_call
    beacon = {"interval": 1, "report_errors_every": 1, "error_after": 3}
    wanted = [{"interval": 1}, {"zone": 0}, {"report_errors_every": 1}, {"error_after": 3}]
    ret = _apply_minion_state(master, salt_call, test_pillar, beacon)
    assert ret.returncode == 0, ret
    present = next(r for r in ret.data.values() if r["__id__"].endswith("beacon-present"))
    assert present["result"] is True
    assert present["changes"], present

    ret = salt_call.run("beacons.list", return_yaml=False)
    assert ret.returncode == 0, ret
    assert ret.data["onenebula_raft"] == wanted
    saved = yaml.safe_load((Path(minion.config_dir) / "minion.d" / "beacons.conf").read_text())
    assert saved["beacons"]["onenebula_raft"] == wanted

    ret = _apply_minion_state(master, salt_call, test_pillar, beacon)
    assert ret.returncode == 0, ret
    assert all(not r["changes"] for r in ret.data.values() if "beacon" in r["__id__"])
