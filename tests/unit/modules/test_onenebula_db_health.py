"""Unit tests for ``onenebula_db.health`` on a real SQLite database (oned.conf's DB section
read through a scripted ``onenebula_conf.get``)."""

import sqlite3

import pytest
from onenebula_modules_helpers import load
from support.formula_utils import utils_dunder

from onesim import schema

db = load("modules", "onenebula_db")


@pytest.fixture
def settings():
    return {"BACKEND": "sqlite"}


@pytest.fixture
def sqlite_path(tmp_path):
    return tmp_path / "one.db"


@pytest.fixture
def configure_loader_modules(settings, sqlite_path):
    def conf_get(key, reveal=False, **_):
        assert reveal is True
        if key == "DB/PASSWD":  # what onenebula_db scrubs from the messages it relays
            return settings.get("PASSWD")
        assert key == "DB"
        return dict(settings)

    return {
        db: {
            "__salt__": {"onenebula_conf.get": conf_get},
            "__opts__": {"id": "vmm02", "onenebula_ha.sqlite_db": str(sqlite_path)},
            "__utils__": utils_dunder(),
        }
    }


def bootstrap(path):
    """The tables oned creates when it bootstraps a database (the simulator's DDL)."""
    conn = sqlite3.connect(path)
    for statement in schema.TABLES.values():
        conn.execute(statement)
    conn.commit()
    conn.close()


def test_a_bootstrapped_database_is_ok(sqlite_path):
    bootstrap(sqlite_path)
    result = db.health()
    assert result["ok"] is True and result["broken"] is False and result["exists"] is True
    assert result["missing"] == [] and result["error"] is None
    assert set(db.REQUIRED_TABLES) <= set(result["tables"])


def test_a_missing_database_is_broken(sqlite_path):
    result = db.health()
    assert result["exists"] is False and result["broken"] is True and result["ok"] is False
    assert result["error"] == f"the database {sqlite_path} does not exist"


def test_a_dropped_table_is_broken(sqlite_path):
    bootstrap(sqlite_path)
    conn = sqlite3.connect(sqlite_path)
    conn.execute("DROP TABLE db_versioning")
    conn.commit()
    conn.close()
    result = db.health()
    assert result["broken"] is True and result["ok"] is False
    assert result["missing"] == ["db_versioning"]
    assert "db_versioning" not in result["tables"]
    assert "lacks the table(s) db_versioning" in result["error"]


def test_health_reads_without_writing(sqlite_path):
    bootstrap(sqlite_path)
    before = sqlite_path.stat().st_mtime_ns
    db.health()
    assert sqlite_path.stat().st_mtime_ns == before


def test_a_database_server_that_does_not_answer_is_not_called_broken(settings):
    # Nothing listens on port 1 of the loopback: unknown, never "broken" (no repair).
    settings.update(BACKEND="mysql", SERVER="127.0.0.1", PORT="1", PASSWD="s3cret-pw")
    result = db.health(timeout=2)
    assert result["exists"] is None and result["broken"] is False and result["ok"] is False
    assert result["error"].startswith("cannot connect to the database server")
    assert "s3cret-pw" not in result["error"]


class _FakePyMySQL:
    """Records the connect arguments; ``ssl_disabled`` in the signature as in PyMySQL 1.1+
    (``old=True``: a 1.0 connect without it, as Debian 12 ships)."""

    class MySQLError(Exception):
        pass

    def __init__(self, old=False):
        self.calls = []
        fake = self

        if old:

            def init(self, host=None, user=None, password="", port=0, unix_socket=None):
                pass

        else:

            def init(self, host=None, user=None, password="", port=0, unix_socket=None,
                     ssl_disabled=None):  # fmt: skip
                pass

        self.connections = type(
            "connections", (), {"Connection": type("C", (), {"__init__": init})}
        )

        def connect(**kwargs):
            fake.calls.append(kwargs)
            raise fake.MySQLError("refused (fake)")

        self.connect = connect


@pytest.mark.parametrize(
    ("server", "old", "disabled"),
    [
        ("/run/mysqld/mysqld.sock", False, True),
        ("localhost", False, True),
        ("127.0.0.1", False, True),
        ("db.example.org", False, False),  # a remote server: TLS as PyMySQL decides
        ("localhost", True, False),  # PyMySQL 1.0 has no ssl_disabled (and no TLS unasked)
    ],
)
def test_no_tls_attempt_to_the_local_database_server(settings, monkeypatch, server, old, disabled):
    fake = _FakePyMySQL(old=old)
    monkeypatch.setitem(__import__("sys").modules, "pymysql", fake)
    settings.update(BACKEND="mysql", SERVER=server, PASSWD="s3cret-pw")
    result = db.health(timeout=2)
    assert result["error"].startswith("cannot connect to the database server")
    (kwargs,) = fake.calls
    assert kwargs.get("ssl_disabled", False) is disabled
