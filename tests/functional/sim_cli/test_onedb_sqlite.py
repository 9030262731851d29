"""``onedb`` on SQLite: backup, restore, version, the restore refusals (docs/opennebula-cli.md §6)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import textwrap

import pytest

from onesim import schema


def make_db(path, shared="7.0.0", local="7.0.0", bootstrapped=True):
    connection = sqlite3.connect(path)
    for ddl in schema.TABLES.values():
        connection.execute(ddl)
    if bootstrapped:
        connection.execute(
            "INSERT INTO db_versioning VALUES (0, ?, 1700000000, 'bootstrap', 0)", (shared,)
        )
        connection.execute(
            "INSERT INTO local_db_versioning VALUES (0, ?, 1700000000, 'bootstrap', 0)", (local,)
        )
        connection.execute("INSERT INTO user_pool (oid, name, body) VALUES (0, 'oneadmin', '')")
        connection.execute("INSERT INTO logdb VALUES (0, 0, 'x', 0, -1, 1), (1, 1, 'y', 0, 5, 1)")
    connection.commit()
    connection.close()
    return path


@pytest.fixture
def one_db(one_location):
    """$ONE_LOCATION/var/one.db, the default SQLite DB of a self-contained install."""
    return make_db(one_location / "var" / "one.db")


def test_behaviour_10_db_tooling_sqlite_backup_default_name_and_messages(
    onedb, one_db, one_location
):
    before = dt.datetime.now().replace(microsecond=0)
    result = onedb("backup", "-t", "sqlite")
    after = dt.datetime.now()

    assert result.returncode == 0, result.stderr
    written = sorted((one_location / "var").glob("one.db_*.bck"))
    assert len(written) == 1
    names = set()
    moment = before
    while moment <= after:
        names.add(
            f"one.db_{moment.year}-{moment.month}-{moment.day}_"
            f"{moment.hour}:{moment.minute}:{moment.second}.bck"
        )
        moment += dt.timedelta(seconds=1)
    assert written[0].name in names
    assert result.stdout == (
        f"Sqlite database backup stored in {written[0]}\nUse 'onedb restore' to restore the DB.\n"
    )
    dump = written[0].read_text()
    assert dump.startswith('DROP TABLE IF EXISTS "db_versioning";\n')
    assert "CREATE TABLE" in dump and "INSERT INTO user_pool" in dump


def test_sqlite_restore_force_and_round_trip(onedb, one_db, tmp_path):
    dump = tmp_path / "one.bck"
    assert onedb("backup", "-s", str(one_db), str(dump)).returncode == 0
    target = tmp_path / "copy.db"

    fresh = onedb("restore", "-s", str(target), str(dump))
    refused = onedb("restore", "-s", str(target), str(dump))
    forced = onedb("restore", "-f", "-s", str(target), str(dump))

    assert (fresh.returncode, fresh.stdout) == (0, f"Sqlite database backup restored in {target}\n")
    assert (refused.returncode, refused.stderr) == (
        255,
        f"File {target} exists, use -f to overwrite.\n",
    )
    assert forced.returncode == 0, forced.stderr
    rows = sqlite3.connect(target).execute("SELECT name FROM user_pool").fetchall()
    assert rows == [("oneadmin",)]  # the DROP TABLE lines make a forced restore idempotent


@pytest.mark.parametrize(
    ("shared", "local", "code"),
    [("7.0.0", "7.0.0", 0), ("6.10.0", "6.10.0", 2), ("7.2.0", "7.0.0", 3)],
)
def test_behaviour_10_db_tooling_sqlite_version_codes(onedb, tmp_path, shared, local, code):
    db = make_db(tmp_path / "v.db", shared, local)

    result = onedb("version", "-s", str(db))

    assert result.returncode == code, result.stderr
    assert result.stdout.startswith(f"Shared: {shared}\nLocal:  {local}\n")


def test_behaviour_10_db_tooling_sqlite_version_not_bootstrapped(onedb, tmp_path):
    """No version tables (a file oned never bootstrapped, or no file) → exit 1."""
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()

    for db in (empty, tmp_path / "missing.db"):
        result = onedb("version", "-s", str(db))
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == "Database is not correctly bootstraped.\n"


def test_sqlite_version_tables_without_rows_read_as_2_0(onedb, tmp_path):
    """The Ruby tool starts from version "2.0" and keeps it when the tables have no row."""
    db = make_db(tmp_path / "rowless.db", bootstrapped=False)

    result = onedb("version", "-s", str(db))

    assert result.returncode == 2
    assert result.stdout.startswith("Shared: 2.0\nLocal:  2.0\n")


def test_behaviour_10_db_tooling_sqlite_restore_refusals(
    onedb, one_db, tmp_path, one_location, stub_oned_factory
):
    from stub_oned import success_string

    dump = tmp_path / "one.bck"
    assert onedb("backup", "-t", "sqlite", str(dump)).returncode == 0
    oned = stub_oned_factory({"one.system.version": success_string("7.0.0")})

    listening = onedb(
        "restore", "-f", "-t", "sqlite", str(dump), env_extra={"ONE_XMLRPC": oned.endpoint}
    )
    (one_location / "var" / "lock" / ".lock").write_text("1")
    locked = onedb("restore", "-f", "-t", "sqlite", str(dump))

    assert (listening.returncode, listening.stderr) == (
        255,
        f"OpenNebula found listening on '{oned.endpoint}'\n",
    )
    assert (locked.returncode, locked.stderr) == (
        255,
        f"First stop OpenNebula. Lock file found: {one_location}/var/lock/.lock\n",
    )


def test_restore_refused_by_the_simulated_oned_lock_file(onedb, one_db, tmp_path, one_location):
    """onesim's oned keeps its lock at $ONE_LOCATION/var/.lock: restore must see it too."""
    dump = tmp_path / "one.bck"
    assert onedb("backup", "-t", "sqlite", str(dump)).returncode == 0
    (one_location / "var" / ".lock").write_text("1")

    result = onedb("restore", "-f", "-t", "sqlite", str(dump))

    assert result.returncode == 255
    assert result.stderr == f"First stop OpenNebula. Lock file found: {one_location}/var/.lock\n"


def test_sqlite_backend_from_oned_conf(onedb, one_db, one_location):
    (one_location / "etc" / "oned.conf").write_text(
        textwrap.dedent(
            """\
            DB = [ BACKEND = "sqlite", TIMEOUT = 2500 ]   # shipped default
            """
        )
    )

    result = onedb("version")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Shared: 7.0.0\n")


def test_sqlite_federated_backup_keeps_federated_tables_only(onedb, one_db, tmp_path):
    dump = tmp_path / "fed.bck"

    result = onedb("backup", "--federated", "-s", str(one_db), str(dump))

    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"Sqlite database backup of federated tables stored in {dump}\n"
        "Use 'onedb restore' to restore the DB.\n"
    )
    text = dump.read_text()
    assert text.startswith('-- FEDERATED\nDROP TABLE IF EXISTS "group_pool";\n')
    assert "INSERT INTO user_pool" in text
    assert "vm_pool" not in text and "logdb_tmp" not in text
    assert "INSERT INTO logdb VALUES(1,1,'y',0,5,1);" in text
    assert "INSERT INTO logdb VALUES(0," not in text
