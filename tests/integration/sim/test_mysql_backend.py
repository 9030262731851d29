"""oned on the MySQL backend (a real MariaDB): bootstrap, replication, failover, ERRORS_LIMIT;
and the formula's ``onenebula_db.database`` state making that database and its user."""

from dataclasses import replace
from pathlib import Path

import pymysql
import pyone
from support.formula_utils import utils_dunder
from support.load import load_file

from onelab.proc import wait_until
from onesim import schema
from onesim.zone_local import LocalZone

RECOVERY_S = 30


def query(mariadb, database, sql):
    conn = pymysql.connect(database=database, autocommit=True, **_connect_args(mariadb))
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()
    finally:
        conn.close()


def _connect_args(mariadb):
    opts = mariadb.options
    return {
        "host": opts["server"],
        "port": opts["port"],
        "user": opts["user"],
        "password": opts["passwd"],
    }


def _db_config(mariadb, db_name):
    """onesim's DB section for database ``db_name`` on the test's MariaDB."""
    from onesim.config import DbConfig

    options = mariadb.options
    return DbConfig(
        backend="mysql",
        server=options["server"],
        port=options["port"],
        user=options["user"],
        passwd=options["passwd"],
        db_name=db_name,
    )


def assert_serversync_reads_own_database(zone, mariadb):
    """What ``onezone serversync`` reads through one.system.config (its Replicator's
    fetch_db_config/fetch_fed_config): each server's own database and ids, from an outside
    client."""
    options = mariadb.options
    for index, server in enumerate(zone.servers):
        config = pyone.OneServer(server.endpoint, session=zone.session, timeout=10).system.config()
        db, federation = config.DB, config.FEDERATION
        reads = {
            "backend": db.BACKEND,
            "server": db.SERVER,
            "port": db.PORT,
            "user": db.USER,
            "passwd": db.PASSWD,
            "db_name": db.DB_NAME,
            "ids": (federation.SERVER_ID, federation.ZONE_ID),
        }
        wanted = dict(options, backend="mysql", db_name=zone.db_name(index), ids=(index, 0))
        assert reads == wanted


def test_mysql_zone_replicates_sql_into_every_servers_database(tmp_path, timings, mariadb):
    with LocalZone(3, tmp_path / "zone", db="mysql", mysql=mariadb.options, **timings) as zone:
        leader = zone.wait_leader()
        # Quotes and backslashes must survive the trip through the log on MySQL too.
        name = "it's a \\\\ test"
        reply = zone.call(leader, "one.vm.allocate", f'NAME = "{name}"', False)
        assert reply[0] is True
        oid = reply[1]
        for index in range(3):
            database = zone.db_name(index)
            wait_until(
                lambda database=database: query(
                    mariadb, database, f"SELECT name FROM vm_pool WHERE oid = {oid}"
                ),
                timeout=RECOVERY_S,
                what=f"the VM row in {database}",
            )
            assert query(mariadb, database, f"SELECT name FROM vm_pool WHERE oid = {oid}")[0][
                0
            ] == ("it's a \\ test")
            versions = query(mariadb, database, "SELECT version FROM db_versioning")
            assert versions == ((schema.SHARED_VERSION,),)
        assert_serversync_reads_own_database(zone, mariadb)
        zone.kill(leader)
        survivors = [i for i in range(3) if i != leader]
        new = zone.wait_leader(timeout=RECOVERY_S, among=survivors)
        assert zone.call(new, "one.vm.allocate", 'NAME = "after"', False)[0] is True
        state = query(mariadb, zone.db_name(new), "SELECT body FROM system_attributes")[0][0]
        assert f"<VOTEDFOR><![CDATA[{new}]]></VOTEDFOR>" in state
    # down() dropped the zone's databases.
    names = {row[0] for row in query(mariadb, None, "SHOW DATABASES")}
    assert not any(name.startswith(f"one_{zone.net.replace('.', '_')}") for name in names)


def test_ha_oned_exits_after_errors_limit_consecutive_db_errors(tmp_path, timings, mariadb):
    zone = LocalZone(1, tmp_path / "zone", db="mysql", mysql=mariadb.options, **timings)
    try:
        zone.up()
        conn = pymysql.connect(autocommit=True, **_connect_args(mariadb))
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"DROP DATABASE `{zone.db_name(0)}`")
        finally:
            conn.close()
        # Every read now fails; after more than ERRORS_LIMIT (25) in a row oned exits.
        for _ in range(40):
            if not zone.running(0):
                break
            try:
                zone.call(0, "one.zone.info", 0, timeout=5)
            except OSError:
                break
        wait_until(lambda: not zone.running(0), timeout=RECOVERY_S, what="oned to exit")
        log = zone.servers[0].log_path.read_text()
        assert "[SQL][E]: Lost connection to DB server, exiting..." in log
        assert mariadb.passwd not in log
    finally:
        zone.down()


def test_database_state_makes_the_database_user_and_grants_once(tmp_path, mariadb):
    """Over MariaDB's socket as root, as on a front-end: test=True predicts, the run makes
    the database, the user for each host and its grants, the next run changes nothing;
    the user logs in with the pillar's password, which no return shows."""
    password = "pw-of-the-pillar-7Hq"
    state = load_file(Path(__file__).resolve().parents[3] / "_states" / "onenebula_db.py",
                      "onenebula_test_database_state")  # fmt: skip
    state.__utils__ = utils_dunder()
    state.__pillar__ = {"onenebula_ha": {"database": {"password": password}}}
    state.__opts__ = {"test": True}

    def apply():
        return state.database(
            "one_state_db", "one_state_user", "onenebula_ha:database:password",
            hosts=["localhost", "127.0.0.1"], unix_socket=str(mariadb.socket),
        )  # fmt: skip

    predicted = apply()
    state.__opts__["test"] = False
    made, again = apply(), apply()
    assert predicted["result"] is None and made["result"] is True, (predicted, made)
    assert predicted["changes"] == made["changes"]
    assert set(made["changes"]) == {
        "database", "one_state_user@localhost", "one_state_user@127.0.0.1", "granted",
    }  # fmt: skip
    assert (again["result"], again["changes"]) == (True, {}), again
    assert password not in repr([predicted, made, again])
    conn = pymysql.connect(
        host="127.0.0.1", port=mariadb.port, user="one_state_user", password=password,
        database="one_state_db", autocommit=True,
    )  # fmt: skip
    try:
        with conn.cursor() as cursor:
            cursor.execute("CREATE TABLE t (id INT)")
            cursor.execute("DROP TABLE t")
    finally:
        conn.close()


def test_statements_of_different_threads_run_on_their_own_pooled_connections(tmp_path, mariadb):
    """oned's MySqlDB takes a connection of its pool (DB/CONNECTIONS) per statement, so a
    statement kept waiting (here: on a lock another client holds) does not hold up another
    thread's statement, as one shared connection would; and a pool of one does."""
    import threading

    from onesim.db import MysqlDatabase

    config = _db_config(mariadb, "pool_probe")
    locker = pymysql.connect(autocommit=True, **_connect_args(mariadb))
    try:
        for size, overtaken in ((25, True), (1, False)):
            db = MysqlDatabase(replace(config, connections=size))
            with locker.cursor() as cursor:
                cursor.execute("SELECT GET_LOCK('pool_probe', 60)")
            got = []
            blocked = threading.Thread(
                target=lambda db=db, got=got: got.append(
                    db.scalar("SELECT GET_LOCK('pool_probe', 60)")
                )
            )
            blocked.start()
            wait_until(
                lambda: any(
                    "GET_LOCK" in (row[7] or "")
                    for row in query(mariadb, "pool_probe", "SHOW FULL PROCESSLIST")
                    if row[0] != locker.thread_id()
                ),
                timeout=RECOVERY_S,
                what="the statement to wait on the lock",
            )
            other = threading.Thread(target=db.query, args=("SELECT 1",))
            other.start()
            # With a pool the other statement ends while the first still waits; with one
            # connection it queues behind it.
            other.join(timeout=RECOVERY_S if overtaken else 2.0)
            assert other.is_alive() is not overtaken
            assert blocked.is_alive()
            with locker.cursor() as cursor:
                cursor.execute("SELECT RELEASE_LOCK('pool_probe')")
            blocked.join(RECOVERY_S)
            other.join(RECOVERY_S)
            assert got == [1] and not other.is_alive()
            db.close()  # ends its sessions, and so the lock the first statement took
    finally:
        locker.close()


def test_a_missing_database_is_created_after_mysqldb_was_installed_over_pymysql(mariadb):
    """Salt's mysql module (core in 3006/3007, saltext-mysql in 3008) runs
    ``pymysql.install_as_MySQLdb()`` and imports ``MySQLdb.converters`` in the process
    that loads it, which rebinds ``pymysql.err`` to a copy whose classes are never raised: the
    database's "does not exist" answer must still be recognised (the compat runs failed
    the pool test above on that)."""
    import sys

    from onesim.db import MysqlDatabase

    loaded = set(sys.modules)
    err, cursors, converters = pymysql.err, pymysql.cursors, pymysql.converters
    try:
        pymysql.install_as_MySQLdb()
        import MySQLdb.converters  # noqa: F401  (as Salt's mysql module does)
        import MySQLdb.cursors  # noqa: F401

        assert pymysql.err is not sys.modules["pymysql.err"]  # the rebinding guarded against
        db = MysqlDatabase(_db_config(mariadb, "rebound_probe"))
        try:
            assert db.scalar("SELECT DATABASE()") == "rebound_probe"
        finally:
            db.close()
    finally:
        pymysql.err, pymysql.cursors, pymysql.converters = err, cursors, converters
        for name in set(sys.modules) - loaded:
            del sys.modules[name]
