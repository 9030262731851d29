"""The runner's verified decisions as plain functions, on fake views of the front-ends.

Events are triggers, not evidence: the repair source is the leader a majority agrees on,
the target must be broken as that leader sees it and by its own answer, and the repair
lock depends on nothing an event carries.
"""

from pathlib import Path

import pytest
from support.formula_utils import utils_dunder
from support.load import load_file

REPO_ROOT = Path(__file__).resolve().parents[3]


def _load_runner():
    path = REPO_ROOT / "_runners" / "onenebula_ha.py"
    module = load_file(path, "onenebula_test_runner_verified")
    module.__utils__ = utils_dunder()  # the formula's _utils, as Salt hands them to runners
    return module


runner = _load_runner()

SERVERS = [
    {"minion": "vmm01", "id": 0, "name": "vmm01"},
    {"minion": "vmm02", "id": 1, "name": "vmm02"},
    {"minion": "vmm03", "id": 2, "name": "vmm03"},
]
NAMES = {0: "solo", 1: "candidate", 2: "follower", 3: "leader"}


def answer(state, term, server_id, log_index=100):
    return {
        "ok": True,
        "ret": {
            "server_id": server_id,
            "state": state,
            "state_name": NAMES[state],
            "term": term,
            "log_index": log_index,
            "commit": log_index,
        },
    }


DOWN = {"ok": False, "error": "cannot reach oned at http://localhost:2633/RPC2"}


def zone(**states):
    """The zone as the leader shows it: {name: state} (log index 100, error: None)."""
    return {
        "servers": [
            {
                "id": server["id"],
                "name": server["name"],
                "state": states.get(server["name"], "follower"),
                "log_index": None if states.get(server["name"]) == "error" else 100,
            }
            for server in SERVERS
        ]
    }


def honest(target_down=True):
    raft = {"vmm01": answer(3, 5, 0), "vmm02": answer(2, 5, 1)}
    raft["vmm03"] = DOWN if target_down else answer(2, 5, 2)
    return raft


# ------------------------------------------------------------------ majority leader


def test_one_leader_followed_by_a_majority_in_its_term():
    agreed = runner._majority_leader(SERVERS, honest())
    assert (agreed["leader"], agreed["term"], agreed["followers"], agreed["reason"]) == (
        "vmm01",
        5,
        ["vmm02"],
        None,
    )


def test_a_liar_claiming_leader_term_99_beside_the_real_leader_stops_everything():
    raft = honest()
    raft["vmm02"] = answer(3, 99, 1)
    agreed = runner._majority_leader(SERVERS, raft)
    assert agreed["leader"] is None
    assert agreed["reason"] == "2 front-ends claim leadership: vmm01 (term 5), vmm02 (term 99)"


def test_a_lone_liar_with_a_higher_term_is_not_followed_by_a_majority():
    # The real leader does not answer the master; the liar claims term 99; the honest
    # follower is in term 5.
    raft = {"vmm01": DOWN, "vmm02": answer(3, 99, 1), "vmm03": answer(2, 5, 2)}
    agreed = runner._majority_leader(SERVERS, raft)
    assert agreed["leader"] is None
    assert "only 1 of 3 front-ends are in that term" in agreed["reason"]


def test_a_leader_reporting_another_server_id_is_not_believed():
    raft = honest()
    raft["vmm01"] = answer(3, 5, 2)
    agreed = runner._majority_leader(SERVERS, raft)
    assert agreed["leader"] is None
    assert "the pillar says 0" in agreed["reason"]


def test_no_leader_at_all():
    raft = {"vmm01": DOWN, "vmm02": answer(1, 6, 1), "vmm03": answer(2, 5, 2)}
    assert runner._majority_leader(SERVERS, raft)["reason"] == "no front-end reports state leader"


# ------------------------------------------------------------------ repair decision


def test_a_target_in_error_with_its_oned_down_is_repaired_from_the_agreed_leader():
    decision = runner._repair_decision(
        SERVERS, "vmm03", honest(), zone(vmm01="leader", vmm03="error")
    )
    assert decision["repair"] is True
    assert (decision["leader"], decision["term"]) == ("vmm01", 5)


def test_the_source_is_never_the_highest_self_reported_term():
    # vmm02 lies "leader, term 99": with the real leader also claiming, nothing is done,
    # so the liar's dump can never be restored onto vmm03.
    raft = honest()
    raft["vmm02"] = answer(3, 99, 1)
    decision = runner._repair_decision(SERVERS, "vmm03", raft, zone(vmm01="leader", vmm03="error"))
    assert decision["repair"] is False and decision["leader"] is None
    assert "claim leadership" in decision["reason"]


def test_a_forged_in_error_about_a_healthy_target_changes_nothing():
    decision = runner._repair_decision(
        SERVERS, "vmm03", honest(target_down=False), zone(vmm01="leader")
    )
    assert decision["repair"] is False
    assert "caught-up follower of vmm01" in decision["reason"]


def test_split_views_the_leader_sees_error_but_the_target_answers():
    decision = runner._repair_decision(
        SERVERS, "vmm03", honest(target_down=False), zone(vmm01="leader", vmm03="error")
    )
    assert decision["repair"] is False
    assert "answers the master as follower" in decision["reason"]


def test_the_leader_is_never_a_repair_target():
    decision = runner._repair_decision(SERVERS, "vmm01", honest(), zone(vmm01="leader"), force=True)
    assert decision["repair"] is False
    assert "is the leader" in decision["reason"]


def test_a_server_being_joined_or_removed_is_not_repaired():
    # Between server-add and its start a joining server is in error as the leader sees it;
    # its oned.conf still says SERVER_ID -1 until the join's start step sets it.
    doc = zone(vmm01="leader", vmm03="error")
    joining = runner._repair_decision(
        SERVERS, "vmm03", honest(), doc, configured={"vmm01": 0, "vmm02": 1, "vmm03": -1}
    )
    assert joining["repair"] is False and "SERVER_ID is -1, not 2" in joining["reason"]
    member = runner._repair_decision(
        SERVERS, "vmm03", honest(), doc, configured={"vmm01": 0, "vmm02": 1, "vmm03": 2}
    )
    assert member["repair"] is True


def test_an_unknown_target_is_refused():
    decision = runner._repair_decision(SERVERS, "hv07", honest(), zone(vmm01="leader"))
    assert decision["repair"] is False and "not a front-end" in decision["reason"]


def test_a_stuck_follower_is_repaired_only_when_a_second_look_confirms_it():
    raft = honest(target_down=False)
    raft["vmm01"] = answer(3, 5, 0, log_index=900)
    raft["vmm02"] = answer(2, 5, 1, log_index=900)
    raft["vmm03"] = answer(2, 5, 2, log_index=40)
    doc = zone(vmm01="leader")
    first = runner._repair_decision(SERVERS, "vmm03", raft, doc)
    assert first["repair"] is False and "to be confirmed" in first["reason"]
    later = dict(raft, vmm01=answer(3, 5, 0, log_index=905))
    confirmed = runner._repair_decision(SERVERS, "vmm03", raft, doc, later=later)
    assert confirmed["repair"] is True and "stuck" in confirmed["reason"]


def test_a_follower_catching_up_is_left_alone():
    raft = honest(target_down=False)
    raft["vmm01"] = answer(3, 5, 0, log_index=900)
    raft["vmm03"] = answer(2, 5, 2, log_index=40)
    later = dict(raft, vmm03=answer(2, 5, 2, log_index=300))
    decision = runner._repair_decision(SERVERS, "vmm03", raft, zone(vmm01="leader"), later=later)
    assert decision["repair"] is False and "catching up" in decision["reason"]


def test_force_repairs_a_healthy_follower_but_only_under_an_agreed_leader():
    forced = runner._repair_decision(
        SERVERS, "vmm03", honest(target_down=False), zone(vmm01="leader"), force=True
    )
    assert forced["repair"] is True and forced["reason"].startswith("forced")
    raft = honest(target_down=False)
    raft["vmm02"] = answer(3, 99, 1)
    refused = runner._repair_decision(SERVERS, "vmm03", raft, zone(vmm01="leader"), force=True)
    assert refused["repair"] is False


# ------------------------------------------------------------------ the repair lock


def test_a_held_lock_blocks_every_other_repair_until_it_expires():
    lock = {"holder": {"target": "vmm03", "leader": "vmm01", "started": 1000, "token": "t"}}
    ok, why = runner._lock_decision(lock, "vmm02", now=1100, ttl=3600)
    assert ok is False and "vmm03" in why
    assert runner._lock_decision(lock, "vmm02", now=1000 + 3600, ttl=3600) == (True, None)


def test_release_needs_the_holders_token():
    lock = {"holder": {"target": "vmm03", "started": 1000, "token": "right"}}
    kept, message = runner._released(lock, "forged", True, None, now=1010)
    assert kept["holder"] == lock["holder"] and "does not hold the lock" in message


def test_a_failed_repair_releases_the_lock_and_backs_the_target_off_boundedly():
    lock = {"holder": {"target": "vmm03", "started": 1000, "token": "a"}}
    delays = []
    now = 1000
    for attempt in range(1, 8):
        lock["holder"] = {"target": "vmm03", "started": now, "token": f"t{attempt}"}
        lock, message = runner._released(lock, f"t{attempt}", False, "restore failed", now)
        assert lock["holder"] is None and "restore failed" in message
        retry_after = lock["failures"]["vmm03"]["retry_after"]
        delays.append(retry_after - now)
        assert runner._lock_decision(lock, "vmm03", now + 1, 3600)[0] is False
        assert runner._lock_decision(lock, "vmm02", now + 1, 3600) == (True, None)
        now = retry_after
    assert delays == [30, 60, 120, 240, 480, 600, 600]
    lock["holder"] = {"target": "vmm03", "started": now, "token": "ok"}
    lock, _ = runner._released(lock, "ok", True, None, now)
    assert "vmm03" not in lock["failures"]
    assert runner._lock_decision(lock, "vmm03", now, 3600) == (True, None)


@pytest.mark.parametrize(
    ("holder", "entry", "reason"),
    [
        # a check refused before a destructive step: its reason, as it noted it
        ({"target": "vmm03", "problem": "repair of vmm03, before the restore: the leader "
          "changed from vmm01 to vmm02"}, None,
         "repair of vmm03, before the restore: the leader changed from vmm01 to vmm02"),
        # a step failed: what the master's fresh look finds wrong with the target
        ({"target": "vmm03"}, {"state": "down", "problems": [
            "oned does not answer: cannot reach oned at http://localhost:2633/RPC2"]},
         "a step of the repair orchestration failed; afterwards vmm03: oned does not answer: "
         "cannot reach oned at http://localhost:2633/RPC2"),
        ({"target": "vmm03"}, {"state": "follower", "problems": []},
         "a step of the repair orchestration failed; afterwards vmm03 is follower"),
        # no fresh look possible
        ({"target": "vmm03"}, None, "a step of the repair orchestration failed"),
    ],
)  # fmt: skip
def test_a_failed_repair_says_why(holder, entry, reason):
    assert runner._failure_reason(holder, entry) == reason
    lock = {"holder": dict(holder, started=1000, token="t")}
    lock, message = runner._released(lock, "t", False, runner._failure_reason(holder, entry), 1010)
    assert lock["failures"]["vmm03"]["reason"] == reason and reason in message


@pytest.mark.parametrize("lock", [None, "junk", {"holder": "x"}, {"holder": {"started": "now"}}])
def test_a_malformed_lock_record_does_not_block(lock):
    assert runner._lock_decision(lock, "vmm03", 1000, 3600) == (True, None)


# ------------------------------------------------------------------ VIP moves


def test_vip_goes_to_the_agreed_leader_and_off_every_other_holder():
    moves = runner._vip_moves(SERVERS, honest(), holders=["vmm02"])
    assert (moves["leader"], moves["release"], moves["claim"]) == ("vmm01", ["vmm02"], ["vmm01"])


def test_vip_stays_where_it_is_when_a_liar_claims_leadership():
    # vmm02's oned says "leader, term 99": the real leader keeps the VIP, nothing moves.
    raft = honest(target_down=False)
    raft["vmm02"] = answer(3, 99, 1)
    moves = runner._vip_moves(SERVERS, raft, holders=["vmm01"])
    assert (moves["release"], moves["claim"]) == ([], [])
    assert "claim leadership" in moves["reason"]


def test_vip_is_not_claimed_by_a_leader_without_followers():
    raft = {"vmm01": answer(3, 7, 0), "vmm02": answer(2, 6, 1), "vmm03": DOWN}
    moves = runner._vip_moves(SERVERS, raft, holders=[])
    assert (moves["leader"], moves["claim"]) == (None, [])


def test_nothing_to_move_when_the_leader_holds_it_alone():
    moves = runner._vip_moves(SERVERS, honest(), holders=["vmm01"])
    assert (moves["release"], moves["claim"], moves["reason"]) == ([], [], None)
