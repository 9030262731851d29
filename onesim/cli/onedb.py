"""``onedb``: the OpenNebula database tool (7.0 behaviour) for ``backup``, ``restore``,
``version`` and ``history``, on MySQL/MariaDB and SQLite.

Backend selection (docs/opennebula-cli.md §6.1): ``-s`` or ``-t`` name it; any connection option
(``-S -P -u -p -d``) without one means MySQL; with none of them the ``DB`` section of
``/etc/one/oned.conf`` (``$ONE_LOCATION/etc/oned.conf``) is used. A MySQL password comes from
``-p``, else ``$ONE_DB_PASSWORD``, else the ``MySQL Password: `` prompt.

``restore`` refuses while oned runs: the lock file exists, or something answers
``one.system.version`` on the default client endpoint. Every error is printed to stderr with
exit 255; ``version`` exits 0 (up to date), 1 (not bootstrapped), 2 (DB older), 3 (DB newer).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from .cmdparser import ArgFormat, CmdParser, Command, Invocation, Option
from .one_client import Client, EndpointError, NoOneAuth, OneError
from .oned_conf import OnedConfError, db_section, oned_conf_path
from .onedb_backends import MySQLBackend, OneDBError, SQLiteBackend
from .versions import compare_versions, required_local_version, required_shared_version

__all__ = ["Layout", "OneDB", "build_parser", "main"]

CONNECTION_OPTIONS = ("server", "port", "username", "password", "dbname")

VERBOSE = Option("verbose", "--verbose", "-v", description="Verbose mode")
HELP = Option("help", "--help", "-h", description="Show this message")
VERSION = Option("version", "--version", "-V", description="Show version and copyright information")
GLOBAL_OPTIONS = (
    VERBOSE,
    HELP,
    VERSION,
    Option("sqlite", "--sqlite", "-s", "file", "SQLite DB file", True),
    Option("type", "--type", "-t", "type", "Backend type.", True),
    Option(
        "server",
        "--server",
        "-S",
        "host",
        "MySQL server hostname or IP. Defaults to localhost",
        True,
    ),
    Option("port", "--port", "-P", "port", "MySQL server port. Defaults to 3306", True),
    Option("username", "--username", "-u", "user", "MySQL username", True),
    Option(
        "password",
        "--password",
        "-p",
        "pass",
        "MySQL password. Leave unset to be prompted for it",
        True,
    ),
    Option("dbname", "--dbname", "-d", "dbname", "MySQL DB name for OpenNebula", True),
    Option("encoding", "--encoding", None, "charset", "MySQL encoding to use for the connection"),
)
FORCE = Option("force", "--force", "-f", description="Forces the backup even if the DB exists")
FEDERATED = Option(
    "federated", "--federated", description="Limit backup/restore to federated tables"
)


class Layout:
    """The paths onedb uses: system-wide, or under ``$ONE_LOCATION`` (self-contained)."""

    def __init__(self, env):
        location = env.get("ONE_LOCATION") or None
        self.location = location
        if location is None:
            self.var_location = Path("/var/lib/one")
            self.lock_files = (Path("/var/lock/one/one"),)
        else:
            self.var_location = Path(location) / "var"
            # OpenNebula 7.0 (oned.cc and onedb) uses <var>/lock/.lock; the simulated oned
            # (onesim.paths) writes <var>/.lock. Checking both keeps restore safe with either.
            self.lock_files = (self.var_location / "lock" / ".lock", self.var_location / ".lock")
        self.sqlite_path = self.var_location / "one.db"
        self.oned_conf = oned_conf_path(location)


class OneDB:
    """One ``onedb`` run: builds the backend (``OneDB.new``) and runs the subcommands."""

    def __init__(self, invocation: Invocation, *, env=None, stdin=None, stdout=None, stderr=None):
        self.env = os.environ if env is None else env
        self.stdin = sys.stdin if stdin is None else stdin
        self.out = sys.stdout if stdout is None else stdout
        self.err = sys.stderr if stderr is None else stderr
        self.layout = Layout(self.env)
        self.options = invocation.options
        self.backend = self._backend(invocation)

    # -- OneDB.new ----------------------------------------------------------------------
    def _selected_backend(self, invocation: Invocation) -> str | None:
        backend = None
        for name in invocation.seen:  # Ruby runs -s/-t procs in order: the last one wins
            if name == "sqlite":
                backend = "sqlite"
            elif name == "type":
                backend = invocation.options["type"]
        return backend

    def _backend(self, invocation: Invocation):
        options = invocation.options
        ops = {
            "backend": self._selected_backend(invocation),
            "sqlite": options.get("sqlite"),
            "server": options.get("server"),
            "port": options.get("port"),
            "user": options.get("username"),
            "passwd": options.get("password"),
            "db_name": options.get("dbname"),
        }
        if ops["backend"] is None and all(options.get(k) is None for k in CONNECTION_OPTIONS):
            try:
                conf = db_section(self.layout.oned_conf)
            except OnedConfError as exc:
                self.err.write(f"Unable to parse oned.conf: {exc}\n")
                raise SystemExit(255) from None
            ops.update(conf)
            ops["port"] = _ruby_to_i(conf["port"])
        elif ops["backend"] is None:
            ops["backend"] = "mysql"

        if ops["backend"] == "sqlite":
            return SQLiteBackend(
                ops["sqlite"] or str(self.layout.sqlite_path),
                var_location=self.layout.var_location,
                out=self.out,
                err=self.err,
                env=self.env,
            )
        if ops["backend"] == "mysql":
            passwd = ops["passwd"]
            if passwd is None:
                passwd = self.env.get("ONE_DB_PASSWORD")
            if passwd is None:
                passwd = self._prompt_password()
            return MySQLBackend(
                server=ops["server"],
                port=ops["port"],
                user=ops["user"],
                passwd=passwd,
                db_name=ops["db_name"],
                encoding=options.get("encoding"),
                var_location=self.layout.var_location,
                out=self.out,
                err=self.err,
                env=self.env,
            )
        raise OneDBError("DB BACKEND must be sqlite or mysql.")

    def _stty(self, mode: str) -> None:
        # onedb runs `stty` in backticks: its stdout is captured, its errors (no TTY) show.
        with contextlib.suppress(OSError):
            subprocess.run(["stty", mode], stdin=self.stdin, stdout=subprocess.DEVNULL, check=False)

    def _prompt_password(self) -> str:
        self.out.flush()
        self._stty("-echo")
        self.out.write("MySQL Password: ")
        self.out.flush()
        line = self.stdin.readline()
        if not line:
            if self.stdin.isatty():  # do not leave the terminal without echo
                self._stty("echo")
            raise OneDBError("undefined method 'strip' for nil")
        self._stty("echo")
        self.out.write("\n")
        return line.strip()

    # -- commands -----------------------------------------------------------------------
    def backup(self, bck_file: str | None) -> int:
        federated = bool(self.options.get("federated"))
        if bck_file is None:
            bck_file = self.backend.bck_file(federated, dt.datetime.now())
        if not self.options.get("force") and os.path.exists(bck_file):
            raise OneDBError(f"File {bck_file} exists, backup aborted. Use -f to overwrite.")
        self.backend.backup(bck_file, federated)
        return 0

    def restore(self, bck_file: str) -> int:
        if not os.path.exists(bck_file):
            raise OneDBError(f"File {bck_file} doesn't exist, backup restoration aborted.")
        self.one_not_running()
        self.backend.restore(
            bck_file, bool(self.options.get("force")), bool(self.options.get("federated"))
        )
        return 0

    def one_not_running(self) -> None:
        """Refuse while oned runs: its lock file, or an answer on the default endpoint."""
        for lock_file in self.layout.lock_files:
            if lock_file.exists():
                raise OneDBError(f"First stop OpenNebula. Lock file found: {lock_file}")
        try:
            client = Client(env=self.env)
        except (NoOneAuth, EndpointError) as exc:
            raise OneDBError(str(exc)) from None
        try:
            client.get_version()
        except OneError:
            return
        raise OneDBError(f"OpenNebula found listening on '{client.endpoint}'")

    def version(self) -> int:
        ret = self.backend.read_db_version()
        shared, local = ret.get("version"), ret.get("local_version")
        required_shared, required_local = required_shared_version(), required_local_version()
        w = self.out.write
        if self.options.get("verbose"):
            w(f"Shared tables version:   {shared}\n")
            w(f"Required version:        {required_shared}\n")
            w(f"Timestamp: {_timestamp(ret.get('timestamp'))}\n")
            w(f"Comment:   {ret.get('comment') or ''}\n")
            if local is not None:
                w("\n")
                w(f"Local tables version:    {local}\n")
                w(f"Required version:        {required_local}\n")
                w(f"Timestamp: {_timestamp(ret.get('local_timestamp'))}\n")
                w(f"Comment:   {ret.get('local_comment') or ''}\n")
                if ret.get("is_slave"):
                    w("\nThis database is a federation slave\n")
            w("\n")
        else:
            w(f"Shared: {shared}\n")
            w(f"Local:  {local if local is not None else ''}\n")
            w(f"Required shared version: {required_shared}\n")
            w(f"Required local version:  {required_local}\n")
        local = local if local is not None else "0"
        if (
            compare_versions(shared, required_shared) < 0
            or compare_versions(local, required_local) < 0
        ):
            w(
                "\nUpdate required. Expected DB version is:\n"
                f"Local:  {required_local}\nShared: {required_shared}\n"
            )
            return 2
        if (
            compare_versions(shared, required_shared) > 0
            or compare_versions(local, required_local) > 0
        ):
            w("\nWARNING: Source version is lower than DB version\n")
            return 3
        return 0

    def history(self) -> int:
        for version, timestamp, comment in self.backend.history():
            self.out.write(
                f"Version:   {version}\nTimestamp: {_timestamp(timestamp)}\nComment:   {comment}\n\n"
            )
        return 0


def _timestamp(value) -> str:
    """``Time.at(ts).strftime('%m/%d %H:%M:%S')`` in local time."""
    return dt.datetime.fromtimestamp(_ruby_to_i(value)).strftime("%m/%d %H:%M:%S")


def _ruby_to_i(value) -> int:
    text = str(value if value is not None else "").strip()
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    digits = ""
    for ch in text:
        if not ch.isdigit():
            break
        digits += ch
    return sign * int(digits) if digits else 0


def _run(invocation: Invocation, action, *, version_codes: bool = False):
    """Build the backend and run ``action``; errors become ``(code, message)``."""
    try:
        onedb = OneDB(invocation)
        return action(onedb)
    except OneDBError as exc:
        code = exc.code if version_codes else -1
        return code, exc.message


def _not_simulated(name: str):
    def action(_invocation: Invocation):
        return -1, f"onedb {name} is not available in the OpenNebula simulator"

    return action


def build_parser() -> CmdParser:
    """The ``onedb`` command table."""
    commands = [
        Command(
            "backup",
            "Dumps the DB to a file specified in the argument",
            (("output_file", None),),
            (FORCE, FEDERATED),
            lambda inv: _run(inv, lambda db: db.backup(inv.args[0] if inv.args else None)),
        ),
        Command(
            "version",
            "Prints the current DB version.\n"
            "Use -v flag to see also OpenNebula version\n\n"
            "The version command will return different RC depending on the current\n"
            "state of the installation:\n\n"
            "   - 0: The current version of the DB match with the source version.\n"
            "   - 1: The database has not been bootstraped yet.\n"
            "   - 2: The DB version is older than required (upgrade needed).\n"
            "   - 3: The DB version is newer and not supported by this release.\n"
            "   - -1: Any other problem (e.g connection issues)",
            (),
            (),
            lambda inv: _run(inv, lambda db: db.version(), version_codes=True),
        ),
        Command(
            "history",
            "Prints the upgrades history",
            (),
            (),
            lambda inv: _run(inv, lambda db: db.history()),
        ),
        Command(
            "restore",
            "Restores the DB from a backup file. Only restores backups generated\n"
            "from the same backend (SQLite or MySQL)",
            (("backup_file",),),
            (FORCE, FEDERATED),
            lambda inv: _run(inv, lambda db: db.restore(inv.args[0])),
        ),
        Command(
            "upgrade",
            "Upgrades the DB to the latest version\n"
            "where <version> : DB version (e.g. 1, 3) to upgrade.\n"
            "                  By default the DB is upgraded to the latest version",
            (("version", None),),
            (FORCE,),
            _not_simulated("upgrade"),
        ),
        Command(
            "fsck",
            "Checks the consistency of the DB, and fixes the problems found",
            (),
            (FORCE,),
            _not_simulated("fsck"),
        ),
    ]
    return CmdParser(
        usage=None,
        version=None,
        description="This command enables the user to manage the OpenNebula database. It\n"
        "provides information about the DB version, means to upgrade it to the\n"
        "latest version, and backup tools.\n",
        options=GLOBAL_OPTIONS,
        formats=[
            ArgFormat(
                "file", "Path to a file", lambda a, _i: (0, a) if os.path.isfile(a) else (-1, None)
            ),
            ArgFormat("range", "List of id's in the form 1,8..15", lambda a, _i: (-1, None)),
            ArgFormat("text", "String", lambda a, _i: (0, a)),
        ],
        commands=commands,
    )


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run ``onedb`` and return the exit status."""
    try:
        status = build_parser().run(sys.argv[1:] if argv is None else argv)
    except SystemExit as done:
        status = done.code if isinstance(done.code, int) else 255
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
