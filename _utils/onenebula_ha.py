"""
What the onenebula_ha formula's modules share, said once: Salt's ``__utils__``, synced
with the other custom modules by ``saltutil.sync_all`` (``sync_utils``).

* Raft vocabulary: the state names of ``one.zone.raftstatus`` (:func:`state_name`), the
  states of a healthy member (:func:`healthy_states`).
* The one judgement of a caught-up follower (:func:`caught_up`, :func:`lag_problem`) and
  its limit (:func:`max_lag`: argument, else minion config ``onenebula_ha.max_lag``, else
  :data:`DEFAULT_MAX_LAG`).
* The one path resolver of OpenNebula files (:func:`one_path`): the minion config option
  the caller read, else under ``$ONE_LOCATION`` for a self-contained install, else the
  system-wide path.
* The RAFT values OpenNebula ships in ``oned.conf`` (:func:`shipped_raft`); the formula's
  ``defaults.yaml`` repeats them for the pillar and a test keeps the two equal.
* The one decision of a supported platform (:func:`platform_error`, over
  ``onenebula_ha/platforms.yaml``): the render's (``onenebula_platform``) and the runner's
  deploy/add planner's, which checks every front-end before the first step.
* Module plumbing: :func:`error` (a CommandExecutionError carrying details in ``.info``),
  :func:`secret` (a secret the states read from the pillar at run time, checked),
  :func:`needs_command` and :func:`not_loaded` (``__virtual__`` with a reason).

Modules call these as ``__utils__["onenebula_ha.<function>"](...)`` and hand them plain
values, never their own ``__opts__``/``__salt__``: inside a utils function those names
resolve against the utils loader, not the caller's. Salt 3008 gives execution modules,
states and runners ``__utils__``, but not beacons: the ``onenebula_raft`` beacon loads
this loader itself (``salt.loader.utils``).

Nothing here imports anything outside Salt and the standard library.
"""

import hashlib
import inspect
import json
import os
import pwd

import salt.utils.path
from salt.exceptions import CommandExecutionError

__virtualname__ = "onenebula_ha"

#: ``STATE`` of ``one.zone.raftstatus`` and of ``onezone show``
#: (docs/opennebula-raft.md §2.2); anything else is an error.
STATE_NAMES = {0: "solo", 1: "candidate", 2: "follower", 3: "leader"}
#: The states of the members of a healthy zone: one leader, the others followers.
HEALTHY_STATES = ("leader", "follower")
#: How many log records a follower may be behind the leader and still count as caught up.
DEFAULT_MAX_LAG = 100
#: The ``RAFT`` block OpenNebula ships in ``/etc/one/oned.conf``
#: (docs/opennebula-raft.md §3.2). oned does not complete a RAFT block that exists, so the formula always writes all
#: six keys. ``onenebula_ha/defaults.yaml`` (``raft:``) holds the same values for the
#: pillar; tests/unit/utils keeps the two equal.
SHIPPED_RAFT = {
    "LIMIT_PURGE": 100000,
    "LOG_RETENTION": 250000,
    "LOG_PURGE_TIMEOUT": 60,
    "ELECTION_TIMEOUT_MS": 5000,
    "BROADCAST_TIMEOUT_MS": 500,
    "XMLRPC_TIMEOUT_MS": 1000,
}
#: Files OpenNebula and the formula use, by what they are: the system-wide path (package
#: install) and the path below ``$ONE_LOCATION`` (self-contained install).
PATHS = {
    "oned_conf": ("/etc/one/oned.conf", ("etc", "oned.conf")),
    "backup_dir": ("/var/lib/one/backups", ("var", "backups")),
    "sqlite_db": ("/var/lib/one/one.db", ("var", "one.db")),
    "oned_lock": ("/var/lock/one/one", ("var", ".lock")),
    "lock_file": ("/var/lock/one/onenebula_ha.lock", ("var", "onenebula_ha.lock")),
    "restore_marker": (
        "/var/lib/one/.onenebula_ha_restored.json",
        ("var", ".onenebula_ha_restored.json"),
    ),
}


def __virtual__():
    return __virtualname__


# ------------------------------------------------------------------ Raft


def state_name(code):
    """The name of Raft state ``code`` (``"error"`` for anything unknown)."""
    return STATE_NAMES.get(code, "error")


def healthy_states():
    """The Raft states of the members of a healthy zone."""
    return HEALTHY_STATES


def ha_states():
    """The Raft states of a server that takes part in the zone (not solo, not in error)."""
    return ("candidate", *HEALTHY_STATES)


def shipped_raft():
    """A copy of the RAFT values OpenNebula ships in oned.conf (upper-case keys)."""
    return dict(SHIPPED_RAFT)


def max_lag(value=None, configured=None):
    """The caught-up limit: ``value``, else ``configured`` (minion config
    ``onenebula_ha.max_lag``), else :data:`DEFAULT_MAX_LAG`."""
    for candidate in (value, configured):
        if candidate is not None:
            return int(candidate)
    return DEFAULT_MAX_LAG


def lag(leader_index, log_index):
    """Records ``log_index`` is behind ``leader_index``; None when either is unknown."""
    if leader_index is None or log_index is None:
        return None
    return leader_index - log_index


def caught_up(state, log_index, leader_index, limit):
    """Whether a server in Raft ``state`` at ``log_index`` is a follower within ``limit``
    records of the leader's ``leader_index``."""
    behind = lag(leader_index, log_index)
    return state == "follower" and behind is not None and behind <= limit


def lag_problem(log_index, leader_index, limit):
    """What is wrong with a follower's log position, or None when it is caught up (or the
    positions are unknown: that is judged elsewhere)."""
    behind = lag(leader_index, log_index)
    if behind is not None and behind > limit:
        return f"{behind} log records behind the leader (limit {limit})"
    return None


# ------------------------------------------------------------------ paths


def one_path(kind, configured=None):
    """
    Where OpenNebula (or the formula) keeps ``kind`` (a key of :data:`PATHS`):
    ``configured`` (the minion config option the caller read) when set, else below
    ``$ONE_LOCATION`` for a self-contained install, else the system-wide path.
    """
    system, relative = PATHS[kind]
    if configured:
        return configured
    location = os.environ.get("ONE_LOCATION")
    if location:
        return os.path.join(location, *relative)
    return system


# ------------------------------------------------------------------ credentials

#: Where OpenNebula's client looks for oneadmin's credentials after ``$ONE_AUTH``.
AUTH_FILES = ("~/.one/one_auth", "/var/lib/one/.one/one_auth")


def auth_file(opts):
    """
    The file holding oneadmin's credentials, as OpenNebula's client resolves it: the minion
    config ``onenebula_ha.one_auth_file`` when set (it must exist), else ``$ONE_AUTH``, else
    :data:`AUTH_FILES`. A CommandExecutionError names the config key when none is there.
    """
    configured = opts.get("onenebula_ha.one_auth_file")
    if configured:
        if not os.path.isfile(configured):
            raise CommandExecutionError(
                f"ONE_AUTH file not present: {configured} (minion config onenebula_ha.one_auth_file)"
            )
        return configured
    for candidate in (os.environ.get("ONE_AUTH"), *AUTH_FILES):
        if candidate and os.path.isfile(os.path.expanduser(candidate)):
            return os.path.expanduser(candidate)
    raise CommandExecutionError(
        "ONE_AUTH file not present (set the minion config onenebula_ha.one_auth_file)"
    )


def cli_env(opts):
    """Environment handing the configured endpoint and credentials to an OpenNebula command
    (``ONE_XMLRPC`` / ``ONE_AUTH`` from ``onenebula_ha.endpoint`` / ``one_auth_file``)."""
    env = {}
    if opts.get("onenebula_ha.endpoint"):
        env["ONE_XMLRPC"] = opts["onenebula_ha.endpoint"]
    if opts.get("onenebula_ha.one_auth_file"):
        env["ONE_AUTH"] = opts["onenebula_ha.one_auth_file"]
    return env


# ------------------------------------------------------------------ files and accounts


def read_json_object(path):
    """The JSON object (a dict) in the file at ``path``; ``{}`` when the file is missing,
    unreadable, not JSON or not an object (the callers' records start empty then)."""
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def file_sha256(path):
    """The sha256 hex digest of the file at ``path``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def account(user):
    """``(uid, gid)`` of local user ``user``; a CommandExecutionError naming it otherwise."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise CommandExecutionError(f"no local user {user}") from None
    return entry.pw_uid, entry.pw_gid


# ------------------------------------------------------------------ MySQL


def pymysql_accepts_ssl_disabled(pymysql):
    """Whether this PyMySQL's connect takes ``ssl_disabled`` (1.1 and later). PyMySQL 1.2+
    tries TLS on every connection unless told not to, building a new TLS context each time
    (~60 ms of CPU, the system's CA certificates loaded), pointless to this host's own
    server; older PyMySQL never tries it unasked."""
    try:
        parameters = inspect.signature(pymysql.connections.Connection.__init__).parameters
    except (AttributeError, TypeError, ValueError):
        return False
    return "ssl_disabled" in parameters


# ------------------------------------------------------------------ platforms

#: The OpenNebula editions (``onenebula_ha:edition``).
EDITIONS = ("community", "enterprise")


def _shown(value):
    """A pillar value for a message: quoted, one line, short."""
    text = str(value).encode("unicode_escape").decode("ascii")
    return f"'{text[:40]}...'" if len(text) > 40 else f"'{text}'"


def _grain(grains, name):
    value = grains.get(name)
    return "" if value is None else str(value)


def platform_release(platforms, grains):
    """``(os, release, distribution)`` of a minion with these grains, as ``platforms``
    (``onenebula_ha/platforms.yaml``) names them: the release is the grain its distribution
    names (Debian 12 by ``osmajorrelease``, Ubuntu 24.04 by ``osrelease``)."""
    os_name = _grain(grains, "os")
    distro = (platforms.get("distributions") or {}).get(os_name) or {}
    return os_name, _grain(grains, distro.get("release_grain", "osmajorrelease")), distro


def _supported_list(platforms_of_version):
    return ", ".join(
        f"{name} {', '.join(releases)}" for name, releases in platforms_of_version.items()
    )


def platform_error(platforms, version, edition, grains):
    """
    Why OpenNebula ``version``/``edition`` cannot be installed from its repositories on a
    minion with these grains, by ``platforms`` (``onenebula_ha/platforms.yaml``, the one
    table of supported platforms), as a message naming the key and the supported list;
    ``None`` when it can. The render (``onenebula_platform.layer``/``repo_plan``) and the
    runner's deploy/add planner decide with this one function.
    """
    versions = platforms.get("versions") or {}
    if edition not in EDITIONS:
        return f"onenebula_ha:edition: {_shown(edition)} must be community or enterprise"
    if not isinstance(version, str) or version not in versions:
        known = ", ".join(sorted(versions, key=lambda v: [int(p) for p in v.split(".")]))
        return (
            f"onenebula_ha:version: {_shown(version)} is not an OpenNebula version this formula "
            f'knows the repositories of ({known}); quote it in YAML ("7.0", not 7.0)'
        )
    os_name, release, _ = platform_release(platforms, grains)
    releases = (versions[version].get("platforms") or {}).get(os_name) or []
    if release not in releases:
        return (
            f"onenebula_ha:version: OpenNebula {version} has no front-end packages for "
            f"{os_name or 'this OS'} {release} (grains os/osrelease); its repositories cover "
            f"{_supported_list(versions[version].get('platforms') or {})}. Set "
            "onenebula_ha:packages:repo (pkgrepo.managed arguments) and onenebula_ha:lookup:pkgs "
            "for another source, or onenebula_ha:packages:manage: false"
        )
    return None


# ------------------------------------------------------------------ module plumbing


def error(message, **info):
    """A CommandExecutionError whose text is just ``message`` (the CLI's or oned's own);
    details go to ``.info`` without being appended to the text, as Salt's ``info=`` would."""
    exc = CommandExecutionError(message)
    exc.info = info
    return exc


def secret(value, path):
    """``value`` (read by the caller from the pillar at ``path``, a ``:``-separated path)
    when it is a non-empty string; else a CommandExecutionError naming the key, never the
    value."""
    if not isinstance(value, str) or not value:
        raise CommandExecutionError(f"pillar {path} is not set")
    return value


def needs_command(virtualname, command):
    """``__virtual__`` of a module that runs an OpenNebula command."""
    if salt.utils.path.which(command) is None:
        return (False, f"{virtualname}: the OpenNebula '{command}' command is not on PATH")
    return virtualname


def not_loaded(virtualname, module, hint=""):
    """``__virtual__``'s answer when the execution module ``module`` it needs is missing."""
    return (False, f"{virtualname}: the {module} execution module is not available{hint}")
