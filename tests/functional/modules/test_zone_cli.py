"""The zone execution module and states through ``onezone`` against a loopback zone."""

import pytest


@pytest.fixture
def healthy_zone(loaders, zone, as_server):
    """The shared zone, seen from its leader's minion, healthy."""
    as_server(zone.servers[zone.wait_leader()])
    loaders.modules.onenebula_zone.wait_healthy(timeout=30, interval=0.5)
    return zone


def test_show_from_a_follower(loaders, healthy_zone, as_server):
    zone = healthy_zone
    leader = zone.wait_leader()
    as_server(zone.servers[(leader + 1) % zone.size])
    info = loaders.modules.onenebula_zone.show()
    assert info["id"] == 0
    assert info["state"] == "enabled"
    assert [(s["id"], s["name"], s["endpoint"]) for s in info["servers"]] == [
        (server.id, server.name, server.endpoint) for server in zone.servers
    ]
    states = {s["id"]: s["state"] for s in info["servers"]}
    assert states.pop(leader) == "leader"
    assert set(states.values()) == {"follower"}
    assert all(isinstance(s["log_index"], int) for s in info["servers"])


def test_health_leader_and_server_id(loaders, healthy_zone):
    zone = healthy_zone
    report = loaders.modules.onenebula_zone.health()
    assert report["healthy"] is True, report["problems"]
    leader = zone.wait_leader()
    assert loaders.modules.onenebula_zone.leader()["name"] == zone.servers[leader].name
    assert loaders.modules.onenebula_zone.server_id("server-2") == 2
    assert loaders.modules.onenebula_zone.server_id("server-9") is None


def test_server_present_test_mode_and_existing_member(loaders, healthy_zone):
    predicted = loaders.states.onenebula_zone.server_present(
        name="server-3", endpoint="http://127.0.0.99:2633/RPC2", test=True
    )
    assert predicted.result is None
    assert predicted.changes == {
        "server": {
            "old": None,
            "new": {"id": 3, "name": "server-3", "endpoint": "http://127.0.0.99:2633/RPC2"},
        }
    }
    existing = loaders.states.onenebula_zone.server_present(
        name="server-1", endpoint=healthy_zone.servers[1].endpoint
    )
    assert existing.result is True
    assert existing.changes == {}
    assert loaders.modules.onenebula_zone.server_id("server-3") is None


def test_follower_reset_of_a_caught_up_follower_is_no_change(loaders, healthy_zone):
    follower = healthy_zone.servers[(healthy_zone.wait_leader() + 1) % healthy_zone.size]
    ret = loaders.states.onenebula_zone.follower_reset(name=follower.name)
    assert ret.result is True
    assert ret.changes == {}
    forced = loaders.states.onenebula_zone.follower_reset(name=follower.name, force=True)
    assert forced.result is True
    assert forced.changes["server"]["new"] == "reset"
