"""Request::execute order on each Raft role (docs/opennebula-raft.md §2.3), with a stub Raft and no network."""

import xmlrpc.client

import pytest

from onesim import rpc
from onesim.oned import api
from onesim.oned.api import RequestManager
from onesim.oned.log import OnedLog
from onesim.oned.raft import CANDIDATE, FOLLOWER, LEADER, SOLO

SESSION = "oneadmin:pw"


class StubRaft:
    def __init__(self, state, leader=None, reconciling=False):
        self.state = state
        self.reconciling = reconciling
        self._leader = leader
        self.writes = []

    def leader_endpoint(self):
        return self._leader

    def write(self, statements):
        self.writes.append(statements)

    def status_xml(self):
        return "<RAFT/>"


class StubDb:
    def scalar(self, sql, default=None):
        if "pool_control" in sql:
            return default
        return "<ZONE><ID>0</ID><NAME>OpenNebula</NAME><STATE>0</STATE></ZONE>"

    def query(self, sql):
        return []


@pytest.fixture
def manager(tmp_path):
    log = OnedLog(tmp_path / "oned.log")

    def make(raft):
        return RequestManager(raft, StubDb(), log, ("oneadmin", "pw"), 0, "127.0.0.1")

    yield make
    log.close()


ALLOCATE = ("one.vm.allocate", (SESSION, 'NAME="x"', False))


def test_follower_without_known_leader_refuses_writes(manager):
    reply = manager(StubRaft(FOLLOWER)).dispatch(*ALLOCATE, "127.0.0.1")
    assert reply[:3] == [
        False,
        "[one.vm.allocate] Cannot process request, no leader found",
        rpc.INTERNAL,
    ]


def test_candidate_refuses_writes(manager):
    reply = manager(StubRaft(CANDIDATE)).dispatch(*ALLOCATE, "127.0.0.1")
    assert reply[1] == "[one.vm.allocate] Cannot process request, oned cluster in election mode"
    assert reply[2] == rpc.INTERNAL


def test_reconciling_leader_refuses_writes(manager):
    reply = manager(StubRaft(LEADER, reconciling=True)).dispatch(*ALLOCATE, "127.0.0.1")
    assert reply[1] == "[one.vm.allocate] Cannot process request, oned cluster is replicating log"


def test_reads_are_served_locally_on_every_role(manager):
    for state in (SOLO, CANDIDATE, FOLLOWER, LEADER):
        reply = manager(StubRaft(state)).dispatch("one.zone.raftstatus", (SESSION,), "127.0.0.1")
        assert reply == [True, "<RAFT/>", 0]


def test_follower_forwards_verbatim_and_returns_the_leader_reply(manager, monkeypatch):
    calls = []

    def fake_call(endpoint, method, params, timeout_s, source_address=None):
        calls.append((endpoint, method, params, timeout_s))
        return [False, "[one.vm.allocate] from the leader", 0x800, 7, rpc.I8(-1)]

    monkeypatch.setattr(api.rpc, "call", fake_call)
    raft = StubRaft(FOLLOWER, leader="http://10.0.0.1:2633/RPC2")
    params = (SESSION, 'NAME="x"', False)
    reply = manager(raft).dispatch("one.vm.allocate", params, "127.0.0.1")
    assert reply == [False, "[one.vm.allocate] from the leader", 0x800, 7, -1]
    assert calls == [("http://10.0.0.1:2633/RPC2", "one.vm.allocate", params, 10.0)]
    assert raft.writes == []


def test_follower_authenticates_before_forwarding(manager, monkeypatch):
    """Request::execute authenticates first: a bad session never reaches the leader."""
    calls = []
    monkeypatch.setattr(api.rpc, "call", lambda *args, **kw: calls.append(args))
    raft = StubRaft(FOLLOWER, leader="http://10.0.0.1:2633/RPC2")
    reply = manager(raft).dispatch("one.vm.allocate", ("oneadmin:whatever", "NAME=x", False), "::1")
    assert reply[:3] == [
        False,
        "[one.vm.allocate] User couldn't be authenticated, aborting call.",
        rpc.AUTHENTICATION,
    ]
    assert calls == []


def test_forwarding_transport_error_is_internal(manager, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(api.rpc, "call", refuse)
    raft = StubRaft(FOLLOWER, leader="http://10.0.0.1:2633/RPC2")
    reply = manager(raft).dispatch(*ALLOCATE, "127.0.0.1")
    assert reply[0] is False and reply[2] == rpc.INTERNAL
    assert reply[1].startswith("[one.vm.allocate] ")


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (TimeoutError("timed out"), "RPC call timed out and aborted"),
        (xmlrpc.client.Fault(-501, "Not enough parameters"), "Not enough parameters"),
    ],
)
def test_forward_failures_as_client_call_reports_them(manager, monkeypatch, error, message):
    """Client::call's error text (its timeout, or the leader's fault) in an INTERNAL failure."""

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(api.rpc, "call", fail)
    raft = StubRaft(FOLLOWER, leader="http://10.0.0.1:2633/RPC2")
    reply = manager(raft).dispatch(*ALLOCATE, "127.0.0.1")
    assert reply[:4] == [False, f"[one.vm.allocate] {message}", rpc.INTERNAL, -1]


def test_authentication_is_checked_before_the_call(manager):
    raft = StubRaft(LEADER)
    reply = manager(raft).dispatch("one.vm.allocate", ("oneadmin:bad", "NAME=x", False), "::1")
    assert reply[2] == rpc.AUTHENTICATION and raft.writes == []


def test_fault_for_unknown_method_and_missing_parameters(manager):
    rm = manager(StubRaft(SOLO))
    with pytest.raises(xmlrpc.client.Fault) as info:
        rm.dispatch("one.nothing.here", (SESSION,), "127.0.0.1")
    assert info.value.faultString == "Method 'one.nothing.here' not defined"
    with pytest.raises(xmlrpc.client.Fault):
        rm.dispatch("one.zone.addserver", (SESSION, 0), "127.0.0.1")
    with pytest.raises(xmlrpc.client.Fault):
        rm.dispatch("one.zone.enable", (SESSION, 0, 1), "127.0.0.1")  # int is not a boolean


def test_call_line_format_like_log_method_invoked():
    caller = api._Caller(uid=0, gid=0, uname="oneadmin", gname="oneadmin", password="h")
    common = dict(
        request_id=42, caller=caller, session="oneadmin:pw", method="one.zone.replicate",
        params=("oneadmin:pw", 3, -1, True, "x" * 25), i8_params=frozenset({2}),
        ip="10.0.0.2", port="40000",
    )  # fmt: skip
    line = api.format_call_line(api.DEFAULT_LOG_CALL_FORMAT, **common)
    assert line == (
        "Req:42 UID:0 IP:10.0.0.2 one.zone.replicate invoked , 3, 18446744073709551615, "
        'true, "xxxxxxxxxxxxxxxxxxxx..."'
    )
    custom = api.format_call_line("%U/%G %g %a %A:%P %% %q %l3 end", **common)
    # %l3 cuts strings at 3; like oned the loop drops the format's last character.
    assert custom == (
        "oneadmin/oneadmin 0 oneadmin:pw 10.0.0.2:40000 % %q , 3, 18446744073709551615, "
        'true, "xxx..." en'
    )
    failed = api.format_call_line("Req:%i UID:%u %m", **dict(common, caller=api._Caller()))
    assert failed == "Req:42 UID:-1 one.zone.replicate"


class VotingRaft(StubRaft):
    """Grants every vote and accepts every record, at term 6."""

    term = 6

    def on_voterequest(self, term, cand_id, last_index, last_term):
        return True, "", self.term

    def on_replicate(self, *record):
        return True, "", self.term


def rem_lines(path) -> list[str]:
    return [line.split(": ", 1)[1] for line in path.read_text().splitlines() if "[ReM]" in line]


def test_log_method_call_like_request_manager_zone(manager, tmp_path):
    """ZoneVoteRequest keeps log_method_call, ZoneReplicateLog turns it off, and
    Request::execute logs a failed authentication's result whatever the method."""
    rm = manager(VotingRaft(FOLLOWER))
    record = (1, 12, 6, 13, 6, 12, 5, -1, "INSERT INTO vm_pool VALUES (1)")

    assert rm.dispatch("one.zone.voterequest", (SESSION, 6, 1, 12, 5), "10.0.0.2")[0] is True
    assert rm.dispatch("one.zone.voterequest", (SESSION, 6, -1, 12, 5), "10.0.0.2")[:4] == [
        False,
        "[one.zone.voterequest] ",
        rpc.INTERNAL,
        6,
    ]
    assert rm.dispatch("one.zone.replicate", (SESSION, *record), "10.0.0.2")[0] is True
    assert rm.dispatch("one.zone.replicate", ("oneadmin:bad", *record), "10.0.0.2")[0] is False

    lines = rem_lines(tmp_path / "oned.log")
    assert lines == [
        "Req:1 UID:0 IP:10.0.0.2 one.zone.voterequest invoked , 6, 1, 12, 5",
        "Req:1 UID:0 one.zone.voterequest result SUCCESS, 6",
        "Req:2 UID:0 IP:10.0.0.2 one.zone.voterequest invoked , 6, -1, 12, 5",
        "Req:2 UID:0 one.zone.voterequest result FAILURE [one.zone.voterequest] ",
        "Req:4 UID:- one.zone.replicate result FAILURE "
        "[one.zone.replicate] User couldn't be authenticated, aborting call.",
    ]
    levels = [
        line.split("[ReM]")[1][:3] for line in (tmp_path / "oned.log").read_text().splitlines()
    ]
    assert levels == ["[D]", "[D]", "[D]", "[E]", "[E]"]


def test_string_values_are_cut_in_bytes_like_std_string(tmp_path):
    """log_xmlrpc_value measures and cuts std::string bytes: a non-ASCII value is cut at 20
    bytes, possibly inside a UTF-8 sequence, which oned.log then holds as is."""
    assert api.log_value("é" * 10) == ', "éééééééééé"'  # 20 bytes: not cut
    assert api.log_value("é" * 11) == ', "éééééééééé..."'
    split = api.log_value("a" + "é" * 10)
    log = OnedLog(tmp_path / "oned.log")
    log.debug("ReM", f"Req:1 UID:0 one.vm.allocate invoked{split}")
    log.close()

    written = (tmp_path / "oned.log").read_bytes()
    assert written.endswith(b'invoked, "a' + "é".encode() * 9 + b'\xc3..."\n')
