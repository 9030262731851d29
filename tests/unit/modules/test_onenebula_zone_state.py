"""Unit tests for ``_states/onenebula_zone.py``: guards, refusals and test-mode predictions.

The states call the real execution module, whose ``onezone`` is an in-memory fake.
"""

import fcntl
import os
import subprocess
import sys

import pytest
from onenebula_modules_helpers import EXAMPLE_ROWS, FakeOnezone, load, run_result, server_row
from support.formula_utils import utils_dunder

UTILS = utils_dunder()

zone_mod = load("modules", "onenebula_zone")
zone_state = load("states", "onenebula_zone")

HEALTHY = [
    server_row(0, "vmm01", "http://10.213.0.10:2633/RPC2", state="3", votedfor="0"),
    server_row(1, "vmm02", "http://10.213.0.20:2633/RPC2", state="2", votedfor="0"),
    server_row(2, "vmm03", "http://10.213.0.30:2633/RPC2", state="2", votedfor="0"),
]
NEW_ENDPOINT = "http://10.213.0.40:2633/RPC2"


@pytest.fixture
def fake():
    return FakeOnezone(HEALTHY)


@pytest.fixture
def lock_file(tmp_path):
    return str(tmp_path / "lock" / "onenebula_ha.lock")


@pytest.fixture
def opts(lock_file):
    return {"test": False, "onenebula_ha.lock_file": lock_file}


@pytest.fixture
def configure_loader_modules(fake, opts):
    exec_functions = {
        f"onenebula_zone.{name}": getattr(zone_mod, name)
        for name in ("show", "health", "server_add", "server_del", "server_reset", "wait_healthy")
    }
    return {
        zone_mod: {
            "__salt__": {"cmd.run_all": fake},
            "__context__": {},
            "__opts__": opts,
            "__utils__": UTILS,
        },
        zone_state: {"__salt__": exec_functions, "__opts__": opts, "__utils__": UTILS},
    }


@pytest.fixture(autouse=True)
def live_reads(monkeypatch):
    """What ``raft_zone`` (the live read the healthy state polls with) answers: the fake
    onezone's zone. Its XML-RPC path has tests of its own (test_onenebula_zone_module)."""
    reads = []

    def raft_zone(zone=0, timeout=5):
        reads.append(zone)
        return zone_mod.show(zone, refresh=True)

    monkeypatch.setattr(zone_mod, "raft_zone", raft_zone)
    return reads


@pytest.fixture
def test_mode(opts):
    opts["test"] = True


@pytest.fixture
def no_sleep(monkeypatch):
    clock = {"now": 0.0}
    for module in (zone_mod, zone_state):
        monkeypatch.setattr(module.time, "monotonic", lambda: clock["now"])
        monkeypatch.setattr(
            module.time, "sleep", lambda s: clock.__setitem__("now", clock["now"] + s)
        )
    return clock


@pytest.fixture
def held_lock(lock_file):
    """Hold the membership lock as a concurrent run on this host would."""
    os.makedirs(os.path.dirname(lock_file), exist_ok=True)
    descriptor = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    yield
    os.close(descriptor)


def test_virtual_requires_the_execution_module():
    zone_state.__salt__.clear()
    assert zone_state.__virtual__()[0] is False


# ------------------------------------------------------------------ server_present


def test_present_adds_from_a_healthy_zone(fake, live_reads):
    ret = zone_state.server_present("vmm04", NEW_ENDPOINT)
    assert ret["result"] is True
    assert ret["changes"] == {
        "server": {"old": None, "new": {"id": 3, "name": "vmm04", "endpoint": NEW_ENDPOINT}}
    }
    assert "SERVER_ID = 3" in ret["comment"]
    assert len(fake.commands("server-add")) == 1
    # The zone is read in process (live_reads: the state's read, then server_add's
    # before and after); the CLI runs the server-add only.
    assert live_reads == [0, 0, 0]


def test_present_is_idempotent(fake):
    zone_state.server_present("vmm04", NEW_ENDPOINT)
    ret = zone_state.server_present("vmm04", NEW_ENDPOINT)
    assert ret["result"] is True
    assert ret["changes"] == {}
    assert "already in zone 0 with ID 3" in ret["comment"]
    assert len(fake.commands("server-add")) == 1


def test_present_already_member_even_in_a_degraded_zone(fake):
    fake.rows = EXAMPLE_ROWS
    ret = zone_state.server_present("server-1", "http://192.168.150.2:2633/RPC2")
    assert ret["result"] is True
    assert ret["changes"] == {}


def test_present_test_mode_predicts_the_exact_change(fake, test_mode):
    ret = zone_state.server_present("vmm04", NEW_ENDPOINT)
    assert ret["result"] is None
    assert ret["changes"] == {
        "server": {"old": None, "new": {"id": 3, "name": "vmm04", "endpoint": NEW_ENDPOINT}}
    }
    assert fake.commands("server-add") == []


def test_present_prediction_matches_the_real_id_after_deletions(fake, test_mode, opts):
    fake.rows = [HEALTHY[0], HEALTHY[2]]  # IDs 0 and 2: next is 3, not 2
    predicted = zone_state.server_present("vmm04", NEW_ENDPOINT)["changes"]["server"]["new"]["id"]
    opts["test"] = False
    actual = zone_state.server_present("vmm04", NEW_ENDPOINT)["changes"]["server"]["new"]["id"]
    assert predicted == actual == 3


def test_present_refuses_an_unhealthy_zone(fake):
    fake.rows = EXAMPLE_ROWS  # server 2 in error: a previous join not finished
    ret = zone_state.server_present("vmm04", NEW_ENDPOINT)
    assert ret["result"] is False
    assert ret["changes"] == {}
    assert "not healthy: server 2 (server-2) is in state error" in ret["comment"]
    assert fake.commands("server-add") == []


def test_present_refuses_an_unhealthy_zone_in_test_mode_too(fake, test_mode):
    fake.rows = EXAMPLE_ROWS
    ret = zone_state.server_present("vmm04", NEW_ENDPOINT)
    assert ret["result"] is False
    assert ret["changes"] == {}


@pytest.mark.parametrize(
    "rows, problem",
    [
        (
            [HEALTHY[0], server_row(1, "vmm02", "http://x/RPC2", state="1")],
            "state candidate",
        ),
        ([server_row(0, "vmm01", "http://x/RPC2", state="0")], "state solo"),
        ([server_row(0, "vmm01", "http://x/RPC2", state="2")], "no leader"),
        ([HEALTHY[0], server_row(1, "vmm02", "http://x/RPC2", index="1")], "behind the leader"),
    ],
)
def test_present_refusal_reasons(fake, rows, problem):
    fake.rows = rows
    ret = zone_state.server_present("vmm04", NEW_ENDPOINT)
    assert ret["result"] is False
    assert problem in ret["comment"]


def test_present_bootstrap_on_an_empty_zone(fake, test_mode, opts):
    fake.rows = []
    ret = zone_state.server_present("vmm01", "http://10.213.0.10:2633/RPC2")
    assert ret["result"] is None
    assert ret["changes"]["server"]["new"]["id"] == 0
    opts["test"] = False
    assert zone_state.server_present("vmm01", "http://10.213.0.10:2633/RPC2")["result"] is True


def test_present_endpoint_conflict_is_refused(fake):
    ret = zone_state.server_present("vmm02", "http://10.213.0.99:2633/RPC2")
    assert ret["result"] is False
    assert "remove them first" in ret["comment"]
    assert fake.commands("server-add") == []


def test_present_refuses_while_another_change_holds_the_lock(fake, held_lock):
    ret = zone_state.server_present("vmm04", NEW_ENDPOINT)
    assert ret["result"] is False
    assert "Another membership change is in progress" in ret["comment"]
    assert fake.calls == []


def test_present_lock_held_by_another_process(fake, lock_file):
    os.makedirs(os.path.dirname(lock_file), exist_ok=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()",
            lock_file,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert zone_state.server_present("vmm04", NEW_ENDPOINT)["result"] is False
    finally:
        holder.communicate(timeout=10)
    # the lock is free again once the other run ends
    assert zone_state.server_present("vmm04", NEW_ENDPOINT)["result"] is True


def test_present_reports_cli_failure(fake):
    fake.fail["server-add"] = run_result(
        stderr="[one.zone.addserver] Cannot process request, oned cluster in election mode\n",
        retcode=255,
    )
    ret = zone_state.server_present("vmm04", NEW_ENDPOINT)
    assert ret["result"] is False
    assert "oned cluster in election mode" in ret["comment"]


def test_present_predicts_the_addition_when_the_zone_cannot_be_read_in_test_mode(fake, test_mode):
    # The bootstrap server in a test run: oned is not started, so onezone cannot answer.
    fake.fail["show"] = run_result(stderr="Failed to open TCP connection\n", retcode=255)
    ret = zone_state.server_present("vmm04", NEW_ENDPOINT)
    assert ret["result"] is None
    assert ret["changes"] == {
        "server": {"old": None, "new": {"name": "vmm04", "endpoint": NEW_ENDPOINT}}
    }
    assert "Failed to open TCP connection" in ret["comment"]
    assert fake.commands("server-add") == []


def test_present_fails_when_the_zone_cannot_be_read_for_real(fake):
    fake.fail["show"] = run_result(stderr="Failed to open TCP connection\n", retcode=255)
    ret = zone_state.server_present("vmm04", NEW_ENDPOINT)
    assert (ret["result"], ret["changes"]) == (False, {})
    assert fake.commands("server-add") == []


def _lock_is_free(lock_file):
    """Whether another open file description could take the membership lock right now."""
    descriptor = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)  # also releases it when taken
    return True


def test_present_holds_the_lock_while_it_acts_and_releases_it_after(fake, lock_file, monkeypatch):
    seen = {}

    def onezone(argv, **kwargs):
        if argv[1] == "server-add":
            seen["free_during_server_add"] = _lock_is_free(lock_file)
        return fake(argv, **kwargs)

    monkeypatch.setitem(zone_mod.__salt__, "cmd.run_all", onezone)
    ret = zone_state.server_present("vmm04", NEW_ENDPOINT)
    assert ret["result"] is True, ret
    assert seen == {"free_during_server_add": False}
    assert _lock_is_free(lock_file)


# ------------------------------------------------------------------- server_absent


def _stopped(rows, sid):
    return [
        server_row(int(r["ID"]), r["NAME"], r["ENDPOINT"], state="-") if r["ID"] == str(sid) else r
        for r in rows
    ]


def test_absent_removes_a_stopped_server(fake):
    fake.rows = _stopped(HEALTHY, 2)
    ret = zone_state.server_absent("vmm03")
    assert ret["result"] is True
    assert ret["changes"] == {
        "server": {
            "old": {"id": 2, "name": "vmm03", "endpoint": "http://10.213.0.30:2633/RPC2"},
            "new": None,
        }
    }
    assert fake.commands("server-del") == [["onezone", "server-del", "0", "2"]]


def test_absent_test_mode(fake, test_mode):
    fake.rows = _stopped(HEALTHY, 2)
    ret = zone_state.server_absent("vmm03")
    assert ret["result"] is None
    assert ret["changes"]["server"]["old"]["id"] == 2
    assert fake.commands("server-del") == []


def test_absent_already_absent(fake):
    ret = zone_state.server_absent("vmm09")
    assert (ret["result"], ret["changes"]) == (True, {})


def test_absent_refuses_the_last_member(fake):
    fake.rows = [HEALTHY[0]]
    ret = zone_state.server_absent("vmm01")
    assert ret["result"] is False
    assert "last member" in ret["comment"]


def test_absent_refuses_the_leader(fake):
    ret = zone_state.server_absent("vmm01")
    assert ret["result"] is False
    assert "current leader" in ret["comment"]
    assert fake.commands("server-del") == []


def test_absent_refuses_a_server_still_running(fake):
    ret = zone_state.server_absent("vmm03")
    assert ret["result"] is False
    assert "still answers (state follower)" in ret["comment"]
    assert zone_state.server_absent("vmm03", require_stopped=False)["result"] is True


def test_absent_refuses_when_unhealthy_apart_from_the_target(fake):
    rows = _stopped(HEALTHY, 2)
    rows[1] = server_row(1, "vmm02", "http://10.213.0.20:2633/RPC2", state="1")
    fake.rows = rows
    ret = zone_state.server_absent("vmm03")
    assert ret["result"] is False
    assert "not healthy apart from it: server 1 (vmm02) is in state candidate" in ret["comment"]


def test_absent_refuses_duplicated_names(fake):
    fake.rows = _stopped(HEALTHY, 2) + [server_row(3, "vmm03", "http://x/RPC2", state="-")]
    assert "several servers named vmm03" in zone_state.server_absent("vmm03")["comment"]


def test_absent_refuses_while_locked(fake, held_lock):
    fake.rows = _stopped(HEALTHY, 2)
    ret = zone_state.server_absent("vmm03")
    assert ret["result"] is False
    assert "lock" in ret["comment"]


# ------------------------------------------------------------------ follower_reset


def test_reset_not_needed_for_a_caught_up_follower(fake):
    ret = zone_state.follower_reset("vmm02")
    assert (ret["result"], ret["changes"]) == (True, {})
    assert "already a caught-up follower" in ret["comment"]
    assert fake.commands("server-reset") == []


def test_reset_lagging_follower_then_waits_for_catch_up(fake, no_sleep):
    fake.rows = HEALTHY[:2] + [server_row(2, "vmm03", "http://10.213.0.30:2633/RPC2", index="7")]
    real = FakeOnezone.__call__

    def catch_up_after_reset(argv, **kwargs):
        if argv[1] == "server-reset":
            fake.rows = HEALTHY
        return real(fake, argv, **kwargs)

    zone_mod.__salt__["cmd.run_all"] = catch_up_after_reset
    ret = zone_state.follower_reset("vmm03", max_lag=10)
    assert ret["result"] is True
    assert ret["changes"] == {
        "server": {"old": {"state": "follower", "log_index": 7}, "new": "reset"}
    }
    assert fake.commands("server-reset") == [["onezone", "server-reset", "0", "2"]]


def test_reset_test_mode(fake, test_mode):
    fake.rows = _stopped(HEALTHY, 2)
    ret = zone_state.follower_reset("vmm03")
    assert ret["result"] is None
    assert ret["changes"] == {
        "server": {"old": {"state": "error", "log_index": None}, "new": "reset"}
    }
    assert fake.commands("server-reset") == []


def test_reset_reports_when_the_follower_does_not_catch_up(fake, no_sleep):
    fake.rows = _stopped(HEALTHY, 2)
    ret = zone_state.follower_reset("vmm03", timeout=5)
    assert ret["result"] is False
    assert "has not caught up after 5s (last seen: error)" in ret["comment"]
    assert ret["changes"]["server"]["new"] == "reset"


def test_reset_force_and_no_wait(fake):
    ret = zone_state.follower_reset("vmm02", force=True, wait=False)
    assert ret["result"] is True
    assert fake.commands("server-reset") == [["onezone", "server-reset", "0", "1"]]


@pytest.mark.parametrize(
    "rows, name, message",
    [
        (HEALTHY, "vmm01", "is the leader"),
        (HEALTHY, "vmm09", "not found"),
        ([server_row(0, "a", "http://a/RPC2", state="2")], "a", "no leader"),
    ],
)
def test_reset_refusals(fake, rows, name, message):
    fake.rows = rows
    ret = zone_state.follower_reset(name)
    assert ret["result"] is False
    assert message in ret["comment"]
    assert fake.commands("server-reset") == []


def test_unusable_lock_path_is_a_clean_failure(fake, opts, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    opts["onenebula_ha.lock_file"] = str(blocker / "lock")
    for ret in (
        zone_state.server_present("vmm04", NEW_ENDPOINT),
        zone_state.server_absent("vmm03"),
    ):
        assert ret["result"] is False
        assert "Cannot take the membership lock" in ret["comment"]
    assert fake.calls == []


# ---------------------------------------------------------------------------- healthy / member


def test_healthy_when_the_zone_holds_the_members_with_their_ids(fake, live_reads):
    ret = zone_state.healthy(members=[{"name": "vmm01", "id": 0}, {"name": "vmm03", "id": 2}])
    assert (ret["result"], ret["changes"]) == (True, {})
    assert "leader vmm01" in ret["comment"]
    assert live_reads == [0]  # read live, not from a cached onezone show


def test_healthy_looks_every_half_second_by_default(fake, no_sleep, live_reads):
    ret = zone_state.healthy(members=[{"name": "vmm04", "id": 3}], timeout=2)
    assert ret["result"] is False and no_sleep["now"] == 2.0
    assert len(live_reads) == 5  # at 0, 0.5, 1, 1.5 and 2 s


def test_healthy_fails_at_once_on_a_wrong_id(fake, no_sleep):
    ret = zone_state.healthy(members=[{"name": "vmm03", "id": 5}], timeout=600)
    assert ret["result"] is False
    assert "vmm03 has ID 2 in the zone but 5 in the pillar" in ret["comment"]
    assert no_sleep["now"] == 0.0


def test_healthy_waits_then_gives_up_naming_what_is_missing(fake, no_sleep):
    ret = zone_state.healthy(members=[{"name": "vmm04", "id": 3}], timeout=10, interval=2)
    assert ret["result"] is False
    assert "vmm04 is not in the zone yet" in ret["comment"]
    assert no_sleep["now"] == 10.0


def test_healthy_in_test_mode_looks_once(fake, test_mode, no_sleep):
    ret = zone_state.healthy(members=[{"name": "vmm04", "id": 3}], timeout=10)
    assert ret["result"] is None and no_sleep["now"] == 0.0


def test_member_checks_the_id_the_zone_gave(fake, test_mode, opts, live_reads):
    assert zone_state.member("vmm02", 1)["result"] is True
    assert live_reads == [0]
    assert zone_state.member("vmm02", 4)["result"] is False
    assert zone_state.member("vmm09", 4)["result"] is None
    opts["test"] = False
    assert zone_state.member("vmm09", 4)["result"] is False
