"""Unit tests for ``_modules/onenebula_db.py`` on MySQL without connection arguments: backup
and restore run the client programs themselves (``mariadb-dump``, ``mariadb``), here fake
programs on PATH that record their argv, their option file and their input. Whether the
current database holds tables (asked with PyMySQL) is answered by the test."""

import hashlib
import json
import os
import stat
import sys
from pathlib import Path

import pytest
from onenebula_modules_helpers import load
from salt.exceptions import CommandExecutionError
from support.formula_utils import utils_dunder

db = load("modules", "onenebula_db")

PASSWORD = "p\"w'd#1\\x"
DUMP = b"-- MariaDB dump\nCREATE DATABASE `opennebula`;\nUSE `opennebula`;\n"

# Writes one JSON line per run: its name, argv, the option file's mode and text, its stdin.
FAKE_CLIENT = """
import json, os, stat, sys
config = json.load(open({config!r}))
name = os.path.basename(sys.argv[0])
options = [a for a in sys.argv[1:] if a.startswith("--defaults-extra-file=")]
path = options[0].split("=", 1)[1] if options else None
record = {{"name": name, "argv": sys.argv[1:]}}
if path:
    record["option_mode"] = stat.S_IMODE(os.stat(path).st_mode)
    record["options"] = open(path).read()
if name == "mariadb":
    record["stdin"] = sys.stdin.buffer.read().decode()
with open({log!r}, "a") as log:
    log.write(json.dumps(record) + "\\n")
failure = config.get("fail", {{}}).get(name)
if failure:
    sys.stderr.write(failure)
    sys.exit(2)
if name == "mariadb-dump":
    sys.stdout.buffer.write(config["dump"].encode())
"""


class Clients:
    def __init__(self, directory):
        self.config = directory / "clients.json"
        self.log = directory / "clients.log"
        self.settings = {"dump": DUMP.decode(), "fail": {}}
        self._save()
        for name in ("mariadb-dump", "mariadb"):
            program = directory / name
            program.write_text(
                f"#!{sys.executable}\n"
                + FAKE_CLIENT.format(config=str(self.config), log=str(self.log))
            )
            program.chmod(0o755)

    def _save(self):
        self.config.write_text(json.dumps(self.settings))

    def fail(self, name, stderr):
        self.settings["fail"][name] = stderr
        self._save()

    def runs(self, name=None):
        if not self.log.exists():
            return []
        found = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [run for run in found if name is None or run["name"] == name]


@pytest.fixture
def clients(tmp_path, monkeypatch):
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}:{os.environ['PATH']}")
    return Clients(directory)


@pytest.fixture
def conf():
    return {
        "BACKEND": "mysql",
        "SERVER": "localhost",
        "PORT": "0",
        "USER": "oneadmin",
        "PASSWD": PASSWORD,
        "DB_NAME": "opennebula",
    }


@pytest.fixture
def tables():
    """What the current database holds, as the PyMySQL check answers it."""
    return {"exists": True, "tables": ["logdb", "vm_pool"]}


@pytest.fixture
def onedb_calls():
    return []


@pytest.fixture
def configure_loader_modules(tmp_path, conf, onedb_calls):
    def run_all(argv, **kwargs):
        onedb_calls.append(argv)
        raise AssertionError(f"onedb must not run here: {argv}")

    def unreachable():
        exc = CommandExecutionError("cannot reach oned: refused")
        exc.info = {"reachable": False}
        raise exc

    return {
        db: {
            "__salt__": {
                "cmd.run_all": run_all,
                "onenebula_conf.get": lambda key, reveal=False: dict(conf) if reveal else {},  # DB
                "onenebula_zone.raft_status": unreachable,
            },
            "__opts__": {"id": "vmm02", "onenebula_ha.backup_dir": str(tmp_path / "backups")},
            "__utils__": utils_dunder(),
        }
    }


@pytest.fixture(autouse=True)
def no_lock(monkeypatch, tmp_path, tables):
    (tmp_path / "one" / "var").mkdir(parents=True)
    monkeypatch.setenv("ONE_LOCATION", str(tmp_path / "one"))

    def mysql_tables(settings, timeout):
        return settings["DB_NAME"], tables["exists"], tables["tables"]

    monkeypatch.setattr(db, "_mysql_tables", mysql_tables)


@pytest.fixture
def dump(tmp_path):
    path = tmp_path / "leader.sql"
    path.write_bytes(DUMP)
    return path


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_backup_runs_mariadb_dump_with_a_private_option_file(clients, tmp_path, onedb_calls):
    target = tmp_path / "out" / "leader.sql"
    result = db.backup(str(target))
    assert result == {"path": str(target), "size": len(DUMP), "sha256": sha(DUMP)}
    assert target.read_bytes() == DUMP
    assert Path(f"{target}.sha256").read_text() == f"{sha(DUMP)}  leader.sql\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    (run,) = clients.runs()
    option_file = run["argv"][0].split("=", 1)[1]
    assert run["argv"][1:] == [
        "--single-transaction",
        "--add-drop-database",
        "--databases",
        "--add-drop-table",
        "opennebula",
    ]
    assert PASSWORD not in " ".join(run["argv"])
    assert run["option_mode"] == 0o600
    assert not os.path.exists(option_file)  # removed right after
    # the password quoted so that quotes, # and backslashes reach the client unchanged
    assert 'password="p\\"w\\\'d#1\\\\x"' in run["options"].splitlines()
    assert 'host="localhost"' in run["options"].splitlines()
    assert onedb_calls == []
    assert sorted(p.name for p in target.parent.iterdir()) == ["leader.sql", "leader.sql.sha256"]


def test_a_socket_path_and_a_port_reach_the_option_file(clients, conf, tmp_path):
    conf.update(SERVER="/run/mysqld/mysqld.sock", PORT="3307")
    db.backup(str(tmp_path / "a.sql"))
    conf.update(SERVER="10.213.0.10")
    db.backup(str(tmp_path / "b.sql"))
    first, second = (run["options"].splitlines() for run in clients.runs())
    assert 'socket="/run/mysqld/mysqld.sock"' in first and not any("port" in o for o in first)
    assert 'host="10.213.0.10"' in second and "port=3307" in second


def test_a_failed_dump_leaves_no_file_and_no_password_in_the_error(clients, tmp_path):
    clients.fail("mariadb-dump", f"mariadb-dump: Got error: 1045 password={PASSWORD}\n")
    with pytest.raises(CommandExecutionError, match="mariadb-dump failed: .*1045") as error:
        db.backup(str(tmp_path / "leader.sql"))
    assert PASSWORD not in str(error.value)
    assert list(tmp_path.glob("leader.sql*")) == []


def test_a_database_name_outside_the_grammar_is_refused(clients, conf, tmp_path):
    conf["DB_NAME"] = "--execute=DROP"
    with pytest.raises(CommandExecutionError, match="not a plain database name"):
        db.backup(str(tmp_path / "leader.sql"))
    assert clients.runs() == []


def test_restore_keeps_the_current_db_then_loads_the_verified_dump(clients, dump, onedb_calls):
    result = db.restore(str(dump), sha256=sha(DUMP))
    keep, load_run = clients.runs()
    assert (keep["name"], load_run["name"]) == ("mariadb-dump", "mariadb")
    assert result["previous_backup"].endswith(".sql")
    assert "/pre-restore-" in result["previous_backup"]
    assert Path(result["previous_backup"]).read_bytes() == DUMP
    assert load_run["argv"][1:] == ["opennebula"]
    assert load_run["stdin"] == DUMP.decode()
    assert load_run["option_mode"] == 0o600
    assert result["sha256"] == sha(DUMP)
    assert result["message"] == "MySQL DB opennebula at localhost restored."
    assert onedb_calls == []  # neither onedb version, backup nor restore


@pytest.mark.parametrize(
    "current", [{"exists": False, "tables": []}, {"exists": True, "tables": []}]
)
def test_a_missing_or_empty_database_has_nothing_to_keep(clients, dump, tables, current):
    tables.update(current)
    result = db.restore(str(dump), sha256=sha(DUMP))
    assert result["previous_backup"] is None
    assert [run["name"] for run in clients.runs()] == ["mariadb"]


def test_a_database_whose_tables_cannot_be_listed_is_kept_all_the_same(clients, dump, monkeypatch):
    def unreachable(settings, timeout):
        raise CommandExecutionError("cannot connect to the database server")

    monkeypatch.setattr(db, "_mysql_tables", unreachable)
    result = db.restore(str(dump), sha256=sha(DUMP))
    assert result["previous_backup"] is not None
    assert [run["name"] for run in clients.runs()] == ["mariadb-dump", "mariadb"]


def test_no_load_when_the_current_db_cannot_be_kept(clients, dump):
    clients.fail("mariadb-dump", "mariadb-dump: Got error: 2013\n")
    with pytest.raises(CommandExecutionError, match="the current DB could not be kept"):
        db.restore(str(dump), sha256=sha(DUMP))
    assert clients.runs("mariadb") == []


def test_checksum_mismatch_and_a_running_oned_refuse_before_any_client_runs(clients, dump):
    with pytest.raises(CommandExecutionError, match="checksum mismatch"):
        db.restore(str(dump), sha256="0" * 64)
    db.__salt__["onenebula_zone.raft_status"] = lambda: {"state": 3, "state_name": "leader"}
    with pytest.raises(CommandExecutionError, match="current Raft leader"):
        db.restore(str(dump), sha256=sha(DUMP))
    assert clients.runs() == []


def test_a_failed_load_is_reported_without_the_password(clients, dump):
    clients.fail("mariadb", f"ERROR 1064 near '{PASSWORD}'\n")
    with pytest.raises(
        CommandExecutionError, match="restoring MySQL DB opennebula failed"
    ) as error:
        db.restore(str(dump), sha256=sha(DUMP))
    assert PASSWORD not in str(error.value)


def test_connection_arguments_or_sqlite_leave_it_to_onedb(clients, conf, tmp_path, onedb_calls):
    with pytest.raises(AssertionError, match="onedb must not run here"):
        db.backup(str(tmp_path / "a.sql"), dbname="opennebula")
    conf["BACKEND"] = "sqlite"
    with pytest.raises(AssertionError, match="onedb must not run here"):
        db.backup(str(tmp_path / "b.sql"))
    assert [argv[:2] for argv in onedb_calls] == [["onedb", "backup"]] * 2
    assert clients.runs() == []
