"""Unit tests for ``_modules/onenebula_zone.py`` with ``onezone`` replaced by canned output."""

import json
import logging
import threading
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

import pytest
import salt.utils.path
from onenebula_modules_helpers import (
    EXAMPLE_ROWS,
    FakeOnezone,
    load,
    run_result,
    server_row,
    set_auth_files,
    show_document,
)
from salt.exceptions import CommandExecutionError
from support.formula_utils import utils_dunder

UTILS = utils_dunder()

zone = load("modules", "onenebula_zone")
conf = load("modules", "onenebula_conf")

SESSION = "oneadmin:s3cr3t-session-token"
# docs/opennebula-raft.md §2.2, exact reply of a leader
RAFT_XML = (
    "<RAFT><SERVER_ID>0</SERVER_ID><STATE>3</STATE><TERM>1</TERM><VOTEDFOR>0</VOTEDFOR>"
    "<COMMIT>3</COMMIT><LOG_INDEX>3</LOG_INDEX><LOG_TERM>1</LOG_TERM>"
    "<FEDLOG_INDEX>-1</FEDLOG_INDEX></RAFT>"
)


@pytest.fixture
def fake():
    return FakeOnezone(EXAMPLE_ROWS)


@pytest.fixture
def configure_loader_modules(fake):
    return {
        zone: {
            "__salt__": {"cmd.run_all": fake},
            "__context__": {},
            "__opts__": {},
            "__utils__": UTILS,
        }
    }


@pytest.fixture(autouse=True)
def live_reads(request, monkeypatch):
    """What ``raft_zone`` (the in-process read of ``show(live=True)``) answers outside its
    own tests (those with ``oned_zone``): the fake onezone's zone; the zones read."""
    reads = []
    if "oned_zone" in request.fixturenames:
        return reads

    def raft_zone(zone_id=0, timeout=5):
        reads.append(zone_id)
        return zone.show(zone_id, refresh=True)

    monkeypatch.setattr(zone, "raft_zone", raft_zone)
    return reads


@pytest.fixture
def no_sleep(monkeypatch):
    """Replace time in the module with a fake clock that advances on sleep."""
    clock = {"now": 1000.0}
    monkeypatch.setattr(zone.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(
        zone.time, "sleep", lambda seconds: clock.__setitem__("now", clock["now"] + seconds)
    )
    return clock


def test_virtual_needs_onezone_on_path(monkeypatch):
    monkeypatch.setattr(salt.utils.path, "which", lambda name: None)
    loaded, reason = zone.__virtual__()
    assert loaded is False
    assert "onezone" in reason
    monkeypatch.setattr(salt.utils.path, "which", lambda name: f"/usr/bin/{name}")
    assert zone.__virtual__() == "onenebula_zone"


# ---------------------------------------------------------------------------- show


def test_show_normalises_the_reference_example(fake):
    info = zone.show()
    assert fake.commands() == [["onezone", "show", "0", "-j"]]
    assert fake.calls[0][1]["python_shell"] is False
    assert info["id"] == 0
    assert info["name"] == "OpenNebula"
    assert info["state"] == "enabled"
    assert info["servers"] == [
        {
            "id": 0,
            "name": "server-0",
            "endpoint": "http://192.168.150.1:2633/RPC2",
            "state": "leader",
            "term": 3,
            "votedfor": 0,
            "commit": 120,
            "log_index": 120,
            "fedlog_index": -1,
        },
        {
            "id": 1,
            "name": "server-1",
            "endpoint": "http://192.168.150.2:2633/RPC2",
            "state": "follower",
            "term": 3,
            "votedfor": 0,
            "commit": 120,
            "log_index": 120,
            "fedlog_index": -1,
        },
        {
            "id": 2,
            "name": "server-2",
            "endpoint": "http://192.168.150.3:2633/RPC2",
            "state": "error",
            "term": None,
            "votedfor": None,
            "commit": None,
            "log_index": None,
            "fedlog_index": None,
        },
    ]


def test_show_accepts_a_single_server_object(fake):
    fake.rows = [server_row(0, "vmm01", "http://10.213.0.10:2633/RPC2", state="0", index="-1")]
    document = show_document(fake.rows)
    assert isinstance(document["ZONE"]["SERVER_POOL"]["SERVER"], dict)
    servers = zone.show()["servers"]
    assert [(s["id"], s["name"], s["state"], s["log_index"]) for s in servers] == [
        (0, "vmm01", "solo", -1)
    ]


@pytest.mark.parametrize("pool", [{}, None, "absent"])
def test_show_empty_pool_shapes(fake, pool):
    document = show_document([])
    if pool == "absent":
        del document["ZONE"]["SERVER_POOL"]
    else:
        document["ZONE"]["SERVER_POOL"] = pool
    fake.fail["show"] = run_result(json.dumps(document))
    assert zone.show()["servers"] == []


def test_show_maps_unknown_states_to_error(fake):
    fake.rows = [server_row(0, "a", "http://a:2633/RPC2", state="7")]
    assert zone.show()["servers"][0]["state"] == "error"


def test_show_is_cached_per_run_until_refresh(fake):
    zone.show()
    zone.show()
    assert len(fake.commands("show")) == 1
    zone.show(refresh=True)
    assert len(fake.commands("show")) == 2
    zone.show(zone=100)
    assert fake.commands("show")[-1] == ["onezone", "show", "100", "-j"]


def test_show_live_reads_in_process_and_fills_the_cache(fake, live_reads):
    live = zone.show(refresh=True, live=True)
    assert live_reads == [0]
    calls = len(fake.commands("show"))  # the fake raft_zone's own read
    # A cached read (health's refresh=False) reuses it: no onezone process, no new read.
    assert zone.show() == live and live_reads == [0]
    assert len(fake.commands("show")) == calls
    zone.show(live=True)
    assert live_reads == [0]  # cached too unless refresh


def test_show_returns_a_copy_not_the_cache(fake):
    zone.show()["servers"].clear()
    assert len(zone.show()["servers"]) == 3


def test_show_failure_carries_the_cli_message(fake):
    fake.fail["show"] = run_result(stderr="ONE_AUTH file not present\n", retcode=255)
    with pytest.raises(CommandExecutionError, match="^ONE_AUTH file not present$"):
        zone.show()


def test_show_rejects_invalid_json(fake):
    fake.fail["show"] = run_result("ZONE 0 INFORMATION")
    with pytest.raises(CommandExecutionError, match="invalid JSON"):
        zone.show()


def test_cli_gets_configured_endpoint_and_auth_in_its_environment(fake, monkeypatch):
    monkeypatch.setitem(zone.__opts__, "onenebula_ha.endpoint", "http://10.213.0.10:2633/RPC2")
    monkeypatch.setitem(zone.__opts__, "onenebula_ha.one_auth_file", "/srv/one_auth")
    zone.show()
    env = fake.calls[0][1]["env"]
    assert env == {"ONE_XMLRPC": "http://10.213.0.10:2633/RPC2", "ONE_AUTH": "/srv/one_auth"}


# -------------------------------------------------------------- leader / health


def test_leader_of_the_example(fake):
    assert zone.leader()["name"] == "server-0"


def test_leader_none_and_highest_term(fake):
    fake.rows = [server_row(0, "a", "http://a/RPC2", state="2")]
    assert zone.leader() is None
    fake.rows = [
        server_row(0, "a", "http://a/RPC2", state="3", term="4"),
        server_row(1, "b", "http://b/RPC2", state="3", term="5"),
    ]
    assert zone.leader(refresh=True)["name"] == "b"


def test_health_of_the_example_reports_the_error_row(fake):
    report = zone.health()
    assert report["healthy"] is False
    assert report["leader"]["id"] == 0
    assert report["problems"] == ["server 2 (server-2) is in state error"]


def test_health_healthy_zone(fake):
    fake.rows = EXAMPLE_ROWS[:2] + [
        server_row(2, "server-2", "http://192.168.150.3:2633/RPC2", state="2", index="118")
    ]
    report = zone.health()
    assert report == {
        "healthy": True,
        "leader": report["leader"],
        "problems": [],
        "servers": report["servers"],
    }
    assert zone.is_healthy() is True


def test_health_flags_lag_beyond_max_lag(fake):
    fake.rows = EXAMPLE_ROWS[:2] + [server_row(2, "server-2", "http://c/RPC2", index="100")]
    assert zone.health(max_lag=20)["healthy"] is True
    assert zone.health(max_lag=19)["problems"] == [
        "server 2 (server-2) is 20 log records behind the leader (limit 19)"
    ]


def test_health_max_lag_default_from_minion_config(fake, monkeypatch):
    fake.rows = EXAMPLE_ROWS[:2] + [server_row(2, "server-2", "http://c/RPC2", index="100")]
    assert zone.is_healthy() is True
    monkeypatch.setitem(zone.__opts__, "onenebula_ha.max_lag", 5)
    assert zone.is_healthy() is False


def test_health_two_leaders_no_leader_and_candidates(fake):
    fake.rows = [
        server_row(0, "a", "http://a/RPC2", state="3", term="3"),
        server_row(1, "b", "http://b/RPC2", state="3", term="4"),
        server_row(2, "c", "http://c/RPC2", state="1", term="4"),
    ]
    problems = zone.health()["problems"]
    assert problems[0] == "2 leaders: server 0 (a), server 1 (b)"
    assert "server 2 (c) is in state candidate" in problems
    fake.rows = [server_row(0, "a", "http://a/RPC2", state="2")]
    assert zone.health()["problems"] == ["no leader"]
    fake.rows = []
    assert zone.health()["problems"] == ["zone 0 has no servers"]


def test_health_ignore_by_id_or_name(fake):
    assert zone.health(ignore=[2])["healthy"] is True
    assert zone.health(ignore="server-2")["healthy"] is True
    assert zone.health(ignore=["2"])["healthy"] is True


def test_health_reports_unreadable_zone_as_problem(fake):
    fake.fail["show"] = run_result(
        stderr="Failed to open TCP connection to localhost:2633", retcode=255
    )
    report = zone.health()
    assert report["healthy"] is False
    assert report["problems"] == [
        "cannot read zone 0: Failed to open TCP connection to localhost:2633"
    ]


def test_wait_healthy_polls_until_healthy(fake, no_sleep):
    answers = iter([EXAMPLE_ROWS, EXAMPLE_ROWS, EXAMPLE_ROWS[:2]])

    def show_rows(argv, **kwargs):
        fake.rows = next(answers)
        return FakeOnezone.__call__(fake, argv, **kwargs)

    zone.__salt__["cmd.run_all"] = show_rows
    report = zone.wait_healthy(timeout=60, interval=2)
    assert report["healthy"] is True
    assert len(fake.commands("show")) == 3
    assert no_sleep["now"] == 1004.0


def test_wait_healthy_times_out_with_the_problems(fake, no_sleep):
    with pytest.raises(CommandExecutionError, match="not healthy after 10s: server 2"):
        zone.wait_healthy(timeout=10, interval=3)
    # polls at 0, 3, 6, 9 and a last one at the deadline
    assert len(fake.commands("show")) == 5


# ------------------------------------------------------------------ membership


def _healthy(fake):
    """The example zone with server 2 answering as a caught-up follower."""
    fake.rows[2] = server_row(2, "server-2", "http://192.168.150.3:2633/RPC2", state="2")
    return fake


def test_server_add_returns_the_id_read_back_by_name(fake, live_reads):
    _healthy(fake)
    new_id = zone.server_add("vmm04", "http://10.213.0.40:2633/RPC2")
    assert new_id == 3
    # The zone is read in process before and after the CLI's server-add.
    assert live_reads == [0, 0]
    assert fake.commands("server-add") == [
        ["onezone", "server-add", "0", "--name", "vmm04", "--rpc", "http://10.213.0.40:2633/RPC2"]
    ]
    # the next show is fresh, not the pre-add cache
    assert "vmm04" in [s["name"] for s in zone.show()["servers"]]


def test_server_add_waits_for_a_lagging_follower_copy(fake, no_sleep):
    _healthy(fake)
    real = FakeOnezone.__call__
    stale = {"left": 2}

    def lagging(argv, **kwargs):
        result = real(fake, argv, **kwargs)
        if argv[1] == "show" and any(r["NAME"] == "vmm04" for r in fake.rows) and stale["left"]:
            stale["left"] -= 1
            rows = [r for r in fake.rows if r["NAME"] != "vmm04"]
            return run_result(json.dumps(show_document(rows)))
        return result

    zone.__salt__["cmd.run_all"] = lagging
    assert zone.server_add("vmm04", "http://10.213.0.40:2633/RPC2") == 3
    assert stale["left"] == 0


def test_server_add_bootstraps_an_empty_zone(fake):
    fake.rows.clear()
    assert zone.server_add("vmm01", "http://10.213.0.10:2633/RPC2") == 0


# Each refusal happens before any change: no server-add reaches the CLI.
ADD_REFUSALS = [
    ("name-option", "--help", "http://10.213.0.40:2633/RPC2", {}, "refusing server name '--help'"),
    ("name-space", "vmm 04", "http://10.213.0.40:2633/RPC2", {}, "refusing server name"),
    ("name-not-text", 4, "http://10.213.0.40:2633/RPC2", {}, "refusing server name 4"),
    (
        "endpoint-substitution",
        "vmm04",
        "http://10.213.0.40:2633/RPC2$(id)",
        {},
        "refusing endpoint 'http://10.213.0.40:2633/RPC2$(id)'",
    ),
    (
        "endpoint-no-scheme",
        "vmm04",
        "10.213.0.40:2633",
        {},
        "expected http(s)://<host>[:<port>]/RPC2",
    ),
    ("endpoint-port-99999", "vmm04", "http://10.213.0.40:99999/RPC2", {}, "refusing endpoint"),
    (
        "endpoint-user-info",
        "vmm04",
        "http://oneadmin:pw@10.213.0.40:2633/RPC2",
        {},
        "refusing endpoint <with user-info>",
    ),
    (
        "timeout-text",
        "vmm04",
        "http://10.213.0.40:2633/RPC2",
        {"timeout": "x"},
        "refusing timeout 'x'",
    ),
    ("timeout-zero", "vmm04", "http://10.213.0.40:2633/RPC2", {"timeout": 0}, "refusing timeout 0"),
    (
        "timeout-bool",
        "vmm04",
        "http://10.213.0.40:2633/RPC2",
        {"timeout": True},
        "refusing timeout True",
    ),
    (
        "zone-text",
        "vmm04",
        "http://10.213.0.40:2633/RPC2",
        {"zone": "0;id"},
        "refusing zone '0;id'",
    ),
    (
        "duplicate-name",
        "server-1",
        "http://10.213.0.40:2633/RPC2",
        {},
        "refusing to add server-1: zone 0 already has a server server-1 (ID 1)",
    ),
    (
        "duplicate-endpoint-spelling",
        "vmm04",
        "http://192.168.150.2:02633/RPC2/",
        {},
        "refusing endpoint",
    ),
    (
        "duplicate-endpoint",
        "vmm04",
        "HTTP://192.168.150.2:2633/RPC2".replace("HTTP", "http"),
        {},
        "refusing to add vmm04: server 1 (server-1) already has the endpoint",
    ),
]


@pytest.mark.parametrize(
    ("name", "endpoint", "kwargs", "message"),
    [pytest.param(n, e, k, m, id=i) for i, n, e, k, m in ADD_REFUSALS],
)
def test_server_add_refuses_before_any_change(fake, name, endpoint, kwargs, message):
    _healthy(fake)
    with pytest.raises(CommandExecutionError) as error:
        zone.server_add(name, endpoint, **kwargs)
    assert message in str(error.value)
    assert "pw@" not in str(error.value)
    assert fake.commands("server-add") == []


def test_server_add_refuses_an_unhealthy_zone(fake):
    with pytest.raises(CommandExecutionError) as error:
        zone.server_add("vmm04", "http://10.213.0.40:2633/RPC2")
    assert str(error.value) == (
        "refusing to add vmm04: zone 0 is not healthy: server 2 (server-2) is in state error"
    )
    assert fake.commands("server-add") == []


def test_server_add_duplicate_host_in_another_spelling_is_refused(fake):
    _healthy(fake)
    fake.rows[1] = server_row(1, "server-1", "http://Vmm02.Example.org:2633/RPC2")
    with pytest.raises(CommandExecutionError, match="already has the endpoint"):
        zone.server_add("vmm04", "http://vmm02.example.org:2633/RPC2")
    assert fake.commands("server-add") == []


@pytest.mark.parametrize(
    "failure, message",
    [
        (
            run_result(
                stdout="Wrong protocol specified. Only http or https allowed!\n", retcode=255
            ),
            "Wrong protocol specified. Only http or https allowed!",
        ),
        (
            run_result(
                stderr="To add a server set:\n\t-n <server name>\n\t-r <RPC endpoint>\n",
                retcode=255,
            ),
            "To add a server set:",
        ),
        (
            run_result(
                stderr="[one.zone.addserver] Cannot process request, no leader found\n",
                retcode=255,
            ),
            r"\[one.zone.addserver\] Cannot process request, no leader found",
        ),
        (
            run_result(
                stderr="[one.zone.addserver] Servers have to be added through the target zone endpoints\n",
                retcode=255,
            ),
            "Servers have to be added through the target zone endpoints",
        ),
    ],
)
def test_server_add_errors_carry_the_cli_message(fake, failure, message):
    _healthy(fake)
    fake.fail["server-add"] = failure
    with pytest.raises(CommandExecutionError, match=message) as error:
        zone.server_add("vmm04", "http://10.213.0.40:2633/RPC2")
    assert error.value.info["retcode"] == 255


def test_server_add_times_out_when_it_never_shows(fake, no_sleep):
    _healthy(fake)
    fake.fail["server-add"] = run_result()  # "succeeds" but the zone never lists it
    with pytest.raises(CommandExecutionError, match="does not show in zone 0 after 5s"):
        zone.server_add("vmm04", "http://10.213.0.40:2633/RPC2", timeout=5)


def test_server_id_lookup(fake):
    assert zone.server_id("server-1") == 1
    assert zone.server_id("nope") is None
    fake.rows.append(server_row(3, "server-1", "http://x/RPC2"))
    with pytest.raises(CommandExecutionError, match="server-1 not found or duplicated"):
        zone.server_id("server-1", refresh=True)


def test_server_del_by_name_sends_the_numeric_id(fake):
    assert zone.server_del("server-2") == 2
    assert fake.commands("server-del") == [["onezone", "server-del", "0", "2"]]
    assert [s["id"] for s in zone.show()["servers"]] == [0, 1]


def test_server_del_of_a_running_follower_only_when_asked(fake):
    _healthy(fake)
    with pytest.raises(CommandExecutionError) as error:
        zone.server_del(1)
    assert str(error.value) == (
        "refusing to remove server 1 (server-1): its oned still answers (state follower); "
        "stop OpenNebula on it first"
    )
    assert zone.server_del(1, require_stopped=False) == 1


DEL_REFUSALS = [
    ("unknown-id", lambda fake: "9", "9 not found or duplicated: no such server in zone 0"),
    ("unknown-name", lambda fake: "--help", "--help not found or duplicated"),
    (
        "leader",
        lambda fake: "server-0",
        "refusing to remove server 0 (server-0): the current leader",
    ),
    (
        "unhealthy-zone",
        lambda fake: (
            fake.rows.__setitem__(
                1, server_row(1, "server-1", "http://192.168.150.2:2633/RPC2", state="-")
            )
            or "server-2"
        ),
        "refusing to remove server 2 (server-2): zone 0 is not healthy apart from it: "
        "server 1 (server-1) is in state error",
    ),
    (
        "last-member",
        lambda fake: fake.rows.__delitem__(slice(0, 2)) or "server-2",
        "refusing to remove server 2 (server-2): the last member of zone 0",
    ),
]


@pytest.mark.parametrize(
    ("prepare", "message"), [pytest.param(p, m, id=i) for i, p, m in DEL_REFUSALS]
)
def test_server_del_refuses_before_any_change(fake, prepare, message):
    target = prepare(fake)
    with pytest.raises(CommandExecutionError) as error:
        zone.server_del(target, require_stopped=False)
    assert message in str(error.value)
    assert fake.commands("server-del") == []


def test_server_del_unknown_or_duplicated_name_never_reaches_the_cli(fake):
    with pytest.raises(CommandExecutionError, match="nope not found or duplicated"):
        zone.server_del("nope")
    fake.rows.append(server_row(3, "server-1", "http://x/RPC2"))
    with pytest.raises(CommandExecutionError, match="duplicated"):
        zone.server_reset("server-1")
    assert fake.commands("server-del") == fake.commands("server-reset") == []


def test_server_reset(fake):
    assert zone.server_reset("server-2", zone=0) == 2
    assert fake.commands("server-reset") == [["onezone", "server-reset", "0", "2"]]


@pytest.mark.parametrize(
    ("target", "prepare", "message"),
    [
        pytest.param(
            "7", None, "7 not found or duplicated: no such server in zone 0", id="unknown-id"
        ),
        pytest.param(
            "server-0", None, "refusing to reset server 0 (server-0): it is the leader", id="leader"
        ),
        pytest.param(
            2,
            lambda fake: fake.rows.__setitem__(
                0, server_row(0, "server-0", "http://x/RPC2", state="-")
            ),
            "refusing to reset server 2 (server-2): zone 0 has no leader",
            id="no-leader",
        ),
    ],
)
def test_server_reset_refusals(fake, target, prepare, message):
    if prepare:
        prepare(fake)
    with pytest.raises(CommandExecutionError) as error:
        zone.server_reset(target)
    assert message in str(error.value)
    assert fake.commands("server-reset") == []


# ------------------------------------------------------------------ raft_status


class _Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/RPC2",)

    def log_message(self, *args):
        pass


@pytest.fixture
def oned_stub():
    """A tiny XML-RPC server answering one.zone.raftstatus like oned (docs/opennebula-raft.md §2)."""
    server = SimpleXMLRPCServer(("127.0.0.1", 0), _Handler, logRequests=False, allow_none=True)
    state = {"reply": [True, RAFT_XML, 0], "sessions": []}

    def raftstatus(session):
        state["sessions"].append(session)
        return state["reply"]

    server.register_function(raftstatus, "one.zone.raftstatus")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state["endpoint"] = f"http://127.0.0.1:{server.server_address[1]}/RPC2"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def auth_file(tmp_path, monkeypatch):
    path = tmp_path / "one_auth"
    path.write_text(SESSION + "\n")
    monkeypatch.setenv("ONE_AUTH", str(path))
    return path


def test_raft_status_parses_the_reply(oned_stub, auth_file, monkeypatch):
    monkeypatch.setenv("ONE_XMLRPC", oned_stub["endpoint"])
    assert zone.raft_status() == {
        "server_id": 0,
        "state": 3,
        "state_name": "leader",
        "term": 1,
        "votedfor": 0,
        "commit": 3,
        "log_index": 3,
        "log_term": 1,
        "fedlog_index": -1,
    }
    assert oned_stub["sessions"] == [SESSION]


def test_raft_status_solo_values(oned_stub, auth_file, monkeypatch):
    oned_stub["reply"] = [
        True,
        "<RAFT><SERVER_ID>-1</SERVER_ID><STATE>0</STATE><TERM>0</TERM><VOTEDFOR>-1</VOTEDFOR>"
        "<COMMIT>0</COMMIT><LOG_INDEX>-1</LOG_INDEX><LOG_TERM>-1</LOG_TERM>"
        "<FEDLOG_INDEX>-1</FEDLOG_INDEX></RAFT>",
        0,
    ]
    monkeypatch.setenv("ONE_XMLRPC", oned_stub["endpoint"])
    status = zone.raft_status()
    assert (status["state_name"], status["log_index"], status["server_id"]) == ("solo", -1, -1)


def test_raft_status_failure_carries_oned_message_never_the_session(
    oned_stub, auth_file, monkeypatch, caplog
):
    oned_stub["reply"] = [
        False,
        "[one.zone.raftstatus] User couldn't be authenticated, aborting call.",
        0x100,
        -1,
        0,
    ]
    monkeypatch.setenv("ONE_XMLRPC", oned_stub["endpoint"])
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CommandExecutionError, match="User couldn't be authenticated") as error:
        zone.raft_status()
    assert error.value.info == {"reachable": True, "code": 0x100}
    assert SESSION not in str(error.value)
    assert "s3cr3t" not in caplog.text


def test_raft_status_unreachable(auth_file, monkeypatch):
    with SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False) as closed:
        port = closed.server_address[1]
    monkeypatch.setenv("ONE_XMLRPC", f"http://127.0.0.1:{port}/RPC2")
    with pytest.raises(CommandExecutionError, match="cannot reach oned") as error:
        zone.raft_status(timeout=1)
    assert error.value.info == {"reachable": False}
    assert "s3cr3t" not in str(error.value)


def test_raft_status_without_credentials(monkeypatch, tmp_path):
    monkeypatch.delenv("ONE_AUTH", raising=False)
    set_auth_files(monkeypatch, zone, [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(CommandExecutionError, match="ONE_AUTH file not present"):
        zone.raft_status()


def test_endpoint_resolution_order(monkeypatch, tmp_path):
    user_file, system_file = tmp_path / "user_endpoint", tmp_path / "system_endpoint"
    monkeypatch.setattr(zone, "ENDPOINT_FILES", (str(user_file), str(system_file)))
    monkeypatch.delenv("ONE_XMLRPC", raising=False)
    oned_conf = tmp_path / "oned.conf"
    oned_conf.write_text('PORT = 2700\nLISTEN_ADDRESS = "0.0.0.0"\n')
    use_conf_module(monkeypatch, oned_conf)
    assert zone._local_endpoint() == "http://localhost:2700/RPC2"
    oned_conf.write_text('# moved\nLISTEN_ADDRESS = "10.0.0.5"\n')  # the cache follows the file
    assert zone._local_endpoint() == "http://10.0.0.5:2633/RPC2"
    system_file.write_text("http://system:2633/RPC2\n")
    assert zone._local_endpoint() == "http://system:2633/RPC2"
    user_file.write_text("http://user:2633/RPC2\n")
    assert zone._local_endpoint() == "http://user:2633/RPC2"
    monkeypatch.setenv("ONE_XMLRPC", "http://env:2633/RPC2")
    assert zone._local_endpoint() == "http://env:2633/RPC2"
    monkeypatch.setitem(zone.__opts__, "onenebula_ha.endpoint", "http://opts:2633/RPC2")
    assert zone._local_endpoint() == "http://opts:2633/RPC2"


def test_oned_conf_endpoint_is_parsed_once_per_file_version(monkeypatch, tmp_path):
    oned_conf = tmp_path / "oned.conf"
    oned_conf.write_text("PORT = 2700\n")
    use_conf_module(monkeypatch, oned_conf)
    reads = []
    real_get = zone.__salt__["onenebula_conf.get"]
    zone.__salt__["onenebula_conf.get"] = lambda *a, **k: reads.append(a) or real_get(*a, **k)
    for _ in range(5):
        assert zone._oned_conf_endpoint() == "http://localhost:2700/RPC2"
    assert len(reads) == 2  # PORT and LISTEN_ADDRESS, once


def use_conf_module(monkeypatch, path):
    """Wire the real onenebula_conf functions into the zone module's __salt__."""
    monkeypatch.setattr(conf, "__opts__", {"onenebula_ha.oned_conf": str(path)}, raising=False)
    zone.__salt__["onenebula_conf.get"] = conf.get
    zone.__salt__["onenebula_conf.default_path"] = conf.default_path


def test_endpoint_default_without_oned_conf(monkeypatch, tmp_path):
    monkeypatch.setattr(zone, "ENDPOINT_FILES", (str(tmp_path / "x"),))
    monkeypatch.delenv("ONE_XMLRPC", raising=False)
    assert zone._local_endpoint() == "http://localhost:2633/RPC2"


def test_auth_file_resolution_order(monkeypatch, tmp_path):
    user, system, env, opts = (tmp_path / n for n in ("user", "system", "env", "opts"))
    set_auth_files(monkeypatch, zone, [user, system])
    monkeypatch.setenv("ONE_AUTH", str(env))  # does not exist yet: skipped, as the CLI does
    system.write_text("oneadmin:system\n")
    assert zone._session() == "oneadmin:system"
    user.write_text("oneadmin:user\n")
    assert zone._session() == "oneadmin:user"
    env.write_text("oneadmin:env\n")
    assert zone._session() == "oneadmin:env"
    monkeypatch.setitem(zone.__opts__, "onenebula_ha.one_auth_file", str(opts))
    with pytest.raises(CommandExecutionError, match="ONE_AUTH file not present"):
        zone._session()
    opts.write_text("oneadmin:opts\n")
    assert zone._session() == "oneadmin:opts"


# ------------------------------------------------------------------ raft_zone


def _raft_xml(server_id, state, term=4, log_index=30):
    return (
        f"<RAFT><SERVER_ID>{server_id}</SERVER_ID><STATE>{state}</STATE><TERM>{term}</TERM>"
        f"<VOTEDFOR>0</VOTEDFOR><COMMIT>{log_index}</COMMIT><LOG_INDEX>{log_index}</LOG_INDEX>"
        f"<LOG_TERM>{term}</LOG_TERM><FEDLOG_INDEX>-1</FEDLOG_INDEX></RAFT>"
    )


@pytest.fixture
def oned_zone():
    """Three stub oned: ``servers[i]`` answers raftstatus as server i; server 0 also answers
    one.zone.info with a pool of the three plus a fourth endpoint where nothing listens."""
    with SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False) as closed:
        dead = f"http://127.0.0.1:{closed.server_address[1]}/RPC2"
    servers, calls = [], []
    replies = {0: [True, _raft_xml(0, 3), 0], 1: [True, _raft_xml(1, 2, log_index=29), 0]}
    replies[2] = [False, "[one.zone.raftstatus] User couldn't be authenticated", 0x100]
    for index in range(3):
        server = SimpleXMLRPCServer(("127.0.0.1", 0), _Handler, logRequests=False)

        def raftstatus(session, index=index):
            calls.append(("raftstatus", index, session))
            return replies[index]

        server.register_function(raftstatus, "one.zone.raftstatus")
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
    endpoints = [f"http://127.0.0.1:{s.server_address[1]}/RPC2" for s in servers] + [dead]
    pool = "".join(
        f"<SERVER><ENDPOINT><![CDATA[{endpoint}]]></ENDPOINT><ID>{i}</ID>"
        f"<NAME><![CDATA[vmm0{i + 1}]]></NAME></SERVER>"
        for i, endpoint in enumerate(endpoints)
    )
    zone_xml = (
        "<ZONE><ID>0</ID><NAME>OpenNebula</NAME><STATE>0</STATE><TEMPLATE><ENDPOINT>"
        f"<![CDATA[{endpoints[0]}]]></ENDPOINT></TEMPLATE><SERVER_POOL>{pool}</SERVER_POOL></ZONE>"
    )
    state = {"zone_reply": [True, zone_xml, 0]}

    def zone_info(session, zone_id, decrypt=False):
        calls.append(("zone.info", zone_id, decrypt, session))
        return state["zone_reply"]

    servers[0].register_function(zone_info, "one.zone.info")
    state.update(endpoints=endpoints, calls=calls, replies=replies)
    yield state
    for server in servers:
        server.shutdown()
        server.server_close()


def test_raft_zone_reads_what_onezone_show_reads_without_the_cli(
    oned_zone, auth_file, monkeypatch, fake
):
    monkeypatch.setenv("ONE_XMLRPC", oned_zone["endpoints"][0])
    result = zone.raft_zone(timeout=2)
    assert fake.calls == []  # no onezone process
    assert (result["id"], result["name"], result["state"]) == (0, "OpenNebula", "enabled")
    assert result["endpoint"] == oned_zone["endpoints"][0]
    rows = {s["id"]: s for s in result["servers"]}
    assert rows[0] == {
        "id": 0,
        "name": "vmm01",
        "endpoint": oned_zone["endpoints"][0],
        "state": "leader",
        "term": 4,
        "votedfor": 0,
        "commit": 30,
        "log_index": 30,
        "fedlog_index": -1,
    }
    assert (rows[1]["state"], rows[1]["log_index"]) == ("follower", 29)
    # A refused call and a silent endpoint are `error` rows with no numbers, as in the CLI.
    for sid in (2, 3):
        assert rows[sid]["state"] == "error"
        assert rows[sid]["term"] is None and rows[sid]["log_index"] is None
    assert ("zone.info", 0, False, SESSION) in oned_zone["calls"]
    raft_calls = sorted(call[1] for call in oned_zone["calls"] if call[0] == "raftstatus")
    assert raft_calls == [0, 1, 2]
    assert {call[-1] for call in oned_zone["calls"]} == {SESSION}


def test_health_live_judges_the_zone_read_without_the_cli(oned_zone, auth_file, monkeypatch, fake):
    monkeypatch.setenv("ONE_XMLRPC", oned_zone["endpoints"][0])
    report = zone.health(live=True)
    assert fake.calls == []  # no onezone process
    assert report["leader"]["name"] == "vmm01" and len(report["servers"]) == 4
    errors = [p for p in report["problems"] if p.endswith("is in state error")]
    assert report["healthy"] is False and len(errors) == 2


def test_raft_zone_has_the_shape_of_show(oned_zone, auth_file, monkeypatch, fake):
    """The beacon swapped show for raft_zone: both hand it the same keys and value types."""
    monkeypatch.setenv("ONE_XMLRPC", oned_zone["endpoints"][0])
    via_rpc = zone.raft_zone(timeout=2)
    via_cli = zone.show(refresh=True)  # the fake onezone's reference example
    assert sorted(via_rpc) == sorted(via_cli)
    row_keys = {tuple(sorted(row)) for row in via_rpc["servers"] + via_cli["servers"]}
    assert len(row_keys) == 1
    for rows in (via_rpc["servers"], via_cli["servers"]):
        error_rows = [r for r in rows if r["state"] == "error"]
        assert error_rows and all(r["term"] is None for r in error_rows)
        assert all(isinstance(r["term"], int) for r in rows if r["state"] != "error")


def test_raft_zone_failures(oned_zone, auth_file, monkeypatch):
    monkeypatch.setenv("ONE_XMLRPC", oned_zone["endpoints"][0])
    oned_zone["zone_reply"] = [False, "[one.zone.info] Error getting zone [5].", 0x400]
    with pytest.raises(CommandExecutionError, match="Error getting zone") as error:
        zone.raft_zone(zone=5)
    assert error.value.info["reachable"] is True and SESSION not in str(error.value)
    oned_zone["zone_reply"] = [True, "<VM><ID>0</ID></VM>", 0]
    with pytest.raises(CommandExecutionError, match="not <ZONE>"):
        zone.raft_zone()
    oned_zone["zone_reply"] = [True, "<ZONE><ID>0", 0]
    with pytest.raises(CommandExecutionError, match="invalid XML"):
        zone.raft_zone()
    monkeypatch.setenv("ONE_XMLRPC", oned_zone["endpoints"][3])  # nothing listens
    with pytest.raises(CommandExecutionError, match="cannot reach oned") as error:
        zone.raft_zone(timeout=1)
    assert error.value.info == {"reachable": False}


def test_raft_zone_garbage_raftstatus_is_an_error_row(oned_zone, auth_file, monkeypatch):
    monkeypatch.setenv("ONE_XMLRPC", oned_zone["endpoints"][0])
    oned_zone["replies"][1] = [True, "<NOT_RAFT/>", 0]
    oned_zone["replies"][0] = [True, "<RAFT><STATE>3", 0]
    rows = {s["id"]: s["state"] for s in zone.raft_zone(timeout=2)["servers"]}
    assert rows == {0: "error", 1: "error", 2: "error", 3: "error"}
