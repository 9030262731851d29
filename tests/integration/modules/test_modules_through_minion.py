"""The formula's modules synced to a real minion (``saltutil.sync_all`` from the master's
file roots) and run against a loopback zone, from salt-call and from the master."""


def test_show_from_salt_call(salt_call_cli, zone):
    zone.wait_leader()
    ret = salt_call_cli.run("onenebula_zone.show", refresh=True)
    assert ret.returncode == 0, ret.stderr
    servers = ret.data["servers"]
    assert [(s["id"], s["name"], s["endpoint"]) for s in servers] == [
        (server.id, server.name, server.endpoint) for server in zone.servers
    ]
    assert sorted(s["state"] for s in servers) == ["follower", "follower", "leader"]


def test_raft_status_uses_the_configured_endpoint(salt_call_cli, zone):
    ret = salt_call_cli.run("onenebula_zone.raft_status")
    assert ret.returncode == 0, ret
    assert ret.data["server_id"] == 0
    assert ret.data["state_name"] in ("leader", "follower")


def test_server_present_test_mode_through_state_single(salt_call_cli, zone):
    ret = salt_call_cli.run(
        "state.single",
        "onenebula_zone.server_present",
        name="server-3",
        endpoint="http://127.0.0.99:2633/RPC2",
        test=True,
    )
    (state,) = ret.data.values()
    assert state["result"] is None, state
    assert state["changes"] == {
        "server": {
            "old": None,
            "new": {"id": 3, "name": "server-3", "endpoint": "http://127.0.0.99:2633/RPC2"},
        }
    }
    check = salt_call_cli.run("onenebula_zone.server_id", "server-3", refresh=True)
    assert check.returncode == 0 and check.data is None


def test_health_published_from_the_master(master, minion, zone):
    ret = master.salt_cli(timeout=120).run(
        "onenebula_zone.wait_healthy", timeout=60, minion_tgt=minion.id
    )
    assert ret.returncode == 0, ret
    assert ret.data["healthy"] is True
    assert ret.data["leader"]["name"] == zone.servers[zone.wait_leader()].name
