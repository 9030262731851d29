"""The Raft log (table ``logdb``) and the persisted Raft state (``system_attributes``).

Each record carries one SQL statement, stored zlib-compressed and base64-encoded as oned does.
A record is *applied* once its statement ran on the local DB. Writes to ``logdb`` and to the
Raft state are local: they are never replicated themselves.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from onesim import schema
from onesim.db import Database, DatabaseError, quote
from onesim.template import cdata

__all__ = ["LogDB", "LogRecord", "PurgeResult", "decode_sql", "encode_sql", "purge_plan"]

#: fed_index of a record that is not a federated one (see schema.py).
NOT_FEDERATED = -1


def encode_sql(sql: str) -> str:
    return base64.b64encode(zlib.compress(sql.encode())).decode()


def decode_sql(blob: str) -> str:
    if not blob:
        return ""
    return zlib.decompress(base64.b64decode(blob)).decode()


@dataclass(frozen=True)
class LogRecord:
    index: int
    term: int
    sql: str
    timestamp: int
    fed_index: int
    applied: bool


@dataclass(frozen=True)
class PurgeResult:
    purged: int
    before: tuple[int, int]
    after: tuple[int, int]


def purge_plan(applied_indexes: list[int], retention: int, limit: int | None) -> list[int]:
    """Indexes a purge deletes: applied records older than the newest ``retention`` applied.

    ``applied_indexes`` must be sorted ascending. ``limit`` caps the number deleted per run
    (oned only applies LIMIT_PURGE where the backend supports ``DELETE ... LIMIT``: MySQL), the
    oldest first. Unapplied records are never passed in, so never purged.
    """
    if retention < 0:
        retention = 0
    removable = applied_indexes[: max(0, len(applied_indexes) - retention)]
    if limit is not None:
        removable = removable[: max(0, limit)]
    return removable


_TAG_RE = r"<{0}>(?:<!\[CDATA\[)?(-?\d+)(?:\]\]>)?</{0}>"


class LogDB:
    """Access to ``logdb`` and ``RAFT_STATE``; thread-safe (one lock around each operation)."""

    def __init__(self, db: Database):
        self.db = db
        self.lock = threading.RLock()
        # oned keeps the last index in memory (LogDB::last_index): read once, then kept up to
        # date by every insert, so neither a write nor a replicated record asks the DB for
        # it, and purging every record (LOG_RETENTION = 0) does not restart the numbering.
        self._last: tuple[int, int] | None = None

    # -- bootstrap
    def bootstrap(self) -> None:
        """Record 0 (term 0, applied) and the initial Raft state, created on a fresh DB."""
        with self.lock:
            if self.db.scalar("SELECT COUNT(*) FROM logdb WHERE log_index = 0", 0) == 0:
                self.db.execute(
                    "INSERT INTO logdb (log_index, term, sqlcmd, timestamp, fed_index, applied) "
                    f"VALUES (0, 0, '', 0, {NOT_FEDERATED}, 1)"
                )
            if self.raft_state() is None:
                self.save_raft_state(0, -1, message="bootstrap state")

    # -- Raft state
    def raft_state(self) -> tuple[int, int] | None:
        body = self.db.scalar(
            "SELECT body FROM system_attributes WHERE name = " + quote(schema.RAFT_STATE_ATTRIBUTE)
        )
        if body is None:
            return None
        term = re.search(_TAG_RE.format("TERM"), body)
        vote = re.search(_TAG_RE.format("VOTEDFOR"), body)
        return (int(term.group(1)) if term else 0, int(vote.group(1)) if vote else -1)

    def save_raft_state(self, term: int, votedfor: int, message: str | None = None) -> None:
        parts = ["<TEMPLATE>"]
        if message:
            parts.append(f"<MESSAGE>{cdata(message)}</MESSAGE>")
        parts.append(f"<TERM>{cdata(str(term))}</TERM><VOTEDFOR>{cdata(str(votedfor))}</VOTEDFOR>")
        parts.append("</TEMPLATE>")
        self.db.execute(
            "REPLACE INTO system_attributes (name, body) VALUES "
            f"({quote(schema.RAFT_STATE_ATTRIBUTE)}, {quote(''.join(parts))})"
        )

    # -- reading
    def last(self) -> tuple[int, int]:
        """(index, term) of the last record; (0, 0) when only record 0 exists."""
        with self.lock:
            if self._last is None:
                rows = self.db.query(
                    "SELECT log_index, term FROM logdb "
                    "WHERE log_index = (SELECT MAX(log_index) FROM logdb)"
                )
                if rows:
                    self._last = (int(rows[0][0]), int(rows[0][1]))
            return self._last or (-1, -1)

    def last_applied(self) -> int:
        with self.lock:
            value = int(self.db.scalar("SELECT MAX(log_index) FROM logdb WHERE applied = 1", -1))
            if value < 0 and self._last is not None:
                # Every applied record was purged: the applied ones precede the unapplied ones.
                first_unapplied = self.db.scalar(
                    "SELECT MIN(log_index) FROM logdb WHERE applied = 0", None
                )
                value = int(first_unapplied) - 1 if first_unapplied is not None else self._last[0]
            return value

    def first_index(self) -> int:
        with self.lock:
            return int(self.db.scalar("SELECT MIN(log_index) FROM logdb", -1))

    def get(self, index: int) -> LogRecord | None:
        return self.get_many((index,)).get(int(index))

    def get_many(self, indexes: tuple[int, ...]) -> dict[int, LogRecord]:
        """The records at ``indexes`` that exist, by index, read in one query (as oned reads a
        record together with its predecessor: ``LogDB::get_log_record``)."""
        wanted = ", ".join(str(int(index)) for index in indexes)
        # One statement: no need for the lock, so a read never waits for the applier (oned's
        # get_log_record does not take the LogDB mutex either).
        rows = self.db.query(
            "SELECT log_index, term, sqlcmd, timestamp, fed_index, applied FROM logdb "
            f"WHERE log_index IN ({wanted})"
        )
        return {
            int(idx): LogRecord(
                int(idx), int(term), decode_sql(blob), int(stamp), int(fed), bool(applied)
            )
            for idx, term, blob, stamp, fed, applied in rows
        }

    def count(self) -> int:
        with self.lock:
            return int(self.db.scalar("SELECT COUNT(*) FROM logdb", 0))

    # -- writing
    def insert(self, index: int, term: int, sql: str, applied: bool = False) -> None:
        with self.lock:
            self.db.execute(
                "INSERT INTO logdb (log_index, term, sqlcmd, timestamp, fed_index, applied) VALUES "
                f"({int(index)}, {int(term)}, {quote(encode_sql(sql))}, {int(time.time())}, "
                f"{NOT_FEDERATED}, {1 if applied else 0})"
            )
            if self._last is not None and index > self._last[0]:
                self._last = (int(index), int(term))

    def append(self, term: int, sql: str) -> int:
        """Insert ``sql`` as the next record (unapplied) and return its index."""
        with self.lock:
            index = self.last()[0] + 1
            self.insert(index, term, sql)
            return index

    def delete_from(self, index: int) -> None:
        """Drop record ``index`` and every later one (a conflicting suffix)."""
        with self.lock:
            self.db.execute(f"DELETE FROM logdb WHERE log_index >= {int(index)}")
            self._last = None

    def apply_up_to(
        self, commit: int, on_error: Callable[[int, str], None], after: int | None = None
    ) -> int:
        """Run the SQL of the records after ``after`` (default: the last applied one) up to
        ``commit``, in order, each read by its index as oned's ``LogDB::apply_log_records``
        does from its in-memory last applied index; a record already marked applied is not
        run again.

        Stops at the first record whose statement fails (a duplicate key counts as applied), as
        oned's apply loop does: later records then stay unapplied; also at a record that is
        not there. Returns the last applied index.
        """
        applied = self.last_applied() if after is None else after
        while applied < commit:
            index = applied + 1
            with self.lock:
                rows = self.db.query(f"SELECT sqlcmd, applied FROM logdb WHERE log_index = {index}")
                if not rows:
                    return applied
                blob, done = rows[0]
                if not done:
                    sql = decode_sql(blob)
                    try:
                        if sql:
                            self.db.execute(sql)
                    except DatabaseError as exc:
                        if not exc.duplicate:
                            on_error(index, str(exc))
                            return applied
                    self.db.execute(f"UPDATE logdb SET applied = 1 WHERE log_index = {index}")
            applied = index
        return applied

    def purge(self, retention: int, limit: int) -> PurgeResult:
        """Delete old applied records, keeping the newest ``retention`` applied ones."""
        with self.lock:
            before = self._range()
            applied = [
                int(row[0])
                for row in self.db.query(
                    "SELECT log_index FROM logdb WHERE applied = 1 "
                    f"AND fed_index = {NOT_FEDERATED} ORDER BY log_index"
                )
            ]
            plan = purge_plan(applied, retention, limit if self.db.backend == "mysql" else None)
            if plan:
                self.db.execute(
                    f"DELETE FROM logdb WHERE applied = 1 AND fed_index = {NOT_FEDERATED} "
                    f"AND log_index <= {plan[-1]}"
                )
            return PurgeResult(len(plan), before, self._range())

    def _range(self) -> tuple[int, int]:
        rows = self.db.query("SELECT MIN(log_index), MAX(log_index) FROM logdb")
        low, high = rows[0] if rows else (None, None)
        return (int(low) if low is not None else -1, int(high) if high is not None else -1)
