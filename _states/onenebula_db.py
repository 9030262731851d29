"""
State: this host's OpenNebula DB restored from a fresh leader backup.

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
        - name: salt://vmm01/var/lib/one/backups/leader.sql

The state is converged (no changes, nothing stopped) when this server is already a
follower within ``max_lag`` records of the leader, or when the marker file says this
very dump (same sha256) was already restored here.
"""

import datetime
import os

import salt.utils.json
from salt.exceptions import CommandExecutionError

__virtualname__ = "onenebula_db"


def __virtual__():
    if "onenebula_db.restore" in __salt__:
        return __virtualname__
    return __utils__["onenebula_ha.not_loaded"](__virtualname__, "onenebula_db")


def _marker_path(marker):
    return marker or __utils__["onenebula_ha.one_path"](
        "restore_marker", __opts__.get("onenebula_ha.restore_marker")
    )


def _read_marker(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return salt.utils.json.load(handle)
    except (OSError, ValueError):
        return {}


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
    report = health(zone, max_lag=max_lag, refresh=True)
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
        return True, f"{server} is already a caught-up follower of {leader['name']}"
    return False, None


def _is_remote(source):
    return "://" in source


def _expected_checksum(source, sha256):
    """The checksum to verify: given, else from the source's ``.sha256`` sidecar."""
    if sha256:
        return str(sha256).lower()
    sidecar = f"{source}.sha256"
    if _is_remote(source):
        cached = __salt__["cp.cache_file"](sidecar)
        if not cached:
            return None
        sidecar = cached
    try:
        with open(sidecar, encoding="utf-8") as handle:
            fields = handle.read().split()
    except OSError:
        return None
    return fields[0].lower() if fields else None


def _fetch(source):
    """A local path holding the dump (cached from the master for ``salt://``)."""
    if not _is_remote(source):
        if not os.path.isfile(source):
            raise CommandExecutionError(f"{source} does not exist")
        return source
    cached = __salt__["cp.cache_file"](source)
    if not cached:
        raise CommandExecutionError(f"could not fetch {source} from the master")
    return cached


def restored_from_leader(
    name,
    sha256=None,
    server=None,
    zone=0,
    max_lag=None,
    marker=None,
    keep_current=True,
    connection=None,
):
    """
    Ensure this host's OpenNebula DB comes from the leader backup ``name`` (a
    ``salt://<leader minion id>/<path>`` pushed by ``onenebula_db.backup push=True``, or
    a local path).

    The transfer is verified against ``sha256`` (or the ``<name>.sha256`` sidecar), the
    replaced DB is kept as a ``pre-restore-*.sql`` dump (``keep_current``), and a marker
    file records the restored dump so a re-apply reports no changes. No restore happens
    either when ``server`` (default: this minion's ID) is already a caught-up follower or
    the leader.

    connection
        Optional onedb connection settings (``backend``, ``server``, ``port``, ``user``,
        ``password``, ``dbname``, ``sqlite``); by default onedb reads oned.conf.

    .. code-block:: yaml

        vmm02-db:
          onenebula_db.restored_from_leader:
            - name: salt://vmm01/var/lib/one/backups/leader.sql
    """
    ret = {"name": name, "changes": {}, "result": False, "comment": ""}
    server = server or __opts__["id"]
    marker_path = _marker_path(marker)
    try:
        converged, why = _member_status(server, zone, max_lag)
    except CommandExecutionError:
        converged, why = False, None  # oned not answering (e.g. stopped): go on
    if converged:
        ret["result"] = True
        ret["comment"] = f"No restore needed: {why}"
        return ret
    try:
        expected = _expected_checksum(name, sha256)
        problem = None
    except CommandExecutionError as exc:
        expected, problem = None, f"Cannot read the checksum of {name}: {exc}"
    if expected is None:
        problem = problem or (
            f"No checksum for {name}: pass sha256, or push the {name}.sha256 sidecar "
            "(onenebula_db.backup writes it)"
        )
        if __opts__["test"]:
            # In a test run the fresh backup this restores has not been taken: predict.
            ret["result"] = None
            ret["comment"] = (
                f"The DB would be restored from {name} once that dump exists ({problem}); "
                "the current DB would be kept"
            )
            ret["changes"] = {"db": {"old": None, "new": {"source": name}}}
            return ret
        ret["comment"] = problem
        return ret
    record = _read_marker(marker_path)
    if record.get("sha256") == expected:
        ret["result"] = True
        ret["comment"] = (
            f"The dump {name} (sha256 {expected}) was already restored here at "
            f"{record.get('restored_at')}"
        )
        return ret
    wanted = {"source": name, "sha256": expected}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"The DB would be restored from {name}; the current DB would be kept"
        ret["changes"] = {"db": {"old": {"sha256": record.get("sha256")}, "new": wanted}}
        return ret
    try:
        local = _fetch(name)
        result = __salt__["onenebula_db.restore"](
            local,
            sha256=expected,
            keep_current=keep_current,
            **(connection or {}),
        )
    except CommandExecutionError as exc:
        ret["comment"] = f"Failed to restore the DB from {name}: {exc}"
        return ret
    record_error = None
    try:
        _write_marker(
            marker_path,
            {
                "sha256": result["sha256"],
                "source": name,
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
            "new": {"source": name, "sha256": result["sha256"]},
        }
    }
    ret["comment"] = (
        f"Restored the DB from {name}"
        + (
            f"; the previous DB is kept in {result['previous_backup']}"
            if result["previous_backup"]
            else ""
        )
        + (record_error or "")
    )
    return ret
