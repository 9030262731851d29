"""The leader's side of log replication: one replication loop and one heartbeat loop per follower.

Kept apart from the Raft rules (:mod:`onesim.oned.raft`: states, elections, commit, the
receiver's checks), as hashicorp/raft keeps ``replication.go`` apart from ``raft.go``. Follows
OpenNebula's ``src/raft/ReplicaThread.cc`` and the heartbeat part of ``src/raft/RaftManager.cc``
(docs/opennebula-raft.md §5.4):

* the replication loop sends the record at ``next`` with the previous record's index and term
  (both read in one query); success moves ``match``/``next`` on and sends the next record at
  once while the follower is behind (``RaftManager::replicate_success``), a consistency
  refusal (ACTION) steps ``next`` back by one and retries at once
  (``RaftManager::replicate_failure``); a transport error or a record it cannot load is
  retried after a back-off that doubles from 200 ms while below 2.5 s (so at most 3.2 s), or
  as soon as a new record is written, whichever comes first (``ReplicaThread::do_replication``
  waits on its condition with the retry timeout, and every write's ``replicate_log`` wakes
  it);
* the heartbeat loop sends an empty ``one.zone.replicate`` every BROADCAST_TIMEOUT_MS and logs
  ``Detetected error condition`` (sic) after more than 10 errors within 60 s;
* a reply with a higher term makes the leader step down, from either loop.
"""

from __future__ import annotations

import threading
import time
import xmlrpc.client
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from onesim import rpc
from onesim.config import RaftConfig
from onesim.db import DatabaseError
from onesim.logdb import LogDB
from onesim.oned.log import OnedLog

#: ReplicaThread's retry timeout: 100 ms, doubled after each failure while below 2.5 s.
REPLICA_BACKOFF_START_S = 0.100
REPLICA_BACKOFF_MAX_S = 2.5
#: Heartbeat errors tolerated within the window before "Detetected error condition".
HEARTBEAT_ERROR_LIMIT = 10
HEARTBEAT_ERROR_WINDOW_S = 60
#: Floor of the heartbeat period (a tiny BROADCAST_TIMEOUT_MS must not spin).
MIN_HEARTBEAT_PERIOD_S = 0.010
_TRANSPORT_ERRORS = (OSError, xmlrpc.client.Error, ValueError)


class Leader(Protocol):
    """What the loops use of :class:`onesim.oned.raft.RaftManager`.

    ``cond`` guards every attribute; the loops hold it only to read state and to act on a reply,
    never across a call to a follower.
    """

    server_id: int
    cfg: RaftConfig
    logdb: LogDB
    log: OnedLog
    cond: threading.Condition
    term: int
    commit: int
    last_index: int

    @property
    def is_leader(self) -> bool: ...

    def call(self, endpoint: str, method: str, params: tuple, timeout_s: float) -> list: ...

    def advance_commit(self) -> None: ...

    def step_down(self, new_term: int) -> None: ...


@dataclass
class FollowerLink:
    """Leader-side replication state for one follower."""

    server_id: int
    endpoint: str
    next: int
    match: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)


class _Backoff:
    """The replica thread's retry timeout after a failed call (``ReplicaThread.cc``)."""

    def __init__(self, leader: Leader, stop: threading.Event):
        self._leader = leader
        self._stop = stop
        self.reset()

    def reset(self) -> None:
        self.delay = REPLICA_BACKOFF_START_S

    def wait(self, seen: int) -> None:
        """Double the delay while it is below the maximum (100 ms -> 200 ms ... 1.6 s ->
        3.2 s), then wait it out, cut short by the link's stop or a record written after
        the leader's last index was ``seen`` (read before the failed attempt, so a write
        during that attempt is not missed: ReplicaThread keeps it as a pending request)."""
        if self.delay < REPLICA_BACKOFF_MAX_S:
            self.delay *= 2
        leader = self._leader
        with leader.cond:
            leader.cond.wait_for(
                lambda: self._stop.is_set() or leader.last_index != seen, self.delay
            )


def _reply_term(reply: list) -> int:
    """The receiver's term carried by a failure reply (its response id), else -1."""
    return reply[3] if not reply[0] and len(reply) > 3 else -1


def _higher_term(leader: Leader, link: FollowerLink, their_term: int) -> None:
    """Step down for a follower's higher term (caller holds ``leader.cond``)."""
    leader.log.info(
        "RCM",
        f"Follower {link.server_id} term ({their_term}) is higher than current ({leader.term})",
    )
    leader.step_down(their_term)


def replicate(leader: Leader, link: FollowerLink) -> None:
    """Send the log to one follower from ``link.next`` on, until the link is stopped."""
    timeout_s = leader.cfg.xmlrpc_timeout_ms / 1000.0
    backoff = _Backoff(leader, link.stop)
    while True:
        with leader.cond:
            while not link.stop.is_set() and link.next > leader.last_index:
                leader.cond.wait()
            if link.stop.is_set():
                leader.log.info("RCM", "Replication thread stopped")
                return
            index, term, commit, seen = link.next, leader.term, leader.commit, leader.last_index
        try:
            records = leader.logdb.get_many((index - 1, index) if index > 0 else (index,))
        except DatabaseError:
            records = {}
        record, previous = records.get(index), records.get(index - 1)
        if record is None or (index > 0 and previous is None):
            leader.log.error("RCM", f"Failed to load log record at index: {index}")
            backoff.wait(seen)
            continue
        params = (
            leader.server_id,
            rpc.I8(commit),
            term,
            rpc.I8(index),
            record.term,
            rpc.I8(previous.index if previous else 0),
            previous.term if previous else 0,
            rpc.I8(record.fed_index),
            record.sql,
        )
        try:
            reply = leader.call(link.endpoint, "one.zone.replicate", params, timeout_s)
        except _TRANSPORT_ERRORS as exc:
            error = exc
        else:
            with leader.cond:
                if link.stop.is_set() or not leader.is_leader or leader.term != term:
                    continue
                if reply[0]:
                    backoff.reset()
                    link.match = max(link.match, index)
                    if link.next == index:
                        link.next = index + 1
                    leader.advance_commit()
                    continue
                if _reply_term(reply) > leader.term:
                    _higher_term(leader, link, _reply_term(reply))
                    continue
                if reply[2] == rpc.ACTION and link.next == index and index > 1:
                    # Log inconsistency: walk back one record and retry at once.
                    link.next = index - 1
                    continue
            error = reply[1]
        leader.log.debug(
            "RCM",
            f"Failed to replicate log record at index: {index} on follower: "
            f"{link.server_id}, error: {error}",
        )
        backoff.wait(seen)


def heartbeat(leader: Leader, link: FollowerLink) -> None:
    """Heartbeats to one follower every BROADCAST_TIMEOUT_MS while this server leads."""
    timeout_s = leader.cfg.xmlrpc_timeout_ms / 1000.0
    period_s = max(leader.cfg.broadcast_timeout_ms / 1000.0, MIN_HEARTBEAT_PERIOD_S)
    errors: deque[float] = deque()
    reported = False
    while not link.stop.is_set():
        with leader.cond:
            if not leader.is_leader:
                return
            term, commit = leader.term, leader.commit
        params = (
            leader.server_id,
            rpc.I8(commit),
            term,
            rpc.I8(0),
            0,
            rpc.I8(0),
            0,
            rpc.I8(-1),
            "",
        )
        try:
            reply = leader.call(link.endpoint, "one.zone.replicate", params, timeout_s)
        except _TRANSPORT_ERRORS as exc:
            now = time.monotonic()
            errors.append(now)
            while errors and errors[0] < now - HEARTBEAT_ERROR_WINDOW_S:
                errors.popleft()
            if len(errors) > HEARTBEAT_ERROR_LIMIT and not reported:
                leader.log.error(
                    "RCM",
                    f"Detetected error condition on follower {link.server_id}. "
                    f"Last error was: {exc}",
                )
                reported = True  # once per streak of errors, not on every heartbeat
        else:
            errors.clear()
            reported = False
            their_term = _reply_term(reply)
            if their_term > term:
                with leader.cond:
                    if leader.is_leader and their_term > leader.term:
                        _higher_term(leader, link, their_term)
                return
        link.stop.wait(period_s)
