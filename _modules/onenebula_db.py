"""
OpenNebula database backup and restore, through ``onedb``.

With no connection arguments ``onedb`` reads the ``DB`` section of ``oned.conf`` itself,
so no database password passes through Salt at all; that is the recommended use. When
connection arguments are given (``backend``, ``server``, ``port``, ``user``,
``password``, ``dbname``, or ``sqlite`` for a SQLite file), the password is handed to
``onedb`` only through the ``ONE_DB_PASSWORD`` environment variable, never on its
command line, and the command runs with ``output_loglevel="quiet"``.

**MySQL/MariaDB without connection arguments** (what the formula uses): ``backup`` and
``restore`` run the client programs ``onedb`` itself runs (``mysqldump``/``mariadb-dump``
and ``mysql``/``mariadb``) directly, with the settings of oned.conf's ``DB`` section, the
password in a temporary option file (0600, removed right after; upstream ``onedb`` puts
it on the command line, visible in every process listing). The dump is hashed as it is
written and taken with ``--single-transaction`` (one consistent snapshot, no table
locks on a running leader); the load reads the file it verified through the same open
file. Whether there is a database to keep is asked in this process (PyMySQL), not with
``onedb version``: one process less for each, which is most of a restore's fixed cost.

Dumps are written with umask 077, each with a ``<dump>.sha256`` sidecar in
``sha256sum`` format. They never pass through the Salt master: ``backup(owner=oneadmin)``
hands both files to the SSH user, and the front-end that restores the dump pulls them over
SSH (``onenebula_transfer.fetch``).

Minion config: ``onenebula_ha.backup_dir`` (default ``/var/lib/one/backups``, or
``$ONE_LOCATION/var/backups`` for a self-contained install).
"""

import contextlib
import datetime
import hashlib
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile

import salt.utils.path
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "onenebula_db"

#: Tables every OpenNebula database has (bootstrapped by oned since 5.4): one of them
#: missing means the database was damaged (a table dropped), not that it is young.
REQUIRED_TABLES = (
    "db_versioning",
    "local_db_versioning",
    "logdb",
    "pool_control",
    "system_attributes",
    "user_pool",
    "vm_pool",
    "zone_pool",
)
VERSION_STATUS = {0: "ok", 1: "not_bootstrapped", 2: "upgrade_needed", 3: "newer_than_code"}
#: A database name the client programs get as an argument: a plain unquoted identifier.
DB_NAME_RE = re.compile(r"[A-Za-z0-9_$]{1,64}")
DUMP_PROGRAMS = ("mariadb-dump", "mysqldump")
CLIENT_PROGRAMS = ("mariadb", "mysql")
#: What ``onedb backup`` gives mysqldump, plus one consistent snapshot without table locks.
DUMP_OPTIONS = ("--single-transaction", "--add-drop-database", "--databases", "--add-drop-table")
STREAM_BLOCK = 1 << 20
_CONNECTION_FLAGS = (
    ("backend", "-t"),
    ("server", "-S"),
    ("port", "-P"),
    ("user", "-u"),
    ("dbname", "-d"),
    ("sqlite", "-s"),
)


def __virtual__():
    return __utils__["onenebula_ha.needs_command"](__virtualname__, "onedb")


# ------------------------------------------------------------------ helpers


def _connection_args(connection):
    """onedb options for the given connection settings (never the password)."""
    unknown = set(connection) - {name for name, _ in _CONNECTION_FLAGS} - {"password"}
    if unknown:
        raise CommandExecutionError(f"unknown connection argument(s): {', '.join(sorted(unknown))}")
    argv = []
    for name, flag in _CONNECTION_FLAGS:
        if connection.get(name) not in (None, ""):
            argv += [flag, str(connection[name])]
    return argv


def _connection(kwargs):
    """Connection settings from a function's kwargs, without Salt's ``__pub_*`` keys."""
    return {key: value for key, value in kwargs.items() if not key.startswith("__")}


# What a failing onedb prints can carry the DB password: upstream onedb echoes the
# mysqldump/mysql command it ran (``-p<password>``, ``--password=...``), and the MySQL
# client libraries print connection strings. Relayed messages are scrubbed of these
# forms and of every password known here (the connection's, oned.conf's DB/PASSWD).
_PASSWORD_FORMS = (
    re.compile(r"(?<![\w-])(-p)(?!\s)(?:'[^']*'|\"[^\"]*\"|\S+)"),
    re.compile(r"(--password[= ])(?:'[^']*'|\"[^\"]*\"|\S+)", re.IGNORECASE),
    re.compile(
        r"((?:MYSQL_PWD|ONE_DB_PASSWORD|PASSWD|password)\s*[=:]\s*)(?!(?:YES|NO)\b)"
        r"(?:'[^']*'|\"[^\"]*\"|\S+)",
        re.IGNORECASE,
    ),
    re.compile(r"(://[^/@\s:]*:)[^/@\s]*(@)"),
)


def _known_passwords(connection):
    found = []
    if connection.get("password") not in (None, ""):
        found.append(str(connection["password"]))
    getter = __salt__.get("onenebula_conf.get")
    if getter is not None:
        try:
            configured = getter("DB/PASSWD", reveal=True)
        except (CommandExecutionError, OSError, TypeError):
            configured = None
        if isinstance(configured, str) and configured:
            found.append(configured)
    return found


def _scrub(text, connection):
    """``text`` without any password: the known ones, then the usual spellings."""
    for password in sorted(_known_passwords(connection), key=len, reverse=True):
        text = text.replace(password, "******")
    for pattern in _PASSWORD_FORMS:
        text = pattern.sub(
            lambda match: (
                match.group(1) + "******" + (match.group(2) if match.re.groups > 1 else "")
            ),
            text,
        )
    return text


def _cli_env():
    """onedb restore refuses while oned runs, asking oned with OpenNebula's client: it
    needs the same credentials and endpoint as the zone module."""
    return __utils__["onenebula_ha.cli_env"](__opts__)


def _failure_message(result, subcommand, connection):
    message = (result.get("stderr") or "").strip() or (result.get("stdout") or "").strip()
    return _scrub(message, connection) or f"onedb {subcommand} exited with {result['retcode']}"


def _onedb(subcommand, args, connection, check=True):
    """Run ``onedb <subcommand>``; return the cmd.run_all result."""
    argv = ["onedb", subcommand, *_connection_args(connection), *args]
    options = {"python_shell": False, "ignore_retcode": True, "umask": "077"}
    env = _cli_env() if subcommand == "restore" else {}
    if connection.get("password") not in (None, ""):
        env["ONE_DB_PASSWORD"] = str(connection["password"])
        options["output_loglevel"] = "quiet"
    else:
        options["output_loglevel"] = "debug"
    if env:
        options["env"] = env
    result = __salt__["cmd.run_all"](argv, **options)
    if check and result["retcode"] != 0:
        raise __utils__["onenebula_ha.error"](
            _failure_message(result, subcommand, connection), retcode=result["retcode"]
        )
    return result


def _sha256(path):
    return __utils__["onenebula_ha.file_sha256"](path)


def _backup_dir():
    return __utils__["onenebula_ha.one_path"]("backup_dir", __opts__.get("onenebula_ha.backup_dir"))


def _timestamped_path(prefix):
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return os.path.join(_backup_dir(), f"{prefix}-{stamp}.sql")


def _lock_file():
    """oned's lock file: ``$ONE_LOCATION/var/.lock`` self-contained, else /var/lock/one/one."""
    return __utils__["onenebula_ha.one_path"]("oned_lock")


def read_sidecar(path):
    """
    Return the checksum recorded in ``<path>.sha256``, or None when there is no sidecar.

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_db.read_sidecar /var/lib/one/backups/leader.sql
    """
    try:
        with open(f"{path}.sha256", encoding="utf-8") as handle:
            fields = handle.read().split()
    except OSError:
        return None
    return fields[0].lower() if fields else None


def _write_sidecar(path, digest):
    with open(f"{path}.sha256", "w", encoding="utf-8") as handle:
        handle.write(f"{digest}  {os.path.basename(path)}\n")


def _refuse_if_oned_runs():
    """Refuse a restore on the Raft leader or while the local oned runs.

    oned is asked over XML-RPC first (it knows whether it is the leader); when it does
    not answer, its lock file still tells a running (or uncleanly stopped) oned.
    """
    status = __salt__.get("onenebula_zone.raft_status")
    if status is not None:
        try:
            raft = status()
        except CommandExecutionError as exc:
            if (exc.info or {}).get("reachable"):
                raise CommandExecutionError(
                    f"refusing to restore: oned is running on this host ({exc})"
                ) from None
        else:
            if raft["state_name"] == "leader":
                raise CommandExecutionError(
                    "refusing to restore: this host is the current Raft leader"
                )
            raise CommandExecutionError(
                f"refusing to restore: oned is running on this host "
                f"(Raft state {raft['state_name']}); stop OpenNebula first"
            )
    lock = _lock_file()
    if os.path.exists(lock):
        raise CommandExecutionError(
            f"refusing to restore: oned lock file {lock} exists; stop OpenNebula first"
        )


# What onedb/MySQL/SQLite say when the database itself is missing: nothing to keep.
_NO_DATABASE = re.compile(r"Unknown database|File \S+ doesn't exist")


def _require_auth_file():
    """onedb restore asks oned (with OpenNebula's client) whether it runs, which needs
    oneadmin's credentials: check they are there before anything changes, instead of
    failing after the pre-restore dump."""
    try:
        return __utils__["onenebula_ha.auth_file"](__opts__)
    except CommandExecutionError as exc:
        raise CommandExecutionError(f"refusing to restore: {exc}") from None


def _keep_current(connection, direct=None):
    """Dump the current DB before it is replaced; return the dump's path, or None when
    there is no database to keep: none at all, or (MySQL without connection arguments,
    asked in this process) one without a single table, as on a front-end that never ran
    oned. A DB that ``onedb version`` cannot read (a broken one, the most worth keeping)
    is dumped all the same; when that fails too, the restore is refused
    (``keep_current=False`` restores without keeping it)."""
    if direct is not None:
        try:
            if not _holds_tables(direct):
                return None
        except CommandExecutionError as exc:
            log.warning("onenebula_db: cannot list the current tables (%s); keeping the DB", exc)
        return _kept(connection)
    try:
        if version(**connection)["status"] == "not_bootstrapped":
            return None
    except CommandExecutionError as exc:
        if _NO_DATABASE.search(str(exc)):
            return None  # no database at all: nothing to keep
        log.warning("onenebula_db: onedb version failed (%s); keeping the DB anyway", exc)
    return _kept(connection)


def _kept(connection):
    try:
        return backup(_timestamped_path("pre-restore"), **connection)["path"]
    except CommandExecutionError as exc:
        raise CommandExecutionError(
            f"refusing to restore: the current DB could not be kept ({exc}); pass "
            "keep_current=False to replace it without a copy"
        ) from None


# ------------------------------------------------------------------ health


def _db_settings():
    """The ``DB`` section of oned.conf (the password revealed: it stays in this process)."""
    getter = __salt__.get("onenebula_conf.get")
    if getter is None:
        raise CommandExecutionError("the onenebula_conf execution module is not available")
    section = getter("DB", reveal=True)
    return section if isinstance(section, dict) else {}


#: oned.conf ``DB/SERVER`` values that name this host's own database server.
LOCAL_DB_HOSTS = ("localhost", "127.0.0.1", "::1")


def _accepts_ssl_disabled(pymysql):
    return __utils__["onenebula_ha.pymysql_accepts_ssl_disabled"](pymysql)


def _mysql_tables(settings, timeout):
    """``(exists, tables)`` of the MySQL/MariaDB database oned.conf names, asked with
    PyMySQL in this process (as oned connects: ``SERVER`` a host name, or a socket path)."""
    try:
        import pymysql  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise CommandExecutionError(
            "PyMySQL is needed to check a MySQL database (the formula installs python3-pymysql)"
        ) from None
    server = str(settings.get("SERVER") or "localhost")
    kwargs = {
        "user": str(settings.get("USER") or "oneadmin"),
        "password": str(settings.get("PASSWD") or ""),
        "connect_timeout": timeout,
        "read_timeout": timeout,
    }
    if server.startswith("/"):
        kwargs["unix_socket"] = server
    else:
        port = _int_setting(settings.get("PORT"))
        kwargs.update(host=server, port=port or 3306)
    if (server.startswith("/") or server in LOCAL_DB_HOSTS) and _accepts_ssl_disabled(pymysql):
        # PyMySQL 1.2+ tries TLS on every connection unless told not to, and builds a new
        # TLS context each time (the system's CA certificates loaded: ~60 ms of CPU, most
        # of this check): pointless to this host's own server, which the beacon asks every
        # report_errors_every seconds. Older PyMySQL never tries TLS unasked.
        kwargs["ssl_disabled"] = True
    name = str(settings.get("DB_NAME") or "opennebula")
    try:
        conn = pymysql.connect(**kwargs)
    except pymysql.MySQLError as exc:
        raise CommandExecutionError(f"cannot connect to the database server: {exc}") from None
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name = %s",
                (name,),
            )
            if not cursor.fetchall():
                return name, False, []
            cursor.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (name,),
            )
            return name, True, sorted(str(row[0]) for row in cursor.fetchall())
    except pymysql.MySQLError as exc:
        raise CommandExecutionError(f"cannot list the tables of {name}: {exc}") from None
    finally:
        conn.close()


def _int_setting(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _sqlite_tables(timeout):
    """``(path, exists, tables)`` of oned's SQLite database, opened read-only."""
    path = __utils__["onenebula_ha.one_path"]("sqlite_db", __opts__.get("onenebula_ha.sqlite_db"))
    if not os.path.isfile(path):
        return path, False, []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)
    except sqlite3.Error as exc:
        raise CommandExecutionError(f"cannot open {path}: {exc}") from None
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except sqlite3.Error as exc:
        raise CommandExecutionError(f"cannot list the tables of {path}: {exc}") from None
    finally:
        conn.close()
    return path, True, sorted(str(row[0]) for row in rows)


def health(timeout=5):
    """
    Check this host's OpenNebula database the way oned's ``DB`` section in oned.conf
    names it, in this process (no command run: cheap enough for the beacon): whether it
    exists and which tables it has. Returns ``{"backend", "database", "exists", "tables",
    "missing", "broken", "ok", "error"}``:

    * ``broken`` True: it is damaged for sure: the database does not exist, or one of
      :data:`REQUIRED_TABLES` (which every OpenNebula database has) is missing
      (``missing``);
    * ``ok`` True: it exists with all of them;
    * neither (``exists`` None, ``error`` says why): it could not be checked, e.g. the
      database server is down, which is no reason to restore anything.

    Nothing is changed. The password from oned.conf is used in this process only.

    CLI Example:

    .. code-block:: bash

        salt vmm02 onenebula_db.health
    """
    result = {
        "backend": None,
        "database": None,
        "exists": None,
        "tables": None,
        "missing": [],
        "broken": False,
        "ok": False,
        "error": None,
    }
    try:
        settings = _db_settings()
        backend = str(settings.get("BACKEND") or "sqlite").lower()
        result["backend"] = backend
        if backend == "mysql":
            name, exists, tables = _mysql_tables(settings, timeout)
        else:
            name, exists, tables = _sqlite_tables(timeout)
    except CommandExecutionError as exc:
        result["error"] = _scrub(str(exc), {})
        return result
    result.update(database=name, exists=exists, tables=tables if exists else None)
    if not exists:
        result.update(broken=True, error=f"the database {name} does not exist")
        return result
    missing = sorted(set(REQUIRED_TABLES) - set(tables))
    result["missing"] = missing
    result["broken"] = bool(missing)
    result["ok"] = not missing
    if missing:
        result["error"] = f"the database {name} lacks the table(s) {', '.join(missing)}"
    return result


# ------------------------------------------------------------------ MySQL client programs


def _direct_mysql(connection):
    """oned.conf's ``DB`` settings when backup and restore run the MySQL client programs
    themselves: no connection arguments given and oned.conf's backend is ``mysql``.
    None otherwise (``onedb`` runs, as before)."""
    if connection or "onenebula_conf.get" not in __salt__:
        return None
    settings = _db_settings()
    if str(settings.get("BACKEND") or "sqlite").lower() != "mysql":
        return None
    name = _db_name(settings)
    if not DB_NAME_RE.fullmatch(name):
        raise CommandExecutionError(f"oned.conf DB/DB_NAME is not a plain database name: {name!r}")
    return settings


def _db_name(settings):
    return str(settings.get("DB_NAME") or "opennebula")


def _program(names):
    for name in names:
        found = salt.utils.path.which(name)
        if found:
            return found
    raise CommandExecutionError(f"none of the MySQL client programs {', '.join(names)} is on PATH")


def _option_value(value):
    """``value`` quoted for a MySQL option file (escapes decoded inside double quotes)."""
    escaped = (
        str(value)
        .replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("\b", "\\b")
    )
    return f'"{escaped}"'


@contextlib.contextmanager
def _client_options(settings):
    """A private option file (0600 in a 0700 directory, removed after) with the connection
    settings and the password of oned.conf, for ``--defaults-extra-file``."""
    server = str(settings.get("SERVER") or "localhost")
    lines = ["[client]", f"user={_option_value(settings.get('USER') or 'oneadmin')}"]
    lines.append(f"password={_option_value(settings.get('PASSWD') or '')}")
    if server.startswith("/"):
        lines.append(f"socket={_option_value(server)}")
    else:
        lines.append(f"host={_option_value(server)}")
        port = _int_setting(settings.get("PORT"))
        if port:
            lines.append(f"port={port}")
    directory = tempfile.mkdtemp(prefix="onenebula-db-")
    path = os.path.join(directory, "client.cnf")
    try:
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            handle.write("\n".join(lines) + "\n")
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _client_failure(what, errors, retcode, settings):
    errors.seek(0)
    message = errors.read(4096).decode("utf-8", "replace").strip()
    message = _scrub(message, {"password": settings.get("PASSWD")})
    return __utils__["onenebula_ha.error"](
        f"{what} failed: {message or 'exit ' + str(retcode)}", retcode=retcode
    )


def _dump_direct(settings, path):
    """``mysqldump`` of oned.conf's database into ``path`` (replaced only once complete),
    hashed on the way; its sha256."""
    temporary = f"{path}.part"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
    digest = hashlib.sha256()
    with _client_options(settings) as options, tempfile.TemporaryFile() as errors:
        argv = [_program(DUMP_PROGRAMS), f"--defaults-extra-file={options}", *DUMP_OPTIONS]
        argv.append(_db_name(settings))
        handle = os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
        try:
            with (
                handle,
                subprocess.Popen(  # pylint: disable=consider-using-with
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors
                ) as process,
            ):
                for block in iter(lambda: process.stdout.read(STREAM_BLOCK), b""):
                    digest.update(block)
                    handle.write(block)
                retcode = process.wait()
            if retcode != 0:
                raise _client_failure(os.path.basename(argv[0]), errors, retcode, settings)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
    return digest.hexdigest()


def _load_direct(settings, handle):
    """Load the dump open as ``handle`` (from its start) with the ``mysql`` client."""
    handle.seek(0)
    with _client_options(settings) as options, tempfile.TemporaryFile() as errors:
        argv = [_program(CLIENT_PROGRAMS), f"--defaults-extra-file={options}"]
        argv.append(_db_name(settings))
        retcode = subprocess.run(
            argv, stdin=handle, stdout=subprocess.DEVNULL, stderr=errors, check=False
        ).returncode
        if retcode != 0:
            raise _client_failure(
                f"restoring MySQL DB {_db_name(settings)}", errors, retcode, settings
            )
    return f"MySQL DB {_db_name(settings)} at {settings.get('SERVER') or 'localhost'} restored."


def _holds_tables(settings):
    """Whether oned.conf's MySQL database exists with at least one table (asked here)."""
    _, exists, tables = _mysql_tables(settings, 10)
    return bool(exists and tables)


# ------------------------------------------------------------------ public API


def version(**connection):
    """
    Return the DB schema versions from ``onedb version``: ``{"shared", "local",
    "required_shared", "required_local", "retcode", "status"}`` where status is ``ok``,
    ``not_bootstrapped``, ``upgrade_needed`` or ``newer_than_code`` (exit codes 0-3).
    Raises CommandExecutionError when onedb cannot tell (exit 255, e.g. no connection).

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_db.version
    """
    result = _onedb("version", [], _connection(connection), check=False)
    retcode = result["retcode"]
    if retcode not in VERSION_STATUS:
        raise CommandExecutionError(_failure_message(result, "version", connection))
    fields = {}
    labels = {
        "shared": "shared",
        "local": "local",
        "required shared version": "required_shared",
        "required local version": "required_local",
    }
    for line in (result.get("stdout") or "").splitlines():
        label, _, value = line.partition(":")
        key = labels.get(label.strip().lower())
        if key:
            fields[key] = value.strip()
    return {
        "shared": fields.get("shared"),
        "local": fields.get("local"),
        "required_shared": fields.get("required_shared"),
        "required_local": fields.get("required_local"),
        "retcode": retcode,
        "status": VERSION_STATUS[retcode],
    }


def backup(path=None, owner=None, **connection):
    """
    Dump the OpenNebula DB (on MySQL with oned.conf's settings with ``mariadb-dump``, as
    the module documentation says; else with ``onedb backup -f <path>``); return
    ``{"path", "size", "sha256"}``. A ``<path>.sha256`` sidecar is written next to the dump. Without ``path``
    the dump goes to a timestamped file in the backup directory. With ``owner`` (a local
    user, e.g. ``oneadmin``) the dump and its sidecar belong to that user (mode 0600), so
    another front-end can pull them over SSH as that user; otherwise they stay root's.

    CLI Example:

    .. code-block:: bash

        salt vmm01 onenebula_db.backup
        salt vmm01 onenebula_db.backup /var/lib/one/onenebula_ha/leader.sql owner=oneadmin
    """
    connection = _connection(connection)
    path = os.path.abspath(path) if path else _timestamped_path("opennebula")
    account = __utils__["onenebula_ha.account"](str(owner)) if owner else None
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    direct = _direct_mysql(connection)
    if direct is not None:
        digest = _dump_direct(direct, path)
    else:
        _onedb("backup", ["-f", path], connection)
        if not os.path.isfile(path):
            raise CommandExecutionError(f"onedb backup reported success but {path} does not exist")
        digest = _sha256(path)
    _write_sidecar(path, digest)
    if account is not None:
        for written in (path, f"{path}.sha256"):
            os.chown(written, *account)
            os.chmod(written, 0o600)
    result = {"path": path, "size": os.path.getsize(path), "sha256": digest}
    log.info("onenebula_db: backup %s (%s bytes, sha256 %s)", path, result["size"], digest)
    return result


def restore(path, sha256=None, verify=True, keep_current=True, **connection):
    """
    Replace this host's OpenNebula DB with the dump at ``path`` (on MySQL with oned.conf's
    settings with the ``mariadb`` client, as the module documentation says; else with
    ``onedb restore -f``).

    Refuses when this host is the current Raft leader or when the local oned runs, and
    (through ``onedb``) when oneadmin's credentials are missing (``onedb restore`` needs
    them: minion config ``onenebula_ha.one_auth_file``, else ``$ONE_AUTH``, else the usual
    files), before anything changes; verifies the dump against ``sha256`` (or its
    ``<path>.sha256`` sidecar; with neither, only ``verify=False`` allows the restore);
    first dumps the current DB to a timestamped ``pre-restore-*.sql`` file in the backup
    directory (``keep_current``), also when it cannot be read, and refuses when that dump
    fails. Returns ``{"path", "sha256", "previous_backup", "message"}``;
    ``previous_backup`` is None when there was no DB to keep (none at all, one without a
    table, or through ``onedb`` one it calls not bootstrapped). Messages relayed from the
    clients or onedb are scrubbed of passwords.

    CLI Example:

    .. code-block:: bash

        salt vmm02 onenebula_db.restore /var/lib/one/backups/leader.sql
    """
    connection = _connection(connection)
    if not os.path.isfile(path):
        raise CommandExecutionError(f"{path} does not exist")
    _refuse_if_oned_runs()
    direct = _direct_mysql(connection)
    # The checksum is taken through the handle the load reads: what is verified is what
    # is loaded, even if the file's name is pointed elsewhere in between.
    with open(path, "rb") as handle:
        expected = (sha256 or read_sidecar(path) or "").lower() or None
        actual = _handle_sha256(handle)
        if expected is None and verify:
            raise CommandExecutionError(
                f"no checksum for {path}: pass sha256=... or provide {path}.sha256"
            )
        if expected is not None and expected != actual:
            raise CommandExecutionError(
                f"checksum mismatch for {path}: expected {expected}, got {actual}"
            )
        if direct is None:
            _require_auth_file()
        previous = None
        if keep_current:
            previous = _keep_current(connection, direct)
        if direct is not None:
            message = _load_direct(direct, handle)
        else:
            message = (_onedb("restore", ["-f", path], connection).get("stdout") or "").strip()
    log.info("onenebula_db: restored %s (previous DB kept in %s)", path, previous)
    return {"path": path, "sha256": actual, "previous_backup": previous, "message": message}


def _handle_sha256(handle):
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(STREAM_BLOCK), b""):
        digest.update(block)
    return digest.hexdigest()
