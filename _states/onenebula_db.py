"""
States of this host's OpenNebula database:

* :func:`database` — the database, its user (a MySQL native password hash computed here
  from the password read from the pillar at run time, ``password_pillar``, a
  ``:``-separated pillar path) and the user's privileges on it, checked over one
  connection to this host's own server (saltext-mysql's ``mysql_*`` states open 25 for the
  same checks, each paying PyMySQL's TLS context: seconds of CPU in every run). It needs
  no OpenNebula command: it runs in the same state run as the packages, before onedb
  exists, so this module always loads.
* :func:`restored_from_leader` — the DB restored from a fresh leader backup (below).

The dump travels from front-end to front-end, never through the Salt master: this host
pulls it from the leader over SSH as the SSH user (``onenebula_transfer.fetch``: one
``ssh … cat`` connection with only the host keys of ``known_hosts``, hashed as it arrives
into a file of root's; the same connection then deletes the leader's copy), checks it
against its ``.sha256`` sidecar, restores it, and deletes its own copy too (whether the
restore worked or not). A dump is never reused (each join or repair takes a fresh one):
when the restore fails before the dump was pulled, the leader's copy is deleted too. The DB it replaces is kept as a
``pre-restore-*.sql`` dump.

The restore needs oned stopped on this host (the execution module refuses otherwise,
and always refuses on the Raft leader). Stop it only when a restore will happen with
Salt's ``prereq`` requisite, which runs the stop when this state, tried in test mode,
reports changes:

.. code-block:: yaml

    opennebula-stopped-for-restore:
      service.dead:
        - name: opennebula
        - prereq:
          - onenebula_db: vmm02-db

    vmm02-db:
      onenebula_db.restored_from_leader:
        - name: /var/lib/one/onenebula_ha/leader.sql
        - source: 10.0.0.11

The state is converged (no changes, nothing stopped) when this server is already a
follower within ``max_lag`` records of the leader and its database is not damaged
(``onenebula_db.health``: a follower keeps following with a dropped database until oned
next writes to it), or when the marker file says this very dump (same sha256) was already
restored here.
"""

import contextlib
import datetime
import hashlib
import os
import time

import salt.utils.data
import salt.utils.json
from salt.exceptions import CommandExecutionError

__virtualname__ = "onenebula_db"


def __virtual__():
    # database runs before OpenNebula (and onedb) is installed: always loadable;
    # restored_from_leader checks for the onenebula_db execution module when it runs.
    return __virtualname__


def _marker_path(marker):
    return marker or __utils__["onenebula_ha.one_path"](
        "restore_marker", __opts__.get("onenebula_ha.restore_marker")
    )


def _read_marker(path):
    return __utils__["onenebula_ha.read_json_object"](path)


def _write_marker(path, record):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        salt.utils.json.dump(record, handle)
    os.replace(temporary, path)


def _member_status(server, zone, max_lag):
    """(converged, description) from the zone as seen from this host, if readable."""
    health = __salt__.get("onenebula_zone.health")
    if health is None:
        return False, None
    # Read in process (no onezone process): Salt's prereq runs this state twice.
    report = health(zone, max_lag=max_lag, refresh=True, live=True)
    mine = [s for s in report["servers"] if s["name"] == server]
    leader = report["leader"]
    if len(mine) != 1 or leader is None:
        return False, None
    me = mine[0]
    if me["state"] == "leader":
        return True, f"{server} is the current leader: its DB is the source of backups"
    limit = __utils__["onenebula_ha.max_lag"](max_lag, __opts__.get("onenebula_ha.max_lag"))
    if __utils__["onenebula_ha.caught_up"](
        me["state"], me["log_index"], leader["log_index"], limit
    ):
        if _local_damage():
            # oned follows on with a dropped database until it next writes to it.
            return False, None
        return True, f"{server} is already a caught-up follower of {leader['name']}"
    return False, None


def _local_damage():
    """What is wrong with this host's database for sure (``onenebula_db.health``), or
    None (also when it cannot be checked)."""
    check = __salt__.get("onenebula_db.health")
    if check is None:
        return None
    try:
        found = check()
    except CommandExecutionError:
        return None
    return found.get("error") if isinstance(found, dict) and found.get("broken") else None


def _transfer(function):
    found = __salt__.get(f"onenebula_transfer.{function}")
    if found is None:
        raise CommandExecutionError(
            "the onenebula_transfer execution module is not available (ssh/scp missing?)"
        )
    return found


def _expected_checksum(name, source, sha256, user):
    """The checksum to verify: given, else from the dump's ``.sha256`` sidecar (read on
    ``source`` over SSH, or next to a local dump)."""
    if sha256:
        return str(sha256).lower()
    sidecar = f"{name}.sha256"
    if source:
        # Salt runs this state twice in one state run (prereq: a test run decides whether
        # oned is stopped first): the sidecar read by the first is kept for the second.
        key = ("onenebula_db.sidecar", source, sidecar)
        if key in __context__:
            text = __context__[key]
        else:
            try:
                text = _transfer("read")(source, sidecar, user=user)
            except CommandExecutionError as exc:
                if (getattr(exc, "info", None) or {}).get("missing"):
                    return None
                raise
            __context__[key] = text
    else:
        try:
            with open(sidecar, encoding="utf-8") as handle:
                text = handle.read(4096)
        except OSError:
            return None
    fields = text.split()
    return fields[0].lower() if fields else None


def _discard(paths):
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _drop_unused(name, source, user, why="unused"):
    """A dump taken for this host that it does not restore (``why``: ``unused``, or
    ``failed`` when the restore failed before the dump was pulled) is deleted on the leader
    all the same (not in a test run): dumps are removed after use, and never reused (each
    join or repair takes a fresh one). A note for the comment."""
    if not source or __opts__["test"]:
        return ""
    try:
        _transfer("remove")(source, [name, f"{name}.sha256"], user=user)
    except CommandExecutionError as exc:
        return f"; WARNING: could not delete the {why} dump on {source} ({exc})"
    return f"; the {why} dump on {source}, if any, was deleted"


def restored_from_leader(
    name,
    source=None,
    sha256=None,
    server=None,
    zone=0,
    max_lag=None,
    marker=None,
    keep_current=True,
    connection=None,
    user=None,
):
    """
    Ensure this host's OpenNebula DB comes from the leader backup ``name``: a dump's path
    on the front-end ``source`` (the leader's address or host name, as in its
    ``known_hosts`` entry), written there by ``onenebula_db.backup owner=<user>``; without
    ``source``, a local dump.

    A remote dump is pulled over SSH as ``user`` (default ``oneadmin``) into the same
    directory here (a file of root's), removed from ``source`` by the same connection,
    verified against ``sha256`` (or the ``<name>.sha256`` sidecar), and removed here after
    the restore. The replaced DB is kept as a ``pre-restore-*.sql`` dump
    (``keep_current``), and a marker file records the restored dump so a re-apply
    reports no changes. No restore happens either when ``server`` (default: this
    minion's ID) is already a caught-up follower or the leader.

    connection
        Optional onedb connection settings (``backend``, ``server``, ``port``, ``user``,
        ``password``, ``dbname``, ``sqlite``); by default onedb reads oned.conf.

    .. code-block:: yaml

        vmm02-db:
          onenebula_db.restored_from_leader:
            - name: /var/lib/one/onenebula_ha/leader.sql
            - source: 10.0.0.11
    """
    ret = {"name": name, "changes": {}, "result": False, "comment": ""}
    if "onenebula_db.restore" not in __salt__:
        ret["comment"] = __utils__["onenebula_ha.not_loaded"](__virtualname__, "onenebula_db")[1]
        return ret
    server = server or __opts__["id"]
    marker_path = _marker_path(marker)
    origin = f"{name} on {source}" if source else name
    if "://" in str(name):
        ret["comment"] = (
            f"{name}: give the dump's path and its front-end as source; dumps never pass "
            "through the Salt master"
        )
        return ret
    try:
        converged, why = _member_status(server, zone, max_lag)
    except CommandExecutionError:
        converged, why = False, None  # oned not answering (e.g. stopped): go on
    if converged:
        ret["result"] = True
        ret["comment"] = f"No restore needed: {why}" + _drop_unused(name, source, user)
        return ret
    try:
        expected = _expected_checksum(name, source, sha256, user)
        problem = None
    except CommandExecutionError as exc:
        expected, problem = None, f"Cannot read the checksum of {origin}: {exc}"
    if expected is None:
        problem = problem or (
            f"No checksum for {origin}: pass sha256, or write the {name}.sha256 sidecar "
            "(onenebula_db.backup writes it)"
        )
        if __opts__["test"]:
            # In a test run the fresh backup this restores has not been taken: predict.
            ret["result"] = None
            ret["comment"] = (
                f"The DB would be restored from {origin} once that dump exists ({problem}); "
                "the current DB would be kept"
            )
            ret["changes"] = {"db": {"old": None, "new": {"source": origin}}}
            return ret
        ret["comment"] = problem + _drop_unused(name, source, user, "failed")
        return ret
    record = _read_marker(marker_path)
    if record.get("sha256") == expected:
        ret["result"] = True
        ret["comment"] = (
            f"The dump {origin} (sha256 {expected}) was already restored here at "
            f"{record.get('restored_at')}"
        ) + _drop_unused(name, source, user)
        return ret
    wanted = {"source": origin, "sha256": expected}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"The DB would be restored from {origin}; the current DB would be kept"
        ret["changes"] = {"db": {"old": {"sha256": record.get("sha256")}, "new": wanted}}
        return ret
    pulled = []
    notes = []
    timings = []  # where a restore's time goes, for whoever waits for it
    try:
        if source:
            started = time.monotonic()
            try:
                # consumed: deleted there by the same connection once it was sent
                fetched = _transfer("fetch")(
                    source, name, os.path.dirname(name), sha256=expected, user=user, consume=True
                )
            except CommandExecutionError as exc:
                raise CommandExecutionError(
                    f"{exc}{_drop_unused(name, source, user, 'failed')}"
                ) from None
            local = fetched["path"]
            pulled.append(local)
            timings.append(f"pulled in {time.monotonic() - started:.1f} s")
        else:
            if not os.path.isfile(name):
                raise CommandExecutionError(f"{name} does not exist")
            local = name
        started = time.monotonic()
        result = __salt__["onenebula_db.restore"](
            local,
            sha256=expected,
            keep_current=keep_current,
            **(connection or {}),
        )
        timings.append(f"restored in {time.monotonic() - started:.1f} s")
    except CommandExecutionError as exc:
        ret["comment"] = f"Failed to restore the DB from {origin}: {exc}"
        return ret
    finally:
        _discard(pulled)
    record_error = None
    try:
        _write_marker(
            marker_path,
            {
                "sha256": result["sha256"],
                "source": origin,
                "restored_at": datetime.datetime.now(datetime.UTC).isoformat(),
                "previous_backup": result["previous_backup"],
            },
        )
    except OSError as exc:
        record_error = (
            f"; WARNING: could not write the marker {marker_path} ({exc}): "
            "a re-apply may restore again"
        )
    ret["result"] = True
    ret["changes"] = {
        "db": {
            "old": {"sha256": record.get("sha256"), "kept_in": result["previous_backup"]},
            "new": {"source": origin, "sha256": result["sha256"]},
        }
    }
    ret["comment"] = (
        f"Restored the DB from {origin} ({', '.join(timings)})"
        + (
            f"; the previous DB is kept in {result['previous_backup']}"
            if result["previous_backup"]
            else ""
        )
        + (
            "; the pulled dump was deleted here" + (" and there" if not notes else "")
            if source
            else ""
        )
        + "".join(notes)
        + (record_error or "")
    )
    return ret


# ------------------------------------------------------------------ the database and its user


def _pillar_secret(path):
    """The secret at the ``:``-separated pillar ``path``, read at run time."""
    value = salt.utils.data.traverse_dict_and_list(__pillar__, path, None, delimiter=":")
    return __utils__["onenebula_ha.secret"](value, path)


#: ``mysql.db`` privilege columns that ``ALL PRIVILEGES ON db.*`` does not set.
NOT_IN_ALL = ("Grant_priv",)


def _mysql_native_hash(password):
    """The ``mysql_native_password`` hash of ``password`` (``*`` + SHA1(SHA1(pw)))."""
    inner = hashlib.sha1(password.encode("utf-8")).digest()
    return "*" + hashlib.sha1(inner).hexdigest().upper()


def _identified(mariadb):
    """How a user gets a password hash: MariaDB's own syntax, or MySQL 5.7+'s."""
    return "IDENTIFIED BY PASSWORD %s" if mariadb else "IDENTIFIED WITH mysql_native_password AS %s"


def _all_privileges(row):
    """Whether a ``mysql.db`` row grants every database privilege (``ALL PRIVILEGES``)."""
    flags = [v for k, v in row.items() if k.endswith("_priv") and k not in NOT_IN_ALL]
    return bool(flags) and all(str(v).upper() == "Y" for v in flags)


def _database_plan(name, user, hosts, password_hash, facts):
    """What :func:`database` must run: ``(statements, changes)`` from ``facts`` (what the
    server holds: ``version``, ``database`` exists, ``users`` {host: mysql.user row},
    ``grants`` {host: mysql.db row}). Statements are ``(sql, args)``; the hash is only
    ever an argument, and ``changes`` never holds it."""
    statements, changes = [], {}
    quoted = "`" + name.replace("`", "``") + "`"
    if not facts["database"]:
        statements.append((f"CREATE DATABASE {quoted}", ()))
        changes["database"] = {"old": None, "new": name}
    identified = _identified("mariadb" in str(facts["version"]).lower())
    for host in hosts:
        account = f"{user}@{host}"
        row = facts["users"].get(host)
        if row is None:
            statements.append((f"CREATE USER %s@%s {identified}", (user, host, password_hash)))
            changes[account] = "added"
        elif password_hash not in (row.get("authentication_string"), row.get("Password")) or (
            row.get("plugin") not in (None, "", "mysql_native_password")
        ):
            statements.append((f"ALTER USER %s@%s {identified}", (user, host, password_hash)))
            changes[account] = "password updated"
        grant = facts["grants"].get(host)
        if grant is None or not _all_privileges(grant):
            statements.append((f"GRANT ALL PRIVILEGES ON {quoted}.* TO %s@%s", (user, host)))
            changes.setdefault("granted", []).append(f"ALL PRIVILEGES ON {name}.* TO {account}")
    return statements, changes


def _connect(unix_socket, connection_user):
    """One PyMySQL connection to this host's database server over its socket, without
    TLS (pointless to a local socket, and ~60 ms of CPU a connection: the utils'
    ``pymysql_accepts_ssl_disabled``)."""
    import pymysql  # pylint: disable=import-outside-toplevel
    import pymysql.cursors  # pylint: disable=import-outside-toplevel

    kwargs = {
        "unix_socket": unix_socket,
        "user": connection_user,
        "autocommit": True,
        "connect_timeout": 10,
        "charset": "utf8mb4",
        "cursorclass": pymysql.cursors.DictCursor,
    }
    if __utils__["onenebula_ha.pymysql_accepts_ssl_disabled"](pymysql):
        kwargs["ssl_disabled"] = True
    return pymysql.connect(**kwargs)


def _database_facts(cursor, name, user, hosts):
    cursor.execute("SELECT VERSION() AS version")
    version = cursor.fetchone()["version"]
    cursor.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,))
    exists = cursor.fetchone() is not None
    cursor.execute("SELECT * FROM mysql.user WHERE User = %s", (user,))
    users = {row["Host"]: row for row in cursor.fetchall() if row["Host"] in hosts}
    cursor.execute("SELECT * FROM mysql.db WHERE User = %s AND Db = %s", (user, name))
    grants = {row["Host"]: row for row in cursor.fetchall() if row["Host"] in hosts}
    return {"version": version, "database": exists, "users": users, "grants": grants}


def database(name, user, password_pillar, hosts=("localhost",), unix_socket=None,
             connection_user="root"):  # fmt: skip
    """
    Ensure the MySQL/MariaDB database ``name`` exists and the user ``user``, for each of
    ``hosts``, has the password found in the pillar at ``password_pillar`` (a
    ``:``-separated path, read at run time) and ``ALL PRIVILEGES`` on ``name``.*.

    One connection as ``connection_user`` over ``unix_socket`` (this host's own server,
    e.g. MariaDB's root over its socket), checked in four queries; only the
    ``mysql_native_password`` hash computed here reaches the server, as a query argument,
    and neither the password nor its hash appears in the output. test=True reports what
    would change.

    .. code-block:: yaml

        opennebula-database:
          onenebula_db.database:
            - name: opennebula
            - user: oneadmin
            - hosts: [localhost, 127.0.0.1, '::1']
            - password_pillar: onenebula_ha:database:password
            - unix_socket: /run/mysqld/mysqld.sock
    """
    ret = {"name": name, "changes": {}, "result": False, "comment": ""}
    hosts = [hosts] if isinstance(hosts, str) else list(hosts)
    try:
        password_hash = _mysql_native_hash(_pillar_secret(password_pillar))
    except CommandExecutionError as exc:
        ret["comment"] = str(exc)
        return ret
    try:
        connection = _connect(unix_socket, connection_user)
    except ImportError:
        ret["comment"] = "PyMySQL is not installed in the minion's Python"
        return ret
    except Exception as exc:  # pylint: disable=broad-except  # pymysql.err.* and OSError
        ret["comment"] = f"Cannot connect to the database server at {unix_socket}: {exc}"
        return ret
    try:
        with connection.cursor() as cursor:
            facts = _database_facts(cursor, name, user, hosts)
            statements, changes = _database_plan(name, user, hosts, password_hash, facts)
            if statements and not __opts__["test"]:
                for sql, args in statements:
                    cursor.execute(sql, args)
    except Exception as exc:  # pylint: disable=broad-except
        ret["comment"] = (
            f"Database {name}, user {user}: {str(exc).replace(password_hash, '<hash>')}"
        )
        return ret
    finally:
        connection.close()
    accounts = ", ".join(f"{user}@{host}" for host in hosts)
    if not changes:
        ret["result"] = True
        ret["comment"] = f"Database {name} and {accounts} with ALL PRIVILEGES on it are as wanted"
        return ret
    ret["changes"] = changes
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"Database {name}, {accounts}: {len(statements)} change(s) would be made"
        return ret
    ret["result"] = True
    ret["comment"] = f"Database {name}, {accounts}: {len(statements)} change(s) made"
    return ret
