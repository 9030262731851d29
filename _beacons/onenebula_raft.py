"""
Report this front-end's OpenNebula Raft role, on the leader the zone's servers in
``error``, and on a follower a damaged database of its own, as Salt events.

The beacon asks the local oned for its Raft status (``one.zone.raftstatus`` through
``onenebula_zone.raft_status``: one XML-RPC call, no process spawned, cheap enough for every
second). On the leader it also reads the zone through ``onenebula_zone.raft_zone`` (the
XML-RPC calls ``onezone show`` makes, ``one.zone.info`` then one raftstatus per server,
made in-process and to all servers at once: no process spawned, at most 5 s when a server
does not answer), but not more often than ``report_errors_every`` seconds; on a follower it checks
its own database (``onenebula_db.health``: one connection from the minion's process, no
process spawned) as often.

.. versionadded:: 0.1.0

Configuration
-------------

.. code-block:: yaml

    beacons:
      onenebula_raft:
        - interval: 5                # Salt's own option: seconds between two runs
        - zone: 0                    # the zone the front-ends form
        - timeout: 2                 # seconds to wait for the local oned
        - report_errors_every: 30    # at most one zone check (raft_zone) per period on
                                     # the leader, one check of its own DB on a follower
        - error_after: 60            # report a server only once it has been in error
                                     # (or stuck) this long (a restart is not a failure)
        - max_lag: 100               # a follower more than this many log records behind
                                     # the leader, without progress, is stuck

All options are optional; the values above are the defaults, except ``interval`` (Salt
runs a beacon on every minion loop, ``loop_interval``, when it is not set) and
``max_lag``, which defaults to the formula's one caught-up limit (the minion option
``onenebula_ha.max_lag``, else 100: ``_utils/onenebula_ha.py``). The state
``onenebula_ha.salt.minion`` installs this configuration from the pillar.

Events
------

Tags are ``salt/beacon/<minion id>/onenebula_raft/<kind>``. Every event carries ``id``
(the minion id, added by Salt) and ``zone``.

``role``
    This host's Raft role changed, or the beacon started (``startup: True``). Also sent
    when this host is re-elected leader in a newer term between two runs.

    ===============  ==========================================================
    ``state``        ``leader``, ``follower``, ``candidate`` or ``solo``
    ``previous``     the state before (``down`` after oned was unreachable), or
                     None at start-up
    ``term``         the Raft term (int)
    ``server_id``    this host's SERVER_ID (-1 in solo)
    ``leader``       the leader's server id when this host is the leader, else
                     None (``one.zone.raftstatus`` does not name the leader)
    ``votedfor``     the server this host voted for in ``term`` (-1: none)
    ``startup``      True for the first report after the beacon started
    ===============  ==========================================================

``down``
    The local oned did not answer (or refused the call). Sent once when it happens (and
    at start-up); the next ``role`` event (``previous: down``) says it is back.

    ===============  ==========================================================
    ``previous``     the state before, or None at start-up
    ``error``        the error message (never the credentials)
    ``reachable``    False when nothing answered, True when oned refused the call
    ``since``        when it was first seen down (epoch seconds, int)
    ``startup``      True when the beacon started with oned down
    ===============  ==========================================================

``database``
    Sent by a follower whose own database is damaged: it does not exist, or one of the
    tables every OpenNebula database has is missing (``onenebula_db.health``, checked in
    the minion's process at most every ``report_errors_every`` seconds). oned itself does
    not notice until it next touches it (a record to replicate; in HA it then exits after
    ``ERRORS_LIMIT`` errors), so an idle zone would never report it; and a follower whose
    oned has stopped goes on checking it (with the server id and term it last reported),
    since a damaged database is what stops a busy follower's oned. Sent at every check
    while it lasts; a database that cannot be checked (its server down) is not reported.
    A trigger only: the master checks the database itself before it repairs anything.

    ===============  ==========================================================
    ``problem``      what is wrong (``the database opennebula does not exist``)
    ``database``     the database (or SQLite file) oned.conf names
    ``exists``       whether the database exists
    ``missing``      the required tables it lacks (sorted, at most 20)
    ``since``        when this follower first found it damaged (epoch seconds)
    ``server_id``    this host's SERVER_ID
    ``term``         this host's Raft term
    ===============  ==========================================================

``error``
    Sent by the leader only, one event per server that has been in state ``error`` (no
    raftstatus answer from its endpoint, as ``onezone show`` reports it) for at least
    ``error_after`` seconds, at every zone check while it lasts; likewise for a follower
    that has stayed more than ``max_lag`` records behind this leader's log without its
    own log index moving (typically one that fell out of the leader's log window: the
    records it needs were purged, OpenNebula issue #2810). Nothing is reported while this
    leader cannot see a majority of the zone (it may be the stale side of a partition) or
    while another server claims leadership in a newer term. The event is a trigger only:
    the master checks the zone itself before it repairs anything.

    ===============  ==========================================================
    ``server_id``    the failed server's id in the zone
    ``name``         its NAME in the zone
    ``endpoint``     its XML-RPC endpoint
    ``since``        when this leader first saw it in error (epoch seconds, int)
    ``seconds``      how long it has been in error so far (int)
    ``reason``       ``error`` (no answer) or ``stuck`` (a follower that does not
                     catch up)
    ``in_error``     ids of every server in error at this check (sorted)
    ``stuck``        ids of every stuck follower at this check (sorted)
    ``leader_id``    the reporting leader's server id
    ``term``         the reporting leader's term
    ===============  ==========================================================

Example reaction (see ``reactor/onenebula_ha/``):

.. code-block:: yaml

    reactor:
      - 'salt/beacon/*/onenebula_raft/role':
        - salt://reactor/onenebula_ha/role.sls

For beacon events the reactor's ``data`` is the dict above plus ``id`` and ``_stamp``
(not nested under ``data['data']``).

The beacon remembers what it last reported in a small JSON file in the minion cache
directory, so that reloading the minion's modules (``saltutil.sync_all``, a pillar
refresh) does not repeat the start-up events; a restarted minion reports afresh.
"""

import json
import logging
import os
import time

import salt.loader
import salt.utils.beacons
import salt.utils.files
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "onenebula_raft"

# max_lag None: the formula's caught-up limit (__utils__ onenebula_ha.max_lag).
DEFAULTS = {"zone": 0, "timeout": 2, "report_errors_every": 30, "error_after": 60, "max_lag": None}
# Options Salt itself reads from a beacon's configuration.
SALT_OPTIONS = frozenset(
    {"interval", "enabled", "disable_during_state_run", "beacon_module", "run_once", "_beacon_name"}
)
_MEMORY_VERSION = 1


def _utils():
    """The formula's utils (``_utils/onenebula_ha.py``). Salt 3008 packs no ``__utils__``
    into beacons, so the beacon loads the utils loader itself, once."""
    utils = globals().get("__utils__")
    if not utils:
        utils = globals()["__utils__"] = salt.loader.utils(dict(__opts__))
    return utils


def __virtual__():
    if "onenebula_zone.raft_status" in __salt__:
        return __virtualname__
    return _utils()["onenebula_ha.not_loaded"](
        __virtualname__,
        "onenebula_zone",
        " (sync it with saltutil.sync_all; it needs OpenNebula's onezone command)",
    )


# ------------------------------------------------------------------ configuration


def _number(options, key, minimum, integer=False):
    value = options[key]
    kinds = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
        kind = "a whole number" if integer else "a number"
        raise ValueError(f"'{key}' must be {kind} >= {minimum}, not {value!r}")


def _options(config):
    """The beacon's options from its list-of-dicts configuration, defaults filled in."""
    if not isinstance(config, list) or not all(isinstance(item, dict) for item in config):
        raise ValueError("the configuration must be a list of single-key mappings")
    given = salt.utils.beacons.list_to_dict(config)
    unknown = sorted(set(given) - set(DEFAULTS) - SALT_OPTIONS)
    if unknown:
        raise ValueError(f"unknown option(s): {', '.join(unknown)}")
    options = dict(DEFAULTS)
    options.update({key: value for key, value in given.items() if key in DEFAULTS})
    _number(options, "zone", 0, integer=True)
    _number(options, "report_errors_every", 0)
    _number(options, "error_after", 0)
    if options["max_lag"] is None:
        options["max_lag"] = _utils()["onenebula_ha.max_lag"](
            None, __opts__.get("onenebula_ha.max_lag")
        )
    _number(options, "max_lag", 0, integer=True)
    _number(options, "timeout", 0.1)
    options["name"] = given.get("_beacon_name") or __virtualname__
    return options


def validate(config):
    """Check the beacon configuration; return ``(valid, message)``."""
    try:
        _options(config)
    except ValueError as exc:
        return False, f"onenebula_raft beacon: {exc}"
    return True, "Valid beacon configuration"


# ------------------------------------------------------------------ memory


def _memory_path(name):
    return os.path.join(__opts__["cachedir"], "onenebula_raft", f"{name}.json")


def _load_memory(name):
    """What this minion process last reported; empty after a minion (re)start."""
    fresh = {
        "version": _MEMORY_VERSION,
        "pid": os.getpid(),
        "role": None,
        "errors": {},
        "stuck": {},
    }
    try:
        with salt.utils.files.fopen(_memory_path(name), "r") as handle:
            stored = json.load(handle)
    except (OSError, ValueError):
        return fresh
    if (
        not isinstance(stored, dict)
        or stored.get("version") != _MEMORY_VERSION
        or stored.get("pid") != os.getpid()
    ):
        return fresh
    return stored


def _save_memory(name, memory):
    path = _memory_path(name)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.tmp"
        with salt.utils.files.fopen(temporary, "w") as handle:
            json.dump(memory, handle)
        os.replace(temporary, path)
    except OSError as exc:
        log.debug("onenebula_raft: cannot save beacon memory to %s: %s", path, exc)


def _memory(name):
    key = f"{__virtualname__}.memory.{name}"
    if key not in __context__:
        __context__[key] = _load_memory(name)
    return __context__[key]


# ------------------------------------------------------------------ role and down


def _message(exc):
    """The error text alone (CommandExecutionError appends its ``info`` to ``str()``)."""
    return getattr(exc, "error", None) or str(exc)


def _role_key(status):
    """What makes a role change: the state, the server id, and the term of a leadership."""
    term = status["term"] if status["state_name"] == "leader" else None
    return {"state": status["state_name"], "server_id": status["server_id"], "term": term}


def _role_event(memory, status, zone):
    previous = memory["role"]
    current = _role_key(status)
    if previous == current:
        return []
    memory["role"] = current
    is_leader = status["state_name"] == "leader"
    return [
        {
            "tag": "role",
            "state": status["state_name"],
            "previous": previous["state"] if previous else None,
            "term": status["term"],
            "server_id": status["server_id"],
            "leader": status["server_id"] if is_leader else None,
            "votedfor": status["votedfor"],
            "zone": zone,
            "startup": previous is None,
        }
    ]


def _down_event(memory, exc, zone, now):
    previous = memory["role"]
    if previous is not None and previous["state"] == "down":
        return []
    memory["role"] = {"state": "down", "server_id": None, "term": None, "since": int(now)}
    info = getattr(exc, "info", None) or {}
    return [
        {
            "tag": "down",
            "previous": previous["state"] if previous else None,
            "error": _message(exc),
            "reachable": bool(info.get("reachable", False)),
            "since": int(now),
            "zone": zone,
            "startup": previous is None,
        }
    ]


# ------------------------------------------------------------------ zone errors


def _has_majority(servers):
    answering = sum(1 for server in servers if server["state"] != "error")
    return answering * 2 > len(servers)


def _newer_leader(servers, status):
    own_term = status["term"] if status["term"] is not None else -1
    return any(
        server["state"] == "leader"
        and server["id"] != status["server_id"]
        and (server["term"] if server["term"] is not None else -1) > own_term
        for server in servers
    )


def _track_errors(memory, servers, now):
    """Remember since when each server has been in error; forget those that recovered."""
    failed = {str(server["id"]): server for server in servers if server["state"] == "error"}
    tracked = memory["errors"]
    for key in list(tracked):
        if key not in failed:
            del tracked[key]
    for key in failed:
        tracked.setdefault(key, int(now))
    return failed


def _track_stuck(memory, servers, status, max_lag, now):
    """Remember since when each follower has been more than ``max_lag`` records behind
    this leader at an unchanged log index; forget those that moved or caught up."""
    own = status.get("log_index")
    tracked = memory.setdefault("stuck", {})
    behind = {}
    for server in servers:
        index = server.get("log_index")
        if (
            server["state"] == "follower"
            and server["id"] != status["server_id"]
            and isinstance(own, int)
            and isinstance(index, int)
            and _utils()["onenebula_ha.lag_problem"](index, own, max_lag)
        ):
            behind[str(server["id"])] = server
    for key in list(tracked):
        if key not in behind or tracked[key]["index"] != behind[key]["log_index"]:
            del tracked[key]
    for key, server in behind.items():
        tracked.setdefault(key, {"since": int(now), "index": server["log_index"]})
    return behind


def _error_events(memory, status, options, now):
    last_check = memory.get("last_check")
    if last_check is not None and now - last_check < options["report_errors_every"]:
        return []
    memory["last_check"] = now
    try:
        zone = __salt__["onenebula_zone.raft_zone"](zone=options["zone"])
    except CommandExecutionError as exc:
        log.warning("onenebula_raft: cannot read zone %s: %s", options["zone"], _message(exc))
        return []
    servers = [server for server in zone["servers"] if server["id"] is not None]
    failed = _track_errors(memory, servers, now)
    stuck = _track_stuck(memory, servers, status, options["max_lag"], now)
    if not failed and not stuck:
        return []
    if not _has_majority(servers):
        log.warning(
            "onenebula_raft: this leader sees %d of %d servers in error; not reporting them "
            "(it may be cut off from the majority)",
            len(failed),
            len(servers),
        )
        return []
    if _newer_leader(servers, status):
        log.warning("onenebula_raft: another server leads in a newer term; not reporting errors")
        return []
    in_error = sorted(server["id"] for server in failed.values())
    lagging = sorted(server["id"] for server in stuck.values())
    found = [(server, memory["errors"][key], "error") for key, server in failed.items()]
    found += [(server, memory["stuck"][key]["since"], "stuck") for key, server in stuck.items()]
    events = []
    for server, since, reason in sorted(found, key=lambda item: item[0]["id"]):
        if now - since < options["error_after"]:
            continue
        events.append(
            {
                "tag": "error",
                "server_id": server["id"],
                "name": server["name"],
                "endpoint": server["endpoint"],
                "reason": reason,
                "since": since,
                "seconds": int(now - since),
                "in_error": in_error,
                "stuck": lagging,
                "leader_id": status["server_id"],
                "term": status["term"],
                "zone": options["zone"],
            }
        )
    return events


# ------------------------------------------------------------------ own database


def _database_events(memory, status, options, now):
    """On a follower: its own database checked (``onenebula_db.health``, in the minion's
    process, no command run) at most every ``report_errors_every`` seconds; a ``database``
    event at each check that finds it damaged (missing, or a table missing). oned does
    not notice a dropped database until it next writes to it (a record to replicate), and
    an idle zone replicates nothing: this is how the master hears of it. A database that
    cannot be checked (the database server down) is not reported."""
    last = memory.get("last_db_check")
    if last is not None and now - last < options["report_errors_every"]:
        return []
    memory["last_db_check"] = now
    check = __salt__.get("onenebula_db.health")
    if check is None:
        return []
    try:
        found = check(timeout=options["timeout"])
    except CommandExecutionError as exc:
        log.debug("onenebula_raft: cannot check the local database: %s", _message(exc))
        return []
    if not isinstance(found, dict) or not found.get("broken"):
        memory.pop("db_since", None)
        return []
    since = memory.setdefault("db_since", int(now))
    return [
        {
            "tag": "database",
            "problem": found.get("error"),
            "database": found.get("database"),
            "exists": bool(found.get("exists")),
            "missing": list(found.get("missing") or [])[:20],
            "since": since,
            "server_id": status["server_id"],
            "term": status["term"],
            "zone": options["zone"],
        }
    ]


# ------------------------------------------------------------------ beacon


def _now():
    return time.time()


def beacon(config):
    """
    Return the Raft events of this run (see the module documentation): ``role`` on a
    change or at start-up, ``down`` when the local oned does not answer, on the leader
    ``error`` for each server that has been in error long enough, and on a follower
    ``database`` when its own database is damaged.
    """
    options = _options(config)
    memory = _memory(options["name"])
    before = json.dumps(memory, sort_keys=True)
    now = _now()
    try:
        status = __salt__["onenebula_zone.raft_status"](timeout=options["timeout"])
    except CommandExecutionError as exc:
        log.debug("onenebula_raft: local oned did not answer: %s", _message(exc))
        events = _down_event(memory, exc, options["zone"], now)
        memory["errors"] = {}
        memory["stuck"] = {}
        follower = memory.get("follower")
        if follower:
            # A busy follower's oned exits after ERRORS_LIMIT database errors: with it
            # down, nothing else would report the damaged database.
            events += _database_events(memory, follower, options, now)
    else:
        events = _role_event(memory, status, options["zone"])
        if status["state_name"] == "leader":
            events += _error_events(memory, status, options, now)
        else:
            memory["errors"] = {}
            memory["stuck"] = {}
            memory.pop("last_check", None)
        if status["state_name"] == "follower":
            memory["follower"] = {"server_id": status["server_id"], "term": status["term"]}
            events += _database_events(memory, status, options, now)
        else:
            memory.pop("follower", None)
            memory.pop("last_db_check", None)
            memory.pop("db_since", None)
    if json.dumps(memory, sort_keys=True) != before:
        _save_memory(options["name"], memory)
    return events
