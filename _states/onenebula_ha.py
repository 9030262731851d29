"""
Formula-level states of onenebula-ha that keep secrets out of rendered SLS and wait on
the zone without reporting changes.

Salt shows every state argument in ``state.show_sls`` and may log it, so states that need
the DB password read it from the pillar at run time (``password_pillar``, a ``:``-separated
pillar path) instead of taking it as an argument:

* :func:`database_user` — the OpenNebula DB user, created with a MySQL native password
  hash computed here (saltext-mysql logs query arguments at debug level, so the plain
  password never reaches it);
* :func:`database_config` — the ``DB`` section of ``oned.conf`` (``PASSWD`` masked in the
  changes by ``onenebula_conf.section``).

The others serve the orchestrations:

* :func:`zone_healthy` — wait until the zone is healthy and holds the expected members
  with the expected IDs; no changes, so a converged re-run reports none;
* :func:`secrets_published` — push this host's ``/var/lib/one/.one`` files and a sha256
  manifest to the master (``cp.push``; the followers fetch them through ``minionfs``),
  only when the master's copy differs.

.. code-block:: yaml

    opennebula-db-user:
      onenebula_ha.database_user:
        - name: oneadmin
        - hosts: [localhost, 127.0.0.1]
        - password_pillar: onenebula_ha:database:password
        - connection_unix_socket: /run/mysqld/mysqld.sock

    zone-healthy:
      onenebula_ha.zone_healthy:
        - members: [{name: vmm01, id: 0}, {name: vmm02, id: 1}]
        - timeout: 180
"""

import hashlib
import os
import time

import salt.utils.data
from salt.exceptions import CommandExecutionError

__virtualname__ = "onenebula_ha"

MANIFEST_NAME = "secrets.sha256"


def __virtual__():
    return __virtualname__


def _ret(name):
    return {"name": name, "changes": {}, "result": False, "comment": ""}


def _pillar_secret(path):
    value = salt.utils.data.traverse_dict_and_list(__pillar__, path, None, delimiter=":")
    if not isinstance(value, str) or not value:
        raise CommandExecutionError(f"pillar {path} is not set")
    return value


def mysql_native_hash(password):
    """The ``mysql_native_password`` hash of ``password`` (``*`` + SHA1(SHA1(pw)))."""
    inner = hashlib.sha1(password.encode("utf-8")).digest()
    return "*" + hashlib.sha1(inner).hexdigest().upper()


# ------------------------------------------------------------------ database


def database_user(name, password_pillar, hosts=("localhost",), **connection_args):
    """
    Ensure the MySQL/MariaDB user ``name`` exists for each of ``hosts`` with the password
    found in the pillar at ``password_pillar``. Connection arguments
    (``connection_unix_socket``, ``connection_user``…) are passed to saltext-mysql's
    ``mysql_user.present``; only the password hash is.

    .. code-block:: yaml

        opennebula-db-user:
          onenebula_ha.database_user:
            - name: oneadmin
            - password_pillar: onenebula_ha:database:password
    """
    ret = _ret(name)
    try:
        password_hash = mysql_native_hash(_pillar_secret(password_pillar))
    except CommandExecutionError as exc:
        ret["comment"] = str(exc)
        return ret
    if isinstance(hosts, str):
        hosts = [hosts]
    comments, result = [], True
    for host in hosts:
        sub = __states__["mysql_user.present"](
            name, host=host, password_hash=password_hash, **connection_args
        )
        comments.append(sub["comment"].replace(password_hash, "<hash>"))
        if sub["changes"]:
            ret["changes"][f"{name}@{host}"] = (
                "updated" if "Password" in sub["comment"] else "added"
            )
        if sub["result"] is False:
            result = False
        elif sub["result"] is None and result is True:
            result = None
    ret["result"] = result
    ret["comment"] = "; ".join(comments)
    return ret


def database_config(name, password_pillar, path=None, **values):
    """
    Ensure the vector ``name`` (normally ``DB``) of oned.conf holds exactly ``values``
    (upper-cased keys) plus ``PASSWD`` read from the pillar at ``password_pillar``.

    .. code-block:: yaml

        oned-db:
          onenebula_ha.database_config:
            - name: DB
            - password_pillar: onenebula_ha:database:password
            - backend: mysql
            - server: localhost
            - port: 3306
            - user: oneadmin
            - db_name: opennebula
    """
    ret = _ret(name)
    wanted = {key.upper(): value for key, value in values.items() if not str(key).startswith("__")}
    try:
        wanted["PASSWD"] = _pillar_secret(password_pillar)
    except CommandExecutionError as exc:
        ret["comment"] = str(exc)
        return ret
    sub = __states__["onenebula_conf.section"](name, wanted, path=path)
    secret = wanted["PASSWD"]
    sub["comment"] = sub["comment"].replace(secret, "********")
    return sub


# ------------------------------------------------------------------ zone


def _member_problems(servers, members):
    """Problems that waiting will not fix (wrong IDs), and members still missing."""
    fatal, missing = [], []
    for member in members or []:
        found = [s for s in servers if s["name"] == member["name"]]
        if not found:
            missing.append(f"{member['name']} is not in the zone yet")
            continue
        ids = sorted(s["id"] for s in found)
        expected = member.get("id")
        if len(found) > 1:
            fatal.append(f"{member['name']} is in the zone {len(found)} times (IDs {ids})")
        elif expected is not None and ids != [int(expected)]:
            fatal.append(
                f"{member['name']} has ID {ids[0]} in the zone but {expected} in the pillar "
                "(onenebula_ha:servers); SERVER_ID must equal the zone's ID"
            )
    return fatal, missing


def zone_healthy(
    name="zone", zone=0, members=None, ignore=None, timeout=180, interval=2, max_lag=None
):
    """
    Wait until the zone is healthy as seen from this host (one leader, all other servers
    caught-up followers) and every server in ``members`` (``[{name, id}]``) is in it with
    that ID. Servers named in ``ignore`` are left out (a server being removed). Never
    reports changes. In test mode it looks once: True when already so, None (would
    wait) otherwise.

    .. code-block:: yaml

        zone-healthy:
          onenebula_ha.zone_healthy:
            - members: [{name: vmm01, id: 0}]
            - timeout: 120
    """
    ret = _ret(name)
    deadline = time.monotonic() + float(timeout)
    while True:
        report = __salt__["onenebula_zone.health"](
            zone, max_lag=max_lag, ignore=ignore, refresh=True
        )
        fatal, missing = _member_problems(report["servers"], members)
        problems = report["problems"] + missing
        if fatal:
            ret["comment"] = f"Zone {zone}: " + "; ".join(fatal)
            return ret
        if not problems:
            leader = report["leader"]["name"] if report["leader"] else "?"
            ret["result"] = True
            ret["comment"] = f"Zone {zone} is healthy: leader {leader}" + (
                f" (ignoring {', '.join(map(str, ignore))})" if ignore else ""
            )
            return ret
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = (
                f"Zone {zone} is not healthy yet; would wait up to {timeout}s for: "
                + "; ".join(problems)
            )
            return ret
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            ret["comment"] = f"Zone {zone} is not healthy after {timeout}s: " + "; ".join(problems)
            return ret
        time.sleep(min(float(interval), remaining))


def zone_member(name, id, zone=0):  # pylint: disable=redefined-builtin
    """
    Check that server ``name`` is in the zone with ID ``id``, before that ID is written
    to the server's oned.conf (the zone hands out IDs, the pillar must agree). Never
    changes anything. In test mode an unreadable zone or a missing server gives None.

    .. code-block:: yaml

        vmm02-id:
          onenebula_ha.zone_member:
            - name: vmm02
            - id: 1
    """
    ret = _ret(name)
    try:
        servers = __salt__["onenebula_zone.show"](zone, refresh=True)["servers"]
    except CommandExecutionError as exc:
        ret["result"] = None if __opts__["test"] else False
        ret["comment"] = f"Cannot read zone {zone}: {exc}"
        return ret
    fatal, missing = _member_problems(servers, [{"name": name, "id": id}])
    if fatal:
        ret["comment"] = "; ".join(fatal)
    elif missing:
        ret["result"] = None if __opts__["test"] else False
        ret["comment"] = f"{name} is not in zone {zone}"
    else:
        ret["result"] = True
        ret["comment"] = f"{name} is in zone {zone} with ID {id}"
    return ret


# ------------------------------------------------------------------ secrets


def _file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(65536), b""):
            digest.update(block)
    return digest.hexdigest()


def _master_sha256(path):
    """sha256 of the master's pushed copy of ``path`` (minionfs), or None."""
    found = __salt__["cp.hash_file"](f"salt://{__opts__['id']}{path}")
    if not found or found.get("hash_type") != "sha256":
        return None
    return found.get("hsum")


def manifest_text(directory):
    """``<sha256>  <file>`` lines for the regular files directly in ``directory``."""
    lines = []
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if os.path.isfile(path) and not os.path.islink(path):
            lines.append(f"{_file_sha256(path)}  {entry}\n")
    return "".join(lines)


def secrets_published(name, manifest):
    """
    Publish the files directly in directory ``name`` (the oneadmin ``.one`` directory) to
    the master with ``cp.push``, with a ``manifest`` file of their sha256 sums that the
    other front-ends verify against. Only files whose master copy differs are pushed.
    Contents never appear in the output; changes list file names only.

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
    text = manifest_text(name)
    if not text:
        ret["comment"] = f"{name} holds no files: nothing to publish"
        return ret
    try:
        with open(manifest, encoding="utf-8") as handle:
            manifest_current = handle.read() == text
    except OSError:
        manifest_current = False
    entries = [line.split("  ", 1) for line in text.splitlines()]
    files = [os.path.join(name, file) for _, file in entries]
    wanted = {os.path.join(name, file): digest for digest, file in entries}
    if manifest_current:
        wanted[manifest] = _file_sha256(manifest)
    stale = [path for path, digest in wanted.items() if _master_sha256(path) != digest]
    if manifest_current and not stale:
        ret["result"] = True
        ret["comment"] = f"{len(files)} file(s) of {name} and their manifest are on the master"
        return ret
    to_push = sorted(set(stale) | ({manifest} if not manifest_current else set()))
    ret["changes"] = {"pushed": to_push}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"{len(to_push)} file(s) would be pushed to the master"
        return ret
    if not manifest_current:
        os.makedirs(os.path.dirname(manifest), mode=0o700, exist_ok=True)
        descriptor = os.open(manifest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
    failed = [path for path in to_push if not __salt__["cp.push"](path)]
    if failed:
        ret["changes"] = {"pushed": [p for p in to_push if p not in failed]}
        ret["comment"] = (
            f"cp.push failed for {', '.join(failed)}: is file_recv enabled on the master?"
        )
        return ret
    ret["result"] = True
    ret["comment"] = f"Pushed {len(to_push)} file(s) to the master"
    return ret
