"""Copying the leader's database to another server of a loopback zone.

Stands in for ``onedb backup`` on the leader + ``onedb restore -f`` on the new server
(docs/opennebula-raft.md §5.8), or runs exactly those commands (``db_copy="onedb"``).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from onesim.zone_local.servers import ZoneError, ZoneServer


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent online copy of the SQLite file ``source`` over ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    with sqlite3.connect(source, timeout=10) as from_db, sqlite3.connect(target) as to_db:
        from_db.backup(to_db)
    from_db.close()
    to_db.close()


def copy_with_onedb(source: ZoneServer, target: ZoneServer, dump: Path) -> None:
    """``onedb backup -f dump`` against ``source``, then ``onedb restore -f dump`` on ``target``."""
    try:
        for server, args in (
            (source, ["backup", "-f", str(dump)]),
            (target, ["restore", "-f", str(dump)]),
        ):
            result = subprocess.run(
                [sys.executable, "-m", "onesim.entry", "onedb", *args],
                env={**os.environ, **server.env},
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if result.returncode != 0:
                raise ZoneError(f"onedb {args[0]} failed: {result.stderr.strip()}")
    finally:
        dump.unlink(missing_ok=True)


def _connect(mysql: dict):
    import pymysql  # only the MySQL zones need it

    return pymysql.connect(
        host=mysql["server"],
        port=int(mysql.get("port") or 3306),
        user=mysql["user"],
        password=mysql["passwd"],
        autocommit=True,
    )


def copy_mysql(mysql: dict, source: str, target: str) -> None:
    """Replace database ``target`` with a copy of ``source`` (same MySQL server)."""
    conn = _connect(mysql)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{target}`")
            cursor.execute(f"CREATE DATABASE `{target}`")
            cursor.execute(f"SHOW TABLES FROM `{source}`")
            for (table,) in cursor.fetchall():
                cursor.execute(f"CREATE TABLE `{target}`.`{table}` LIKE `{source}`.`{table}`")
                cursor.execute(
                    f"INSERT INTO `{target}`.`{table}` SELECT * FROM `{source}`.`{table}`"
                )
    finally:
        conn.close()


def drop_mysql_databases(mysql: dict, names: Iterable[str]) -> None:
    conn = _connect(mysql)
    try:
        with conn.cursor() as cursor:
            for name in names:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()
