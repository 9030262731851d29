"""
OpenNebula zone membership states, with the safety guard inside the state.

Membership changes follow the OpenNebula HA rules: one server at a time, and only from
a healthy zone (one leader, every other server a follower, logs caught up). A
``server-add`` raises the quorum at once, so adding a server while a previous one has
not joined yet can leave the leader unable to commit anything, including the fix.
The states therefore refuse, rather than wait, when:

* the zone is not healthy (for ``server_absent``: apart from the server being removed);
* another membership change runs on this host (a ``fcntl.flock`` lock file, minion
  config ``onenebula_ha.lock_file``, default ``/var/lock/one/onenebula_ha.lock`` or
  ``$ONE_LOCATION/var/onenebula_ha.lock``);
* the change would remove the last member or the leader, or a server whose oned still
  answers (it would disrupt the zone with elections).

An empty zone (the documented bootstrap: a solo oned adding itself) is allowed.

.. code-block:: yaml

    vmm02-member:
      onenebula_zone.server_present:
        - name: vmm02
        - endpoint: http://10.213.0.20:2633/RPC2
"""

import contextlib
import fcntl
import os
import time

from salt.exceptions import CommandExecutionError

__virtualname__ = "onenebula_zone"


def __virtual__():
    if "onenebula_zone.show" in __salt__:
        return __virtualname__
    return __utils__["onenebula_ha.not_loaded"](__virtualname__, "onenebula_zone")


class _Busy(Exception):
    """Another membership change holds the lock."""


def _lock_path(lock_file):
    return lock_file or __utils__["onenebula_ha.one_path"](
        "lock_file", __opts__.get("onenebula_ha.lock_file")
    )


@contextlib.contextmanager
def _membership_lock(lock_file):
    """Hold an exclusive, non-blocking flock for one membership change."""
    path = _lock_path(lock_file)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _Busy(path) from None
        yield path
    finally:
        os.close(descriptor)  # closing releases the lock


def _ret(name):
    return {"name": name, "changes": {}, "result": False, "comment": ""}


def _lock_failure_comment(exc, lock_file):
    """Why a membership change did not start: another one holds the host lock, or the lock
    file itself could not be opened."""
    if isinstance(exc, _Busy):
        return (
            f"Another membership change is in progress on this host (lock {exc.args[0]} is "
            "held); refusing to start a second one"
        )
    return f"Cannot take the membership lock {_lock_path(lock_file)}: {exc}"


def _members(servers, name):
    return [server for server in servers if server["name"] == name]


def _describe(server):
    return {"id": server["id"], "name": server["name"], "endpoint": server["endpoint"]}


def server_present(name, endpoint, zone=0, max_lag=None, lock_file=None):
    """
    Ensure the zone has a server called ``name`` with XML-RPC ``endpoint``.

    Adds it (``onezone server-add``) only from a healthy zone, and never while another
    membership change runs on this host. The new server's ID is reported in the changes;
    that host then needs ``FEDERATION/SERVER_ID`` set to it (``onenebula_conf.server_id``)
    and oned started before the next server can be added.

    name
        Server name in the zone (conventionally the host name).
    endpoint
        ``http://<host address>:2633/RPC2`` of that server.
    zone
        Zone ID (0 unless federated).
    max_lag
        Log records a follower may lag behind the leader and still count as healthy.
    lock_file
        Host-local lock file path (see the module documentation).

    .. code-block:: yaml

        vmm03-member:
          onenebula_zone.server_present:
            - name: vmm03
            - endpoint: http://10.213.0.30:2633/RPC2
    """
    ret = _ret(name)
    try:
        with _membership_lock(lock_file):
            # Read in process (no onezone process); the health check below reuses it.
            servers = __salt__["onenebula_zone.show"](zone, refresh=True, live=True)["servers"]
            existing = _members(servers, name)
            if existing:
                endpoints = sorted({server["endpoint"] for server in existing})
                if endpoints == [endpoint] and len(existing) == 1:
                    ret["result"] = True
                    ret["comment"] = (
                        f"Server {name} is already in zone {zone} with ID {existing[0]['id']}"
                    )
                    return ret
                ret["comment"] = (
                    f"Zone {zone} already has server(s) named {name} with ID(s) "
                    f"{[s['id'] for s in existing]} and endpoint(s) {endpoints}, not "
                    f"{endpoint}; remove them first (one membership change at a time)"
                )
                return ret
            if servers:
                report = __salt__["onenebula_zone.health"](zone, max_lag=max_lag, refresh=False)
                if not report["healthy"]:
                    ret["comment"] = (
                        f"Refusing to add server {name}: zone {zone} is not healthy: "
                        + "; ".join(report["problems"])
                    )
                    return ret
            predicted = max((s["id"] for s in servers if s["id"] is not None), default=-1) + 1
            if __opts__["test"]:
                ret["result"] = None
                ret["comment"] = f"Server {name} would be added to zone {zone} with ID {predicted}"
                ret["changes"] = {
                    "server": {
                        "old": None,
                        "new": {"id": predicted, "name": name, "endpoint": endpoint},
                    }
                }
                return ret
            new_id = __salt__["onenebula_zone.server_add"](
                name, endpoint, zone=zone, max_lag=max_lag
            )
    except (_Busy, OSError) as exc:
        ret["comment"] = _lock_failure_comment(exc, lock_file)
        return ret
    except CommandExecutionError as exc:
        if __opts__["test"]:
            # Nothing was changed; the zone cannot be read yet (e.g. oned of the bootstrap
            # server is not started in a test run): predict the addition.
            ret["result"] = None
            ret["comment"] = (
                f"Cannot read zone {zone} now ({exc}); server {name} would be added to it"
            )
            ret["changes"] = {"server": {"old": None, "new": {"name": name, "endpoint": endpoint}}}
            return ret
        ret["comment"] = f"Failed to add server {name} to zone {zone}: {exc}"
        return ret
    ret["result"] = True
    ret["changes"] = {
        "server": {"old": None, "new": {"id": new_id, "name": name, "endpoint": endpoint}}
    }
    ret["comment"] = (
        f"Added server {name} to zone {zone} with ID {new_id}; set FEDERATION/SERVER_ID = "
        f"{new_id} on it and start oned before adding another server"
    )
    return ret


def server_absent(name, zone=0, max_lag=None, lock_file=None, require_stopped=True):
    """
    Ensure the zone has no server called ``name`` (``onezone server-del``).

    Refuses to remove the last member or the current leader, to act on a zone that is
    unhealthy apart from this server, to act while another membership change runs on
    this host, and (``require_stopped``, default True) to remove a server whose oned
    still answers: stop OpenNebula on that host first, as the OpenNebula docs require.

    .. code-block:: yaml

        vmm05-removed:
          onenebula_zone.server_absent:
            - name: vmm05
    """
    ret = _ret(name)
    try:
        with _membership_lock(lock_file):
            servers = __salt__["onenebula_zone.show"](zone, refresh=True)["servers"]
            matches = _members(servers, name)
            if not matches:
                ret["result"] = True
                ret["comment"] = f"Server {name} is already absent from zone {zone}"
                return ret
            if len(matches) > 1:
                ret["comment"] = (
                    f"Zone {zone} has several servers named {name} "
                    f"(IDs {[s['id'] for s in matches]}); remove them by ID"
                )
                return ret
            target = matches[0]
            if len(servers) == 1:
                ret["comment"] = f"Refusing to remove {name}: it is the last member of zone {zone}"
                return ret
            if target["state"] == "leader":
                ret["comment"] = (
                    f"Refusing to remove {name}: it is the current leader of zone {zone}; "
                    "stop OpenNebula on it so another server takes over first"
                )
                return ret
            if require_stopped and target["state"] != "error":
                ret["comment"] = (
                    f"Refusing to remove {name}: its oned still answers (state "
                    f"{target['state']}); stop OpenNebula on it first"
                )
                return ret
            report = __salt__["onenebula_zone.health"](
                zone, max_lag=max_lag, ignore=[target["id"]], refresh=False
            )
            if not report["healthy"]:
                ret["comment"] = (
                    f"Refusing to remove server {name}: zone {zone} is not healthy apart "
                    "from it: " + "; ".join(report["problems"])
                )
                return ret
            change = {"server": {"old": _describe(target), "new": None}}
            if __opts__["test"]:
                ret["result"] = None
                ret["comment"] = f"Server {name} (ID {target['id']}) would be removed"
                ret["changes"] = change
                return ret
            __salt__["onenebula_zone.server_del"](
                target["id"], zone=zone, max_lag=max_lag, require_stopped=require_stopped
            )
    except (_Busy, OSError) as exc:
        ret["comment"] = _lock_failure_comment(exc, lock_file)
        return ret
    except CommandExecutionError as exc:
        ret["comment"] = f"Failed to remove server {name} from zone {zone}: {exc}"
        return ret
    ret["result"] = True
    ret["changes"] = change
    ret["comment"] = f"Removed server {name} (ID {target['id']}) from zone {zone}"
    return ret


def _caught_up(report, server, max_lag):
    """Whether ``server`` is a follower within ``max_lag`` records of the leader."""
    leader = report["leader"]
    return leader is not None and __utils__["onenebula_ha.caught_up"](
        server["state"], server["log_index"], leader["log_index"], max_lag
    )


def _wait_caught_up(name, zone, lag_limit, timeout):
    """Poll until ``name`` is a caught-up follower; None on success, else the last view."""
    deadline = time.monotonic() + float(timeout)
    while True:
        report = __salt__["onenebula_zone.health"](zone, max_lag=lag_limit, refresh=True)
        matches = _members(report["servers"], name)
        if len(matches) == 1 and _caught_up(report, matches[0], lag_limit):
            return None
        last = matches[0]["state"] if len(matches) == 1 else "; ".join(report["problems"])
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return last
        time.sleep(min(1.0, remaining))


def follower_reset(name, zone=0, max_lag=None, force=False, wait=True, timeout=60):
    """
    Run ``onezone server-reset`` for the follower ``name`` after its DB was restored from
    a fresh leader backup, so the leader resumes replication from the end of its log.

    No change when ``name`` is already a follower within ``max_lag`` records of the
    leader, unless ``force=True`` (use it with ``onchanges`` on the restore: a restored
    follower can look caught up while the leader still points into records it purged).
    With ``wait`` (default), waits up to ``timeout`` seconds for it to catch up.

    .. code-block:: yaml

        vmm03-reset:
          onenebula_zone.follower_reset:
            - name: vmm03
            - force: True
            - onchanges:
              - onenebula_db: vmm03-db
    """
    ret = _ret(name)
    lag_limit = __utils__["onenebula_ha.max_lag"](max_lag, __opts__.get("onenebula_ha.max_lag"))
    try:
        report = __salt__["onenebula_zone.health"](zone, max_lag=lag_limit, refresh=True)
        if not report["servers"]:
            ret["comment"] = f"Cannot read zone {zone}: " + "; ".join(report["problems"])
            return ret
        matches = _members(report["servers"], name)
        if len(matches) != 1:
            ret["comment"] = f"Server {name} not found or duplicated in zone {zone}"
            return ret
        target = matches[0]
        if target["state"] == "leader":
            ret["comment"] = f"Server {name} is the leader of zone {zone}; it has nothing to reset"
            return ret
        if report["leader"] is None:
            ret["comment"] = f"Zone {zone} has no leader to reset {name} on"
            return ret
        if not force and _caught_up(report, target, lag_limit):
            ret["result"] = True
            ret["comment"] = f"Server {name} is already a caught-up follower"
            return ret
        before = {"state": target["state"], "log_index": target["log_index"]}
        change = {"server": {"old": before, "new": "reset"}}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"Server {name} (ID {target['id']}) would be reset on the leader"
            ret["changes"] = change
            return ret
        __salt__["onenebula_zone.server_reset"](target["id"], zone=zone)
    except CommandExecutionError as exc:
        ret["comment"] = f"Failed to reset server {name}: {exc}"
        return ret
    ret["changes"] = change
    if not wait:
        ret["result"] = True
        ret["comment"] = f"Reset server {name} (ID {target['id']}) on the leader"
        return ret
    last = _wait_caught_up(name, zone, lag_limit, timeout)
    if last is not None:
        ret["comment"] = (
            f"Reset server {name} (ID {target['id']}), but it has not caught up after "
            f"{timeout}s (last seen: {last})"
        )
        return ret
    ret["result"] = True
    ret["comment"] = f"Reset server {name} (ID {target['id']}); it has caught up"
    return ret


# ------------------------------------------------------------------ waits and checks


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


def healthy(
    name="zone", zone=0, members=None, ignore=None, timeout=180, interval=0.5, max_lag=None
):
    """
    Wait until the zone is healthy as seen from this host (one leader, all other servers
    caught-up followers) and every server in ``members`` (``[{name, id}]``) is in it with
    that ID. Servers named in ``ignore`` are left out (a server being removed). Never
    reports changes. In test mode it looks once: True when already so, None (would
    wait) otherwise.

    Each look reads the zone over XML-RPC in this process (``onenebula_zone.health``
    with ``live``: a few ms, no ``onezone`` process), so it looks every ``interval``
    seconds: a join's next step starts within half a second of its follower catching
    up, and a deploy's first join within half a second of the election.

    .. code-block:: yaml

        zone-healthy:
          onenebula_zone.healthy:
            - members: [{name: vmm01, id: 0}]
            - timeout: 120
    """
    ret = _ret(name)
    deadline = time.monotonic() + float(timeout)
    while True:
        report = __salt__["onenebula_zone.health"](
            zone, max_lag=max_lag, ignore=ignore, refresh=True, live=True
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


def member(name, id, zone=0):  # pylint: disable=redefined-builtin
    """
    Check that server ``name`` is in the zone with ID ``id``, before that ID is written
    to the server's oned.conf (the zone hands out IDs, the pillar must agree). Never
    changes anything. In test mode an unreadable zone or a missing server gives None.

    .. code-block:: yaml

        vmm02-id:
          onenebula_zone.member:
            - name: vmm02
            - id: 1
    """
    ret = _ret(name)
    try:
        servers = __salt__["onenebula_zone.show"](zone, refresh=True, live=True)["servers"]
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
