"""Majority loss, partitions, purged logs and mismatched secrets on loopback zones."""

import threading
import time

from onelab.proc import wait_until
from onesim.zone_local import LocalZone

RECOVERY_S = 30


def background_call(zone, index, *call):
    """Run zone.call in a thread; returns (thread, results list)."""
    results = []
    thread = threading.Thread(
        target=lambda: results.append(zone.call(index, *call, timeout=120)), daemon=True
    )
    thread.start()
    return thread, results


def test_behaviour_08_majority_loss_partitioned_leader_keeps_state_and_blocks(
    tmp_path, timings, require_nft
):
    et = timings["election_ms"] / 1000.0
    with LocalZone(3, tmp_path / "zone", **timings) as zone:
        old = zone.wait_leader()
        others = [i for i in range(3) if i != old]
        zone.partition(old)
        writer, results = background_call(zone, old, "one.vm.allocate", 'NAME = "lost"', False)
        new = zone.wait_leader(timeout=RECOVERY_S, among=others)
        # The isolated leader never steps down on its own: state 3, reads served, write hangs.
        time.sleep(3 * et)
        status = zone.raftstatus(old)
        assert status["STATE"] == 3
        assert status["COMMIT"] < status["LOG_INDEX"]
        assert zone.call(old, "one.zone.info", 0)[0] is True
        assert results == [] and writer.is_alive()
        assert sorted(zone.leaders()) == sorted([old, new])  # split brain, as in oned
        assert zone.raftstatus(new)["TERM"] > status["TERM"]
        majority_write = zone.call(others[0], "one.vm.allocate", 'NAME = "kept"', False)
        assert majority_write[0] is True
        hooks_before = len(zone.hook_events(old))

        zone.heal()
        wait_until(
            lambda: zone.raftstatus(old)["STATE"] == 2,
            timeout=RECOVERY_S,
            what="old leader step-down",
        )
        writer.join(timeout=RECOVERY_S)
        assert results and results[0][:3] == [
            False,
            "[one.vm.allocate] Cannot replicate log record on followers: oned is now follower",
            0x2000,
        ]
        wait_until(
            lambda: zone.hook_events(old)[hooks_before:] == ["follower"],
            timeout=10,
            what="the follower hook on step-down",
        )
        assert zone.wait_leader() == new
        oid = majority_write[1]
        # The deposed leader converges on the majority's data for the contested oid.
        wait_until(
            lambda: "<NAME>kept</NAME>" in zone.call(old, "one.vm.info", oid)[1],
            timeout=RECOVERY_S,
            what="catch-up",
        )
        log = zone.servers[old].log_path.read_text()
        assert "Not applying log record, oned is now a follower" in log


def test_behaviour_08_majority_loss_two_server_zone_cannot_write(tmp_path, timings):
    with LocalZone(2, tmp_path / "zone", **timings) as zone:
        leader = zone.wait_leader()
        follower = 1 - leader
        zone.kill(follower)
        writer, results = background_call(zone, leader, "one.vm.allocate", 'NAME = "x"', False)
        time.sleep(2)
        assert results == [] and zone.raftstatus(leader)["STATE"] == 3
        zone.start(follower)
        writer.join(timeout=RECOVERY_S)
        assert results and results[0][0] is True


def test_behaviour_09_log_indexes_follower_behind_purged_log_stays_stuck_until_reset(
    tmp_path, timings
):
    with LocalZone(
        3,
        tmp_path / "zone",
        log_retention=3,
        log_purge_timeout_s=1,
        db_copy="onedb",  # the documented recovery: onedb backup + onedb restore -f
        **timings,
    ) as zone:
        leader = zone.wait_leader()
        lagging = [i for i in range(3) if i != leader][-1]
        zone.stop(lagging)
        behind = zone.raftstatus(leader)["LOG_INDEX"]
        for n in range(8):
            assert zone.call(leader, "one.vm.allocate", f'NAME = "during-{n}"', False)[0]
        leader_log = zone.servers[leader].log_path

        def purged_past_the_gap():
            for line in leader_log.read_text().splitlines():
                if "Purging obsolete LogDB records" in line and "records purged" in line:
                    low = int(line.rsplit(" - ", 1)[1].split(",")[0])
                    if low > behind + 1:
                        return True
            return False

        wait_until(
            purged_past_the_gap, timeout=RECOVERY_S, what="the leader to purge the records needed"
        )
        zone.start(lagging)
        wait_until(
            lambda: "Failed to load log record at index:" in leader_log.read_text(),
            timeout=RECOVERY_S,
            what="the leader to report the purged record",
        )
        assert zone.call(leader, "one.vm.allocate", 'NAME = "after"', False)[0]
        time.sleep(2)
        stuck = zone.raftstatus(lagging)
        assert stuck["STATE"] == 2
        assert stuck["LOG_INDEX"] <= behind + 1 < zone.raftstatus(leader)["LOG_INDEX"]

        # Recovery: fresh copy of the leader's DB on the follower, then server-reset.
        zone.stop(lagging)
        zone.copy_db(leader, lagging)
        zone.start(lagging)
        assert zone.call(leader, "one.zone.resetserver", 0, lagging) == [True, 0, 0]
        reply = zone.call(leader, "one.vm.allocate", 'NAME = "recovered"', False)
        assert reply[0]
        wait_until(
            lambda: zone.call(lagging, "one.vm.info", reply[1])[0],
            timeout=RECOVERY_S,
            what="catch-up",
        )
        assert zone.raftstatus(lagging)["LOG_INDEX"] == zone.raftstatus(leader)["LOG_INDEX"]


def test_servers_with_different_secrets_fail_each_others_raft_calls(tmp_path, timings):
    with LocalZone(3, tmp_path / "zone", **timings) as zone:
        leader = zone.wait_leader()
        odd = [i for i in range(3) if i != leader][-1]
        zone.stop(odd)
        other_auth = tmp_path / "other_auth"
        other_auth.write_text("oneadmin:another-secret\n")
        zone.start(odd, extra_env={"ONE_AUTH": str(other_auth)})
        # The leader's heartbeats are refused by odd, so it never hears of a leader and keeps
        # standing for election; its vote requests are refused by the others in turn.
        from onesim import rpc

        endpoint = zone.servers[odd].endpoint

        def odd_state():
            reply = rpc.call(endpoint, "one.zone.raftstatus", ("oneadmin:another-secret",), 2)
            return int(reply[1].split("<STATE>")[1].split("<")[0])

        wait_until(
            lambda: odd_state() == 1, timeout=RECOVERY_S, what="the odd server to become candidate"
        )
        assert zone.call(odd, "one.zone.raftstatus")[2] == 0x100  # shared secret rejected there
        assert zone.wait_leader(among=[i for i in range(3) if i != odd]) == leader
        log = zone.servers[odd].log_path.read_text()
        assert "User couldn't be authenticated" in log


def test_frozen_leader_is_replaced_and_steps_down_when_thawed(tmp_path, timings):
    with LocalZone(3, tmp_path / "zone", **timings) as zone:
        old = zone.wait_leader()
        others = [i for i in range(3) if i != old]
        zone.freeze(old)  # like a long GC pause or a stopped VM: no heartbeats, no replies
        try:
            new = zone.wait_leader(timeout=RECOVERY_S, among=others)
            assert zone.call(new, "one.vm.allocate", 'NAME = "while-frozen"', False)[0]
        finally:
            zone.thaw(old)
        wait_until(
            lambda: zone.raftstatus(old)["STATE"] == 2, timeout=RECOVERY_S, what="the thawed leader"
        )
        wait_until(
            lambda: zone.hook_events(old)[-1:] == ["follower"], timeout=10, what="its follower hook"
        )
        assert zone.wait_leader() == new
