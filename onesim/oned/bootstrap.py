"""First start of oned on an empty DB: schema, version rows, zone 0, users, log record 0."""

from __future__ import annotations

import hashlib
import time

from onesim import schema
from onesim.config import OnedConfig
from onesim.db import Database, quote
from onesim.logdb import LogDB
from onesim.template import cdata
from onesim.zone import Zone

__all__ = ["bootstrap", "read_one_auth"]

#: New zones get IDs from 100 on; lower ones are reserved.
FIRST_USER_ZONE_ID = 100


def read_one_auth(path) -> tuple[str, str]:
    """``user:password`` from the first line of a one_auth file."""
    with open(path) as handle:
        line = handle.readline().strip()
    user, sep, password = line.partition(":")
    if not sep or not user:
        raise ValueError(f"Wrong format in {path}")
    return user, password


def bootstrap(db: Database, config: OnedConfig, credentials: tuple[str, str]) -> None:
    """Create every table and the initial rows; idempotent pieces use IF NOT EXISTS."""
    now = int(time.time())
    user, password = credentials
    db.create_schema()
    is_slave = 1 if config.federation.mode == "SLAVE" else 0
    for table, version, comment in (
        ("db_versioning", schema.SHARED_VERSION, schema.SHARED_VERSION_COMMENT),
        ("local_db_versioning", schema.LOCAL_VERSION, schema.LOCAL_VERSION_COMMENT),
    ):
        db.execute(
            f"INSERT INTO {table} (oid, version, timestamp, comment, is_slave) VALUES "
            f"(0, {quote(version)}, {now}, {quote(comment)}, {is_slave})"
        )
    endpoint = config.federation.master_oned or f"http://localhost:{config.port}/RPC2"
    zone = Zone.default(endpoint)
    db.execute(zone.upsert_sql())
    digest = hashlib.sha256(password.encode()).hexdigest()
    user_body = (
        f"<USER><ID>0</ID><GID>0</GID><GROUPS><ID>0</ID></GROUPS><GNAME>oneadmin</GNAME>"
        f"<NAME>{user}</NAME><PASSWORD>{digest}</PASSWORD><AUTH_DRIVER>core</AUTH_DRIVER>"
        f"<ENABLED>1</ENABLED><TEMPLATE><TOKEN_PASSWORD>{cdata('')}</TOKEN_PASSWORD></TEMPLATE>"
        f"</USER>"
    )
    db.execute(
        "INSERT INTO user_pool (oid, name, body, uid, gid, owner_u, group_u, other_u) VALUES "
        f"(0, {quote(user)}, {quote(user_body)}, 0, 0, 1, 0, 0)"
    )
    db.execute_many(
        [
            "REPLACE INTO pool_control (tablename, last_oid) VALUES "
            f"('zone_pool', {FIRST_USER_ZONE_ID - 1})",
            "REPLACE INTO pool_control (tablename, last_oid) VALUES ('user_pool', 1)",
        ]
    )
    LogDB(db).bootstrap()
