"""``onedb`` rules that need no database server (docs/opennebula-cli.md §6.1–6.4)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from sim_cli_support import run

from onesim.cli import oned_conf
from onesim.cli.onedb_backends import MySQLBackend, SQLiteBackend
from onesim.cli.versions import compare_versions

# The moment in the example file name of docs/opennebula-cli.md §6.2.
REFERENCE_MOMENT = dt.datetime(2017, 6, 1, 11, 52, 47)


def mysql_backend(var="/var/lib/one", server="localhost", db="opennebula") -> MySQLBackend:
    # an explicit --encoding skips the connection test made at construction
    return MySQLBackend(
        server=server, port=0, user="oneadmin", passwd="s3cret", db_name=db, encoding="utf8mb4",
        var_location=Path(var), out=io.StringIO(), err=io.StringIO(),
    )  # fmt: skip


def test_behaviour_10_db_tooling_default_backup_names_have_no_zero_padding():
    mysql = mysql_backend()
    sqlite = SQLiteBackend(
        "/var/lib/one/one.db",
        var_location=Path("/var/lib/one"),
        out=io.StringIO(),
        err=io.StringIO(),
    )

    assert mysql.bck_file(False, REFERENCE_MOMENT) == (
        "/var/lib/one/mysql_localhost_opennebula_2017-6-1_11:52:47.sql"
    )
    assert mysql.bck_file(True, REFERENCE_MOMENT) == (
        "/var/lib/one/mysql_localhost_opennebula_federated_2017-6-1_11:52:47.sql"
    )
    assert sqlite.bck_file(False, dt.datetime(2024, 12, 9, 5, 3, 0)) == (
        "/var/lib/one/one.db_2024-12-9_5:3:0.bck"
    )
    assert sqlite.bck_file(True, REFERENCE_MOMENT) == (
        "/var/lib/one/one.db_federated_2017-6-1_11:52:47.bck"
    )


def test_client_command_line_never_holds_the_password():
    argv = mysql_backend().client_argv("mysqldump", "/tmp/x/client.cnf")

    assert argv[:2] == ["mysqldump", "--defaults-extra-file=/tmp/x/client.cnf"]
    assert "s3cret" not in " ".join(argv)
    assert not any(a.startswith("-p") for a in argv)


@pytest.fixture
def onedb(base_env, tmp_path):
    location = tmp_path / "one"
    (location / "var").mkdir(parents=True)

    def call(*args, env_extra=None, **kw):
        env = dict(base_env, ONE_LOCATION=str(location), ONE_XMLRPC="http://127.0.0.1:9/RPC2")
        env.update(env_extra or {})
        return run("onedb", *args, env=env, **kw)

    return call


def test_behaviour_10_db_tooling_errors_exit_255(onedb, tmp_path):
    existing = tmp_path / "dump.bck"
    existing.write_text("x")

    backup = onedb("backup", "-s", str(tmp_path / "one.db"), str(existing))
    backend = onedb("version", "-t", "postgresql")
    restore = onedb("restore", "-s", str(tmp_path / "one.db"), str(tmp_path / "nope.bck"))

    assert (backup.returncode, backup.stdout) == (255, "")
    assert backup.stderr == f"File {existing} exists, backup aborted. Use -f to overwrite.\n"
    assert (backend.returncode, backend.stderr) == (255, "DB BACKEND must be sqlite or mysql.\n")
    assert restore.returncode == 255
    assert restore.stderr == (
        f"File {tmp_path / 'nope.bck'} doesn't exist, backup restoration aborted.\n"
    )


def test_mysql_options_checked_before_connecting(onedb):
    no_user = onedb("version", "-d", "opennebula", "-p", "x")
    no_db = onedb("version", "-u", "oneadmin", env_extra={"ONE_DB_PASSWORD": "x"})

    assert (no_user.returncode, no_user.stderr) == (255, "MySQL option USER is needed\n")
    assert (no_db.returncode, no_db.stderr) == (255, "MySQL option DBNAME is needed\n")


def test_password_prompt_at_end_of_input_fails_like_ruby(onedb):
    """-t mysql alone: prompt first (stdin is empty here), so the prompt's failure shows."""
    result = onedb("version", "-t", "mysql")

    assert result.returncode == 255
    assert result.stdout == "MySQL Password: "
    assert result.stderr.endswith("undefined method 'strip' for nil\n")


def test_version_option_prints_an_empty_line(onedb):
    result = onedb("version", "-V")

    assert (result.returncode, result.stdout) == (0, "\n")


def test_oned_conf_db_section(tmp_path):
    conf = tmp_path / "oned.conf"
    conf.write_text(
        '# DB = [ BACKEND = "sqlite" ]\n'
        'LOG = [ SYSTEM = "file", DEBUG_LEVEL = 3 ]\n'
        'DB = [ BACKEND = "mysql", SERVER = "db.example", PORT = 0,\n'
        '       USER = oneadmin, PASSWD = "pa\\\\ss\\"w#rd", DB_NAME = "opennebula" ]\n'
    )

    assert oned_conf.db_section(conf) == {
        "backend": "mysql",
        "server": "db.example",
        "port": "0",
        "user": "oneadmin",
        "passwd": 'pass"w#rd',  # onedb removes every backslash
        "db_name": "opennebula",
    }
    assert oned_conf.db_section(tmp_path / "missing.conf")["backend"] is None


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("7.0.0", "7.0", 0),
        ("6.10.0", "7.0.0", -1),
        ("7.2.0", "7.0.0", 1),
        ("7.0.0.rc1", "7.0.0", -1),
    ],
)
def test_versions_compare_like_gem_version(left, right, expected):
    assert compare_versions(left, right) == expected


def test_behaviour_10_db_tooling_no_connection_exits_255(onedb, tmp_path):
    from stub_oned import closed_port_endpoint

    port = closed_port_endpoint().split(":")[2].split("/")[0]
    env = {"ONE_DB_PASSWORD": "x", "MYSQL_UNIX_PORT": str(tmp_path / "no.sock")}

    tcp = onedb("version", "-S", "127.0.0.1", "-P", port, "-u", "a", "-d", "b", env_extra=env)
    local = onedb("version", "-u", "a", "-d", "b", env_extra=env)  # localhost: the socket

    prefix = "Error connecting to DB: Mysql2::Error::ConnectionError: "
    assert (tcp.returncode, tcp.stdout) == (255, "")
    assert tcp.stderr == prefix + "Can't connect to server on '127.0.0.1' (111)\n"
    assert local.returncode == 255
    assert local.stderr == (
        prefix + f"Can't connect to local server through socket '{tmp_path / 'no.sock'}' (2)\n"
    )
