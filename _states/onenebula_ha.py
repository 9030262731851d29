"""
The formula's states that handle oneadmin's credentials at run time, so that no secret is
a state argument (Salt shows every argument in ``state.show_sls`` and may log it):

* :func:`database` — the OpenNebula database, its user (a MySQL native password hash
  computed here from the password read from the pillar at run time, ``password_pillar``,
  a ``:``-separated pillar path) and the user's privileges on it, checked over one
  connection to this host's own server (saltext-mysql's ``mysql_*`` states open 25 for
  the same checks, each paying PyMySQL's TLS context: seconds of CPU in every run);
* :func:`secrets_published` — on the source front-end (the leader): a sha256 manifest
  of its ``/var/lib/one/.one`` files, readable by the SSH user only;
* :func:`secrets_pulled` — on the other front-ends: the files of that manifest, pulled
  from the source over SSH (``onenebula_transfer.sync_files``) when they differ. Secrets
  move from front-end to front-end only, never through the Salt master.

They need no OpenNebula command, so this module loads on a host before OpenNebula is
installed (the database is made in the same run as the packages). The zone waits are ``onenebula_zone.healthy``/``member``, the ``DB`` section of
oned.conf is ``onenebula_conf.database``.

.. code-block:: yaml

    opennebula-database:
      onenebula_ha.database:
        - name: opennebula
        - user: oneadmin
        - hosts: [localhost, 127.0.0.1]
        - password_pillar: onenebula_ha:database:password
        - unix_socket: /run/mysqld/mysqld.sock
"""

import hashlib
import inspect
import os

import salt.utils.data
from salt.exceptions import CommandExecutionError

__virtualname__ = "onenebula_ha"


def __virtual__():
    return __virtualname__


def _ret(name):
    return {"name": name, "changes": {}, "result": False, "comment": ""}


def _pillar_secret(path):
    """The secret at the ``:``-separated pillar ``path``, read at run time."""
    value = salt.utils.data.traverse_dict_and_list(__pillar__, path, None, delimiter=":")
    return __utils__["onenebula_ha.secret"](value, path)


# ------------------------------------------------------------------ database

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
    """One PyMySQL connection to this host's database server over its socket. No TLS:
    PyMySQL 1.2+ tries it on every connection unless told not to, building a new TLS
    context each time (~60 ms of CPU, the system's CA certificates loaded), pointless to
    a local socket; older PyMySQL has no ``ssl_disabled`` and never tries it unasked."""
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
    if "ssl_disabled" in inspect.signature(pymysql.connections.Connection.__init__).parameters:
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
          onenebula_ha.database:
            - name: opennebula
            - user: oneadmin
            - hosts: [localhost, 127.0.0.1, '::1']
            - password_pillar: onenebula_ha:database:password
            - unix_socket: /run/mysqld/mysqld.sock
    """
    ret = _ret(name)
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


# ------------------------------------------------------------------ secrets


def _account(user):
    return __utils__["onenebula_ha.account"](user)


def secrets_published(name, manifest, user="oneadmin"):
    """
    Publish the files directly in directory ``name`` (the oneadmin ``.one`` directory) to
    the other front-ends: write ``manifest``, their ``<sha256>  <file>`` lines, owned by
    ``user`` (the SSH user the other front-ends pull as) with mode 0600, only when it
    differs. Nothing leaves this host here: the others pull the files over SSH
    (:func:`secrets_pulled`). Contents never appear in the output.

    .. code-block:: yaml

        secrets-published:
          onenebula_ha.secrets_published:
            - name: /var/lib/one/.one
            - manifest: /var/lib/one/onenebula_ha/secrets.sha256
    """
    ret = _ret(name)
    if not os.path.isdir(name):
        ret["comment"] = f"{name} does not exist: nothing to publish"
        return ret
    if "onenebula_transfer.manifest" not in __salt__:
        ret["comment"] = (
            "the onenebula_transfer execution module is not available (ssh/scp missing?)"
        )
        return ret
    text = __salt__["onenebula_transfer.manifest"](name)
    if not text:
        ret["comment"] = f"{name} holds no files: nothing to publish"
        return ret
    try:
        uid, gid = _account(user)
    except CommandExecutionError as exc:
        ret["comment"] = str(exc)
        return ret
    try:
        with open(manifest, encoding="utf-8") as handle:
            current = handle.read() == text
        info = os.stat(manifest)
        current = current and (info.st_mode & 0o777, info.st_uid, info.st_gid) == (0o600, uid, gid)
    except OSError:
        current = False
    files = [line.split("  ", 1)[1] for line in text.splitlines()]
    if current:
        ret["result"] = True
        ret["comment"] = f"The manifest {manifest} of the {len(files)} file(s) of {name} is current"
        return ret
    ret["changes"] = {"manifest": manifest, "files": files}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"The manifest {manifest} would be written ({len(files)} file(s))"
        return ret
    directory = os.path.dirname(manifest)
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700)
        os.chown(directory, uid, gid)
    temporary = f"{manifest}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chown(temporary, uid, gid)
    os.chmod(temporary, 0o600)
    os.replace(temporary, manifest)
    ret["result"] = True
    ret["comment"] = f"Wrote the manifest {manifest} ({len(files)} file(s))"
    return ret


def secrets_pulled(name, source, manifest, user="oneadmin", owner=None, group=None):
    """
    Ensure directory ``name`` holds the files the front-end ``source`` (its address or
    host name, as in ``known_hosts``) lists in its ``manifest``: the files that differ are
    pulled over SSH as ``user``, verified against the manifest's sha256 and installed with
    mode 0600 for ``owner``:``group`` (default: ``user``); a wrong mode or owner is
    corrected. Only file names appear in the output.

    .. code-block:: yaml

        secrets-pulled:
          onenebula_ha.secrets_pulled:
            - name: /var/lib/one/.one
            - source: 10.0.0.11
            - manifest: /var/lib/one/onenebula_ha/secrets.sha256
    """
    ret = _ret(name)
    sync = __salt__.get("onenebula_transfer.sync_files")
    if sync is None:
        ret["comment"] = (
            "the onenebula_transfer execution module is not available (ssh/scp missing?)"
        )
        return ret
    try:
        found = sync(
            source, manifest, name, user=user, owner=owner, group=group,
            dry_run=__opts__["test"],
        )  # fmt: skip
    except CommandExecutionError as exc:
        if (getattr(exc, "info", None) or {}).get("missing") and manifest in str(exc):
            # A host that has not joined yet: the deploy/add orchestration publishes the
            # manifest on the leader before this host's base state.
            ret["result"] = True
            ret["comment"] = (
                f"{source} has not published its {name} files yet ({manifest} is missing "
                "there); the deploy and add orchestrations publish them before a host joins"
            )
            return ret
        if __opts__["test"]:
            # A test run before the SSH trust exists (keys and known_hosts come in the
            # same run): predict the pull.
            ret["result"] = None
            ret["changes"] = {"pulled": f"the files {source} lists in {manifest}"}
            ret["comment"] = f"The files of {name} would be pulled from {source} ({exc})"
            return ret
        ret["comment"] = f"Cannot take the files of {name} from {source}: {exc}"
        return ret
    changes = {key: found[key] for key in ("pulled", "fixed") if found[key]}
    if not changes:
        ret["result"] = True
        ret["comment"] = f"The {len(found['files'])} file(s) of {name} match {source}'s"
        return ret
    ret["changes"] = changes
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"{len(found['pulled'])} file(s) would be pulled from {source}" + (
            f", {len(found['fixed'])} would get mode 0600 and their owner" if found["fixed"] else ""
        )
        return ret
    ret["result"] = True
    ret["comment"] = f"Pulled {len(found['pulled'])} file(s) from {source}" + (
        f", fixed the mode or owner of {len(found['fixed'])}" if found["fixed"] else ""
    )
    return ret
