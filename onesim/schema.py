"""Database schema of the simulated OpenNebula front-end.

Shared by the daemon (``onesim.oned``) and the ``onedb`` CLI: the version constants are what
``onedb version`` compares against, the DDL is what ``oned`` runs when it bootstraps a DB.

The statements are written so that the same text runs on SQLite and on MySQL/MariaDB (SQLite
accepts MySQL's type names; ``IF NOT EXISTS`` works on both).
"""

SHARED_VERSION = "7.0.0"
LOCAL_VERSION = "7.0.0"

#: Tables holding the shared (federated) and the per-server schema version.
VERSION_TABLES = ("db_versioning", "local_db_versioning")

_VERSIONING_COLUMNS = (
    "(oid INTEGER PRIMARY KEY, version VARCHAR(256), timestamp INTEGER, "
    "comment VARCHAR(256), is_slave BOOLEAN)"
)

#: ``CREATE TABLE`` statements in bootstrap order, keyed by table name.
TABLES = {
    "db_versioning": f"CREATE TABLE IF NOT EXISTS db_versioning {_VERSIONING_COLUMNS}",
    "local_db_versioning": f"CREATE TABLE IF NOT EXISTS local_db_versioning {_VERSIONING_COLUMNS}",
    "system_attributes": (
        "CREATE TABLE IF NOT EXISTS system_attributes "
        "(name VARCHAR(128) PRIMARY KEY, body MEDIUMTEXT)"
    ),
    # fed_index is signed here (-1 = not a federated record) so that SQLite can hold it; the
    # real table uses BIGINT UNSIGNED with UINT64_MAX as the marker.
    "logdb": (
        "CREATE TABLE IF NOT EXISTS logdb "
        "(log_index BIGINT UNSIGNED PRIMARY KEY, term INTEGER, sqlcmd MEDIUMTEXT, "
        "timestamp INTEGER, fed_index BIGINT, applied BOOLEAN)"
    ),
    "pool_control": (
        "CREATE TABLE IF NOT EXISTS pool_control "
        "(tablename VARCHAR(32) PRIMARY KEY, last_oid BIGINT UNSIGNED)"
    ),
    "user_pool": (
        "CREATE TABLE IF NOT EXISTS user_pool "
        "(oid INTEGER PRIMARY KEY, name VARCHAR(128) UNIQUE, body MEDIUMTEXT, uid INTEGER, "
        "gid INTEGER, owner_u INTEGER, group_u INTEGER, other_u INTEGER)"
    ),
    "zone_pool": (
        "CREATE TABLE IF NOT EXISTS zone_pool "
        "(oid INTEGER PRIMARY KEY, name VARCHAR(128) UNIQUE, body MEDIUMTEXT, uid INTEGER, "
        "gid INTEGER, owner_u INTEGER, group_u INTEGER, other_u INTEGER)"
    ),
    "vm_pool": (
        "CREATE TABLE IF NOT EXISTS vm_pool "
        "(oid INTEGER PRIMARY KEY, name VARCHAR(128), body MEDIUMTEXT, uid INTEGER, "
        "gid INTEGER, state INTEGER, lcm_state INTEGER, owner_u INTEGER, group_u INTEGER, "
        "other_u INTEGER)"
    ),
}

#: Name of the ``system_attributes`` row holding the persisted Raft TERM/VOTEDFOR.
RAFT_STATE_ATTRIBUTE = "RAFT_STATE"

#: Comments written with the version rows at bootstrap.
SHARED_VERSION_COMMENT = "Database bootstrapped by oned"
LOCAL_VERSION_COMMENT = "Database bootstrapped by oned"
