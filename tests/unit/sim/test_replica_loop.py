"""The leader's per-follower replication loop (onesim.oned.replication.replicate) against a
scripted follower: what OpenNebula's ReplicaThread and RaftManager::replicate_success /
replicate_failure do (docs/opennebula-raft.md §5.4). The loop runs in a thread over an
in-memory leader; the follower is a function answering each one.zone.replicate call."""

import threading

import pytest

from onesim import rpc
from onesim.config import RAFT_BUILTIN_DEFAULTS, RaftConfig
from onesim.db import SqliteDatabase
from onesim.logdb import LogDB
from onesim.oned import replication
from onesim.oned.log import OnedLog
from onesim.oned.replication import FollowerLink, replicate

WAIT_S = 10


class ScriptedLeader:
    """What the loop uses of RaftManager, over a real LogDB; ``answer(index, prev_index)``
    plays the follower."""

    def __init__(self, tmp_path, records, answer):
        self.server_id, self.term, self.commit = 0, 2, 0
        self.cfg = RaftConfig.from_values(dict(RAFT_BUILTIN_DEFAULTS))
        self.db = SqliteDatabase(tmp_path / "leader.db")
        self.db.create_schema()
        self.logdb = LogDB(self.db)
        self.logdb.bootstrap()
        for index in range(1, records + 1):
            self.logdb.insert(index, self.term, f"INSERT {index}", applied=True)
        self.last_index = records
        self.log = OnedLog(tmp_path / "oned.log")
        self.cond = threading.Condition(threading.RLock())
        self.calls: list[int] = []
        self._answer = answer

    is_leader = True

    def call(self, endpoint, method, params, timeout_s):
        assert method == "one.zone.replicate"
        index, prev_index = params[3], params[5]
        with self.cond:
            self.calls.append(index)
            self.cond.notify_all()
        return self._answer(index, prev_index)

    def advance_commit(self):
        pass

    def step_down(self, new_term):
        raise AssertionError("no higher term in these scripts")

    def write(self):
        """A new record, as a client's write appends one (and wakes the loops)."""
        with self.cond:
            self.last_index += 1
            self.logdb.insert(self.last_index, self.term, f"INSERT {self.last_index}")
            self.cond.notify_all()

    def wait_for(self, predicate, what):
        with self.cond:
            assert self.cond.wait_for(predicate, WAIT_S), f"timed out waiting for {what}"


@pytest.fixture
def run_loop():
    running = []

    def start(leader, link):
        thread = threading.Thread(target=replicate, args=(leader, link), daemon=True)
        thread.start()
        running.append((leader, link, thread))

    yield start
    for leader, link, thread in running:
        link.stop.set()
        with leader.cond:
            leader.cond.notify_all()
        thread.join(WAIT_S)
        leader.db.close()
        leader.log.close()


def ok(_index, _prev):
    return rpc.success(2)


def test_each_success_sends_the_next_record_at_once_until_the_follower_has_the_log(
    tmp_path, run_loop
):
    # No heartbeat, no timer and no new write: only the successes drive the loop on.
    leader = ScriptedLeader(tmp_path, records=40, answer=ok)
    link = FollowerLink(1, "http://follower", next=11)
    run_loop(leader, link)
    leader.wait_for(lambda: link.match == 40, "the follower to hold the whole log")
    assert leader.calls == list(range(11, 41))  # one record per call, none sent twice
    assert link.next == 41


def test_a_missing_previous_record_walks_next_back_one_call_at_a_time(tmp_path, run_loop):
    # A follower restored from a dump ending at 25, after server-reset set next past the log.
    have = [25]

    def restored(index, prev_index):
        if prev_index > have[0]:
            return rpc.failure(
                "one.zone.replicate", rpc.ACTION, "Error loading previous log record", resp_id=2
            )
        have[0] = max(have[0], index)
        return rpc.success(2)

    leader = ScriptedLeader(tmp_path, records=30, answer=restored)
    link = FollowerLink(1, "http://follower", next=31)  # reset_index: last index + 1
    leader.last_index = 31  # the record at 31 is written below, once the loop waits
    leader.logdb.insert(31, 2, "INSERT 31")
    run_loop(leader, link)
    leader.wait_for(lambda: link.match == 31, "the follower to catch up")
    assert leader.calls == [31, 30, 29, 28, 27, 26, *range(27, 32)]


def test_a_transport_error_is_retried_when_the_next_record_is_written(
    tmp_path, run_loop, monkeypatch
):
    # ReplicaThread waits its retry timeout on a condition that every write's
    # replicate_log signals: the retry does not wait out the back-off under a writer.
    monkeypatch.setattr(replication, "REPLICA_BACKOFF_START_S", 3600.0)
    refused = threading.Event()

    def down_once(index, _prev):
        if not refused.is_set():
            refused.set()
            raise ConnectionRefusedError("follower restarting")
        return rpc.success(2)

    leader = ScriptedLeader(tmp_path, records=5, answer=down_once)
    link = FollowerLink(1, "http://follower", next=5)
    run_loop(leader, link)
    leader.wait_for(lambda: leader.calls == [5], "the refused call")
    leader.write()
    leader.wait_for(lambda: link.match == 6, "the retry and the new record")
    assert leader.calls == [5, 5, 6]


def test_the_retry_timeout_doubles_while_below_the_maximum():
    stop = threading.Event()
    stop.set()  # the waits return at once; only the delays are looked at

    class Idle:
        cond = threading.Condition()
        last_index = 0

    backoff = replication._Backoff(Idle(), stop)
    delays = []
    for _ in range(7):
        backoff.wait(seen=0)
        delays.append(round(backoff.delay, 3))
    assert delays == [0.2, 0.4, 0.8, 1.6, 3.2, 3.2, 3.2]
    backoff.reset()
    assert backoff.delay == 0.1
