"""A real MariaDB server in a temp dir for the ``onedb`` tests, plus runner helpers.

One server per test session (bootstrap ~1 s, start < 1 s): root logs in through the unix
socket only, ``oneadmin`` has a password and connects over TCP on 127.0.0.1 and a random
port. Each test gets its own database name so tests never see each other's data.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "sim_cli"))

from onedb_support import DB_PASSWORD, ONE_AUTH_SECRET, free_port, run_onedb, sql_literal  # noqa: E402

from onelab.proc import wait_until  # noqa: E402
from onesim import schema  # noqa: E402


@dataclass
class MariaDB:
    datadir: Path
    socket: Path
    port: int
    user: str = "oneadmin"
    password: str = DB_PASSWORD

    def sql(self, statement: str, database: str | None = None) -> str:
        """Run SQL as root over the socket; return the tab-separated output."""
        argv = ["mysql", "--no-defaults", "-S", str(self.socket), "-u", "root", "-N", "-B"]
        if database:
            argv.append(database)
        result = subprocess.run(
            argv, input=statement, capture_output=True, text=True, timeout=30, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"SQL failed: {result.stderr}")
        return result.stdout

    def bootstrapped_database(self, name: str, shared="7.0.0", local="7.0.0") -> str:
        """A DB with the simulated oned's schema, version rows and the oneadmin user."""
        self.sql(f"CREATE DATABASE `{name}`")
        statements = [ddl + ";" for ddl in schema.TABLES.values()]
        statements += [
            f"INSERT INTO db_versioning VALUES (0, '{shared}', 1700000000, 'bootstrap', 0);",
            f"INSERT INTO local_db_versioning VALUES (0, '{local}', 1700000000, 'bootstrap', 0);",
            "INSERT INTO user_pool (oid, name, body) VALUES (0, 'oneadmin', '<USER/>');",
            "INSERT INTO zone_pool (oid, name, body) VALUES (0, 'OpenNebula', '<ZONE/>');",
        ]
        self.sql("\n".join(statements), name)
        return name


def _wait_ready(process: subprocess.Popen, sock: Path, error_log: Path, deadline_s: float):
    def ready():
        if process.poll() is not None:
            raise RuntimeError(f"mariadbd exited: {error_log.read_text()[-2000:]}")
        probe = subprocess.run(
            ["mysqladmin", "--no-defaults", "-S", str(sock), "-u", "root", "ping"],
            capture_output=True,
            timeout=10,
            check=False,
        )
        return probe.returncode == 0

    wait_until(ready, timeout=deadline_s, interval=0.05, what="mariadbd ready")


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory):
    if shutil.which("mariadbd") is None and not Path("/usr/sbin/mariadbd").exists():
        pytest.skip("MariaDB server not installed (scripts/setup-system.sh)")
    datadir = tmp_path_factory.mktemp("mariadb")
    (datadir / "tmp").mkdir()
    subprocess.run(
        [
            "mariadb-install-db", "--no-defaults", f"--datadir={datadir}", "--user=root",
            "--auth-root-authentication-method=socket", "--skip-test-db",
            f"--tmpdir={datadir}/tmp",
        ],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    port = free_port()
    sock = datadir / "mysqld.sock"
    process = subprocess.Popen(
        [
            "/usr/sbin/mariadbd", "--no-defaults", "--user=root", f"--datadir={datadir}",
            f"--socket={sock}", f"--port={port}", "--bind-address=127.0.0.1",
            "--skip-name-resolve", "--innodb-buffer-pool-size=32M", "--performance-schema=OFF",
            f"--tmpdir={datadir}/tmp", f"--pid-file={datadir}/pid", f"--log-error={datadir}/err",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_ready(process, sock, datadir / "err", 60)
        server = MariaDB(datadir=datadir, socket=sock, port=port)
        password = sql_literal(DB_PASSWORD)
        server.sql(
            f"CREATE USER 'oneadmin'@'127.0.0.1' IDENTIFIED BY {password};"
            "GRANT ALL PRIVILEGES ON *.* TO 'oneadmin'@'127.0.0.1';"
            f"CREATE USER 'oneadmin'@'localhost' IDENTIFIED BY {password};"
            "GRANT ALL PRIVILEGES ON *.* TO 'oneadmin'@'localhost';"
        )
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(datadir, ignore_errors=True)


_db_counter = itertools.count()


@pytest.fixture
def db_name(request) -> str:
    """A database name unique to this test."""
    return f"one_{os.getpid()}_{next(_db_counter)}"


@pytest.fixture
def home(tmp_path) -> Path:
    home = tmp_path / "home"
    (home / ".one").mkdir(parents=True)
    (home / ".one" / "one_auth").write_text(ONE_AUTH_SECRET + "\n")
    return home


@pytest.fixture
def one_location(tmp_path) -> Path:
    """A self-contained layout root: lock file, var/ and etc/ live under it."""
    location = tmp_path / "one"
    (location / "var" / "lock").mkdir(parents=True)
    (location / "etc").mkdir()
    return location


@pytest.fixture
def base_env(home, one_location) -> dict[str, str]:
    """Nothing listens on the default endpoint: point it at a closed port explicitly."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "ONE_LOCATION": str(one_location),
        "ONE_XMLRPC": f"http://127.0.0.1:{free_port()}/RPC2",
    }


@pytest.fixture
def onedb(base_env):
    def call(*args: str, env_extra: dict | None = None, **kw):
        env = dict(base_env)
        env.update(env_extra or {})
        return run_onedb(*args, env=env, **kw)

    return call


@pytest.fixture
def mysql_args(mariadb, db_name):
    """Connection options for a bootstrapped DB; the password goes in ONE_DB_PASSWORD."""
    mariadb.bootstrapped_database(db_name)
    yield ["-S", "127.0.0.1", "-P", str(mariadb.port), "-u", "oneadmin", "-d", db_name]
    mariadb.sql(f"DROP DATABASE IF EXISTS `{db_name}`")


@pytest.fixture
def db_env() -> dict[str, str]:
    return {"ONE_DB_PASSWORD": DB_PASSWORD}


@pytest.fixture
def stub_oned_factory():
    """Started stub XML-RPC servers (see tests/unit/sim_cli/stub_oned.py), stopped at teardown."""
    from stub_oned import StubOned

    started = []

    def make(replies):
        server = StubOned(replies).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
