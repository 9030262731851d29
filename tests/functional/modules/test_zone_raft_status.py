"""``onenebula_zone.raft_status`` and the restore guard against a loopback zone's own oned."""

import pytest
from salt.exceptions import CommandExecutionError


def test_raft_status_of_the_leader_and_a_follower(loaders, zone, as_server):
    leader = zone.wait_leader()
    as_server(zone.servers[leader])
    status = loaders.modules.onenebula_zone.raft_status()
    assert status["state_name"] == "leader"
    assert status["server_id"] == leader
    assert status["term"] >= 1
    assert status["votedfor"] == leader
    assert status["fedlog_index"] == -1

    follower = (leader + 1) % zone.size
    as_server(zone.servers[follower])
    status = loaders.modules.onenebula_zone.raft_status()
    assert status["state_name"] == "follower"
    assert status["server_id"] == follower
    assert status["log_index"] >= 0


def test_raft_status_finds_the_endpoint_in_oned_conf(loaders, zone, as_server, monkeypatch):
    follower = (zone.wait_leader() + 1) % zone.size
    as_server(zone.servers[follower])
    monkeypatch.delenv("ONE_XMLRPC")
    monkeypatch.setenv("HOME", "/nonexistent")  # no ~/.one/one_endpoint
    # oned.conf of $ONE_LOCATION has this server's LISTEN_ADDRESS and PORT
    assert loaders.modules.onenebula_zone.raft_status()["server_id"] == follower


def test_raft_status_of_a_stopped_oned_is_unreachable(loaders, zone, as_server, monkeypatch):
    as_server(zone.servers[0])
    monkeypatch.setenv("ONE_XMLRPC", "http://127.0.0.1:9/RPC2")  # discard port: nothing there
    with pytest.raises(CommandExecutionError, match="cannot reach oned") as error:
        loaders.modules.onenebula_zone.raft_status(timeout=1)
    assert error.value.info["reachable"] is False


def test_restore_refuses_on_the_leader_and_on_a_running_follower(
    loaders, zone, as_server, tmp_path
):
    dump = tmp_path / "dump.sql"
    dump.write_text("-- nothing\n")
    leader = zone.wait_leader()
    as_server(zone.servers[leader])
    with pytest.raises(CommandExecutionError, match="this host is the current Raft leader"):
        loaders.modules.onenebula_db.restore(str(dump), verify=False)
    as_server(zone.servers[(leader + 1) % zone.size])
    with pytest.raises(CommandExecutionError, match=r"oned is running on this host \(Raft state"):
        loaders.modules.onenebula_db.restore(str(dump), verify=False)


def test_raft_zone_matches_onezone_show_on_a_live_zone(loaders, zone, as_server):
    """The beacon's zone check (XML-RPC, no process) reads what ``onezone show`` prints."""
    leader = zone.wait_leader()
    as_server(zone.servers[leader])
    module = loaders.modules.onenebula_zone
    via_cli = module.show(refresh=True)
    via_rpc = module.raft_zone()
    keep = ("id", "name", "endpoint", "state", "term")
    assert [{k: s[k] for k in keep} for s in via_rpc["servers"]] == [
        {k: s[k] for k in keep} for s in via_cli["servers"]
    ]
    assert {k: v for k, v in via_rpc.items() if k != "servers"} == {
        k: v for k, v in via_cli.items() if k != "servers"
    }
    assert [s["state"] for s in via_rpc["servers"]].count("leader") == 1
