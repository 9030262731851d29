"""``onenebula_db`` against a real MariaDB: ``health`` under a running simulated oned, with
oned.conf's DB section read by the real ``onenebula_conf``: a database dropped or a table
dropped while oned runs (and still answers as a follower) is seen as broken; a database
server that is down is not. ``backup`` and ``restore`` as a join runs them (the MySQL
client programs with oned.conf's settings)."""

from pathlib import Path

import pymysql
import pytest
from salt.exceptions import CommandExecutionError
from support.formula_utils import utils_dunder
from support.load import load_file

from onelab.proc import wait_until
from onesim.zone_local import LocalZone

REPO_ROOT = Path(__file__).resolve().parents[3]


def _modules(conf_path):
    conf = load_file(REPO_ROOT / "_modules" / "onenebula_conf.py", "onenebula_test_health_conf")
    conf.__utils__ = utils_dunder()
    conf.__opts__ = {}
    conf.__salt__ = {}
    db = load_file(REPO_ROOT / "_modules" / "onenebula_db.py", "onenebula_test_health_db")
    db.__utils__ = utils_dunder()
    db.__opts__ = {"id": "vmm02"}
    db.__salt__ = {
        "onenebula_conf.get": lambda key, reveal=False: conf.get(
            key, path=str(conf_path), reveal=reveal
        )
    }
    return db


def _sql(mariadb, statement):
    opts = mariadb.options
    conn = pymysql.connect(
        host=opts["server"], port=opts["port"], user=opts["user"], password=opts["passwd"],
        autocommit=True,
    )  # fmt: skip
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


def test_health_sees_what_a_running_follower_does_not(tmp_path, timings, mariadb):
    with LocalZone(3, tmp_path / "zone", db="mysql", mysql=mariadb.options, **timings) as zone:
        leader = zone.wait_leader()
        first, second = [i for i in range(3) if i != leader]
        checks = {i: _modules(zone.servers[i].conf_path) for i in (first, second)}
        healthy = checks[first].health()
        assert (healthy["ok"], healthy["broken"], healthy["database"]) == (
            True, False, zone.db_name(first),
        )  # fmt: skip
        assert healthy["error"] is None and "logdb" in healthy["tables"]

        _sql(mariadb, f"DROP DATABASE `{zone.db_name(first)}`")
        _sql(mariadb, f"DROP TABLE `{zone.db_name(second)}`.db_versioning")
        dropped, table = checks[first].health(), checks[second].health()
        assert dropped["broken"] is True and dropped["exists"] is False
        assert table["broken"] is True and table["missing"] == ["db_versioning"]
        # oned noticed nothing: both still answer as followers.
        for index in (first, second):
            status = zone.call(index, "one.zone.raftstatus")
            assert status[0] is True and "<STATE>2</STATE>" in status[1]

        mariadb.stop()
        try:
            unknown = checks[second].health(timeout=2)
            assert unknown["exists"] is None and unknown["broken"] is False
            assert unknown["error"].startswith("cannot connect to the database server")
            assert mariadb.passwd not in unknown["error"]
        finally:
            mariadb.start()
            wait_until(lambda: checks[second].health()["exists"] is True, timeout=60,
                       what="MariaDB back")  # fmt: skip


# A password that needs the option file's quoting: quotes, a comment sign, a backslash.
RESTORER_PASSWORD = "r\"e'st#o\\re"


def _restorer(mariadb, tmp_path, monkeypatch):
    """The db module with oned.conf naming database ``one_restore`` as user ``restorer``."""
    password = pymysql.converters.escape_string(RESTORER_PASSWORD)
    mariadb._root_sql(
        f"CREATE USER IF NOT EXISTS 'restorer'@'127.0.0.1' IDENTIFIED BY '{password}';"
        "GRANT ALL ON `one_restore`.* TO 'restorer'@'127.0.0.1';"
    )
    conf_path = tmp_path / "oned.conf"
    quoted = RESTORER_PASSWORD.replace('"', '\\"')  # oned.conf escapes only the quote
    conf_path.write_text(
        f'DB = [ BACKEND = "mysql", SERVER = "127.0.0.1", PORT = {mariadb.port},\n'
        f'       USER = "restorer", PASSWD = "{quoted}", DB_NAME = "one_restore" ]\n'
    )
    (tmp_path / "one" / "var").mkdir(parents=True)
    monkeypatch.setenv("ONE_LOCATION", str(tmp_path / "one"))  # no oned lock file here
    db = _modules(conf_path)
    db.__opts__["onenebula_ha.backup_dir"] = str(tmp_path / "backups")
    assert db._db_settings()["PASSWD"] == RESTORER_PASSWORD
    return db


def _rows(mariadb):
    opts = mariadb.options
    conn = pymysql.connect(host=opts["server"], port=opts["port"], user=opts["user"],
                           password=opts["passwd"], database="one_restore")  # fmt: skip
    try:
        with conn.cursor() as cursor:
            cursor.execute("SHOW TABLES")
            if not cursor.fetchall():
                return None
            cursor.execute("SELECT oid, body FROM vm_pool ORDER BY oid")
            return [tuple(row) for row in cursor.fetchall()]
    finally:
        conn.close()


def test_backup_and_restore_run_the_mysql_clients_with_oned_conf_settings(
    tmp_path, mariadb, monkeypatch
):
    """What a join does to the joiner's database, on a real MariaDB: the dump (mariadb-dump
    with the password only in a private option file), the previous DB kept unless it has
    no table, the load of exactly the dump that was verified."""
    _sql(mariadb, "DROP DATABASE IF EXISTS one_restore")
    _sql(mariadb, "CREATE DATABASE one_restore")
    _sql(mariadb, "CREATE TABLE one_restore.vm_pool (oid INT PRIMARY KEY, body MEDIUMTEXT)")
    _sql(mariadb, "INSERT INTO one_restore.vm_pool VALUES (1, '<VM/>'), (2, 'it''s')")
    db = _restorer(mariadb, tmp_path, monkeypatch)
    dump = tmp_path / "backups" / "leader.sql"

    taken = db.backup(str(dump))
    assert taken["sha256"] == db.read_sidecar(str(dump))
    assert b"CREATE TABLE `vm_pool`" in dump.read_bytes()
    leader_rows = _rows(mariadb)

    _sql(mariadb, "INSERT INTO one_restore.vm_pool VALUES (3, 'written after the dump')")
    restored = db.restore(str(dump), sha256=taken["sha256"])
    assert _rows(mariadb) == leader_rows
    kept = restored["previous_backup"]
    assert "/pre-restore-" in kept and b"written after the dump" in Path(kept).read_bytes()

    _sql(mariadb, "DROP TABLE one_restore.vm_pool")  # a database without tables: nothing kept
    assert db.restore(str(dump), sha256=taken["sha256"])["previous_backup"] is None
    assert _rows(mariadb) == leader_rows

    dump.write_bytes(dump.read_bytes() + b"DROP TABLE vm_pool;\n")
    with pytest.raises(CommandExecutionError, match="checksum mismatch"):
        db.restore(str(dump), sha256=taken["sha256"])
    assert _rows(mariadb) == leader_rows
