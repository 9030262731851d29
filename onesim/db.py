"""SQL backends of oned: a SQLite file or a MySQL/MariaDB server (through PyMySQL).

Statements are plain SQL text (the same text travels in the Raft log and is executed by every
server), so values are quoted into the statement with :func:`quote`. MySQL sessions run with
``NO_BACKSLASH_ESCAPES`` so that the one quoting rule (double the single quote) is valid on
both backends.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from onesim import schema
from onesim.config import DbConfig

__all__ = ["Database", "DatabaseError", "MysqlDatabase", "SqliteDatabase", "open_database", "quote"]


class DatabaseError(RuntimeError):
    """A statement failed; ``duplicate`` tells a duplicate-key error apart."""

    def __init__(self, message: str, duplicate: bool = False):
        super().__init__(message)
        self.duplicate = duplicate


def quote(value: object) -> str:
    """A SQL literal for ``value`` (NULL, a number, or a single-quoted string)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


class Database:
    """One connection shared by all threads (serialised by a lock), as a small oned needs."""

    backend = "abstract"

    def __init__(self):
        #: Serialises the statements of a backend with one connection (SQLite).
        self._lock = threading.RLock()
        self._errors_lock = threading.Lock()
        self._consecutive_errors = 0
        #: Called with the count of consecutive errors after each failure (ERRORS_LIMIT check).
        self.on_error: Callable[[int], None] | None = None

    # -- backend hooks
    def _execute(self, sql: str) -> None:
        raise NotImplementedError

    def _query(self, sql: str) -> list[tuple]:
        raise NotImplementedError

    def table_exists(self, name: str) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # -- public API
    def execute(self, sql: str) -> None:
        with self._lock:
            self._guard(self._execute, sql)

    def query(self, sql: str) -> list[tuple]:
        with self._lock:
            return self._guard(self._query, sql)

    def execute_many(self, statements: Sequence[str]) -> None:
        with self._lock:
            for sql in statements:
                self._guard(self._execute, sql)

    def scalar(self, sql: str, default=None):
        rows = self.query(sql)
        if not rows or rows[0][0] is None:
            return default
        return rows[0][0]

    def _guard(self, function, sql):
        try:
            result = function(sql)
        except DatabaseError as exc:
            if not exc.duplicate:
                with self._errors_lock:
                    self._consecutive_errors += 1
                    count = self._consecutive_errors
                if self.on_error:
                    self.on_error(count)
            raise
        with self._errors_lock:
            self._consecutive_errors = 0
        return result

    def is_bootstrapped(self) -> bool:
        """True when the DB carries oned's schema (the version table with a row)."""
        try:
            return self.table_exists("db_versioning") and bool(
                self.scalar("SELECT COUNT(*) FROM db_versioning", 0)
            )
        except DatabaseError:
            return False

    def create_schema(self) -> None:
        self.execute_many(list(schema.TABLES.values()))


class SqliteDatabase(Database):
    backend = "sqlite"

    def __init__(self, path: Path, timeout_ms: int = 2500):
        super().__init__()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(path)
        self._conn = sqlite3.connect(
            str(path), timeout=timeout_ms / 1000.0, isolation_level=None, check_same_thread=False
        )

    def _execute(self, sql: str) -> None:
        try:
            self._conn.execute(sql)
        except sqlite3.Error as exc:
            raise DatabaseError(str(exc), isinstance(exc, sqlite3.IntegrityError)) from None

    def _query(self, sql: str) -> list[tuple]:
        try:
            return self._conn.execute(sql).fetchall()
        except sqlite3.Error as exc:
            raise DatabaseError(str(exc)) from None

    def table_exists(self, name: str) -> bool:
        return bool(
            self.query(f"SELECT name FROM sqlite_master WHERE type='table' AND name={quote(name)}")
        )

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def pymysql_errors():
    """The module of the exceptions PyMySQL's connections raise.

    Not always ``pymysql.err``: after ``pymysql.install_as_MySQLdb()``, importing
    ``MySQLdb.converters`` (Salt's mysql module does, in-process with whatever else the
    minion or a test runs) loads PyMySQL's ``err.py`` a second time as ``MySQLdb.err`` and
    rebinds ``pymysql.err`` to that copy, whose classes are never raised. The module the
    connections imported stays ``sys.modules["pymysql.err"]``.
    """
    import pymysql  # noqa: F401  (loads pymysql.err)

    return sys.modules["pymysql.err"]


class MysqlDatabase(Database):
    """MySQL/MariaDB through PyMySQL; creates the database if missing, as oned does.

    Like oned's ``MySqlDB`` (DB/CONNECTIONS, 25 by default), statements run on a pool of
    connections, so one thread's statement does not wait for another's: a replication read
    on the leader does not queue behind the commits of the writes it is replicating. The
    pool opens its connections as they are needed.
    """

    backend = "mysql"

    def __init__(self, config: DbConfig):
        super().__init__()
        self._lock = contextlib.nullcontext()  # each statement takes a pooled connection
        self._config = config
        self._errors = pymysql_errors()  # once: the except clauses of every statement use it
        self._size = max(1, config.connections)
        self._pool = threading.Condition()
        self._idle: list = [self._connect()]  # the first one at once: start-up fails early
        self._open = 1

    def _connect(self):
        import pymysql  # imported lazily: SQLite users do not pay for it

        errors = self._errors

        config = self._config
        kwargs = {
            "user": config.user,
            "password": config.passwd,
            "autocommit": True,
            "connect_timeout": 10,
            "charset": "utf8mb4",
        }
        if config.server.startswith("/"):
            kwargs["unix_socket"] = config.server
        else:
            kwargs["host"] = config.server
            kwargs["port"] = config.port or 3306
        try:
            try:
                conn = pymysql.connect(database=config.db_name, **kwargs)
            except errors.OperationalError as exc:
                if exc.args[0] != 1049:  # ER_BAD_DB_ERROR: the database does not exist
                    raise
                conn = pymysql.connect(**kwargs)
                with conn.cursor() as cursor:
                    cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{config.db_name}`")
                    cursor.execute(f"USE `{config.db_name}`")
            with conn.cursor() as cursor:
                cursor.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
        except pymysql.MySQLError as exc:
            raise DatabaseError(f"Could not open connection to MySQL server: {exc}") from None
        return conn

    def _acquire(self):
        """A free connection, a new one while fewer than the pool's size are open, or else
        the next one released."""
        with self._pool:
            while not self._idle and self._open >= self._size:
                self._pool.wait()
            if self._idle:
                return self._idle.pop()
            self._open += 1
        try:
            return self._connect()
        except BaseException:
            self._release(None)
            raise

    def _release(self, conn) -> None:
        """Give ``conn`` back to the pool; None for a connection that was lost."""
        with self._pool:
            if conn is None:
                self._open -= 1
            else:
                self._idle.append(conn)
            self._pool.notify()

    def _run(self, sql: str, fetch: bool):
        import pymysql

        errors = self._errors
        for attempt in (1, 2):
            conn = self._acquire()
            try:
                with conn.cursor() as cursor:
                    cursor.execute(sql)
                    result = list(cursor.fetchall()) if fetch else None
            except errors.IntegrityError as exc:
                self._release(conn)
                raise DatabaseError(str(exc), duplicate=exc.args[0] == 1062) from None
            except (errors.OperationalError, errors.InterfaceError) as exc:
                # Lost connection: reconnect once, then report the error.
                with contextlib.suppress(Exception):  # closing a dead connection is fine
                    conn.close()
                self._release(None)
                if attempt == 2:
                    raise DatabaseError(str(exc)) from None
                continue
            except pymysql.MySQLError as exc:
                self._release(conn)
                raise DatabaseError(str(exc)) from None
            self._release(conn)
            return result
        return None

    def _execute(self, sql: str) -> None:
        self._run(sql, fetch=False)

    def _query(self, sql: str) -> list[tuple]:
        return self._run(sql, fetch=True)

    def table_exists(self, name: str) -> bool:
        return bool(self.query(f"SHOW TABLES LIKE {quote(name)}"))

    def close(self) -> None:
        """Close the idle connections (at shutdown; a statement still running keeps its own
        until it ends)."""
        with self._pool:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for conn in idle:
            with contextlib.suppress(Exception):  # closing a dead connection is fine
                conn.close()


def open_database(config: DbConfig, sqlite_path: Path) -> Database:
    """Open the backend ``config`` names (``sqlite`` at ``sqlite_path``, or ``mysql``)."""
    if config.backend == "mysql":
        return MysqlDatabase(config)
    return SqliteDatabase(sqlite_path, config.timeout_ms)
