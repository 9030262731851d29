"""The membership functions used by hand refuse on their own (issue 10 point 6), on a
loopback zone: every refusal is a CommandExecutionError and leaves the zone as it was."""

import pytest
from salt.exceptions import CommandExecutionError


@pytest.fixture
def own_zone(tmp_path):
    from onesim.zone_local import LocalZone

    with LocalZone(3, tmp_path / "zone") as local_zone:
        yield local_zone


def _members(zone_mod):
    return [(s["id"], s["name"], s["endpoint"]) for s in zone_mod.show(refresh=True)["servers"]]


def test_membership_functions_refuse_on_their_own(loaders, own_zone, as_server):
    zone = own_zone
    leader_id = zone.wait_leader()
    leader = zone.servers[leader_id]
    as_server(leader)
    zone_mod = loaders.modules.onenebula_zone
    zone_mod.wait_healthy(timeout=30, interval=0.5)
    follower = next(s for s in zone.servers if s.id != leader_id)
    before = _members(zone_mod)

    refusals = [
        (lambda: zone_mod.server_del(leader.name), "the current leader of zone 0"),
        (lambda: zone_mod.server_del(leader_id, require_stopped=False), "the current leader"),
        (lambda: zone_mod.server_del(follower.name), "its oned still answers (state follower)"),
        (lambda: zone_mod.server_del(99), "99 not found or duplicated"),
        (
            lambda: zone_mod.server_add(follower.name, "http://127.0.0.99:2633/RPC2"),
            f"already has a server {follower.name}",
        ),
        (
            lambda: zone_mod.server_add("extra", follower.endpoint + "/"),
            "refusing endpoint",
        ),
        (lambda: zone_mod.server_add("extra", follower.endpoint), "already has the endpoint"),
        (
            lambda: zone_mod.server_add("extra", "http://127.0.0.99:2633/RPC2", timeout="x"),
            "refusing timeout 'x'",
        ),
        (
            lambda: zone_mod.server_add("extra", "http://127.0.0.99:2633/RPC2$(id)"),
            "refusing endpoint",
        ),
        (
            lambda: zone_mod.server_add("--help", "http://127.0.0.99:2633/RPC2"),
            "refusing server name '--help'",
        ),
        (lambda: zone_mod.server_reset(99), "99 not found or duplicated"),
        (lambda: zone_mod.server_reset(leader.name), "it is the leader of zone 0"),
    ]
    for call, message in refusals:
        with pytest.raises(CommandExecutionError) as error:
            call()
        assert message in str(error.value)
    assert _members(zone_mod) == before

    # Unhealthy zone: a follower down. Nothing is added, and the other follower is not
    # removed (the zone would not be healthy apart from it).
    lost = next(s for s in zone.servers if s.id not in (leader_id, follower.id))
    zone.kill(lost.id)
    with pytest.raises(CommandExecutionError, match="is not healthy"):
        zone_mod.server_add("extra", "http://127.0.0.99:2633/RPC2")
    with pytest.raises(CommandExecutionError, match="is not healthy apart from it"):
        zone_mod.server_del(follower.name, require_stopped=False)
    assert _members(zone_mod) == before

    # What is allowed still works: a reset of the stopped follower on the leader.
    assert zone_mod.server_reset(lost.name) == lost.id
