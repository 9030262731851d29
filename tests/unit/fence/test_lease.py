"""The lease rules with an injected clock, fake peers and fake host commands."""

import fcntl
import threading
import time

import pytest
from fence_harness import (
    SESSION,
    Captured,
    FakeCommands,
    Late,
    Zone,
    agent,
    config,
    follower,
    leader,
    make_fence,
    status,
)

LEASE = 2.5  # lease_fraction 0.5 x ELECTION_TIMEOUT 5000 ms


def majority(term=3, log_index=10):
    """Leader 0 plus followers 1 and 2 of five: exactly a majority."""
    return {
        0: leader(term=term, log_index=log_index),
        1: follower(1, term, log_index),
        2: follower(2, term, log_index),
    }


def test_majority_grants_the_lease_from_the_time_the_round_was_sent():
    fence, clock, zone, commands, events = make_fence({})
    sent_at = clock.t

    def slow_follower():
        clock.advance(0.3)  # the answers take 300 ms to come back
        return follower(2)

    zone.answers = {0: leader(), 1: follower(1), 2: slow_follower}
    fence.step()
    assert fence.holds()
    assert fence.lease_until == pytest.approx(sent_at + LEASE)
    assert fence.verdict.confirmations == 3 and fence.verdict.needed == 3
    assert commands.present and "ip add" in events
    assert fence.services.wanted == "started"
    assert fence.snapshot()["lease"]["term"] == 3


def test_minority_grants_nothing_and_claims_nothing():
    fence, clock, zone, commands, events = make_fence({0: leader(), 1: follower(1)})
    fence.step()
    assert not fence.holds()
    assert not fence.verdict.confirmed and not fence.verdict.revoke
    assert "only 2 of 5" in fence.verdict.reason
    assert "ip add" not in events
    assert fence.services.wanted == "stopped"


def test_three_server_zone_needs_one_follower():
    fence, *_ = make_fence({0: leader(), 2: follower(2)}, size=3)
    fence.step()
    assert fence.holds()


def test_followers_of_an_older_term_do_not_confirm():
    answers = {0: leader(term=4), 1: follower(1, term=3), 2: follower(2, term=3), 3: follower(3)}
    fence, *_ = make_fence(answers)
    fence.step()
    assert not fence.holds()
    assert "follower in term 3" in fence.verdict.reason


def test_a_peer_in_a_newer_term_revokes_a_held_lease_at_once():
    fence, clock, zone, commands, events = make_fence(majority())
    fence.step()
    assert fence.holds() and commands.present
    clock.advance(0.5)

    # The newer term arrives before the (later) confirmations.
    zone.answers = {
        0: leader(),
        1: Late(follower(1), 0.2),
        2: Late(follower(2), 0.2),
        3: follower(3, 4),
    }
    fence.step()
    assert not fence.holds()
    assert not commands.present
    assert fence.verdict.revoke and "term 4" in fence.verdict.reason
    assert fence.last_transition["what"] == "released"


def test_lagging_followers_do_not_count():
    answers = {
        0: leader(log_index=500),
        1: follower(1, log_index=500),
        2: follower(2, log_index=399),
    }
    fence, *_ = make_fence(answers)
    fence.step()
    assert not fence.holds()
    assert "101 entries behind" in fence.verdict.reason
    # Within max_lag (100) it counts.
    answers[2] = follower(2, log_index=400)
    fence.step()
    assert fence.holds()


def test_peer_answering_with_another_server_id_does_not_count():
    answers = {0: leader(), 1: follower(1), 2: status(7, agent.FOLLOWER, 3)}
    fence, *_ = make_fence(answers)
    fence.step()
    assert not fence.holds()
    assert "answers as SERVER_ID 7" in fence.verdict.reason


def test_local_oned_down_drops_the_vip_at_once():
    fence, clock, zone, commands, events = make_fence(majority())
    fence.step()
    assert commands.present
    clock.advance(0.5)  # the lease still has 2 s to run
    zone.answers[0] = agent.RpcError("ConnectionRefusedError talking to 10.9.0.10:2633")
    fence.step()
    assert not fence.holds() and not commands.present
    assert "local oned not answering" in fence.last_transition["why"]
    assert fence.services.wanted == "stopped"


def test_local_oned_follower_or_other_server_id_revokes():
    fence, clock, zone, commands, _ = make_fence(majority())
    fence.step()
    zone.answers[0] = status(0, agent.FOLLOWER, 4)
    fence.step()
    assert not fence.holds() and not commands.present
    fence.step()
    zone.answers[0] = status(3, agent.LEADER, 3)
    fence.step()
    assert not fence.holds()
    assert "SERVER_ID 3" in fence.verdict.reason


def test_slow_local_oned_answer_arriving_after_the_lease_grants_nothing():
    fence, clock, zone, commands, events = make_fence({})

    def slow_local():
        clock.advance(LEASE + 0.1)
        return leader()

    zone.answers = {0: slow_local, 1: follower(1), 2: follower(2)}
    fence.step()
    assert not fence.holds()
    assert "ip add" not in events


def test_lease_runs_out_when_the_majority_goes_silent():
    fence, clock, zone, commands, events = make_fence(majority())
    fence.step()
    zone.answers = {0: leader()}  # peers unreachable from now on
    for _ in range(4):  # 2.0 s of rounds: the lease (2.5 s) still holds
        clock.advance(0.5)
        fence.step()
        assert fence.holds() and commands.present
    clock.advance(0.5)
    fence.step()
    assert not fence.holds() and not commands.present
    assert fence.counters["leases_expired"] == 1


def test_after_a_pause_the_expired_lease_is_dropped_before_any_query():
    fence, clock, zone, commands, events = make_fence(majority())
    fence.step()
    assert commands.present
    events.clear()
    clock.advance(30.0)  # the whole host was stopped; the clock kept running
    fence.step()
    assert events[0] == "ip del", events
    assert events.index("ip del") < min(i for i, e in enumerate(events) if e.startswith("query"))
    # The zone still confirms this host (nobody else won meanwhile): a fresh lease follows.
    assert fence.holds() and commands.present


def test_pause_during_a_round_is_caught_before_acting_on_the_answers():
    fence, clock, zone, commands, events = make_fence(majority())
    fence.step()

    def frozen_local():
        clock.advance(10.0)  # host paused between sending and receiving
        return leader()

    zone.answers[0] = frozen_local
    events.clear()
    fence.round()
    # The old lease is dropped; the answers of a round sent 10 s ago grant nothing.
    assert events.index("ip del") > 0
    assert not fence.holds()


def test_watchdog_drops_an_expired_lease_while_the_main_loop_is_blocked():
    fence, clock, zone, commands, events = make_fence(majority())
    fence.step()
    thread = threading.Thread(target=fence.watchdog, kwargs={"tick": 0.005}, daemon=True)
    thread.start()
    try:
        clock.advance(LEASE)
        deadline = time.monotonic() + 10  # generous: a loaded machine may not schedule it
        while commands.present and time.monotonic() < deadline:
            threading.Event().wait(0.005)
        assert not commands.present
        assert not fence.holds()
    finally:
        fence.stop_event.set()
        thread.join(2)


def test_vip_held_without_a_lease_is_removed():
    fence, clock, zone, commands, events = make_fence({0: follower(0, term=3), 1: leader(1)})
    commands.present = True  # e.g. a leader hook of an old installation added it
    fence.step()
    assert not commands.present
    assert events.count("ip del") == 1


def test_missing_vip_is_claimed_again_with_back_off():
    fence, clock, zone, commands, events = make_fence(majority())
    commands.add_fails = 2
    fence.step()  # first claim fails: retry after 2 x poll_interval
    assert not commands.present and events.count("ip add") == 1
    clock.advance(0.5)
    fence.step()  # inside the back-off: no attempt
    assert events.count("ip add") == 1
    clock.advance(0.5)
    fence.step()  # second attempt fails: back-off doubles (2 s)
    assert events.count("ip add") == 2
    clock.advance(1.0)
    fence.step()
    assert events.count("ip add") == 2
    clock.advance(1.0)
    fence.step()
    assert commands.present and events.count("ip add") == 3
    assert fence.counters["vip_claim_failures"] == 2 and fence.counters["vip_claims"] == 1
    # Removed behind the agent's back: claimed again at the next round.
    commands.present = False
    clock.advance(0.5)
    fence.step()
    assert commands.present and events.count("ip add") == 4


def test_unusable_timings_fail_safe():
    fence, clock, zone, commands, events = make_fence(
        majority(), timings=agent.ConfigError("cannot read /etc/one/oned.conf: Permission denied")
    )
    fence.step()
    assert not fence.holds() and "ip add" not in events
    assert "Permission denied" in fence.snapshot()["lease"]["error"]


def test_timings_that_break_the_safety_bound_fail_safe():
    # ELECTION_TIMEOUT 2000 ms: 1000 + 500 + 500 + 250 >= 2000.
    fence, *_ = make_fence(majority(), timings=(2000, 500))
    fence.step()
    assert not fence.holds()
    assert "lease_fraction" in fence.plan_error


def test_a_lease_ends_with_the_local_timings_shortened():
    # The pillar's (agent config) ELECTION_TIMEOUT is a ceiling: a longer oned.conf value
    # cannot lengthen the lease.
    fence, clock, *_ = make_fence(majority(), timings=(10000, 500), election_timeout_ms=5000)
    fence.step()
    assert fence.lease_until == pytest.approx(clock.t + LEASE)


def test_garbage_answers_never_count_and_a_failing_round_fails_safe():
    answers = {0: leader(), 1: agent.RpcError("malformed XML-RPC answer"), 2: follower(2)}
    fence, clock, zone, commands, events = make_fence(answers)
    fence.step()
    assert not fence.holds()
    assert "malformed XML-RPC answer" in fence.verdict.reason
    answers[1] = follower(1)
    fence.step()
    assert fence.holds()

    def broken(*_args):
        raise ValueError("unexpected")

    fence.ask = broken  # a bug in the transport: the lease goes, the loop goes on
    fence.step()
    assert not fence.holds() and not commands.present
    assert fence.counters["errors"] == 1


def test_missing_credentials_fail_safe():
    fence, clock, zone, commands, events = make_fence(majority())
    fence.step()
    assert fence.holds()

    def no_auth(path):
        raise agent.ConfigError(f"cannot read the credentials file {path}: No such file")

    fence.session_reader = no_auth
    fence.step()
    assert not fence.holds() and not commands.present


def test_no_vip_mode_keeps_the_lease_without_commands():
    fence, clock, zone, commands, events = make_fence(majority(), vip=False)
    fence.step()
    assert fence.holds()
    assert not [e for e in events if e.startswith(("ip", "arping"))]


def test_follower_view_needs_the_leaders_term_and_log():
    answers = {0: follower(0, log_index=90), 1: leader(1, log_index=100), 2: follower(2)}
    fence, *_ = make_fence(answers)
    fence.step()
    assert fence.follower == (True, "follower of 1 in term 3")
    answers[0] = follower(0, log_index=-1)
    fence.step()
    clock_skip = fence.clock
    clock_skip.advance(5)
    fence.step()
    assert fence.follower[0] is False and "entries behind" in fence.follower[1]


def test_the_session_string_is_what_the_queries_carry_and_never_logged():
    fence, clock, zone, *_ = make_fence(majority())
    captured = Captured(fence.scrubber)
    agent.LOG.addHandler(captured)
    try:
        fence.step()
        zone.answers[0] = agent.RpcError(f"server echoed {SESSION}")  # hostile answer
        fence.step()
    finally:
        agent.LOG.removeHandler(captured)
    assert set(zone.sessions) == {SESSION}
    assert "lease acquired" in captured.text and "server echoed ***" in captured.text
    assert SESSION.split(":")[1] not in captured.text


def test_evaluate_counts_the_leader_itself():
    verdict = agent.evaluate(0, 1, leader(), {}, 100)
    assert verdict.confirmed and verdict.confirmations == 1 and verdict.needed == 1
    verdict = agent.evaluate(0, 3, status(0, agent.CANDIDATE, 5), {1: follower(1)}, 100)
    assert verdict.revoke and "candidate in term 5" in verdict.reason


def test_a_release_is_one_command_and_fails_only_if_the_vip_stays():
    fence, clock, zone, commands, events = make_fence(majority())
    fence.step()
    events.clear()
    fence.revoke("test: drop")
    assert events == ["ip del"]  # no presence check before the removal
    assert fence.counters["errors"] == 0 and fence.counters["vip_releases"] == 1
    # Absent already: not an error.
    fence._release_vip("again")
    assert fence.counters["errors"] == 0
    # Refused while present: an error, and the next upkeep tries again.
    commands.present = True
    commands.vip_del = lambda: (events.append("ip del refused"), (2, "Operation not permitted"))[1]
    fence._release_vip("refused")
    assert fence.counters["errors"] == 1


def test_a_claim_is_announced_with_gratuitous_arp_while_the_lease_holds():
    fence, clock, zone, commands, events = make_fence(majority())
    fence.step()
    deadline = time.monotonic() + 10
    while not commands.announced and time.monotonic() < deadline:
        time.sleep(0.01)
    assert commands.announced[:1] == ["arping"]
    clock.advance(LEASE)  # lease over: the remaining announcement rounds are skipped
    fence.announce_thread.join(5)
    assert not fence.announce_thread.is_alive()
    assert len(commands.announced) < 3


def test_a_round_decided_by_a_majority_does_not_wait_for_the_silent_servers():
    silent = agent.RpcError("TimeoutError talking to 10.9.0.13:2633")
    answers = {**majority(), 3: Late(silent, 0.8), 4: Late(silent, 0.8)}
    fence, clock, zone, commands, events = make_fence(answers, timeout=0.9)
    fence.step()
    assert fence.holds() and commands.present
    assert fence.snapshot()["peers"]["3"] == {"error": "not waited for (the round was decided)"}


def test_the_alarm_rings_at_an_instant_of_the_boottime_clock_or_when_woken():
    alarm = agent.BoottimeAlarm()
    start = agent.boottime_clock()
    alarm.set(start + 0.05)
    alarm.wait()
    assert agent.boottime_clock() >= start + 0.05  # never before its instant
    alarm.set(start - 10.0)  # an instant that has passed: at once
    alarm.wait()
    alarm.set(start + 3600.0)
    threading.Timer(0.05, alarm.wake).start()
    alarm.wait()  # woken (the agent stopping), not rung
    assert agent.boottime_clock() < start + 3600.0


def test_on_the_boottime_clock_the_watchdog_drops_the_lease_at_its_end_and_not_before():
    """The agent's own clock: the watchdog waits on the alarm each grant sets, and wakes
    when the lease ends instead of every 100 ms (lease 200 ms here)."""
    events = []
    zone = Zone(agent.boottime_clock, events, majority())
    commands = FakeCommands(events)
    fence = agent.Fence(
        config(poll_interval=0.05, timeout=0.05, margin_ms=0),
        clock=agent.boottime_clock,
        ask=zone.ask,
        commands=commands,
        timings=lambda: (400, 50),
        session_reader=lambda _path: SESSION,
    )
    assert isinstance(fence.alarm, agent.BoottimeAlarm)
    rings, dropped = [], []
    wait, vip_del = fence.alarm.wait, commands.vip_del
    fence.alarm.wait = lambda: (wait(), rings.append(agent.boottime_clock()))
    commands.vip_del = lambda: (dropped.append(agent.boottime_clock()), vip_del())[1]
    thread = threading.Thread(target=fence.watchdog, daemon=True)
    thread.start()
    try:
        fence.step()
        until = fence.lease_until
        assert fence.holds() and commands.present
        deadline = time.monotonic() + 10  # generous: a loaded machine may not schedule it
        while commands.present and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        assert not commands.present and fence.counters["leases_expired"] == 1
        assert dropped[-1] >= until  # never before the lease's end
        assert len(rings) == 1  # one wake-up for the whole lease
    finally:
        fence.shutdown()
        thread.join(2)


def test_a_vip_removed_under_the_lease_brings_the_services_back_with_it():
    # A Raft hook's follower action run on the lease holder (the reactor's stale plan did
    # it in the lab) removes the VIP and stops the leader-only services: the agent claims
    # the VIP back and starts the services again, not only the VIP.
    fence, clock, zone, commands, events = make_fence(majority())
    fence.step()
    assert commands.present and fence.services.wanted == "started"
    generation = fence.services.generation
    clock.advance(0.5)
    fence.step()  # nothing changed: no new service round
    assert fence.services.generation == generation
    commands.present = False
    clock.advance(0.5)
    fence.step()
    assert commands.present and events.count("ip add") == 2
    assert fence.services.wanted == "started" and fence.services.generation == generation + 1


def test_the_service_round_waits_for_a_hook_run_holding_vip_sh_lock(tmp_path):
    # vip.sh holds its flock for its whole run (VIP removed, then the services stopped):
    # the agent's start waits for it, so it comes after the hook's stop, never before.
    lock = tmp_path / "vip_sh"
    started = threading.Event()

    class Services(FakeCommands):
        def service(self, name, verb):
            super().service(name, verb)
            started.set()
            return 0, ""

    commands = Services([])
    stop = threading.Event()
    worker = agent.ServiceWorker(["opennebula-flow"], commands, stop, str(lock))
    with open(lock, "a") as hook_run:
        fcntl.flock(hook_run, fcntl.LOCK_EX)
        worker.start()
        worker.want("started")
        assert not started.wait(0.5)  # the hook still runs
    assert started.wait(10)
    assert commands.services == [("opennebula-flow", "start")]
    stop.set()
    worker.join(5)
