"""``onedb`` backends: MySQL/MariaDB and SQLite (``src/onedb/onedb_backend.rb``, 7.0).

Dumps and restores go through the real client programs, as in OpenNebula: ``mysqldump`` and
``mysql`` for MySQL, ``sqlite3`` for SQLite. The checks the Ruby tool makes through Sequel
(connection test, charset check, "is the DB bootstrapped", version rows) are made here with
PyMySQL and Python's sqlite3, reporting the same messages.

**Security departure from OpenNebula.** The real ``onedb`` runs
``mysqldump -u U -p'PASSWORD' ...`` and ``mysql -u U -p'PASSWORD' ...`` through a shell, so the
password shows in every process listing (and in its ``Unknown error running '<cmd>'``
message). Here the password reaches the client programs only through a temporary option
file (``--defaults-extra-file``, mode 0600 in a private 0700 directory, removed right after),
and the command shown in error messages is the command we ran, which holds no password.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

__all__ = [
    "FEDERATED_TABLES",
    "MySQLBackend",
    "OneDBError",
    "SQLiteBackend",
    "backup_timestamp",
]

FEDERATED_TABLES = (
    "group_pool",
    "user_pool",
    "acl",
    "zone_pool",
    "vdc_pool",
    "marketplace_pool",
    "marketplaceapp_pool",
    "db_versioning",
)

#: Where libmariadb looks for the server socket when the host is ``localhost``.
DEFAULT_MYSQL_SOCKET = "/run/mysqld/mysqld.sock"
_CONNECT_TIMEOUT = 30
NOT_BOOTSTRAPPED = "Database is not correctly bootstraped."


class OneDBError(Exception):
    """A failure reported as ``message`` on stderr with exit ``code`` (-1 → 255)."""

    def __init__(self, message: str, code: int = -1):
        super().__init__(message)
        self.message = message
        self.code = code


def backup_timestamp(now: dt.datetime) -> str:
    """``<Y>-<m>-<d>_<H>:<M>:<S>`` without zero padding, as Ruby's ``Time#year`` etc. give."""
    return f"{now.year}-{now.month}-{now.day}_{now.hour}:{now.minute}:{now.second}"


def _shell_open_error(path: str, exc: OSError, verb: str) -> str:
    """What dash prints when a redirection fails (``sh: 1: cannot create x: ...``)."""
    reason = {2: "Directory nonexistent" if verb == "create" else "No such file"}.get(
        exc.errno, exc.strerror or str(exc)
    )
    return f"sh: 1: cannot {verb} {path}: {reason}\n"


def _option_file_value(value: str) -> str:
    """Quote a value for a MariaDB option file.

    Inside the quotes ``\\``, ``\\"``, ``\\'`` and ``\\n``-style escapes are decoded, and an
    escaped quote neither ends the string nor lets a ``#`` start a comment.
    """
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("\b", "\\b")
    )
    return f'"{escaped}"'


@contextlib.contextmanager
def client_defaults_file(password: str) -> Iterator[str]:
    """A private option file giving the client programs the password (never on argv)."""
    directory = tempfile.mkdtemp(prefix="onedb-")  # mode 0700
    path = os.path.join(directory, "client.cnf")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"[client]\npassword={_option_file_value(password)}\n")
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _ruby_to_i(text: object) -> int:
    text = str(text if text is not None else "").strip()
    digits = ""
    for ch in text.lstrip("+"):
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else 0


class MySQLBackend:
    """``BackEndMySQL``: validates options, tests the connection, dumps and restores."""

    def __init__(
        self,
        *,
        server: str | None,
        port: object,
        user: str | None,
        passwd: str,
        db_name: str | None,
        encoding: str | None,
        var_location: Path,
        out: TextIO,
        err: TextIO,
        env: dict | None = None,
    ):
        missing = None
        if user is None:
            missing = "USER"
        if db_name is None:
            missing = "DBNAME"
        if missing:
            raise OneDBError(f"MySQL option {missing} is needed")
        self.out, self.err = out, err
        self.env = dict(os.environ if env is None else env)
        self.var_location = var_location
        self.server = self._unquote("localhost" if server is None else server)
        self.port = 0 if port is None else port
        if isinstance(self.port, str):
            self.port = self._unquote(self.port)
        self.user = self._unquote(user)
        self.passwd = self._unquote(passwd)
        self.db_name = self._unquote(db_name)
        self.encoding = encoding
        if self.encoding is None:
            self.encoding = self._detect_encoding()

    @staticmethod
    def _unquote(value: str) -> str:
        return value[1:-1] if value.startswith('"') else value

    # -- connections (Sequel's role) ----------------------------------------------------
    def _socket_path(self) -> str:
        return self.env.get("MYSQL_UNIX_PORT") or DEFAULT_MYSQL_SOCKET

    def _connection_message(self, exc: Exception) -> str:
        """libmariadb's wording for a failed connect, as Mysql2 reports it."""
        code = exc.args[0] if exc.args else None
        text = exc.args[1] if len(exc.args) > 1 else str(exc)
        original = getattr(exc, "original_exception", None) or exc.__cause__ or exc.__context__
        errno = getattr(original, "errno", None)
        if code in (2002, 2003) and isinstance(original, OSError):
            if self.server == "localhost":
                return f"Can't connect to local server through socket '{self._socket_path()}' ({errno})"
            if errno is None or errno < 0 or original.__class__.__name__ == "gaierror":
                return f"Unknown server host '{self.server}' ({errno if errno is not None else -2})"
            return f"Can't connect to server on '{self.server}' ({errno})"
        return str(text)

    def connect(self):
        """Open a connection to the DB (fails like ``Sequel.connect`` with its test query)."""
        import pymysql

        kwargs = {
            "user": self.user,
            "password": self.passwd,
            "database": self.db_name,
            "connect_timeout": _CONNECT_TIMEOUT,
            "autocommit": True,
        }
        if self.encoding:
            kwargs["charset"] = self.encoding
        if self.server == "localhost":
            kwargs["unix_socket"] = self._socket_path()
        else:
            kwargs["host"] = self.server
            kwargs["port"] = _ruby_to_i(self.port) or 3306
        try:
            return pymysql.connect(**kwargs)
        except pymysql.MySQLError as exc:
            raise OneDBError(
                "Error connecting to DB: Mysql2::Error::ConnectionError: "
                + self._connection_message(exc)
            ) from None
        except (OSError, ValueError, LookupError) as exc:
            raise OneDBError(f"Error connecting to DB: {exc}") from None

    @staticmethod
    def _query(connection, sql: str, params: tuple = ()) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def _detect_encoding(self) -> str:
        """``BackEndMySQL#encoding``: the DB and ``system_attributes`` charsets must agree."""
        import pymysql

        connection = self.connect()
        try:
            db_rows = self._query(
                connection,
                "SELECT default_character_set_name FROM information_schema.SCHEMATA "
                "WHERE schema_name = %s",
                (self.db_name,),
            )
            table_rows = self._query(
                connection,
                "SELECT CCSA.character_set_name FROM information_schema.`TABLES` T, "
                "information_schema.`COLLATION_CHARACTER_SET_APPLICABILITY` CCSA "
                "WHERE CCSA.collation_name = T.table_collation AND T.table_schema = %s "
                "AND T.table_name = 'system_attributes'",
                (self.db_name,),
            )
        except pymysql.MySQLError as exc:
            raise OneDBError(f"Mysql2::Error: {exc.args[-1]}") from None
        finally:
            connection.close()
        db_enc = db_rows[-1][0] if db_rows else ""
        table_enc = table_rows[-1][0] if table_rows else ""
        if db_enc != table_enc and table_enc:
            raise OneDBError(f"Table and database charset ({db_enc}, {table_enc}) differs")
        return table_enc

    def db_exists(self) -> bool:
        """True when ``user_pool`` has oid 0, i.e. oned bootstrapped this DB."""
        import pymysql

        try:
            connection = self.connect()
        except OneDBError:
            return False
        try:
            return bool(self._query(connection, "SELECT * FROM user_pool WHERE oid=0"))
        except pymysql.MySQLError:
            return False
        finally:
            connection.close()

    def read_db_version(self) -> dict:
        import pymysql

        connection = self.connect()
        ret: dict = {"version": "2.0", "timestamp": 0, "comment": ""}
        try:
            for version, timestamp, comment in self._query(
                connection,
                "SELECT version, timestamp, comment FROM db_versioning "
                "WHERE oid=(SELECT MAX(oid) FROM db_versioning)",
            ):
                ret.update(version=version, timestamp=timestamp, comment=comment)
            ret.update(
                local_version=ret["version"],
                local_timestamp=ret["timestamp"],
                local_comment=ret["comment"],
                is_slave=False,
            )
            for version, timestamp, comment, is_slave in self._query(
                connection,
                "SELECT version, timestamp, comment, is_slave FROM local_db_versioning "
                "WHERE oid=(SELECT MAX(oid) FROM local_db_versioning)",
            ):
                ret.update(
                    local_version=version,
                    local_timestamp=timestamp,
                    local_comment=comment,
                    is_slave=bool(_ruby_to_i(is_slave)),
                )
        except pymysql.MySQLError:
            if not self.db_exists():
                raise OneDBError(NOT_BOOTSTRAPPED, 1) from None
        finally:
            connection.close()
        return ret

    def history(self) -> list[tuple]:
        import pymysql

        connection = self.connect()
        try:
            return self._query(connection, "SELECT version, timestamp, comment FROM db_versioning")
        except pymysql.MySQLError as exc:
            raise OneDBError(
                f"No version records found. Error message: Mysql2::Error: {exc.args[-1]}"
            ) from None
        finally:
            connection.close()

    # -- dump and restore ---------------------------------------------------------------
    def bck_file(self, federated: bool = False, now: dt.datetime | None = None) -> str:
        now = now or dt.datetime.now()
        federated_part = "federated_" if federated else ""
        return (
            f"{self.var_location}/mysql_{self.server}_{self.db_name}_{federated_part}"
            f"{backup_timestamp(now)}.sql"
        )

    def client_argv(self, program: str, defaults_file: str) -> list[str]:
        """Connection part of a client command line: no password, the option file first."""
        return [
            program,
            f"--defaults-extra-file={defaults_file}",
            "-u",
            self.user,
            "-h",
            self.server,
            "-P",
            str(self.port),
        ]

    def _shown(self, program: str) -> str:
        """The command as the real tool prints it, minus ``-p'<password>'``."""
        return f"{program} -u {self.user} -h {self.server} -P {self.port} "

    def _run(self, argv: list[str], *, stdout_path: str, append: bool, shown: str) -> None:
        self.out.flush()
        try:
            target = open(stdout_path, "ab" if append else "wb")  # noqa: SIM115
        except OSError as exc:
            self.err.write(_shell_open_error(stdout_path, exc, "create"))
            raise OneDBError(f"Unknown error running '{shown}'") from None
        with target:
            status = subprocess.run(argv, stdout=target, env=self.env, check=False).returncode
        if status != 0:
            raise OneDBError(f"Unknown error running '{shown}'")

    def backup(self, bck_file: str, federated: bool = False) -> None:
        with client_defaults_file(self.passwd) as defaults:
            base = self.client_argv("mysqldump", defaults)
            if federated:
                argv = [*base, "--add-drop-table", self.db_name, *FEDERATED_TABLES]
                shown = (
                    self._shown("mysqldump")
                    + f" --add-drop-table {self.db_name} "
                    + " ".join(FEDERATED_TABLES)
                    + f" > {bck_file}"
                )
            else:
                argv = [
                    *base,
                    "--add-drop-database",
                    "--databases",
                    "--add-drop-table",
                    self.db_name,
                ]
                shown = (
                    self._shown("mysqldump")
                    + f"--add-drop-database --databases --add-drop-table {self.db_name}  > {bck_file}"
                )
            self._run(argv, stdout_path=bck_file, append=False, shown=shown)
            if federated:
                argv = [*base, self.db_name, "logdb", "--where=fed_index!=-1"]
                shown = (
                    self._shown("mysqldump")
                    + f'{self.db_name} logdb --where="fed_index!=-1"  >> {bck_file}'
                )
                self._run(argv, stdout_path=bck_file, append=True, shown=shown)
        self.out.write(
            f"MySQL dump stored in {bck_file}\n"
            "Use 'onedb restore' or restore the DB using the mysql command:\n"
            "mysql -u user -h server -P port db_name < backup_file\n"
            "\n"
        )

    def restore(self, bck_file: str, force: bool = False, federated: bool = False) -> None:
        self.connect().close()
        if not federated and not force and self.db_exists():
            raise OneDBError(
                f"MySQL database {self.db_name} at {self.server} exists, use -f to overwrite."
            )
        failure = f"Error while restoring MySQL DB {self.db_name} at {self.server}."
        self.out.flush()
        try:
            source = open(bck_file, "rb")  # noqa: SIM115
        except OSError as exc:
            self.err.write(_shell_open_error(bck_file, exc, "open"))
            raise OneDBError(failure) from None
        with source, client_defaults_file(self.passwd) as defaults:
            argv = [*self.client_argv("mysql", defaults), self.db_name]
            status = subprocess.run(argv, stdin=source, env=self.env, check=False).returncode
        if status != 0:
            raise OneDBError(failure)
        self.out.write(f"MySQL DB {self.db_name} at {self.server} restored.\n")


class SQLiteBackend:
    """``BackEndSQLite``: the DB file, dumped and restored with the ``sqlite3`` program."""

    def __init__(self, path: str, *, var_location: Path, out: TextIO, err: TextIO, env=None):
        if path is None:
            raise OneDBError("SQLite database path not supplied.")
        self.path = path
        self.var_location = var_location
        self.out, self.err = out, err
        self.env = dict(os.environ if env is None else env)

    def connect(self) -> sqlite3.Connection:
        if not os.path.exists(self.path):
            raise OneDBError(f"File {self.path} doesn't exist")
        try:
            return sqlite3.connect(self.path)
        except sqlite3.Error as exc:
            raise OneDBError(f"Error connecting to DB: {exc}") from None

    def tables(self, connection: sqlite3.Connection) -> list[str]:
        rows = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'sqlite_sequence'"
        ).fetchall()
        return [name for (name,) in rows]

    def db_exists(self, connection: sqlite3.Connection | None) -> bool:
        if connection is None:
            return False
        try:
            return bool(connection.execute("SELECT * FROM user_pool WHERE oid=0").fetchall())
        except sqlite3.Error:
            return False

    def read_db_version(self) -> dict:
        ret: dict = {"version": "2.0", "timestamp": 0, "comment": ""}
        connection = None
        try:
            connection = self.connect()
            row = connection.execute(
                "SELECT version, timestamp, comment FROM db_versioning "
                "WHERE oid=(SELECT MAX(oid) FROM db_versioning)"
            ).fetchone()
            if row:
                ret.update(version=row[0], timestamp=row[1], comment=row[2])
            ret.update(
                local_version=ret["version"],
                local_timestamp=ret["timestamp"],
                local_comment=ret["comment"],
                is_slave=False,
            )
            row = connection.execute(
                "SELECT version, timestamp, comment, is_slave FROM local_db_versioning "
                "WHERE oid=(SELECT MAX(oid) FROM local_db_versioning)"
            ).fetchone()
            if row:
                ret.update(
                    local_version=row[0],
                    local_timestamp=row[1],
                    local_comment=row[2],
                    is_slave=bool(_ruby_to_i(row[3])),
                )
        except (sqlite3.Error, OneDBError):
            if not self.db_exists(connection):
                raise OneDBError(NOT_BOOTSTRAPPED, 1) from None
        finally:
            if connection is not None:
                connection.close()
        return ret

    def history(self) -> list[tuple]:
        connection = self.connect()
        try:
            return connection.execute(
                "SELECT version, timestamp, comment FROM db_versioning"
            ).fetchall()
        except sqlite3.Error as exc:
            raise OneDBError(f"No version records found. Error message: {exc}") from None
        finally:
            connection.close()

    def bck_file(self, federated: bool = False, now: dt.datetime | None = None) -> str:
        now = now or dt.datetime.now()
        federated_part = "federated_" if federated else ""
        return f"{self.var_location}/one.db_{federated_part}{backup_timestamp(now)}.bck"

    def _sqlite3(self, *args: str, stdout=None, stdin=None) -> subprocess.CompletedProcess:
        self.out.flush()
        return subprocess.run(
            ["sqlite3", self.path, *args],
            stdout=stdout,
            stdin=stdin,
            stderr=subprocess.PIPE,
            env=self.env,
            check=False,
        )

    def _pass_stderr(self, result: subprocess.CompletedProcess) -> None:
        for line in result.stderr.decode(errors="replace").splitlines(keepends=True):
            if not line.startswith("-- Loading"):
                self.err.write(line)

    def backup(self, bck_file: str, federated: bool = False) -> None:
        if federated:
            self._backup_federated(bck_file)
        else:
            connection = self.connect()
            try:
                tables = self.tables(connection)
            finally:
                connection.close()
            with open(bck_file, "w") as handle:
                handle.writelines(f'DROP TABLE IF EXISTS "{t}";\n' for t in tables)
            self.out.write(f"Sqlite database backup stored in {bck_file}\n")
            with open(bck_file, "ab") as handle:
                self._pass_stderr(self._sqlite3(".dump", stdout=handle))
        self.out.write("Use 'onedb restore' to restore the DB.\n")

    def _backup_federated(self, bck_file: str) -> None:
        self.out.write(f"Sqlite database backup of federated tables stored in {bck_file}\n")
        with open(bck_file, "w") as handle:
            handle.write("-- FEDERATED\n")
            handle.writelines(f'DROP TABLE IF EXISTS "{t}";\n' for t in FEDERATED_TABLES)
            handle.write('DROP TABLE IF EXISTS "logdb";\n')
        for table in FEDERATED_TABLES:
            with open(bck_file, "ab") as handle:
                self._pass_stderr(self._sqlite3(f".dump {table}", stdout=handle))
        created = self._sqlite3(
            "CREATE TABLE logdb_tmp AS SELECT * FROM logdb WHERE fed_index!=-1;"
        )
        self._pass_stderr(created)
        if created.returncode != 0:
            raise OneDBError("Error creating logdb_tmp.")
        with open(bck_file, "ab") as handle:
            self._pass_stderr(self._sqlite3(".dump logdb_tmp", stdout=handle))
        dropped = self._sqlite3("DROP TABLE logdb_tmp;")
        self._pass_stderr(dropped)
        if dropped.returncode != 0:
            raise OneDBError("Error trying to drop the logdb tmp table.")
        content = Path(bck_file).read_text()
        Path(bck_file).write_text(content.replace("logdb_tmp", "logdb"))

    def restore(self, bck_file: str, force: bool = False, federated: bool = False) -> None:
        if not federated and os.path.exists(self.path) and not force:
            raise OneDBError(f"File {self.path} exists, use -f to overwrite.")
        try:
            with open(bck_file, "rb") as source:
                self._pass_stderr(self._sqlite3(stdin=source))
        except OSError as exc:  # the shell's redirection fails; sqlite3's status is not checked
            self.err.write(_shell_open_error(bck_file, exc, "open"))
        self.out.write(f"Sqlite database backup restored in {self.path}\n")
