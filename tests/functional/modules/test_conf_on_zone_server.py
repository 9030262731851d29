"""Our oned.conf edits are read back by a running oned: a follower restarted with a RAFT
block and SERVER_ID written by the states rejoins the zone."""

from onelab.proc import wait_until


def test_raft_block_edited_by_the_state_is_accepted_by_oned(loaders, zone, as_server):
    leader = zone.wait_leader()
    index = (leader + 2) % zone.size
    server = as_server(zone.servers[index])
    conf = f"{server.location}/etc/oned.conf"
    current = loaders.modules.onenebula_conf.get("RAFT", path=conf)
    assert loaders.modules.onenebula_conf.get("FEDERATION/SERVER_ID", path=conf) == str(index)

    zone.stop(index)
    try:
        changed = loaders.states.onenebula_conf.raft(
            name=conf,
            limit_purge=int(current["LIMIT_PURGE"]),
            log_retention=int(current["LOG_RETENTION"]),
            log_purge_timeout=int(current["LOG_PURGE_TIMEOUT"]),
            election_timeout_ms=int(current["ELECTION_TIMEOUT_MS"]) + 500,
            broadcast_timeout_ms=int(current["BROADCAST_TIMEOUT_MS"]),
            xmlrpc_timeout_ms=int(current["XMLRPC_TIMEOUT_MS"]),
        )
        assert changed.result is True
        assert list(changed.changes["RAFT"]["new"]) == ["ELECTION_TIMEOUT_MS"]
        kept = loaders.states.onenebula_conf.server_id(name="kept", value=index, path=conf)
        assert kept.result is True and kept.changes == {}
    finally:
        zone.start(index)

    def following():
        status = loaders.modules.onenebula_zone.raft_status()
        return status["state_name"] == "follower" and status["server_id"] == index

    wait_until(following, timeout=30, interval=0.2, what=f"server {index} a follower again")
