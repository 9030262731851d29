"""A member lost, removed and re-joined through the states, on its own loopback zone."""

import pytest


@pytest.fixture
def own_zone(tmp_path):
    from onesim.zone_local import LocalZone

    with LocalZone(3, tmp_path / "zone") as local_zone:
        yield local_zone


def test_lost_member_removed_and_rejoined(loaders, own_zone, as_server):
    zone = own_zone
    leader = zone.wait_leader()
    as_server(zone.servers[leader])
    zone_mod, states = loaders.modules.onenebula_zone, loaders.states
    zone_mod.wait_healthy(timeout=30, interval=0.5)
    lost = next(s for s in zone.servers if s.id != leader)

    zone.kill(lost.id)
    problems = zone_mod.health()["problems"]
    assert problems == [f"server {lost.id} ({lost.name}) is in state error"]

    refused = states.onenebula_zone.server_present(
        name="extra", endpoint="http://127.0.0.9:2633/RPC2"
    )
    assert refused.result is False
    assert f"is not healthy: server {lost.id} ({lost.name}) is in state error" in refused.comment
    assert zone_mod.server_id("extra", refresh=True) is None

    predicted = states.onenebula_zone.server_absent(name=lost.name, test=True)
    assert predicted.result is None
    assert predicted.changes["server"]["old"] == {
        "id": lost.id,
        "name": lost.name,
        "endpoint": lost.endpoint,
    }
    removed = states.onenebula_zone.server_absent(name=lost.name)
    assert removed.result is True, removed.comment
    assert removed.changes == predicted.changes
    assert lost.name not in [s["name"] for s in zone_mod.show(refresh=True)["servers"]]
    zone_mod.wait_healthy(timeout=30, interval=0.5)
    assert states.onenebula_zone.server_absent(name=lost.name).changes == {}

    # Re-join as the docs say: fresh copy of the leader's DB, add, SERVER_ID, start.
    zone.copy_db(leader, lost.id)
    expected_id = max(s["id"] for s in zone_mod.show(refresh=True)["servers"]) + 1
    added = states.onenebula_zone.server_present(name=lost.name, endpoint=lost.endpoint)
    assert added.result is True, added.comment
    new_id = added.changes["server"]["new"]["id"]
    assert new_id == expected_id
    assert zone_mod.health()["problems"] == [f"server {new_id} ({lost.name}) is in state error"]

    conf = f"{lost.location}/etc/oned.conf"
    set_id = states.onenebula_conf.server_id(name="server-id", value=new_id, path=conf)
    assert set_id.result is True
    zone.start(lost.id)
    report = zone_mod.wait_healthy(timeout=30, interval=0.5)
    assert {s["name"]: s["state"] for s in report["servers"]}[lost.name] == "follower"
    again = states.onenebula_zone.server_present(name=lost.name, endpoint=lost.endpoint)
    assert (again.result, again.changes) == (True, {})
