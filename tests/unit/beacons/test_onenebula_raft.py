"""Unit tests for the ``onenebula_raft`` beacon with a scripted ``onenebula_zone`` module."""

import json
import logging

import pytest
from beacon_helpers import Clock, FakeZone, load_beacon, raft, server
from support.formula_utils import utils_dunder

UTILS = utils_dunder()

onenebula_raft = load_beacon()

CONFIG = [{"zone": 0}, {"report_errors_every": 30}, {"error_after": 60}]


@pytest.fixture
def zone():
    return FakeZone()


@pytest.fixture
def clock(monkeypatch):
    ticking = Clock()
    monkeypatch.setattr(onenebula_raft, "_now", ticking)
    return ticking


@pytest.fixture
def configure_loader_modules(zone, tmp_path):
    return {
        onenebula_raft: {
            "__salt__": zone.functions(),
            "__opts__": {"cachedir": str(tmp_path / "cache"), "id": "vmm01"},
            "__context__": {},
            "__utils__": UTILS,
        }
    }


@pytest.fixture(autouse=True)
def warnings(caplog):
    """The beacon's log records, kept from Salt's deferred root handler (which would
    print them after pytest closed stderr)."""
    logger = logging.getLogger(onenebula_raft.__name__)
    logger.addHandler(caplog.handler)
    logger.propagate = False
    yield lambda: [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    logger.removeHandler(caplog.handler)
    logger.propagate = True


def run(config=None):
    return onenebula_raft.beacon(list(config or CONFIG))


def tags(events):
    return [event["tag"] for event in events]


# ------------------------------------------------------------------ virtual / validate


def test_virtual_needs_the_zone_module(monkeypatch):
    assert onenebula_raft.__virtual__() == "onenebula_raft"
    monkeypatch.setattr(onenebula_raft, "__salt__", {}, raising=False)
    loaded, reason = onenebula_raft.__virtual__()
    assert loaded is False
    assert "onenebula_zone" in reason


@pytest.mark.parametrize(
    "config",
    [
        [],
        [{"interval": 5}, {"zone": 0}, {"report_errors_every": 0}, {"error_after": 0}],
        [{"timeout": 0.5}, {"disable_during_state_run": True}, {"_beacon_name": "x"}],
        [{"max_lag": 0}, {"max_lag": 250}],
    ],
)
def test_validate_accepts(config):
    assert onenebula_raft.validate(config) == (True, "Valid beacon configuration")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"zone": 0}, "list of single-key mappings"),
        (["zone"], "list of single-key mappings"),
        ([{"zone": -1}], "'zone' must be a whole number >= 0"),
        ([{"zone": "0"}], "'zone' must be a whole number >= 0"),
        ([{"zone": True}], "'zone' must be a whole number >= 0"),
        ([{"report_errors_every": -5}], "'report_errors_every' must be a number >= 0"),
        ([{"error_after": "soon"}], "'error_after' must be a number >= 0"),
        ([{"timeout": 0}], "'timeout' must be a number >= 0.1"),
        ([{"zones": 0}], "unknown option(s): zones"),
        ([{"max_lag": 1.5}], "'max_lag' must be a whole number >= 0"),
        ([{"max_lag": -1}], "'max_lag' must be a whole number >= 0"),
    ],
)
def test_validate_rejects(config, message):
    valid, comment = onenebula_raft.validate(config)
    assert valid is False
    assert message in comment


# ------------------------------------------------------------------ role


def test_role_reported_once_at_startup_then_only_on_change(zone, clock):
    zone.status = raft(2, server_id=1, term=4, votedfor=0)
    first = run()
    assert first == [
        {
            "tag": "role",
            "state": "follower",
            "previous": None,
            "term": 4,
            "server_id": 1,
            "leader": None,
            "votedfor": 0,
            "zone": 0,
            "startup": True,
        }
    ]
    clock.advance(1)
    assert run() == []
    zone.status = raft(2, server_id=1, term=5, votedfor=-1)  # new term, still follower
    assert run() == []

    zone.status = raft(3, server_id=1, term=6)
    events = run()
    assert tags(events) == ["role"]
    assert events[0]["state"] == "leader"
    assert events[0]["previous"] == "follower"
    assert events[0]["leader"] == 1
    assert events[0]["term"] == 6
    assert events[0]["startup"] is False


def test_reelection_in_a_newer_term_is_reported(zone):
    zone.status = raft(3, term=2)
    assert tags(run()) == ["role"]
    zone.status = raft(3, term=3)  # stepped down and won again between two runs
    events = run()
    assert [(e["state"], e["previous"], e["term"]) for e in events] == [("leader", "leader", 3)]


def test_followers_are_never_asked_for_the_zone(zone, clock):
    zone.status = raft(2, server_id=1)
    zone.servers = [server(0, "leader"), server(1, "follower"), server(2, "error")]
    for _ in range(3):
        run()
        clock.advance(100)
    assert zone.zone_calls == 0


# ------------------------------------------------------------------ down


def test_down_reported_once_and_role_after_recovery(zone, clock):
    zone.status = raft(2, server_id=2, term=3)
    run()
    zone.down = "cannot reach oned at http://localhost:2633/RPC2: refused"
    events = run()
    assert events == [
        {
            "tag": "down",
            "previous": "follower",
            "error": "cannot reach oned at http://localhost:2633/RPC2: refused",
            "reachable": False,
            "since": int(clock.now),
            "zone": 0,
            "startup": False,
        }
    ]
    clock.advance(5)
    assert run() == []
    zone.down = None
    events = run()
    assert [(e["tag"], e["state"], e["previous"]) for e in events] == [("role", "follower", "down")]


def test_down_at_startup(zone):
    zone.down = "cannot reach oned"
    events = run()
    assert tags(events) == ["down"]
    assert events[0]["startup"] is True
    assert events[0]["previous"] is None


# ------------------------------------------------------------------ errors on the leader


def test_leader_reports_a_server_in_error_after_error_after(zone, clock):
    zone.status = raft(3, server_id=0, term=7)
    zone.servers = [server(0, "leader", 7), server(1, "follower", 7), server(2, "error")]
    first_seen = int(clock.now)
    assert tags(run()) == ["role"]  # seen in error now, not yet for error_after
    clock.advance(30)
    assert run() == []
    clock.advance(30)
    events = run()
    assert events == [
        {
            "tag": "error",
            "server_id": 2,
            "name": "vmm03",
            "endpoint": "http://10.213.0.30:2633/RPC2",
            "reason": "error",
            "since": first_seen,
            "seconds": 60,
            "in_error": [2],
            "stuck": [],
            "leader_id": 0,
            "term": 7,
            "zone": 0,
        }
    ]
    # Still in error at the next check: reported again, with the same "since".
    clock.advance(30)
    again = run()
    assert [(e["server_id"], e["since"], e["seconds"]) for e in again] == [(2, first_seen, 90)]


def test_a_follower_that_does_not_catch_up_is_reported_stuck(zone, clock):
    # Out of the leader's log window (the records it needs were purged): it answers as a
    # follower, but its log index stays far behind the leader's.
    config = [{"report_errors_every": 0}, {"error_after": 10}, {"max_lag": 100}]
    zone.status = dict(raft(3, server_id=0, term=7), log_index=500)
    behind = dict(server(2, "follower", 7), log_index=20)
    zone.servers = [dict(server(0, "leader", 7), log_index=500), server(1, "follower", 7), behind]
    zone.servers[1]["log_index"] = 499
    first_seen = int(clock.now)
    assert tags(run(config)) == ["role"]
    clock.advance(10)
    events = run(config)
    assert [
        (e["server_id"], e["reason"], e["since"], e["stuck"], e["in_error"]) for e in events
    ] == [(2, "stuck", first_seen, [2], [])]


@pytest.mark.parametrize(
    ("minion_option", "lag", "stuck"),
    [(None, 100, False), (None, 101, True), (10, 11, True), (10, 10, False)],
)
def test_without_max_lag_the_formulas_caught_up_limit_applies(
    zone, clock, monkeypatch, minion_option, lag, stuck
):
    """No ``max_lag`` in the beacon's configuration: the minion option
    ``onenebula_ha.max_lag``, else the formula's default (100), as every other module."""
    if minion_option is not None:
        monkeypatch.setitem(onenebula_raft.__opts__, "onenebula_ha.max_lag", minion_option)
    config = [{"report_errors_every": 0}, {"error_after": 10}]
    zone.status = dict(raft(3, server_id=0, term=7), log_index=500)
    zone.servers = [dict(server(0, "leader", 7), log_index=500), server(1, "follower", 7),
                    dict(server(2, "follower", 7), log_index=500 - lag)]  # fmt: skip
    zone.servers[1]["log_index"] = 500
    run(config)
    clock.advance(10)
    assert [e["server_id"] for e in run(config)] == ([2] if stuck else [])


def test_a_lagging_follower_that_makes_progress_is_not_stuck(zone, clock):
    config = [{"report_errors_every": 0}, {"error_after": 10}, {"max_lag": 100}]
    zone.status = dict(raft(3, server_id=0, term=7), log_index=500)
    zone.servers = [dict(server(0, "leader", 7), log_index=500), server(1, "follower", 7),
                    dict(server(2, "follower", 7), log_index=20)]  # fmt: skip
    zone.servers[1]["log_index"] = 500
    run(config)
    for index in (120, 250, 380):  # catching up, still more than max_lag behind
        clock.advance(6)
        zone.servers[2]["log_index"] = index
        assert run(config) == []
    clock.advance(6)
    zone.servers[2]["log_index"] = 450  # within max_lag
    assert run(config) == []


def test_zone_checked_no_more_often_than_the_period(zone, clock):
    zone.status = raft(3)
    zone.servers = [server(0, "leader"), server(1, "follower"), server(2, "follower")]
    run()
    for _ in range(29):
        clock.advance(1)
        run()
    assert zone.zone_calls == 1
    clock.advance(1)
    run()
    assert zone.zone_calls == 2


def test_recovered_server_starts_a_new_error_period(zone, clock):
    config = [{"report_errors_every": 0}, {"error_after": 10}]
    zone.status = raft(3)
    zone.servers = [server(0, "leader"), server(1, "error"), server(2, "follower")]
    run(config)
    clock.advance(5)
    zone.servers[1] = server(1, "follower")  # back before error_after
    assert run(config) == []
    clock.advance(5)
    zone.servers[1] = server(1, "error")
    assert run(config) == []
    clock.advance(10)
    events = run(config)
    assert [(e["server_id"], e["seconds"]) for e in events] == [(1, 10)]


def test_no_errors_reported_without_a_majority(zone, clock, warnings):
    # A leader cut off from the majority keeps state 3 and sees the others in error.
    config = [{"report_errors_every": 0}, {"error_after": 0}]
    zone.status = raft(3)
    zone.servers = [server(0, "leader"), server(1, "error"), server(2, "error")]
    assert tags(run(config)) == ["role"]
    assert warnings() == [
        "onenebula_raft: this leader sees 2 of 3 servers in error; not reporting them "
        "(it may be cut off from the majority)"
    ]
    zone.servers[2] = server(2, "follower")
    assert tags(run(config)) == ["error"]


def test_no_errors_reported_when_another_leads_in_a_newer_term(zone, warnings):
    config = [{"report_errors_every": 0}, {"error_after": 0}]
    zone.status = raft(3, server_id=0, term=4)
    zone.servers = [
        server(0, "leader", 4),
        server(1, "leader", 5),
        server(2, "follower", 5),
        server(3, "error"),
        server(4, "follower", 5),
    ]
    assert tags(run(config)) == ["role"]
    assert warnings() == [
        "onenebula_raft: another server leads in a newer term; not reporting errors"
    ]


def test_several_servers_in_error_each_get_an_event(zone):
    config = [{"report_errors_every": 0}, {"error_after": 0}]
    zone.status = raft(3)
    zone.servers = [
        server(0, "leader"),
        server(1, "follower"),
        server(2, "error"),
        server(3, "follower"),
        server(4, "error"),
    ]
    events = [e for e in run(config) if e["tag"] == "error"]
    assert [(e["server_id"], e["name"], e["in_error"]) for e in events] == [
        (2, "vmm03", [2, 4]),
        (4, "vmm05", [2, 4]),
    ]


def test_zone_read_failure_is_not_an_event(zone, warnings):
    def broken_zone(zone=0, timeout=5):
        from salt.exceptions import CommandExecutionError

        raise CommandExecutionError("ONE_AUTH file not present")

    onenebula_raft.__salt__["onenebula_zone.raft_zone"] = broken_zone
    zone.status = raft(3)
    assert tags(run([{"report_errors_every": 0}])) == ["role"]
    assert warnings() == ["onenebula_raft: cannot read zone 0: ONE_AUTH file not present"]


def test_error_tracking_forgotten_after_stepping_down(zone, clock):
    config = [{"report_errors_every": 0}, {"error_after": 10}]
    zone.status = raft(3, term=1)
    zone.servers = [server(0, "leader"), server(1, "follower"), server(2, "error")]
    run(config)
    zone.status = raft(2, term=2)
    run(config)
    clock.advance(20)
    zone.status = raft(3, term=3)
    events = run(config)
    assert tags(events) == ["role"]  # the 20 s as a follower do not count


# ------------------------------------------------------------------ memory across reloads


def test_module_reload_does_not_repeat_startup_events(zone, tmp_path):
    zone.status = raft(3, term=2)
    assert tags(run()) == ["role"]
    onenebula_raft.__context__.clear()  # what a loader refresh does
    assert run() == []
    stored = json.loads((tmp_path / "cache" / "onenebula_raft" / "onenebula_raft.json").read_text())
    assert stored["role"] == {"state": "leader", "server_id": 0, "term": 2}


def test_restarted_minion_reports_afresh(zone, tmp_path, monkeypatch):
    zone.status = raft(2)
    run()
    onenebula_raft.__context__.clear()
    monkeypatch.setattr(onenebula_raft.os, "getpid", lambda: 4242)  # another process
    events = run()
    assert [(e["tag"], e["startup"]) for e in events] == [("role", True)]


def test_beacon_name_keeps_instances_apart(zone, tmp_path):
    zone.status = raft(2)
    assert tags(run([{"_beacon_name": "raft_a"}])) == ["role"]
    assert tags(run([{"_beacon_name": "raft_b"}])) == ["role"]
    assert sorted(p.name for p in (tmp_path / "cache" / "onenebula_raft").iterdir()) == [
        "raft_a.json",
        "raft_b.json",
    ]
