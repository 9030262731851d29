"""oned's Raft: states, elections, log replication, commit, membership and purge.

Follows OpenNebula's RaftManager (src/raft/RaftManager.cc; docs/opennebula-raft.md §5) rather
than textbook Raft where they differ:

* warm-up (15 s by default) before the first election, the first timeout is not randomised,
  retry rounds wait ``U(0,1) x ELECTION_TIMEOUT``;
* quorum = ``num_servers // 2`` votes of *other* servers, asked one after another;
* heartbeats carry no consistency check: a follower's commit becomes
  ``min(leader_commit, own last index)``;
* a leader never steps down for lack of a majority: its writes simply block (no timeout) until
  it sees a higher term;
* the leader hook runs when an election is won; the follower hook at every HA start-up and when
  a leader steps down (including shutdown); never in solo.

Threads: a timer (50 ms tick; runs elections), an applier (runs committed SQL), a purger, and
on a leader one replication thread plus one heartbeat thread per follower, whose loops live in
:mod:`onesim.oned.replication`; they use this class's ``cond``, ``last_index``, ``is_leader``,
``call``, ``advance_commit`` and ``step_down``.
"""

from __future__ import annotations

import random
import threading
import time
import xmlrpc.client

from onesim import rpc
from onesim.config import RaftConfig
from onesim.db import Database, DatabaseError
from onesim.logdb import LogDB
from onesim.oned.hooks import HookRunner
from onesim.oned.log import OnedLog
from onesim.oned.replication import FollowerLink, heartbeat, replicate
from onesim.zone import load_zone

__all__ = ["CANDIDATE", "FOLLOWER", "LEADER", "SOLO", "RaftManager", "WriteFailed"]

SOLO, CANDIDATE, FOLLOWER, LEADER = 0, 1, 2, 3

TICK_S = 0.050
MARK_PERIOD_S = 600
UINT64_MAX = 18446744073709551615


class WriteFailed(RuntimeError):
    """A replicated write did not complete (e.g. the leader stepped down meanwhile)."""


class RaftManager:
    def __init__(
        self,
        server_id: int,
        zone_id: int,
        raft: RaftConfig,
        db: Database,
        logdb: LogDB,
        log: OnedLog,
        hooks: HookRunner,
        session: str,
        listen_address: str,
        warmup_ms: int,
        federated: bool = False,
    ):
        self.server_id = server_id
        self.zone_id = zone_id
        self.cfg = raft
        self.db = db
        self.logdb = logdb
        self.log = log
        self.hooks = hooks
        self._session = session
        self._listen_address = listen_address
        self._federated = federated

        self._lock = threading.RLock()
        self.cond = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

        term, votedfor = logdb.raft_state() or (0, -1)
        self.term = term
        self.votedfor = votedfor
        self.leader_id = -1
        self.applied = logdb.last_applied()
        self.commit = self.applied
        self.last_index, self._last_term = logdb.last()
        self.servers: dict[int, str] = {}
        self._links: dict[int, FollowerLink] = {}
        self.reconciling = False
        self._reconcile_target = -1
        #: Bumped whenever leadership is lost, failing the writes still waiting for commit.
        self._epoch = 0
        self._apply_error_index = -1
        #: Counts the conflicting suffixes dropped, so the applier knows its run overlapped one.
        self._truncations = 0

        now = time.monotonic()
        self._warmup_end = now + warmup_ms / 1000.0
        self._last_heartbeat = self._warmup_end
        self.state = SOLO if server_id < 0 else FOLLOWER

    # ------------------------------------------------------------------ life cycle
    @property
    def solo(self) -> bool:
        return self.state == SOLO

    @property
    def is_leader(self) -> bool:
        return self.state == LEADER

    def start(self) -> None:
        if self.state == SOLO:
            self.log.info("ONE", "oned started in solo mode.")
        else:
            self._reload_servers()
            self.log.info("RCM", "oned started in follower mode")
            self.hooks.run("follower")
            self._spawn(self._timer_loop, "raft-timer")
        self._spawn(self._applier_loop, "raft-applier")
        self._spawn(self._purge_loop, "raft-purge")

    def finalize(self) -> None:
        """Shutdown: a leader turns follower (term kept) and spawns its follower hook."""
        with self._lock:
            was_leader = self.state == LEADER
            self._stopping.set()
            if was_leader:
                self.step_down(self.term, run_hook=False)
            self.cond.notify_all()
        if was_leader:
            self.hooks.spawn_detached("follower")
        deadline = time.monotonic() + 2.0
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _spawn(self, target, name: str, *args) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    # ------------------------------------------------------------------ status
    def status_xml(self) -> str:
        with self._lock:
            if self.state == SOLO:
                log_index, log_term, commit = -1, -1, 0
            else:
                log_index, log_term, commit = self.last_index, self._last_term, self.commit
            fed_index = UINT64_MAX if self._federated else -1
            return (
                f"<RAFT><SERVER_ID>{self.server_id}</SERVER_ID><STATE>{self.state}</STATE>"
                f"<TERM>{self.term}</TERM><VOTEDFOR>{self.votedfor}</VOTEDFOR>"
                f"<COMMIT>{commit}</COMMIT><LOG_INDEX>{log_index}</LOG_INDEX>"
                f"<LOG_TERM>{log_term}</LOG_TERM><FEDLOG_INDEX>{fed_index}</FEDLOG_INDEX></RAFT>"
            )

    def leader_endpoint(self) -> str | None:
        """Endpoint of the leader last heard from, per this server's in-memory server map."""
        with self._lock:
            if self.leader_id < 0:
                return None
            return self.servers.get(self.leader_id)

    # ------------------------------------------------------------------ persistence helpers
    def _persist(self) -> None:
        self.logdb.save_raft_state(self.term, self.votedfor)

    def _reload_servers(self) -> None:
        zone = load_zone(self.db, self.zone_id)
        self.servers = zone.server_map() if zone else {}

    def _refresh_last(self) -> None:
        self.last_index, self._last_term = self.logdb.last()

    # ------------------------------------------------------------------ transitions
    def step_down(self, new_term: int, run_hook: bool = True) -> None:
        """``follower(term)``: never lowers the term; runs the follower hook if it was leader."""
        previous = self.state
        if new_term > self.term:
            self.term = new_term
            self.votedfor = -1
            self._persist()
        self.state = FOLLOWER
        self.leader_id = -1
        if previous != FOLLOWER:
            # A new follower waits a full timeout before candidacy. A follower that only
            # learns a higher term (e.g. from a candidate whose log is behind) keeps its timer,
            # or such a candidate could keep every up-to-date server from ever standing.
            self._last_heartbeat = max(time.monotonic(), self._warmup_end)
        if previous == LEADER:
            self._epoch += 1
            self.reconciling = False
            for link in self._links.values():
                link.stop.set()
            self._links.clear()
            self.log.info("RCM", "oned is set to follower mode")
            if run_hook:
                self.hooks.run("follower")
        elif previous == CANDIDATE:
            self.log.info("RCM", "oned is set to follower mode")
        self.cond.notify_all()

    def _become_leader(self, election_term: int) -> None:
        with self._lock:
            if self.state != CANDIDATE or self.term != election_term or self._stopping.is_set():
                return
            self._refresh_last()
            applied = self.applied
            self.log.info(
                "RCM",
                f"Becoming leader of the zone. Last log record: {self.last_index} "
                f"last applied record: {applied}",
            )
            self.hooks.run("leader")
            self.state = LEADER
            self.commit = applied
            self.leader_id = self.server_id
            self.reconciling = applied < self.last_index
            self._reconcile_target = self.last_index
            next_index = self.last_index if self.reconciling else self.last_index + 1
            for sid, endpoint in sorted(self.servers.items()):
                if sid != self.server_id:
                    self._start_link(sid, endpoint, next_index)
            if self.reconciling:
                self.log.info("RCM", "Replicating log to followers")
            self.advance_commit()
            self.log.info("RCM", "oned is now the leader of the zone")
            self.cond.notify_all()

    def _start_link(self, sid: int, endpoint: str, next_index: int) -> None:
        """Start follower ``sid``'s replication and heartbeat loops (:mod:`onesim.oned.replication`)."""
        link = FollowerLink(sid, endpoint, next_index)
        self._links[sid] = link
        link.threads = [
            self._spawn(replicate, f"raft-replica-{sid}", self, link),
            self._spawn(heartbeat, f"raft-heartbeat-{sid}", self, link),
        ]

    # ------------------------------------------------------------------ timer and elections
    def _timer_loop(self) -> None:
        next_mark = time.monotonic() + MARK_PERIOD_S
        while not self._stopping.wait(TICK_S):
            now = time.monotonic()
            if now >= next_mark:
                self.log.info("RCM", "--Mark--")
                next_mark = now + MARK_PERIOD_S
            with self._lock:
                due = (
                    self.state == FOLLOWER
                    and now >= self._warmup_end
                    and now >= self._last_heartbeat + self.cfg.election_timeout_ms / 1000.0
                )
                if due:
                    self.log.error(
                        "RRM", "Failed to get heartbeat from leader. Starting election proccess"
                    )
                    self.state = CANDIDATE
            if due:
                try:
                    self._request_vote()
                except DatabaseError as exc:
                    # Could not persist the vote: stay follower and retry after a timeout.
                    self.log.error("RCM", f"Election aborted, database error: {exc}")
                    with self._lock:
                        if self.state == CANDIDATE:
                            self.state = FOLLOWER
                            self._last_heartbeat = time.monotonic()

    def _request_vote(self) -> None:
        """Election rounds until this server wins or turns follower (blocks the timer)."""
        timeout_s = self.cfg.xmlrpc_timeout_ms / 1000.0
        while not self._stopping.is_set():
            with self._lock:
                if self.state != CANDIDATE:
                    return
                self._reload_servers()
                self.term += 1
                self.votedfor = self.server_id
                self.leader_id = -1
                self._persist()
                election_term = self.term
                self._refresh_last()
                last_index, last_term = self.last_index, self._last_term
                votes_needed = len(self.servers) // 2
                peers = sorted((s, e) for s, e in self.servers.items() if s != self.server_id)
            granted = 0
            for sid, endpoint in peers:
                if granted >= votes_needed:
                    break
                try:
                    reply = self.call(
                        endpoint,
                        "one.zone.voterequest",
                        (election_term, self.server_id, rpc.I8(last_index), last_term),
                        timeout_s,
                    )
                except (OSError, xmlrpc.client.Error, ValueError) as exc:
                    self.log.info("RCM", f"Error requesting vote from follower {sid}: {exc}")
                    continue
                with self._lock:
                    if self.state != CANDIDATE or self.term != election_term:
                        return
                    if reply[0]:
                        granted += 1
                        self.log.info(
                            "RCM", f"Got vote from follower {sid}. Total votes: {granted}"
                        )
                        continue
                    their_term = reply[3] if len(reply) > 3 else -1
                    if their_term > election_term:
                        self.log.info(
                            "RCM",
                            f"Follower {sid} is in term {their_term} current term is "
                            f"{election_term}. Turning into follower",
                        )
                        self.step_down(their_term)
                        return
                    self.log.info("RCM", f"Vote not granted from follower {sid}: {reply[1]}")
            if granted >= votes_needed:
                self.log.info("RCM", "Got majority of votes")
                self._become_leader(election_term)
                return
            with self._lock:
                if self.state != CANDIDATE or self.term != election_term:
                    return
                self.votedfor = -1
                self._persist()
            wait_ms = int(random.uniform(0, 1) * self.cfg.election_timeout_ms)
            self.log.info("RCM", f"No leader found, starting new election in {wait_ms}ms")
            deadline = time.monotonic() + wait_ms / 1000.0
            while time.monotonic() < deadline:
                if self._stopping.wait(min(TICK_S, max(0.0, deadline - time.monotonic()))):
                    return
                with self._lock:
                    if self.state != CANDIDATE:
                        return

    def call(self, endpoint: str, method: str, params: tuple, timeout_s: float):
        return rpc.call(
            endpoint,
            method,
            (self._session, *params),
            timeout_s,
            rpc.source_for(endpoint, self._listen_address),
        )

    def advance_commit(self) -> None:
        """Leader: commit the highest index held by ``num_servers // 2`` followers."""
        if self.state != LEADER:
            return
        needed = len(self.servers) // 2
        if needed <= 0:
            candidate = self.last_index
        else:
            matches = sorted((link.match for link in self._links.values()), reverse=True)
            if len(matches) < needed:
                return
            candidate = min(matches[needed - 1], self.last_index)
        if candidate > self.commit:
            self.commit = candidate
            self.cond.notify_all()
        if self.reconciling and self.commit >= self._reconcile_target:
            self.reconciling = False
            self.log.info("RCM", "Leader log replicated")

    # ------------------------------------------------------------------ applying
    def _applier_loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                while not self._stopping.is_set() and (
                    self.commit <= self.applied or self._apply_error_index == self.commit
                ):
                    self.cond.wait(1.0)
                if self._stopping.is_set():
                    return
                target, after, truncations = self.commit, self.applied, self._truncations
            try:
                applied = self.logdb.apply_up_to(target, self._apply_failed, after=after)
            except DatabaseError as exc:
                self._apply_failed(self.applied + 1, str(exc))
                applied = self.applied
            with self._lock:
                if applied < target:
                    self._apply_error_index = target
                if self._truncations != truncations:
                    # Records were replaced meanwhile: go on from before them (a record
                    # already marked applied is not run twice).
                    applied = min(applied, self.applied)
                self.applied = applied
                self.cond.notify_all()

    def _apply_failed(self, index: int, error: str) -> None:
        self.log.error("DBM", f"Error applying log record {index}: {error}")

    # ------------------------------------------------------------------ writes
    def write(self, statements: list[str]) -> None:
        """Run ``statements`` as replicated writes; block until applied (no timeout).

        Solo: executed directly. Leader: appended to the log, replicated, and applied once a
        majority holds them. Raises :class:`WriteFailed` if leadership is lost meanwhile.
        """
        with self._lock:
            if self.state == SOLO:
                self.db.execute_many(statements)
                return
            if self.state != LEADER:
                self.log.error("DBM", "Tried to modify DB being a follower")
                raise WriteFailed("Tried to modify DB being a follower")
            epoch = self._epoch
            index = -1
            for sql in statements:
                index = self.logdb.append(self.term, sql)
            self.last_index, self._last_term = index, self.term
            self.advance_commit()
            self.cond.notify_all()
            while self.applied < index and self._epoch == epoch and not self._stopping.is_set():
                self.cond.wait()
            if self.applied >= index:
                return
        self.log.error("DBM", "Not applying log record, oned is now a follower")
        raise WriteFailed("Cannot replicate log record on followers: oned is now follower")

    # ------------------------------------------------------------------ membership
    def add_server(self, sid: int, endpoint: str) -> None:
        """After the zone update committed: grow the quorum and start replicating to ``sid``."""
        with self._lock:
            if self.state != LEADER:
                return
            self.servers[sid] = endpoint
            if sid != self.server_id and sid not in self._links:
                self.log.info(
                    "RCM", f"Starting replication and heartbeat threads for follower: {sid}"
                )
                self._start_link(sid, endpoint, self.last_index + 1)

    def delete_server(self, sid: int) -> None:
        """Before the zone update: shrink the quorum and stop replicating to ``sid``."""
        with self._lock:
            if self.state != LEADER:
                return
            self.servers.pop(sid, None)
            link = self._links.pop(sid, None)
            if link is not None:
                self.log.info(
                    "RCM", f"Stopping replication and heartbeat threads for follower: {sid}"
                )
                link.stop.set()
            self.advance_commit()
            self.cond.notify_all()

    def reset_server(self, sid: int) -> None:
        """``next[sid] = last_index + 1``; a no-op for unknown ids or when not leader."""
        with self._lock:
            link = self._links.get(sid)
            if self.state == LEADER and link is not None:
                link.next = self.last_index + 1
                self.cond.notify_all()

    # ------------------------------------------------------------------ incoming RPCs
    def on_replicate(
        self,
        leader_id: int,
        leader_commit: int,
        leader_term: int,
        index: int,
        term: int,
        prev_index: int,
        prev_term: int,
        sql: str,
    ) -> tuple[bool, str, int]:
        """``one.zone.replicate`` on the receiver. Returns (ok, error message, current term)."""
        with self._lock:
            current = self.term
            if self.state == SOLO:
                return False, "Server is in solo mode.", current
            if leader_term < current:
                return False, f"Leader term ({leader_term}) is outdated ({current})", current
            if leader_term > current:
                self.log.info("ReM", f"New term ({leader_term}) discovered from leader {leader_id}")
                self.step_down(leader_term)
            if self.state == CANDIDATE:
                self.step_down(leader_term)
            self.leader_id = leader_id
            self._last_heartbeat = time.monotonic()

            if index == 0 and prev_index == 0 and term == 0 and prev_term == 0 and not sql:
                self._set_commit(min(leader_commit, self.last_index))
                return True, "", current
            if not sql:
                return False, "Empty SQL command in log record", current
            # The previous record and this one, read in one query.
            records = self.logdb.get_many((prev_index, index) if index > 0 else (index,))
            if index > 0:
                previous = records.get(prev_index)
                if previous is None:
                    return False, "Error loading previous log record", current
                if previous.term != prev_term:
                    return False, "Previous log record missmatch", current
            existing = records.get(index)
            if existing is not None:
                if existing.term == term:
                    return True, "", current
                self.logdb.delete_from(index)
                self._truncations += 1
                # Replaced records must be applied again, even if their stale predecessors were
                # (a deposed leader may have applied its own records through a heartbeat).
                self.applied = min(self.applied, index - 1)
                self.commit = min(self.commit, index - 1)
                self._apply_error_index = -1
            self.logdb.insert(index, term, sql)
            self._refresh_last()
            self._set_commit(min(leader_commit, index))
            return True, "", current

    def _set_commit(self, value: int) -> None:
        if value > self.commit:
            self.commit = value
            self.cond.notify_all()

    def on_voterequest(
        self, cand_term: int, cand_id: int, cand_last_index: int, cand_last_term: int
    ) -> tuple[bool, str, int]:
        """``one.zone.voterequest`` on the receiver. Returns (granted, error, current term)."""
        with self._lock:
            current = self.term
            if self.state == SOLO:
                return False, "Server is in solo mode.", current
            if cand_term < current:
                return False, "Candidate's term is outdated", current
            if cand_term > current:
                self.log.info("ReM", f"New term ({cand_term}) discovered from candidate {cand_id}")
                self.step_down(cand_term)
            own_index, own_term = self.last_index, self._last_term
            if own_term > cand_last_term or (
                own_term == cand_last_term and own_index > cand_last_index
            ):
                return False, "Candidate's log is outdated", self.term
            if self.votedfor not in (-1, cand_id):
                return False, "Already voted for another candidate", self.term
            self.votedfor = cand_id
            self._persist()
            self._last_heartbeat = time.monotonic()
            return True, "", current

    # ------------------------------------------------------------------ purge
    def _purge_loop(self) -> None:
        while True:
            period = max(self.cfg.log_purge_timeout_s, TICK_S)
            if self._stopping.wait(period):
                return
            try:
                result = self.logdb.purge(self.cfg.log_retention, self.cfg.limit_purge)
            except Exception as exc:  # noqa: BLE001 - a failed purge is logged, oned goes on
                self.log.error("DBM", f"Error purging LogDB records: {exc}")
                continue
            (low, high), (new_low, new_high) = result.before, result.after
            self.log.info(
                "DBM",
                f"Purging obsolete LogDB records: {result.purged} records purged. "
                f"Log state: {low},{high} - {new_low},{new_high}",
            )
