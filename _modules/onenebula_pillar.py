"""
Validation of the ``onenebula_ha`` pillar — the formula's whole input.

Every SLS of the formula imports ``onenebula_ha/map.jinja``, which merges the defaults, the
platform values and the pillar and then calls :func:`validate`. A pillar that fails here makes
the render fail, so no state runs and nothing on the machine changes. Each error names the
offending key as a Salt pillar path (``onenebula_ha:servers:2:endpoint``) so an operator can
go straight to it.

The checks are plain Python (:func:`find_errors`) so they can be tested without Salt.
"""

import difflib
import ipaddress
import re

import salt.utils.dictupdate
import salt.utils.yaml
from salt.exceptions import CommandExecutionError

__virtualname__ = "onenebula_pillar"

ROOT = "onenebula_ha"
RAFT_KEYS = (
    "limit_purge",
    "log_retention",
    "log_purge_timeout",
    "election_timeout_ms",
    "broadcast_timeout_ms",
    "xmlrpc_timeout_ms",
)
# oned.conf: "timeouts must be above 10 ms" (docs/opennebula-raft.md §3.2).
RAFT_TIMEOUT_KEYS = ("election_timeout_ms", "broadcast_timeout_ms", "xmlrpc_timeout_ms")
MIN_RAFT_TIMEOUT_MS = 10
ENDPOINT_RE = re.compile(r"^(http|https)://[^/\s:]+(:\d+)?(/\S*)?$")
DB_IDENTIFIER_RE = re.compile(r"^[A-Za-z0-9_$]{1,64}$")
FAILOVER_SCRIPT_RE = re.compile(r"^\d\d-[A-Za-z0-9_.-]+$")
SECRET_FILE_RE = re.compile(r"^[A-Za-z0-9_.-]+$")

# Allowed keys. A dict is a nested section; ``FREE`` marks a mapping whose keys are the
# user's own (file names, script names); ``LIST_OF`` a list of sections.
FREE = "free"


class ListOf:
    """Schema marker: a list whose items are sections with the given keys."""

    def __init__(self, schema):
        self.schema = schema


SERVER_SCHEMA = {"minion": None, "id": None, "name": None, "address": None, "endpoint": None}
MOUNT_SCHEMA = {"name": None, "device": None, "fstype": None, "opts": None, "mkmnt": None}
SCHEMA = {
    "zone": {"id": None, "name": None},
    "single_node": None,
    "servers": ListOf(SERVER_SCHEMA),
    "vip": {"enabled": None, "address": None, "interface": None, "network": None},
    "oned": {"port": None, "listen_address": None},
    "database": {
        "backend": None,
        "host": None,
        "port": None,
        "name": None,
        "user": None,
        "password": None,
        "manage_server": None,
    },
    "secrets": {"source": None, "files": FREE},
    "raft": {key: None for key in RAFT_KEYS},
    "hooks": {"command": None, "vip_script": None, "failover_scripts": FREE},
    "ssh": {"manage": None, "user": None},
    "sharedfs": {"mounts": ListOf(MOUNT_SCHEMA)},
    "web_ui": {"services": None},
    "leader_services": None,
    "packages": {"manage": None, "repo": FREE},
    "beacon": {"enabled": None, "interval": None, "report_errors_every": None, "error_after": None},
    "reactor": {"enabled": None, "move_vip": None, "repair": None, "repair_lock_ttl": None},
    "deploy": {"wait_timeout": None, "backup_dir": None},
    "fence": {
        key: None
        for key in (
            "enabled",
            "poll_interval",
            "lease_fraction",
            "timeout",
            "margin_ms",
            "max_lag",
            "bind",
            "port",
            "log_level",
            "service",
            "python3",
            "program",
            "config",
            "pidfile",
            "log",
        )
    },
    # Platform values (defaults.yaml / osfamilymap.yaml, overridable through ``lookup``).
    "user": None,
    "group": None,
    "paths": FREE,
    "services": FREE,
    "pkgs": FREE,
    "lookup": FREE,
}


def __virtual__():
    # Pure Python: always loadable, also on the master for orchestration renders.
    return __virtualname__


def _path(*parts):
    return ":".join([ROOT, *(str(p) for p in parts)])


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _unknown_key_errors(data, schema, parts):
    """Report keys that are not in the schema, with a suggestion for likely typos."""
    errors = []
    if isinstance(schema, ListOf):
        if not isinstance(data, list):
            return [f"{_path(*parts)}: must be a list"]
        for index, item in enumerate(data):
            errors += _unknown_key_errors(item, schema.schema, [*parts, index])
        return errors
    if not isinstance(schema, dict) or data is None:
        return errors
    if not isinstance(data, dict):
        return [f"{_path(*parts)}: must be a mapping"]
    for key, value in data.items():
        if key not in schema:
            hint = difflib.get_close_matches(str(key), list(schema), n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            errors.append(f"{_path(*parts, key)}: unknown key{suggestion}")
        elif schema[key] not in (None, FREE):
            errors += _unknown_key_errors(value, schema[key], [*parts, key])
    return errors


def _server_host(server):
    endpoint = server.get("endpoint") or ""
    match = re.match(r"^https?://\[?([^\]/:]+)", endpoint)
    return match.group(1) if match else server.get("address")


def _server_errors(servers, single_node):
    errors = []
    if not isinstance(servers, list) or not servers:
        return [f"{_path('servers')}: at least one server is required"]
    count = len(servers)
    if single_node:
        if count != 1:
            errors.append(
                f"{_path('servers')}: single_node is set but {count} servers are listed "
                "(a single-node zone has exactly one)"
            )
    elif count < 3 or count % 2 == 0:
        errors.append(
            f"{_path('servers')}: {count} server(s) listed; Raft HA needs an odd number of at "
            "least 3 (3 or 5), or set onenebula_ha:single_node: true for one server"
        )

    seen = {"minion": {}, "id": {}, "name": {}, "endpoint": {}}
    previous_id = None
    for index, server in enumerate(servers):
        if not isinstance(server, dict):
            errors.append(f"{_path('servers', index)}: must be a mapping")
            continue
        for key in ("minion", "name"):
            value = server.get(key)
            if not isinstance(value, str) or not value.strip():
                errors.append(f"{_path('servers', index, key)}: required, a non-empty string")
        server_id = server.get("id")
        if not _is_int(server_id):
            errors.append(f"{_path('servers', index, 'id')}: required, an integer SERVER_ID")
        elif server_id < 0:
            errors.append(
                f"{_path('servers', index, 'id')}: SERVER_ID {server_id} is negative "
                "(-1 means solo; zone members have ids >= 0)"
            )
        else:
            if previous_id is not None and server_id <= previous_id:
                errors.append(
                    f"{_path('servers', index, 'id')}: SERVER_ID {server_id} after {previous_id}; "
                    "list servers in join order, where the zone hands out increasing ids"
                )
            previous_id = server_id
        endpoint = server.get("endpoint")
        if not isinstance(endpoint, str) or not ENDPOINT_RE.match(endpoint):
            errors.append(
                f"{_path('servers', index, 'endpoint')}: '{endpoint}' is not an http(s):// "
                "XML-RPC endpoint (set address, or endpoint: http://<host>:2633/RPC2)"
            )
        for key, by_value in seen.items():
            value = server.get(key)
            if value is None or isinstance(value, (dict, list)):
                continue
            if value in by_value:
                errors.append(
                    f"{_path('servers', index, key)}: duplicate {key} '{value}' "
                    f"(also servers:{by_value[value]})"
                )
            else:
                by_value[value] = index
    return errors


def _vip_errors(vip, servers, single_node):
    if not isinstance(vip, dict):
        return [f"{_path('vip')}: must be a mapping"]
    enabled = vip.get("enabled", True)
    if not isinstance(enabled, bool):
        return [f"{_path('vip', 'enabled')}: must be true or false"]
    if not enabled:
        return []
    errors = []
    address = vip.get("address")
    if not address:
        hint = "" if single_node else " (or set onenebula_ha:vip:enabled: false for no VIP)"
        return [f"{_path('vip', 'address')}: required when the VIP is enabled{hint}"]
    if not isinstance(address, str) or "/" not in address:
        return [
            f"{_path('vip', 'address')}: '{address}' must be an address with prefix, e.g. 10.0.0.100/24"
        ]
    try:
        interface = ipaddress.ip_interface(address)
    except ValueError:
        return [f"{_path('vip', 'address')}: '{address}' is not a valid address/prefix"]
    network = interface.network
    if network.num_addresses > 2 and interface.ip in (
        network.network_address,
        network.broadcast_address,
    ):
        errors.append(
            f"{_path('vip', 'address')}: {interface.ip} is the network or broadcast address"
        )
    if not vip.get("interface") or not isinstance(vip.get("interface"), str):
        errors.append(f"{_path('vip', 'interface')}: required when the VIP is enabled (e.g. eth0)")
    for index, server in enumerate(servers if isinstance(servers, list) else []):
        if isinstance(server, dict) and str(_server_host(server)) == str(interface.ip):
            errors.append(
                f"{_path('vip', 'address')}: {interface.ip} is the address of servers:{index} "
                f"({server.get('name')}); the VIP must be a free address"
            )
    known_network = vip.get("network")
    if known_network:
        try:
            iface_net = ipaddress.ip_network(known_network, strict=False)
        except ValueError:
            errors.append(f"{_path('vip', 'network')}: '{known_network}' is not a valid network")
        else:
            if interface.ip not in iface_net:
                errors.append(
                    f"{_path('vip', 'address')}: {interface.ip} is outside the network "
                    f"{iface_net} of interface {vip.get('interface')}"
                )
            elif network.prefixlen != iface_net.prefixlen:
                errors.append(
                    f"{_path('vip', 'address')}: prefix /{network.prefixlen} differs from the "
                    f"interface network {iface_net}"
                )
    return errors


def _database_errors(database, single_node):
    if not isinstance(database, dict):
        return [f"{_path('database')}: must be a mapping"]
    errors = []
    backend = database.get("backend")
    if backend not in ("mysql", "sqlite"):
        errors.append(f"{_path('database', 'backend')}: '{backend}' must be mysql or sqlite")
    elif backend == "sqlite" and not single_node:
        errors.append(
            f"{_path('database', 'backend')}: sqlite is only allowed with single_node; "
            "HA front-ends each run their own MariaDB/MySQL"
        )
    if backend == "mysql":
        password = database.get("password")
        if not isinstance(password, str) or not password:
            errors.append(f"{_path('database', 'password')}: required for the mysql backend")
        port = database.get("port")
        if not _is_int(port) or not 0 < port < 65536:
            errors.append(f"{_path('database', 'port')}: '{port}' is not a TCP port")
        for key in ("name", "user"):
            if not isinstance(database.get(key), str) or not DB_IDENTIFIER_RE.match(database[key]):
                errors.append(f"{_path('database', key)}: required, letters, digits, _ or $")
        if not isinstance(database.get("host"), str) or not database.get("host"):
            errors.append(f"{_path('database', 'host')}: required")
    return errors


def _raft_errors(raft):
    if not isinstance(raft, dict):
        return [f"{_path('raft')}: must be a mapping"]
    errors = []
    for key in RAFT_KEYS:
        value = raft.get(key)
        if not _is_int(value) or value <= 0:
            errors.append(f"{_path('raft', key)}: '{value}' must be a positive integer")
        elif key in RAFT_TIMEOUT_KEYS and value <= MIN_RAFT_TIMEOUT_MS:
            errors.append(
                f"{_path('raft', key)}: {value} ms is too short; Raft timeouts must be above "
                f"{MIN_RAFT_TIMEOUT_MS} ms"
            )
    broadcast, election = raft.get("broadcast_timeout_ms"), raft.get("election_timeout_ms")
    if _is_int(broadcast) and _is_int(election) and broadcast >= election:
        errors.append(
            f"{_path('raft', 'broadcast_timeout_ms')}: {broadcast} ms must be below "
            f"election_timeout_ms ({election} ms), or followers start elections between heartbeats"
        )
    return errors


def _misc_errors(config):
    errors = []
    zone = config.get("zone") or {}
    if not _is_int(zone.get("id")) or zone["id"] < 0:
        errors.append(f"{_path('zone', 'id')}: '{zone.get('id')}' must be an integer >= 0")
    if not isinstance(zone.get("name"), str) or not zone.get("name"):
        errors.append(f"{_path('zone', 'name')}: required")
    if not isinstance(config.get("single_node", False), bool):
        errors.append(f"{_path('single_node')}: must be true or false")
    oned = config.get("oned") or {}
    port = oned.get("port")
    if not _is_int(port) or not 0 < port < 65536:
        errors.append(f"{_path('oned', 'port')}: '{port}' is not a TCP port")
    secrets = config.get("secrets") or {}
    source = secrets.get("source")
    if source not in ("leader", "pillar"):
        errors.append(f"{_path('secrets', 'source')}: '{source}' must be leader or pillar")
    files = secrets.get("files") or {}
    if not isinstance(files, dict):
        errors.append(f"{_path('secrets', 'files')}: must be a mapping of file name to content")
        files = {}
    for name in files:
        if not SECRET_FILE_RE.match(str(name)):
            errors.append(f"{_path('secrets', 'files', name)}: not a plain file name")
    if source == "pillar" and not str(files.get("one_auth", "")).startswith("oneadmin:"):
        errors.append(
            f"{_path('secrets', 'files', 'one_auth')}: required with source pillar, "
            "as 'oneadmin:<password>'"
        )
    hooks = config.get("hooks") or {}
    scripts = hooks.get("failover_scripts") or {}
    if not isinstance(scripts, dict):
        errors.append(f"{_path('hooks', 'failover_scripts')}: must be a mapping of name to script")
        scripts = {}
    for name in scripts:
        if not FAILOVER_SCRIPT_RE.match(str(name)):
            errors.append(
                f"{_path('hooks', 'failover_scripts', name)}: name must look like NN-name "
                "(two digits set the run order)"
            )
    if not isinstance(hooks.get("command"), str) or not hooks.get("command"):
        errors.append(f"{_path('hooks', 'command')}: required")
    mounts = (config.get("sharedfs") or {}).get("mounts") or []
    for index, mount in enumerate(mounts if isinstance(mounts, list) else []):
        if not isinstance(mount, dict):
            continue
        if not str(mount.get("name", "")).startswith("/"):
            errors.append(f"{_path('sharedfs', 'mounts', index, 'name')}: must be an absolute path")
        for key in ("device", "fstype"):
            if not mount.get(key):
                errors.append(f"{_path('sharedfs', 'mounts', index, key)}: required")
    beacon = config.get("beacon") or {}
    interval = beacon.get("interval", 1)
    if not _is_int(interval) or interval < 1:
        errors.append(
            f"{_path('beacon', 'interval')}: '{interval}' must be a whole number of seconds >= 1"
        )
    for section, key in (
        ("beacon", "report_errors_every"),
        ("beacon", "error_after"),
        ("reactor", "repair_lock_ttl"),
    ):
        value = (config.get(section) or {}).get(key, 0)
        if not _is_int(value) or value < 0:
            errors.append(
                f"{_path(section, key)}: '{value}' must be a whole number of seconds >= 0"
            )
    return errors


# The fencing agent's settings: (low, high) bounds; the lease must end before the followers
# can elect someone else (docs/fence.md): lease + poll + BROADCAST_TIMEOUT + margin below
# ELECTION_TIMEOUT, and a lease must outlast one round (poll + timeout).
FENCE_BOUNDS = {
    "poll_interval": (0.05, 10),
    "lease_fraction": (0.05, 0.95),
    "timeout": (0.05, 30),
    "margin_ms": (0, 60000),
    "max_lag": (0, 10**9),
    "port": (1, 65535),
}
FENCE_INTEGERS = ("margin_ms", "max_lag", "port")
FENCE_PATHS = ("python3", "program", "config", "pidfile", "log")
FENCE_SERVICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")
FENCE_PATH_RE = re.compile(r"(/[A-Za-z0-9_.@+-]+)+")


def _fence_errors(config):
    """Problems in ``onenebula_ha:fence`` (the fencing agent), checked against the Raft timings."""
    fence = config.get("fence")
    if fence is None:
        return []
    if not isinstance(fence, dict):
        return [f"{_path('fence')}: must be a mapping"]
    errors = []
    if not isinstance(fence.get("enabled", False), bool):
        errors.append(f"{_path('fence', 'enabled')}: must be true or false")
    numbers = {}
    for key, (low, high) in FENCE_BOUNDS.items():
        value = fence.get(key)
        integer = key in FENCE_INTEGERS
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
            kind = "a whole number" if integer else "a number"
            errors.append(f"{_path('fence', key)}: must be {kind} between {low} and {high}")
        elif not low <= value <= high:
            errors.append(f"{_path('fence', key)}: {value} is not between {low} and {high}")
        else:
            numbers[key] = value
    try:
        ipaddress.ip_address(fence.get("bind"))
    except (TypeError, ValueError):
        errors.append(f"{_path('fence', 'bind')}: must be an IP address (0.0.0.0 for all)")
    if fence.get("log_level") not in ("debug", "info", "warning", "error"):
        errors.append(f"{_path('fence', 'log_level')}: one of debug, info, warning, error")
    service = fence.get("service")
    if not isinstance(service, str) or not FENCE_SERVICE_RE.fullmatch(service):
        errors.append(f"{_path('fence', 'service')}: must be a service name")
    for key in FENCE_PATHS:
        value = fence.get(key)
        if not isinstance(value, str) or not FENCE_PATH_RE.fullmatch(value) or "/../" in value:
            errors.append(f"{_path('fence', key)}: must be an absolute path")
    if fence.get("enabled") is True and set(numbers) >= {"lease_fraction", "poll_interval"}:
        raft = config.get("raft") if isinstance(config.get("raft"), dict) else {}
        election, broadcast = raft.get("election_timeout_ms"), raft.get("broadcast_timeout_ms")
        if _is_int(election) and _is_int(broadcast):
            lease = numbers["lease_fraction"] * election
            poll = numbers["poll_interval"] * 1000
            total = lease + poll + broadcast + numbers.get("margin_ms", 0)
            if total >= election:
                errors.append(
                    f"{_path('fence', 'lease_fraction')}: lease {lease:.0f} ms + poll_interval "
                    f"{poll:.0f} ms + broadcast_timeout_ms {broadcast} ms + margin_ms "
                    f"{numbers.get('margin_ms', 0)} = {total:.0f} ms must stay below "
                    f"election_timeout_ms ({election} ms), or the lease could outlive the "
                    "followers' election timer"
                )
            elif "timeout" in numbers and poll + numbers["timeout"] * 1000 > lease:
                errors.append(
                    f"{_path('fence', 'poll_interval')}: poll_interval {poll:.0f} ms + timeout "
                    f"{numbers['timeout'] * 1000:.0f} ms exceed the lease ({lease:.0f} ms): "
                    "the lease would lapse between two rounds"
                )
    return errors


def with_endpoints(config):
    """Return ``config`` with each server's ``endpoint`` derived from its address when unset."""
    port = (config.get("oned") or {}).get("port", 2633)
    servers = []
    for server in config.get("servers") or []:
        if isinstance(server, dict) and not server.get("endpoint") and server.get("address"):
            server = dict(server, endpoint=f"http://{server['address']}:{port}/RPC2")
        servers.append(server)
    return dict(config, servers=servers)


def find_errors(config):
    """Return every problem in a merged ``onenebula_ha`` configuration, as messages."""
    if not isinstance(config, dict):
        return [f"{ROOT}: must be a mapping"]
    config = with_endpoints(config)
    single_node = config.get("single_node") is True
    errors = _unknown_key_errors(config, SCHEMA, [])
    errors += _server_errors(config.get("servers"), single_node)
    errors += _vip_errors(config.get("vip") or {}, config.get("servers"), single_node)
    errors += _database_errors(config.get("database") or {}, single_node)
    errors += _raft_errors(config.get("raft") or {})
    errors += _misc_errors(config)
    errors += _fence_errors(config)
    return errors


def validate(config):
    """
    Validate and normalise the merged ``onenebula_ha`` configuration.

    Returns the configuration with derived values filled in (server endpoints). Raises
    ``CommandExecutionError`` listing every problem, each named by its pillar key, so the
    render stops before any state changes anything.

    CLI Example:

    .. code-block:: bash

        salt vmm01 onenebula_pillar.validate "$(salt vmm01 pillar.get onenebula_ha --out=json)"
    """
    errors = find_errors(config)
    if errors:
        raise CommandExecutionError("Invalid onenebula_ha pillar:\n  - " + "\n  - ".join(errors))
    return with_endpoints(config)


def check(defaults_source="salt://onenebula_ha/defaults.yaml"):
    """
    Validate this minion's ``onenebula_ha`` pillar merged over the formula's defaults,
    as the state tree will see it. Changes nothing.

    Returns ``{"valid": bool, "errors": [...]}``.

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_pillar.check
    """
    defaults_text = __salt__["cp.get_file_str"](defaults_source) or ""
    defaults = (salt.utils.yaml.safe_load(defaults_text) or {}).get(ROOT, {})
    pillar = __salt__["pillar.get"](ROOT, {})
    lookup = pillar.get("lookup") or {}
    merged = salt.utils.dictupdate.merge(defaults, lookup, strategy="recurse", merge_lists=False)
    merged = salt.utils.dictupdate.merge(merged, pillar, strategy="recurse", merge_lists=False)
    errors = find_errors(merged)
    return {"valid": not errors, "errors": errors}
