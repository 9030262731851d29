"""3- and 5-server loopback zones: leadership, replication, forwarding, failover, timing, hooks."""

import re
import threading
import time

from sim_timings import FAST

from onelab.proc import wait_until
from onesim.zone_local import LocalZone

ET_S = FAST["election_ms"] / 1000.0
#: Slack for process scheduling on a loaded 2-core machine, on top of the spec's bounds.
MARGIN_S = 2.0
#: Waits that are not behavioural bounds (restarts, catch-up): generous, they end on success.
RECOVERY_S = 30


def vm_visible_everywhere(zone, oid, servers):
    return all(zone.call(i, "one.vm.info", oid)[0] for i in servers)


def statuses(zone, servers):
    return {i: zone.raftstatus(i) for i in servers}


def test_exactly_one_leader_and_followers_share_its_term(zone3):
    leader = zone3.wait_leader()
    status = statuses(zone3, range(3))
    assert [i for i, s in status.items() if s["STATE"] == 3] == [leader]
    assert sorted(s["STATE"] for s in status.values()) == [2, 2, 3]
    assert len({s["TERM"] for s in status.values()}) == 1
    assert status[leader]["VOTEDFOR"] == leader


def test_behaviour_04_write_forwarding_and_replication(zone3):
    leader = zone3.wait_leader()
    followers = [i for i in range(3) if i != leader]
    oids = []
    for via in [leader, *followers]:
        reply = zone3.call(via, "one.vm.allocate", f'NAME = "via-{via}"', False)
        assert reply[0] is True and reply[2] == 0
        oids.append(reply[1])
    assert oids == sorted(set(oids))  # one oid sequence: every write went to the leader
    for oid in oids:
        wait_until(
            lambda oid=oid: vm_visible_everywhere(zone3, oid, range(3)),
            timeout=5,
            what="replication",
        )
    # The leader logged the forwarded requests with the follower's address as client IP.
    leader_log = zone3.servers[leader].log_path.read_text()
    for follower in followers:
        address = re.escape(zone3.servers[follower].address)
        assert re.search(rf"IP:{address} one\.vm\.allocate invoked", leader_log)


def test_behaviour_09_log_indexes_agree_after_commit(zone3):
    leader = zone3.wait_leader()
    assert zone3.call(leader, "one.vm.allocate", 'NAME = "idx"', False)[0]
    leader_status = zone3.raftstatus(leader)
    assert leader_status["COMMIT"] == leader_status["LOG_INDEX"]

    def caught_up():
        status = statuses(zone3, range(3))
        return all(
            s["LOG_INDEX"] == leader_status["LOG_INDEX"] and s["COMMIT"] == leader_status["COMMIT"]
            for s in status.values()
        )

    wait_until(caught_up, timeout=5, what="followers to reach the leader's index and commit")


def test_behaviour_06_start_up_and_timing_new_leader_after_sigkill(zone3):
    old = zone3.wait_leader()
    old_term = zone3.raftstatus(old)["TERM"]
    zone3.kill(old)
    start = time.monotonic()
    survivors = [i for i in range(3) if i != old]
    new = zone3.wait_leader(timeout=10 * ET_S + MARGIN_S, among=survivors)
    elapsed = time.monotonic() - start
    try:
        # Followers notice after ELECTION_TIMEOUT; a split first round retries after U(0,1)*ET.
        assert elapsed <= ET_S + 2 * ET_S + MARGIN_S, f"new leader after {elapsed:.2f}s"
        assert zone3.raftstatus(new)["TERM"] > old_term
        assert zone3.call(new, "one.vm.allocate", 'NAME = "after-failover"', False)[0]
    finally:
        zone3.start(old)
    wait_until(
        lambda: zone3.raftstatus(old)["STATE"] == 2,
        timeout=RECOVERY_S,
        what="the old leader to rejoin",
    )
    assert zone3.wait_leader() == new


def test_candidate_refuses_writes_in_election_mode(zone3):
    leader = zone3.wait_leader()
    lonely, other = [i for i in range(3) if i != leader]
    zone3.kill(leader)
    zone3.kill(other)
    try:
        wait_until(
            lambda: zone3.raftstatus(lonely)["STATE"] in (1,),
            timeout=5 * ET_S + MARGIN_S,
            what="candidate",
        )
        reply = zone3.call(lonely, "one.vm.allocate", 'NAME = "x"', False)
        if reply[0] is False and "no leader found" in reply[1]:
            # Caught between two rounds as a follower without leader; try again as candidate.
            wait_until(lambda: zone3.raftstatus(lonely)["STATE"] == 1, timeout=5, what="candidate")
            reply = zone3.call(lonely, "one.vm.allocate", 'NAME = "x"', False)
        assert reply[:3] == [
            False,
            "[one.vm.allocate] Cannot process request, oned cluster in election mode",
            0x2000,
        ]
        # Reads are still served locally.
        assert zone3.call(lonely, "one.zone.info", 0)[0] is True
    finally:
        zone3.start(leader)
        zone3.start(other)
    zone3.wait_leader(timeout=RECOVERY_S)


def test_behaviour_07_hooks_on_start_election_and_stop(tmp_path):
    with LocalZone(3, tmp_path / "zone", **FAST) as zone:
        leader = zone.wait_leader()
        assert leader == 0  # the bootstrap server
        # Server 0 ran the follower hook at each HA start (solo runs none), then leader.
        assert zone.hook_events(0) == ["follower", "leader"]
        for follower in (1, 2):
            assert zone.hook_events(follower) == ["follower"]
        zone.stop(0)  # clean stop of the leader: finalize() spawns its follower hook
        wait_until(
            lambda: zone.hook_events(0)[-1:] == ["follower"],
            timeout=5,
            what="follower hook on stop",
        )
        new = zone.wait_leader(timeout=RECOVERY_S, among=[1, 2])
        wait_until(lambda: zone.hook_events(new)[-1:] == ["leader"], timeout=5, what="leader hook")


def test_behaviour_06_single_server_ha_elects_itself_after_warm_up_with_term_1(tmp_path):
    zone = LocalZone(1, tmp_path / "zone", **FAST).prepare()
    try:
        zone.start(0)
        template = f'SERVER = [ NAME="server-0", ENDPOINT="{zone.servers[0].endpoint}" ]'
        assert zone.call(0, "one.zone.addserver", 0, template) == [True, 0, 0]
        zone.stop(0)
        zone.set_server_id(0, 0)
        started = time.monotonic()
        zone.start(0)
        status = zone.raftstatus(0)
        assert (status["STATE"], status["SERVER_ID"], status["TERM"]) == (2, 0, 0)
        zone.wait_leader(timeout=5)
        elapsed = time.monotonic() - started
        warm_up_and_timeout = (FAST["warmup_ms"] + FAST["election_ms"]) / 1000.0
        assert elapsed >= warm_up_and_timeout - 0.1
        status = zone.raftstatus(0)
        assert (status["STATE"], status["TERM"], status["VOTEDFOR"]) == (3, 1, 0)
        # Hooks run detached (oned does not wait for them): the leader hook's record may
        # land a moment after the state changed.
        wait_until(
            lambda: zone.hook_events(0) == ["follower", "leader"],
            timeout=5,
            what="the follower hook at start-up, then the leader hook",
        )
    finally:
        zone.down()


def test_five_server_zone_keeps_writing_with_two_servers_down(tmp_path):
    with LocalZone(5, tmp_path / "zone", **FAST) as zone:
        leader = zone.wait_leader()
        status = statuses(zone, range(5))
        assert sorted(s["STATE"] for s in status.values()) == [2, 2, 2, 2, 3]
        down = [i for i in range(5) if i != leader][:2]
        for index in down:
            zone.kill(index)
        up = [i for i in range(5) if i not in down]
        reply = zone.call(up[-1], "one.vm.allocate", 'NAME = "majority"', False)
        assert reply[0] is True, reply
        wait_until(
            lambda: vm_visible_everywhere(zone, reply[1], up),
            timeout=5,
            what="replication to the 3",
        )
        for index in down:
            zone.start(index)
        wait_until(
            lambda: vm_visible_everywhere(zone, reply[1], range(5)),
            timeout=RECOVERY_S,
            what="catch-up",
        )


def test_behaviour_05_membership_quorum_grows_after_add_and_shrinks_before_del(tmp_path):
    with LocalZone(3, tmp_path / "zone", **FAST) as zone:
        leader = zone.wait_leader()
        stopped = [i for i in range(3) if i != leader][0]
        zone.stop(stopped)
        # 3 members, 2 running: the add commits with the old quorum (1 follower ack).
        ghost = 'SERVER = [ NAME="ghost", ENDPOINT="http://127.0.0.1:9/RPC2" ]'
        assert zone.call(leader, "one.zone.addserver", 0, ghost) == [True, 0, 0]
        # Now 4 members need 2 follower acks; only 1 follower runs, so this write blocks.
        results = []
        writer = threading.Thread(
            target=lambda: results.append(
                zone.call(leader, "one.vm.allocate", 'NAME = "blocked"', False, timeout=60)
            )
        )
        writer.start()
        time.sleep(3 * ET_S)  # give the write time to (not) commit
        assert results == []
        status = zone.raftstatus(leader)
        assert status["STATE"] == 3 and status["COMMIT"] < status["LOG_INDEX"]
        # server-del shrinks the quorum first: both the delete and the blocked write commit.
        assert zone.call(leader, "one.zone.delserver", 0, 3) == [True, 0, 0]
        writer.join(timeout=10)
        assert results and results[0][0] is True
        zone.start(stopped)


def test_behaviour_01_raft_status_on_every_role(zone3):
    leader = zone3.wait_leader()
    for index in range(3):
        reply = zone3.call(index, "one.zone.raftstatus")
        assert reply[0] is True and reply[2] == 0
        tags = re.findall(r"<(\w+)>-?\d+</\1>", reply[1])
        assert tags == [
            "SERVER_ID",
            "STATE",
            "TERM",
            "VOTEDFOR",
            "COMMIT",
            "LOG_INDEX",
            "LOG_TERM",
            "FEDLOG_INDEX",
        ]
        status = zone3.raftstatus(index)
        assert status["SERVER_ID"] == index
        assert status["STATE"] == (3 if index == leader else 2)
        assert status["FEDLOG_INDEX"] == -1


def test_behaviour_04_write_forwarding_no_leader_found_before_first_heartbeat(tmp_path):
    with LocalZone(3, tmp_path / "zone", **FAST) as zone:
        leader = zone.wait_leader()
        lonely, other = [i for i in range(3) if i != leader]
        zone.kill(leader)
        zone.kill(other)
        zone.stop(lonely)
        zone.start(lonely)  # a follower that has heard from no leader yet (warm-up)
        reply = zone.call(lonely, "one.vm.allocate", 'NAME = "x"', False)
        assert reply[:3] == [
            False,
            "[one.vm.allocate] Cannot process request, no leader found",
            0x2000,
        ]


def test_behaviour_02_zone_info_comes_from_the_queried_servers_own_db(tmp_path, require_nft):
    with LocalZone(3, tmp_path / "zone", **FAST) as zone:
        leader = zone.wait_leader()
        cut_off = [i for i in range(3) if i != leader][0]
        zone.partition(cut_off)
        ghost = 'SERVER = [ NAME="ghost", ENDPOINT="http://127.0.0.1:9/RPC2" ]'
        assert zone.call(leader, "one.zone.addserver", 0, ghost) == [True, 0, 0]
        assert "ghost" in zone.call(leader, "one.zone.info", 0)[1]
        # The cut-off follower answers from its own, now stale, DB without forwarding.
        stale = zone.call(cut_off, "one.zone.info", 0)
        assert stale[0] is True and "ghost" not in stale[1] and "server-2" in stale[1]


def test_behaviour_05_membership_reset_never_fails_on_the_leader(zone3):
    leader = zone3.wait_leader()
    assert zone3.call(leader, "one.zone.resetserver", 0, 77) == [True, 0, 0]
    follower = [i for i in range(3) if i != leader][0]
    # Forwarded from a follower: the leader's reply comes back unchanged.
    assert zone3.call(follower, "one.zone.resetserver", 0, follower) == [True, 0, 0]
    assert zone3.call(leader, "one.zone.addserver", 7, 'SERVER=[NAME="x",ENDPOINT="y"]')[1] == (
        "[one.zone.addserver] Servers have to be added through the target zone endpoints"
    )


def test_behaviour_09_restored_follower_starts_with_the_leaders_term_vote_and_index(tmp_path):
    with LocalZone(2, tmp_path / "zone", **FAST) as zone:
        leader, follower = zone.raftstatus(0), zone.raftstatus(1)
        assert leader["STATE"] == 3 and follower["STATE"] == 2
        # Its DB copy was taken before the server-add that introduced it.
        assert (follower["TERM"], follower["VOTEDFOR"]) == (leader["TERM"], leader["VOTEDFOR"])
        assert follower["LOG_INDEX"] == leader["LOG_INDEX"] - 1
        assert follower["COMMIT"] == follower["LOG_INDEX"]
        # The next write brings it up to date (the leader walks back one record).
        assert zone.call(1, "one.vm.allocate", 'NAME = "next"', False)[0]
        wait_until(
            lambda: zone.raftstatus(1)["LOG_INDEX"] == zone.raftstatus(0)["LOG_INDEX"],
            timeout=RECOVERY_S,
            what="the follower to catch up",
        )
