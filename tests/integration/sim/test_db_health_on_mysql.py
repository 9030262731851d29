"""``onenebula_db.health`` against a real MariaDB under a running simulated oned, with
oned.conf's DB section read by the real ``onenebula_conf``: a database dropped or a table
dropped while oned runs (and still answers as a follower) is seen as broken; a database
server that is down is not."""

from pathlib import Path

import pymysql
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
