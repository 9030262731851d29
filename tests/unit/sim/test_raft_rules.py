"""Raft receiver rules of docs/opennebula-raft.md §2.4, on an in-process RaftManager (no network).

The manager is built over a temporary SQLite DB; nothing is started, so no timers run.
"""

import pytest

from onesim.config import RAFT_BUILTIN_DEFAULTS, RaftConfig
from onesim.db import SqliteDatabase
from onesim.logdb import LogDB
from onesim.oned.hooks import HookRunner
from onesim.oned.log import OnedLog
from onesim.oned.raft import CANDIDATE, FOLLOWER, LEADER, SOLO, RaftManager
from onesim.zone import Zone


class RecordingHooks(HookRunner):
    def __init__(self, log):
        super().__init__(None, None, "/nonexistent/", log)
        self.runs = []

    def run(self, which):
        self.runs.append(which)


@pytest.fixture
def make_raft(tmp_path):
    made = []

    def make(server_id=1, term=3, votedfor=-1, records=(), applied=True):
        db = SqliteDatabase(tmp_path / f"one-{len(made)}.db")
        db.create_schema()
        db.execute(Zone.default("http://localhost:2633/RPC2").upsert_sql())
        logdb = LogDB(db)
        logdb.bootstrap()
        for index, record_term in records:
            logdb.insert(index, record_term, "SELECT 1", applied=applied)
        logdb.save_raft_state(term, votedfor)
        log = OnedLog(tmp_path / f"oned-{len(made)}.log")
        hooks = RecordingHooks(log)
        raft = RaftManager(
            server_id=server_id,
            zone_id=0,
            raft=RaftConfig.from_values(dict(RAFT_BUILTIN_DEFAULTS)),
            db=db,
            logdb=logdb,
            log=log,
            hooks=hooks,
            session="oneadmin:x",
            listen_address="127.0.0.1",
            warmup_ms=0,
        )
        made.append((raft, db, log))
        return raft

    yield make
    for _, db, log in made:
        db.close()
        log.close()


def heartbeat(raft, leader_term, leader_commit=0, leader_id=0):
    return raft.on_replicate(leader_id, leader_commit, leader_term, 0, 0, 0, 0, "")


def test_solo_status_values(make_raft):
    raft = make_raft(server_id=-1, term=0)
    assert raft.state == SOLO
    assert raft.status_xml() == (
        "<RAFT><SERVER_ID>-1</SERVER_ID><STATE>0</STATE><TERM>0</TERM><VOTEDFOR>-1</VOTEDFOR>"
        "<COMMIT>0</COMMIT><LOG_INDEX>-1</LOG_INDEX><LOG_TERM>-1</LOG_TERM>"
        "<FEDLOG_INDEX>-1</FEDLOG_INDEX></RAFT>"
    )


def test_ha_server_starts_as_follower_with_persisted_term(make_raft):
    raft = make_raft(server_id=2, term=7, votedfor=0)
    assert (raft.state, raft.term, raft.votedfor) == (FOLLOWER, 7, 0)


def test_replicate_with_outdated_term_fails_with_current_term(make_raft):
    raft = make_raft(term=5)
    assert heartbeat(raft, 4) == (False, "Leader term (4) is outdated (5)", 5)


def test_replicate_with_higher_term_turns_follower_and_replies_old_term(make_raft):
    raft = make_raft(term=5, votedfor=1)
    raft.state = CANDIDATE
    ok, _, replied_term = heartbeat(raft, 6)
    assert ok and replied_term == 5
    assert (raft.state, raft.term, raft.votedfor, raft.leader_id) == (FOLLOWER, 6, -1, 0)
    assert raft.logdb.raft_state() == (6, -1)


def test_leader_seeing_higher_term_runs_follower_hook(make_raft):
    raft = make_raft(term=5)
    raft.state = LEADER
    heartbeat(raft, 6)
    assert raft.state == FOLLOWER
    assert raft.hooks.runs == ["follower"]


def test_candidate_steps_down_on_same_term_replicate_without_hook(make_raft):
    raft = make_raft(term=5)
    raft.state = CANDIDATE
    ok, _, _ = heartbeat(raft, 5)
    assert ok and raft.state == FOLLOWER and raft.hooks.runs == []


def test_heartbeat_commit_is_min_of_leader_commit_and_own_last_index(make_raft):
    raft = make_raft(term=2, records=[(1, 1), (2, 1), (3, 2)], applied=False)
    assert raft.commit == 0
    heartbeat(raft, 2, leader_commit=10)
    assert raft.commit == 3
    other = make_raft(term=2, records=[(1, 1), (2, 1), (3, 2)], applied=False)
    heartbeat(other, 2, leader_commit=2)
    assert other.commit == 2


def test_replicate_consistency_checks(make_raft):
    raft = make_raft(term=2, records=[(1, 1), (2, 2)])
    assert raft.on_replicate(0, 0, 2, 4, 2, 3, 2, "SELECT 1") == (
        False,
        "Error loading previous log record",
        2,
    )
    assert raft.on_replicate(0, 0, 2, 3, 2, 2, 1, "SELECT 1") == (
        False,
        "Previous log record missmatch",
        2,
    )
    assert raft.on_replicate(0, 0, 2, 3, 2, 2, 2, "") == (
        False,
        "Empty SQL command in log record",
        2,
    )


def test_replicate_conflicting_record_truncates_the_suffix(make_raft):
    raft = make_raft(term=3, records=[(1, 1), (2, 1), (3, 1)])
    ok, _, _ = raft.on_replicate(0, 0, 3, 2, 3, 1, 1, "SELECT 2")
    assert ok
    assert raft.logdb.get(3) is None
    assert raft.logdb.get(2).term == 3
    assert raft.applied == 1  # the replacement must be applied, though 2 and 3 were
    assert raft.status_xml().count("<LOG_INDEX>2</LOG_INDEX>") == 1


def test_replicate_appends_and_commits_up_to_min_leader_commit_index(make_raft):
    raft = make_raft(term=1, records=[(1, 1)])
    ok, _, _ = raft.on_replicate(0, 5, 1, 2, 1, 1, 1, "SELECT 1")
    assert ok and raft.commit == 2


def test_vote_rules(make_raft):
    raft = make_raft(term=4, records=[(1, 2), (2, 4)])
    assert raft.on_voterequest(3, 0, 9, 9) == (False, "Candidate's term is outdated", 4)
    assert raft.on_voterequest(5, 0, 1, 2) == (False, "Candidate's log is outdated", 5)
    assert raft.term == 5  # the higher term was adopted before the log check
    assert raft.on_voterequest(5, 0, 1, 4) == (False, "Candidate's log is outdated", 5)
    assert raft.on_voterequest(5, 0, 2, 4) == (True, "", 5)
    assert raft.votedfor == 0 and raft.logdb.raft_state() == (5, 0)
    assert raft.on_voterequest(5, 2, 2, 4) == (False, "Already voted for another candidate", 5)


def test_vote_request_with_higher_term_makes_a_leader_step_down(make_raft):
    raft = make_raft(term=4)
    raft.state = LEADER
    granted, _, replied = raft.on_voterequest(6, 0, 0, 0)
    assert granted and replied == 4
    assert raft.state == FOLLOWER and raft.hooks.runs == ["follower"]


def test_solo_server_refuses_raft_calls(make_raft):
    raft = make_raft(server_id=-1, term=0)
    assert not heartbeat(raft, 1)[0]
    assert not raft.on_voterequest(1, 0, 0, 0)[0]


def test_federated_server_without_federated_records_reports_uint64_max(make_raft):
    raft = make_raft(server_id=0, term=1)
    raft._federated = True
    assert "<FEDLOG_INDEX>18446744073709551615</FEDLOG_INDEX>" in raft.status_xml()
