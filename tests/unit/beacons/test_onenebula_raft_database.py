"""The ``onenebula_raft`` beacon's ``database`` event: a follower reports its own damaged
database (checked by the real ``onenebula_db.health`` on a real SQLite file), not more
often than ``report_errors_every``, and never a database it cannot check."""

import sqlite3

import pytest
from beacon_helpers import REPO_ROOT, Clock, FakeZone, load_beacon, raft
from support.formula_utils import utils_dunder
from support.load import load_file

from onesim import schema

onenebula_raft = load_beacon()


onenebula_db = load_file(
    REPO_ROOT / "_modules" / "onenebula_db.py", "onenebula_test_beacon_db_module"
)
CONFIG = [{"zone": 0}, {"report_errors_every": 30}, {"error_after": 60}]


@pytest.fixture
def clock(monkeypatch):
    ticking = Clock()
    monkeypatch.setattr(onenebula_raft, "_now", ticking)
    return ticking


@pytest.fixture
def zone():
    zone = FakeZone()
    zone.status = raft(2, server_id=1, term=4, votedfor=0)
    return zone


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "one.db"
    conn = sqlite3.connect(path)
    for statement in schema.TABLES.values():
        conn.execute(statement)
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def checks():
    return []


@pytest.fixture
def configure_loader_modules(zone, tmp_path, database, checks):
    def health(**kwargs):
        checks.append(kwargs)
        return onenebula_db.health(**kwargs)

    functions = dict(zone.functions(), **{"onenebula_db.health": health})
    return {
        onenebula_raft: {
            "__salt__": functions,
            "__opts__": {"cachedir": str(tmp_path / "cache"), "id": "vmm02"},
            "__context__": {},
            "__utils__": utils_dunder(),
        },
        onenebula_db: {
            "__salt__": {"onenebula_conf.get": lambda key, reveal=False: {"BACKEND": "sqlite"}},
            "__opts__": {"id": "vmm02", "onenebula_ha.sqlite_db": str(database)},
            "__utils__": utils_dunder(),
        },
    }


def run():
    return [event for event in onenebula_raft.beacon(list(CONFIG)) if event["tag"] != "role"]


def drop(path, sql):
    conn = sqlite3.connect(path)
    conn.execute(sql)
    conn.commit()
    conn.close()


def test_a_healthy_database_is_not_reported(clock, checks):
    assert run() == []
    assert len(checks) == 1


def test_a_dropped_table_is_reported_at_each_check_not_more_often(database, clock, checks):
    assert run() == []
    drop(database, "DROP TABLE logdb")
    clock.now += 10
    assert run() == []  # within report_errors_every of the last check: not checked
    assert len(checks) == 1
    clock.now += 20
    first = run()
    assert first == [
        {
            "tag": "database",
            "problem": f"the database {database} lacks the table(s) logdb",
            "database": str(database),
            "exists": True,
            "missing": ["logdb"],
            "since": int(clock.now),
            "server_id": 1,
            "term": 4,
            "zone": 0,
        }
    ]
    clock.now += 30
    again = run()
    assert [e["since"] for e in again] == [first[0]["since"]]  # the same damage, repeated


def test_a_missing_database_is_reported(database, clock):
    database.unlink()
    events = run()
    assert [(e["tag"], e["exists"], e["missing"]) for e in events] == [("database", False, [])]
    assert events[0]["problem"] == f"the database {database} does not exist"


def test_the_leader_and_a_stopped_oned_that_was_no_follower_check_no_database(
    zone, database, clock, checks
):
    database.unlink()
    zone.status = raft(3, server_id=1, term=4)
    assert [e for e in run() if e["tag"] == "database"] == []
    zone.down = "connection refused"
    clock.now += 60
    assert [e for e in run() if e["tag"] == "database"] == []
    assert checks == []


def test_a_follower_whose_oned_stopped_still_reports_its_damaged_database(
    zone, database, clock, checks
):
    # Under a busy leader a follower's oned exits after ERRORS_LIMIT database errors: the
    # dropped database is then reported with the id and term it last had as a follower.
    assert [e for e in run() if e["tag"] == "database"] == []
    drop(database, "DROP TABLE db_versioning")
    zone.down = "connection refused"
    clock.now += 10
    assert [e["tag"] for e in run()] == ["down"]  # checked 10 s ago: not yet
    clock.now += 25
    events = [e for e in run() if e["tag"] == "database"]
    assert [(e["missing"], e["server_id"], e["term"]) for e in events] == [
        (["db_versioning"], 1, 4)
    ]
    assert len(checks) == 2


def test_a_database_that_cannot_be_checked_is_not_reported(clock, monkeypatch):
    # The database server does not answer (a MariaDB restart): no trigger for a repair.
    monkeypatch.setitem(
        onenebula_db.__salt__,
        "onenebula_conf.get",
        lambda key, reveal=False: (
            {"BACKEND": "mysql", "SERVER": "127.0.0.1", "PORT": "1", "PASSWD": "x"}
            if key == "DB"
            else "x"
        ),
    )
    assert run() == []
