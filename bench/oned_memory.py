"""Resident memory of a simulated ``oned``: idle, and after N VM writes through the leader.

A 3-server loopback zone; ``one.vm.allocate`` is called N times on the leader over XML-RPC,
one after another as a client would, so every write goes through the Raft log and waits for a
majority. RSS of the leader and of the followers (which apply the same records) is read from
``/proc`` once the zone has idled for a moment, and again after the writes. Writing stops early
at a time budget so the benchmark stays within a minute; ``writes`` says how many were done.
"""

from __future__ import annotations

import time

from bench._support import local_zone, main, rss_mb

IDLE_S = 1.0
WRITE_BUDGET_S = 45


def _rss_by_role(zone, leader: int) -> dict[str, float]:
    followers = [rss_mb(s.pid) for s in zone.servers if s.id != leader]
    return {"leader_mb": rss_mb(zone.servers[leader].pid), "follower_max_mb": max(followers)}


def run(writes: int = 2000) -> dict:
    with local_zone(3) as zone:
        leader = zone.wait_leader()
        time.sleep(IDLE_S)  # a few heartbeat periods: memory as an idle zone holds it
        idle = _rss_by_role(zone, leader)
        started = time.monotonic()
        done = 0
        while done < writes and time.monotonic() - started < WRITE_BUDGET_S:
            reply = zone.call(leader, "one.vm.allocate", f'NAME = "bench-{done}"', False)
            if not reply[0]:
                raise RuntimeError(f"one.vm.allocate failed: {reply[1]}")
            done += 1
        elapsed = time.monotonic() - started
        loaded = _rss_by_role(zone, leader)
        log_index = zone.raftstatus(leader)["LOG_INDEX"]
    return {
        "writes": done,
        "writes_per_s": round(done / elapsed, 1),
        "leader_log_index": log_index,
        "idle": idle,
        "after_writes": loaded,
        "leader_growth_mb": round(loaded["leader_mb"] - idle["leader_mb"], 1),
        "follower_max_growth_mb": round(loaded["follower_max_mb"] - idle["follower_max_mb"], 1),
    }


if __name__ == "__main__":
    main("oned_memory", run, __doc__)
