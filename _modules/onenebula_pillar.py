"""
Validation of the ``onenebula_ha`` pillar — the formula's whole input.

Every SLS of the formula imports ``onenebula_ha/map.jinja``, which hands the defaults, the
platform values and the raw pillar to :func:`settings`: the pillar is measured, merged the
way template-formula does and validated here. A pillar that fails makes the render fail,
so no state runs and nothing on the machine changes. Each error names the offending key
as a Salt pillar path (``onenebula_ha:servers:2:endpoint``) so an operator can go straight
to it.

The pillar is hostile until validated: pillar values reach sudoers rules, shell scripts,
command lines, Salt targets, oned.conf and fstab. So every key has a type and bounds, and
every string that reaches one of those places has a strict grammar, matched against the
whole string (``re.fullmatch``: ``$`` would let a trailing newline through). Messages
never repeat a secret (database password, secret files, endpoint user-info) and show
other values only escaped and shortened.

Free-form parts (``packages:repo``, ``secrets:files``, ``hooks:failover_scripts``) and the
pillar as a whole have size limits, checked with a bounded walk *before* anything else
walks, merges or renders them: a YAML alias bomb is refused after a few thousand nodes.

The checks are plain Python (:func:`find_errors`) so they can be tested without Salt.
"""

import contextlib
import difflib
import ipaddress
import math
import re

import salt.utils.dictupdate
import salt.utils.yaml
from salt.exceptions import CommandExecutionError

__virtualname__ = "onenebula_pillar"

ROOT = "onenebula_ha"

# ------------------------------------------------------------------ size limits
# The whole onenebula_ha pillar (pillar.example is ~150 nodes and 2 kB).
MAX_NODES = 5000
MAX_TEXT = 1 << 20  # characters in all strings and keys together
MAX_DEPTH = 16
MAX_STRING = 4096  # any single string that is not a script or a secret file
MAX_FILE_TEXT = 64 * 1024  # one failover script or secret file
MAX_SERVERS = 15
MAX_LIST = 64  # services, mounts, mount options, package lists
MAX_MAPPING = 64  # secrets:files, failover scripts, paths, services, pkgs
MAX_REPO_NODES = 256  # packages:repo (pkgrepo.managed arguments)

# ------------------------------------------------------------------ grammars
# All used with re.fullmatch.
# Salt minion id: no glob (* ? [ ]), no list separator (,), no compound syntax (@ : space).
MINION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# Zone and server names: no leading '-' (a name must not read as an option), no spaces,
# quotes, '#' or ':' (they go into YAML, comments and CLI arguments).
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# Linux interface name: at most 15 characters (IFNAMSIZ), no '/', ':' or whitespace.
INTERFACE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
# systemd unit / SysV service name (template units carry '@').
SERVICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")
# POSIX user/group name, as useradd accepts by default.
USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
DB_IDENTIFIER_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
PACKAGE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9+_.:~-]{0,127}")
FAILOVER_SCRIPT_RE = re.compile(r"\d\d-[A-Za-z0-9_][A-Za-z0-9_.-]{0,61}")
SECRET_FILE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
PATH_SEGMENT_RE = re.compile(r"[A-Za-z0-9_.@+-]{1,255}")
KEY_RE = re.compile(r"[a-z_][a-z0-9_]{0,63}")
HOST_LABEL_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
MOUNT_DEVICE_RE = re.compile(r"[A-Za-z0-9_.,:/@=+\[\]-]{1,1024}")
MOUNT_FSTYPE_RE = re.compile(r"[a-z0-9][a-z0-9_.]{0,31}")
MOUNT_OPTION_RE = re.compile(r"[A-Za-z0-9_.:/@=+-]{1,255}")
# The whole endpoint: scheme, host (name, IPv4 or [IPv6]), optional port without leading
# zeros, and exactly OpenNebula's XML-RPC path.
ENDPOINT_RE = re.compile(
    r"(?P<scheme>https?)://(?P<host>\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,253})"
    r"(?::(?P<port>[1-9][0-9]{0,4}))?(?P<path>/RPC2)"
)
# The parts of anything that looks like a URL, for comparing spellings of one endpoint.
_LOOSE_URL_RE = re.compile(
    r"\s*(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:[^/@]*@)?"
    r"(?P<host>\[[^\]]*\]|[^:/?#]*)(?::(?P<port>[0-9]*))?(?P<path>[^?#]*)",
    re.S,
)
_USER_INFO_RE = re.compile(r"(://)[^/@\s']*@")
VIP_RE = re.compile(r"[0-9A-Fa-f:.]{2,45}/(0|[1-9][0-9]{0,2})")

# ------------------------------------------------------------------ numeric bounds
MAX_ID = 65535  # zone and server ids (OpenNebula hands out max+1 on each server-add)
RAFT_BOUNDS = {
    # oned.conf: timeouts must be above 10 ms.
    "limit_purge": (1, 100_000_000),
    "log_retention": (1, 100_000_000),
    "log_purge_timeout": (1, 86_400),
    "election_timeout_ms": (11, 120_000),
    "broadcast_timeout_ms": (11, 120_000),
    "xmlrpc_timeout_ms": (11, 120_000),
}
RAFT_KEYS = tuple(RAFT_BOUNDS)
RAFT_TIMEOUT_KEYS = ("election_timeout_ms", "broadcast_timeout_ms", "xmlrpc_timeout_ms")
MIN_RAFT_TIMEOUT_MS = 10
SECONDS_BOUNDS = {
    ("beacon", "interval"): (1, 3600),
    ("beacon", "report_errors_every"): (0, 86_400),
    ("beacon", "error_after"): (0, 86_400),
    ("reactor", "repair_lock_ttl"): (0, 86_400),
    ("deploy", "wait_timeout"): (1, 86_400),
}

# Allowed keys. A dict is a nested section; ``FREE`` marks a mapping whose keys are the
# user's own (file names, script names); ``ListOf`` a list of sections.
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
    "version": None,
    "edition": None,
    "packages": {"manage": None, "repo": FREE, "enterprise_token": None},
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
    "repo": FREE,
    "platform": FREE,
    "lookup": FREE,
}
# Paths the formula needs; lookup may add salt_conf_dir (null: the running config's dir).
REQUIRED_PATHS = (
    "oned_conf",
    "monitord_conf",
    "one_home",
    "one_auth_dir",
    "remotes",
    "hooks_dir",
    "lock_dir",
    "mysql_socket",
)
OPTIONAL_PATHS = ("salt_conf_dir",)
REQUIRED_SERVICES = ("oned", "database")
OPTIONAL_SERVICES = ("salt_master",)


def __virtual__():
    # Pure Python: always loadable, also on the master for orchestration renders.
    return __virtualname__


# ------------------------------------------------------------------ helpers


def _path(*parts):
    return ":".join([ROOT, *(str(p) for p in parts)])


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value, limit=48):
    """A value for a message: strings escaped (no newline or control character reaches a
    log line) and shortened, other types by name."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_int(value):
        text = str(value) if abs(value) < 10**12 else f"{str(value)[:12]}..."
        return f"'{text}'"
    if isinstance(value, float):
        return f"'{value!r}'"
    if isinstance(value, str):
        text = value.encode("unicode_escape").decode("ascii").replace("'", "\\'")
        if len(text) > limit:
            text = text[:limit] + "..."
        return f"'{text}'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a value of type {type(value).__name__}"


def _measure(value, max_nodes=MAX_NODES, max_text=MAX_TEXT, max_depth=MAX_DEPTH):
    """Walk ``value`` as it would be expanded (YAML aliases count each time they are
    used), stopping at the first limit reached. Returns None when within the limits,
    else what was exceeded. Never walks more than ``max_nodes`` nodes, so an alias bomb
    or a self-referencing structure costs as much as a pillar of that size."""
    nodes = text = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            return f"more than {max_nodes} values"
        if depth > max_depth:
            return f"nested deeper than {max_depth} levels"
        if isinstance(item, str | bytes):
            text += len(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str | bytes):
                    text += len(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1) for child in item)
        if text > max_text:
            return f"more than {max_text} characters"
    return None


def _parse_host(host):
    """``host`` as (kind, normalised text), or None when it is no hostname, IPv4 or
    bracketed IPv6 address."""
    if host.startswith("[") and host.endswith("]"):
        try:
            return "ipv6", str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            return None
    if re.fullmatch(r"[0-9.]+", host):
        try:
            return "ipv4", str(ipaddress.IPv4Address(host))
        except ValueError:
            return None
    return ("hostname", host.lower()) if _is_hostname(host) else None


def _is_hostname(text):
    if not isinstance(text, str) or not 0 < len(text) <= 253:
        return False
    labels = text[:-1].split(".") if text.endswith(".") else text.split(".")
    if not all(HOST_LABEL_RE.fullmatch(label) for label in labels):
        return False
    # A last label of digits only would make 999.1.1.1 a "hostname".
    return not labels[-1].isdigit()


def _is_address(text):
    if not isinstance(text, str) or len(text) > 45:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    # ipaddress accepts IPv6 scope ids ("fe80::1%eth0"): they are no plain address.
    return "%" not in text


def _endpoint_key(text):
    """A normalised form of anything that looks like a URL, so spellings of one
    endpoint compare equal (case, default or zero-padded port, trailing slash,
    user-info). None when it is not a URL at all."""
    if not isinstance(text, str):
        return None
    match = _LOOSE_URL_RE.match(text)
    if not match:
        return None
    scheme = match["scheme"].lower()
    host = match["host"].strip("[]").lower()
    with contextlib.suppress(ValueError):
        host = str(ipaddress.ip_address(host))
    port = match["port"]
    port = int(port) if port and port.isdigit() else {"http": 80, "https": 443}.get(scheme)
    path = match["path"].rstrip("/") or "/"
    return (scheme, host, port, path)


def _endpoint_problem(endpoint):
    """Why ``endpoint`` is not a valid XML-RPC endpoint, or None."""
    if not isinstance(endpoint, str):
        return f"{_show(endpoint)} is not an http(s):// XML-RPC endpoint"
    if len(endpoint) > 300:
        return "is longer than 300 characters"
    match = ENDPOINT_RE.fullmatch(endpoint)
    loose = _LOOSE_URL_RE.match(endpoint)
    if loose and "@" in endpoint.split("://", 1)[-1].split("/", 1)[0]:
        # Never echo user-info: it is usually a password.
        return (
            "must not carry user-info (user:password@); oned's XML-RPC endpoints take "
            "no credentials"
        )
    if match is None:
        return (
            f"{_show(endpoint)} is not an http(s):// XML-RPC endpoint of the form "
            "http://<host>[:<port>]/RPC2 (port 1-65535 without leading zeros, path "
            "exactly /RPC2)"
        )
    if _parse_host(match["host"]) is None:
        return f"{_show(endpoint)}: {_show(match['host'])} is not a host name or IP address"
    if match["port"] and int(match["port"]) > 65535:
        return f"{_show(endpoint)}: port {match['port']} is above 65535"
    return None


def _absolute_path_problem(value, relative=False):
    """Why ``value`` is not an absolute (or, with ``relative``, a relative) normalised
    path of plain segments, or None."""
    kind = "relative path" if relative else "absolute path below /"
    if not isinstance(value, str) or not value:
        return f"{_show(value)} must be a {kind}"
    if len(value) > 4096:
        return "is longer than 4096 characters"
    if relative:
        if value.startswith("/"):
            return f"{_show(value)} must be relative"
        segments = value.split("/")
    elif not value.startswith("/") or value == "/":
        return f"{_show(value)} must be an {kind}"
    else:
        segments = value[1:].split("/")
    if any(segment in (".", "..") for segment in segments):
        return f"{_show(value)} must not contain '.' or '..' segments"
    if "" in segments:
        return f"{_show(value)} is not normalised (no '//', no trailing '/')"
    if not all(PATH_SEGMENT_RE.fullmatch(segment) for segment in segments):
        return f"{_show(value)} may only contain letters, digits and _ . @ + - between its slashes"
    return None


def _relative_path_problem(value):
    return _absolute_path_problem(value, relative=True)


class _Checker:
    """Collects errors; ``path`` names a key where the operator set it (the pillar or
    its ``lookup`` section) when the raw pillar is known."""

    def __init__(self, pillar=None):
        self.errors = []
        self.pillar = pillar

    def path(self, *parts):
        pillar = self.pillar if isinstance(self.pillar, dict) else {}
        if not _has(pillar, parts) and _has(pillar.get("lookup"), parts):
            return _path("lookup", *parts)
        return _path(*parts)

    def add(self, parts, message):
        self.errors.append(f"{self.path(*parts)}: {message}")

    # Typed getters: report and return None when the value does not fit.

    def boolean(self, parts, value, default=None):
        if value is None and default is not None:
            return default
        if not isinstance(value, bool):
            self.add(parts, f"{_show(value)} must be true or false")
            return None
        return value

    def integer(self, parts, value, low, high, what="an integer"):
        if not _is_int(value):
            self.add(parts, f"{_show(value)} must be {what} from {low} to {high}")
            return None
        if not low <= value <= high:
            self.add(parts, f"{_show(value)} is out of range: {what} from {low} to {high}")
            return None
        return value

    def text(self, parts, value, grammar, what, required=True):
        """A string matching ``grammar`` (whole string), else an error naming ``what``."""
        if value is None and not required:
            return None
        if value is None or value == "":
            self.add(parts, f"required: {what}")
            return None
        if not isinstance(value, str):
            self.add(parts, f"{_show(value)} must be {what}")
            return None
        if len(value) > MAX_STRING or not grammar.fullmatch(value):
            self.add(parts, f"{_show(value)} is not {what}")
            return None
        return value

    def mapping(self, parts, value, allow_none=True):
        if value is None and allow_none:
            return {}
        if not isinstance(value, dict):
            self.add(parts, f"must be a mapping, not {_show(value)}")
            return None
        return value

    def names(self, parts, value, grammar, what, limit=MAX_LIST):
        """A list of unique strings in ``grammar``; a single string is an error (it would
        be iterated character by character)."""
        if value is None:
            return []
        if isinstance(value, str):
            self.add(
                parts, f"must be a list of {what}s, not a single string (write [{_show(value)}])"
            )
            return None
        if not isinstance(value, list):
            self.add(parts, f"must be a list of {what}s, not {_show(value)}")
            return None
        if len(value) > limit:
            self.add(parts, f"lists {len(value)} items; at most {limit}")
            return None
        good = []
        for index, item in enumerate(value):
            name = self.text([*parts, index], item, grammar, f"a {what}")
            if name is None:
                continue
            if name in good:
                self.add([*parts, index], f"duplicate {what} {_show(name)}")
            good.append(name)
        return good


def _has(tree, parts):
    node = tree
    for part in parts:
        if (
            isinstance(node, dict)
            and part in node
            or isinstance(node, list)
            and _is_int(part)
            and 0 <= part < len(node)
        ):
            node = node[part]
        else:
            return False
    return True


# ------------------------------------------------------------------ sections


def _unknown_keys(check, data, schema, parts):
    """Report keys that are not in the schema, with a suggestion for likely typos."""
    if isinstance(schema, ListOf):
        if not isinstance(data, list):
            if data is not None:
                check.add(parts, f"must be a list, not {_show(data)}")
            return
        for index, item in enumerate(data):
            if isinstance(item, dict):
                _unknown_keys(check, item, schema.schema, [*parts, index])
        return
    if not isinstance(schema, dict) or not isinstance(data, dict):
        return
    for key, value in data.items():
        if key not in schema:
            hint = difflib.get_close_matches(str(key)[:64], list(schema), n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            shown = key if isinstance(key, str) and KEY_RE.fullmatch(key) else _show(key)
            check.errors.append(f"{_path(*parts, shown)}: unknown key{suggestion}")
        elif schema[key] not in (None, FREE):
            _unknown_keys(check, value, schema[key], [*parts, key])


def _server_host(server):
    """The host part of a server's endpoint, normalised (or its address)."""
    key = _endpoint_key(server.get("endpoint"))
    if key:
        return key[1]
    address = server.get("address")
    return str(address).lower() if isinstance(address, str) else None


def _server_errors(check, servers, single_node):
    if not isinstance(servers, list) or not servers:
        if servers not in (None, []) and not isinstance(servers, list):
            check.add(["servers"], f"must be a list of servers, not {_show(servers)}")
        else:
            check.add(["servers"], "at least one server is required")
        return
    count = len(servers)
    if count > MAX_SERVERS:
        check.add(["servers"], f"{count} servers listed; at most {MAX_SERVERS}")
        return
    if single_node:
        if count != 1:
            check.add(
                ["servers"],
                f"single_node is set but {count} servers are listed "
                "(a single-node zone has exactly one)",
            )
    elif count < 3 or count % 2 == 0:
        check.add(
            ["servers"],
            f"{count} server(s) listed; Raft HA needs an odd number of at "
            "least 3 (3 or 5), or set onenebula_ha:single_node: true for one server",
        )

    seen = {"minion": {}, "id": {}, "name": {}, "endpoint": {}}
    previous_id = None
    for index, server in enumerate(servers):
        where = ["servers", index]
        if not isinstance(server, dict):
            check.add(where, f"must be a mapping, not {_show(server)}")
            continue
        minion = check.text(
            [*where, "minion"],
            server.get("minion"),
            MINION_RE,
            "a minion id (letters, digits, _ . -; no glob or list characters)",
        )
        name = check.text(
            [*where, "name"],
            server.get("name"),
            NAME_RE,
            "a server name (letters, digits, _ . -, not starting with - or .)",
        )
        server_id = server.get("id")
        if not _is_int(server_id):
            check.add([*where, "id"], f"required, an integer SERVER_ID (not {_show(server_id)})")
        elif server_id < 0:
            check.add(
                [*where, "id"],
                f"SERVER_ID {server_id} is negative (-1 means solo; zone members have ids >= 0)",
            )
        elif server_id > MAX_ID:
            check.add([*where, "id"], f"SERVER_ID {_show(server_id)} is above {MAX_ID}")
        else:
            if previous_id is not None and server_id <= previous_id:
                check.add(
                    [*where, "id"],
                    f"SERVER_ID {server_id} after {previous_id}; list servers in join "
                    "order, where the zone hands out increasing ids",
                )
            previous_id = server_id
        address = server.get("address")
        if address is not None and not (_is_address(address) or _is_hostname(address)):
            check.add([*where, "address"], f"{_show(address)} is not an IP address or host name")
        endpoint = server.get("endpoint")
        problem = _endpoint_problem(endpoint)
        if problem:
            if endpoint is None:
                problem = "required: set address, or endpoint: http://<host>:2633/RPC2"
            check.add([*where, "endpoint"], problem)
        values = {
            "minion": minion,
            "id": server_id if _is_int(server_id) else None,
            "name": name.lower() if name else None,
            "endpoint": _endpoint_key(endpoint),
        }
        for key, by_value in seen.items():
            value = values[key]
            if value is None:
                continue
            if value in by_value:
                shown = _show(server.get(key))
                if key == "endpoint" and problem:
                    shown = "(the same scheme, host, port and path)"
                check.add(
                    [*where, key],
                    f"duplicate {key} {shown} (also servers:{by_value[value]})",
                )
            else:
                by_value[value] = index


def _vip_errors(check, vip, servers, single_node):
    vip = check.mapping(["vip"], vip)
    if vip is None:
        return
    enabled = check.boolean(["vip", "enabled"], vip.get("enabled", True))
    if not enabled:
        return
    address = vip.get("address")
    if address is None or address == "":
        hint = "" if single_node else " (or set onenebula_ha:vip:enabled: false for no VIP)"
        check.add(["vip", "address"], f"required when the VIP is enabled{hint}")
        address = None
    elif not isinstance(address, str) or "/" not in address:
        check.add(
            ["vip", "address"],
            f"{_show(address)} must be an address with prefix, e.g. 10.0.0.100/24",
        )
        address = None
    interface_name = vip.get("interface")
    if interface_name is None or interface_name == "":
        check.add(["vip", "interface"], "required when the VIP is enabled (e.g. eth0)")
    else:
        check.text(
            ["vip", "interface"],
            interface_name,
            INTERFACE_RE,
            "an interface name (up to 15 letters, digits, _ . -)",
        )
    if address is None:
        return
    try:
        if not VIP_RE.fullmatch(address):
            raise ValueError(address)
        interface = ipaddress.ip_interface(address)
    except ValueError:
        check.add(["vip", "address"], f"{_show(address)} is not a valid address/prefix")
        return
    if str(interface) != address:
        check.add(
            ["vip", "address"], f"{_show(address)} is not in canonical form; write {interface}"
        )
        return
    network = interface.network
    if network.num_addresses > 2 and interface.ip in (
        network.network_address,
        network.broadcast_address,
    ):
        check.add(["vip", "address"], f"{interface.ip} is the network or broadcast address")
    for index, server in enumerate(servers if isinstance(servers, list) else []):
        if isinstance(server, dict) and _server_host(server) == str(interface.ip):
            name = server.get("name") if isinstance(server.get("name"), str) else "?"
            check.add(
                ["vip", "address"],
                f"{interface.ip} is the address of servers:{index} "
                f"({_show(name)[1:-1]}); the VIP must be a free address",
            )
    known_network = vip.get("network")
    if known_network is None or known_network == "":
        return
    try:
        if not isinstance(known_network, str) or not VIP_RE.fullmatch(known_network):
            raise ValueError(known_network)
        iface_net = ipaddress.ip_network(known_network, strict=False)
    except ValueError:
        check.add(["vip", "network"], f"{_show(known_network)} is not a valid network")
        return
    if interface.ip.version != iface_net.version or interface.ip not in iface_net:
        check.add(
            ["vip", "address"],
            f"{interface.ip} is outside the network {iface_net} of interface "
            f"{_show(interface_name)[1:-1]}",
        )
    elif network.prefixlen != iface_net.prefixlen:
        check.add(
            ["vip", "address"],
            f"prefix /{network.prefixlen} differs from the interface network {iface_net}",
        )


def _password_problem(password):
    """Why the DB password cannot be written into oned.conf's DB section (a quoted
    string) safely; never repeats the password."""
    if not isinstance(password, str):
        return "must be a string (quote it in YAML)"
    if len(password) > 256:
        return "is longer than 256 characters"
    if '"' in password or "\\" in password:
        return 'must not contain " or \\ (it is written as a quoted oned.conf value)'
    if any(ord(char) < 32 or ord(char) == 127 for char in password):
        return "must not contain control characters (newline, tab, ...)"
    return None


def _database_errors(check, database, single_node):
    database = check.mapping(["database"], database)
    if database is None:
        return
    backend = database.get("backend")
    if backend not in ("mysql", "sqlite"):
        check.add(["database", "backend"], f"{_show(backend)} must be mysql or sqlite")
    elif backend == "sqlite" and not single_node:
        check.add(
            ["database", "backend"],
            "sqlite is only allowed with single_node; HA front-ends each run their own "
            "MariaDB/MySQL",
        )
    check.boolean(["database", "manage_server"], database.get("manage_server"), default=True)
    if backend != "mysql":
        return
    password = database.get("password")
    if password is None or password == "":
        check.add(["database", "password"], "required for the mysql backend")
    else:
        problem = _password_problem(password)
        if problem:
            check.add(["database", "password"], problem)
    check.integer(["database", "port"], database.get("port"), 1, 65535, "a TCP port")
    for key in ("name", "user"):
        check.text(
            ["database", key],
            database.get(key),
            DB_IDENTIFIER_RE,
            "a database identifier: required, letters, digits or _ (up to 64)",
        )
    host = database.get("host")
    if host is None or host == "":
        check.add(["database", "host"], "required")
    elif not (_is_address(host) or _is_hostname(host)):
        check.add(
            ["database", "host"],
            f"{_show(host)} is not a host name or IP address (no wildcards such as %)",
        )


def _raft_errors(check, raft):
    raft = check.mapping(["raft"], raft)
    if raft is None:
        return
    values = {}
    for key, (_low, high) in RAFT_BOUNDS.items():
        value = raft.get(key)
        if not _is_int(value) or value <= 0:
            check.add(["raft", key], f"{_show(value)} must be a positive integer")
        elif key in RAFT_TIMEOUT_KEYS and value <= MIN_RAFT_TIMEOUT_MS:
            check.add(
                ["raft", key],
                f"{value} ms is too short; Raft timeouts must be above {MIN_RAFT_TIMEOUT_MS} ms",
            )
        elif value > high:
            unit = " ms" if key.endswith("_ms") else ""
            check.add(["raft", key], f"{value}{unit} is above the limit of {high}{unit}")
        else:
            values[key] = value
    broadcast, election = values.get("broadcast_timeout_ms"), values.get("election_timeout_ms")
    if broadcast is not None and election is not None and broadcast >= election:
        check.add(
            ["raft", "broadcast_timeout_ms"],
            f"{broadcast} ms must be below election_timeout_ms ({election} ms), or "
            "followers start elections between heartbeats",
        )


def _zone_errors(check, config):
    zone = check.mapping(["zone"], config.get("zone"))
    if zone is not None:
        check.integer(["zone", "id"], zone.get("id"), 0, MAX_ID, "an integer zone id")
        check.text(
            ["zone", "name"], zone.get("name"), NAME_RE, "a zone name (letters, digits, _ . -)"
        )
    check.boolean(["single_node"], config.get("single_node"), default=False)
    oned = check.mapping(["oned"], config.get("oned"))
    if oned is not None:
        check.integer(["oned", "port"], oned.get("port"), 1, 65535, "a TCP port")
        listen = oned.get("listen_address")
        if listen is not None and not _is_address(listen):
            check.add(["oned", "listen_address"], f"{_show(listen)} is not an IP address")


def _secrets_errors(check, config):
    secrets = check.mapping(["secrets"], config.get("secrets"))
    if secrets is None:
        return
    source = secrets.get("source")
    if source not in ("leader", "pillar"):
        check.add(["secrets", "source"], f"{_show(source)} must be leader or pillar")
    files = check.mapping(["secrets", "files"], secrets.get("files"))
    if files is None:
        return
    if len(files) > MAX_MAPPING:
        check.add(["secrets", "files"], f"lists {len(files)} files; at most {MAX_MAPPING}")
        return
    for name, content in files.items():
        if not isinstance(name, str) or not SECRET_FILE_RE.fullmatch(name):
            check.add(["secrets", "files", _show(name)], "not a plain file name")
            continue
        # The content is a secret: only its type and size are ever mentioned.
        if not isinstance(content, str):
            check.add(["secrets", "files", name], "must be the file's text (a string)")
        elif len(content) > MAX_FILE_TEXT:
            check.add(["secrets", "files", name], f"is longer than {MAX_FILE_TEXT} characters")
    if source == "pillar":
        one_auth = files.get("one_auth")
        if (
            not isinstance(one_auth, str)
            or not one_auth.startswith("oneadmin:")
            or len(one_auth.rstrip("\n")) <= len("oneadmin:")
            or "\n" in one_auth.rstrip("\n")
        ):
            check.add(
                ["secrets", "files", "one_auth"],
                "required with source pillar, as one line 'oneadmin:<password>'",
            )


def _hooks_errors(check, config):
    hooks = check.mapping(["hooks"], config.get("hooks"))
    if hooks is None:
        return
    command = hooks.get("command")
    if command is None or command == "":
        check.add(["hooks", "command"], "required")
    elif isinstance(command, str) and command.startswith("/"):
        problem = _absolute_path_problem(command)
        if problem:
            check.add(["hooks", "command"], problem)
    else:
        problem = _relative_path_problem(command)
        if problem:
            check.add(["hooks", "command"], f"{problem} (relative to the hooks directory)")
    problem = _relative_path_problem(hooks.get("vip_script"))
    if problem:
        check.add(["hooks", "vip_script"], f"{problem} (relative to the hooks directory)")
    scripts = check.mapping(["hooks", "failover_scripts"], hooks.get("failover_scripts"))
    if scripts is None:
        return
    if len(scripts) > MAX_MAPPING:
        check.add(
            ["hooks", "failover_scripts"], f"lists {len(scripts)} scripts; at most {MAX_MAPPING}"
        )
        return
    for name, content in scripts.items():
        if not isinstance(name, str) or not FAILOVER_SCRIPT_RE.fullmatch(name):
            check.add(
                [
                    "hooks",
                    "failover_scripts",
                    name if isinstance(name, str) and KEY_RE.fullmatch(name) else _show(name),
                ],
                "name must look like NN-name (two digits set the run order; letters, "
                "digits, _ . - after them)",
            )
            continue
        if not isinstance(content, str):
            check.add(["hooks", "failover_scripts", name], "must be the script's text (a string)")
        elif len(content) > MAX_FILE_TEXT:
            check.add(
                ["hooks", "failover_scripts", name], f"is longer than {MAX_FILE_TEXT} characters"
            )


def _mount_errors(check, config):
    sharedfs = check.mapping(["sharedfs"], config.get("sharedfs"))
    if sharedfs is None:
        return
    mounts = sharedfs.get("mounts")
    if mounts is None:
        return
    if not isinstance(mounts, list):
        return  # reported with the unknown keys (must be a list)
    if len(mounts) > MAX_LIST:
        check.add(["sharedfs", "mounts"], f"lists {len(mounts)} mounts; at most {MAX_LIST}")
        return
    names = {}
    for index, mount in enumerate(mounts):
        where = ["sharedfs", "mounts", index]
        if not isinstance(mount, dict):
            check.add(where, f"must be a mapping, not {_show(mount)}")
            continue
        problem = _absolute_path_problem(mount.get("name"))
        if problem:
            check.add([*where, "name"], problem)
        elif mount["name"] in names:
            check.add(
                [*where, "name"],
                f"duplicate mount point (also sharedfs:mounts:{names[mount['name']]})",
            )
        else:
            names[mount["name"]] = index
        device = mount.get("device")
        if device is None or device == "":
            check.add([*where, "device"], "required")
        elif not isinstance(device, str) or not MOUNT_DEVICE_RE.fullmatch(device):
            check.add(
                [*where, "device"],
                f"{_show(device)} is not a device (host:/export, /dev/..., UUID=...; no "
                "spaces or control characters)",
            )
        elif device.startswith("/") and _absolute_path_problem(device):
            check.add([*where, "device"], _absolute_path_problem(device))
        fstype = mount.get("fstype")
        if fstype is None or fstype == "":
            check.add([*where, "fstype"], "required")
        else:
            check.text([*where, "fstype"], fstype, MOUNT_FSTYPE_RE, "a file system type (e.g. nfs)")
        opts = mount.get("opts")
        if opts is not None:
            check.names([*where, "opts"], opts, MOUNT_OPTION_RE, "mount option")
        check.boolean([*where, "mkmnt"], mount.get("mkmnt"), default=True)


def _repo_errors(check, packages):
    repo = check.mapping(["packages", "repo"], packages.get("repo"))
    if repo is None:
        return
    size = _measure(repo, max_nodes=MAX_REPO_NODES, max_depth=4)
    if size:
        check.add(["packages", "repo"], f"too large: {size} (pkgrepo.managed arguments)")
        return
    for key, value in repo.items():
        if not isinstance(key, str) or not KEY_RE.fullmatch(key):
            check.add(["packages", "repo", _show(key)], "not a pkgrepo.managed argument name")
            continue
        leaves = value if isinstance(value, list) else [value]
        for leaf in leaves:
            if leaf is not None and not isinstance(leaf, str | bool | int | float):
                check.add(
                    ["packages", "repo", key],
                    "must be a string, number, boolean or a list of them",
                )
                break
            if isinstance(leaf, str) and len(leaf) > MAX_STRING:
                check.add(["packages", "repo", key], f"is longer than {MAX_STRING} characters")
                break


def _platform_errors(check, config):
    for key in ("user", "group"):
        check.text(
            [key], config.get(key), USER_RE, f"a {key} name (lower-case letters, digits, _ -)"
        )
    paths = check.mapping(["paths"], config.get("paths"), allow_none=False)
    if paths is not None:
        for key in REQUIRED_PATHS:
            if key not in paths:
                check.add(["paths", key], "required")
        for key, value in paths.items():
            if key not in REQUIRED_PATHS + OPTIONAL_PATHS:
                check.add(["paths", _show(key)[1:-1]], "unknown path key")
            elif value is None and key in OPTIONAL_PATHS:
                continue
            else:
                problem = _absolute_path_problem(value)
                if problem:
                    check.add(["paths", key], problem)
    services = check.mapping(["services"], config.get("services"), allow_none=False)
    if services is not None:
        for key in REQUIRED_SERVICES:
            if key not in services:
                check.add(["services", key], "required")
        for key, value in services.items():
            if key not in REQUIRED_SERVICES + OPTIONAL_SERVICES:
                check.add(["services", _show(key)[1:-1]], "unknown service key")
            elif value is None and key in OPTIONAL_SERVICES:
                continue
            else:
                check.text(["services", key], value, SERVICE_RE, "a service name")
    pkgs = check.mapping(["pkgs"], config.get("pkgs"), allow_none=False)
    if pkgs is not None:
        if len(pkgs) > MAX_MAPPING:
            check.add(["pkgs"], f"lists {len(pkgs)} groups; at most {MAX_MAPPING}")
        else:
            for key, value in pkgs.items():
                if not isinstance(key, str) or not KEY_RE.fullmatch(key):
                    check.add(["pkgs", _show(key)], "not a package group name")
                    continue
                check.names(["pkgs", key], value, PACKAGE_RE, "package name")


def _misc_errors(check, config):
    ssh = check.mapping(["ssh"], config.get("ssh"))
    if ssh is not None:
        check.boolean(["ssh", "manage"], ssh.get("manage"), default=True)
        check.text(
            ["ssh", "user"],
            ssh.get("user"),
            USER_RE,
            "a user name (lower-case letters, digits, _ -)",
        )
    web_ui = check.mapping(["web_ui"], config.get("web_ui"))
    if web_ui is not None:
        check.names(["web_ui", "services"], web_ui.get("services"), SERVICE_RE, "service name")
    check.names(["leader_services"], config.get("leader_services"), SERVICE_RE, "service name")
    packages = check.mapping(["packages"], config.get("packages"))
    if packages is not None:
        check.boolean(["packages", "manage"], packages.get("manage"), default=True)
        _repo_errors(check, packages)
    for section in ("beacon", "reactor"):
        values = check.mapping([section], config.get(section))
        if values is None:
            continue
        keys = ("enabled",) if section == "beacon" else ("enabled", "move_vip", "repair")
        for key in keys:
            check.boolean([section, key], values.get(key), default=True)
    deploy = check.mapping(["deploy"], config.get("deploy"))
    if deploy is not None:
        problem = _absolute_path_problem(deploy.get("backup_dir"))
        if problem:
            check.add(["deploy", "backup_dir"], problem)
    for (section, key), (low, high) in SECONDS_BOUNDS.items():
        values = config.get(section)
        if not isinstance(values, dict):
            continue
        default = 1 if key == "interval" else 0
        value = values.get(key, default)
        if not _is_int(value) or not low <= value <= high:
            check.add(
                [section, key],
                f"{_show(value)} must be a whole number of seconds from {low} to {high}",
            )


def _lookup_errors(check, lookup):
    """``lookup`` overrides settings before the pillar does: it must be a mapping whose
    sections have the shape of the settings they override."""
    if lookup is None:
        return
    if not isinstance(lookup, dict):
        check.errors.append(f"{_path('lookup')}: must be a mapping, not {_show(lookup)}")
        return
    for key, value in lookup.items():
        if key == "lookup" or key not in SCHEMA:
            hint = difflib.get_close_matches(str(key)[:64], list(SCHEMA), n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint and hint[0] != "lookup" else ""
            shown = key if isinstance(key, str) and KEY_RE.fullmatch(key) else _show(key)
            check.errors.append(f"{_path('lookup', shown)}: unknown key{suggestion}")
        elif (isinstance(SCHEMA[key], dict) or SCHEMA[key] == FREE) and not isinstance(value, dict):
            check.errors.append(f"{_path('lookup', key)}: must be a mapping, not {_show(value)}")


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
# Left null, these follow raft:election_timeout_ms (_fence_timings).
FENCE_DERIVED = ("poll_interval", "timeout")
FENCE_POLL_MAX_S = 0.5
FENCE_TIMEOUT_MAX_S = 1.0
FENCE_PATHS = ("python3", "program", "config", "pidfile", "log")
FENCE_SERVICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")
FENCE_PATH_RE = re.compile(r"(/[A-Za-z0-9_.@+-]+)+")


def _raft_timings(raft):
    """``(election_timeout_ms, broadcast_timeout_ms)`` when both are valid (else None: the
    raft section's own error says why, and nothing is derived from or checked against them)."""
    raft = raft if isinstance(raft, dict) else {}
    election, broadcast = raft.get("election_timeout_ms"), raft.get("broadcast_timeout_ms")
    for key, value in (("election_timeout_ms", election), ("broadcast_timeout_ms", broadcast)):
        if not _is_int(value) or not MIN_RAFT_TIMEOUT_MS < value <= RAFT_BOUNDS[key][1]:
            return None
    return (election, broadcast) if broadcast < election else None


def _fence_timings(fence, raft):
    """``{"poll_interval", "timeout"}`` in seconds: the pillar's values, or, where null,
    derived from ``raft:election_timeout_ms`` so that the agent is safe with any Raft
    timings that leave room for a lease (docs/fence.md, "Configuration"):

    * ``poll_interval``: ELECTION_TIMEOUT / 10, at most 0.5 s (5000 ms -> 0.5 s, 1500 ms
      -> 0.15 s): a short poll is a term of the lease bound, so it shrinks with it;
    * ``timeout``: what is left of the lease after one poll, at most 1 s (a lease must
      outlast one round): 5000 ms -> 1.0 s, 1500 ms -> 0.6 s.

    A value that cannot be derived (no usable election timeout or lease fraction) stays
    None; the validation reports the key it came from."""
    fence = fence if isinstance(fence, dict) else {}
    timings = {key: fence.get(key) for key in FENCE_DERIVED}
    if _raft_timings(raft) is None:
        return timings
    election = _raft_timings(raft)[0]
    if timings["poll_interval"] is None:
        timings["poll_interval"] = round(max(0.05, min(FENCE_POLL_MAX_S, election / 10000)), 3)
    fraction, poll = fence.get("lease_fraction"), timings["poll_interval"]
    numbers = all(
        isinstance(value, (int, float)) and not isinstance(value, bool)
        for value in (fraction, poll)
    )
    if timings["timeout"] is None and numbers:
        left = max(0.05, min(FENCE_TIMEOUT_MAX_S, fraction * election / 1000 - poll))
        # whole milliseconds, rounded down: poll + timeout never exceeds the lease by a
        # rounding error
        timings["timeout"] = math.floor(left * 1000 + 1e-9) / 1000
    return timings


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
    timings = _fence_timings(fence, config.get("raft"))
    numbers = {}
    for key, (low, high) in FENCE_BOUNDS.items():
        value = timings.get(key) if key in FENCE_DERIVED else fence.get(key)
        integer = key in FENCE_INTEGERS
        if value is None and key in FENCE_DERIVED and fence.get(key) is None:
            continue  # not derivable: the Raft or lease_fraction error says why
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
            kind = "a whole number" if integer else "a number"
            null = (
                " (or null: derived from raft:election_timeout_ms)" if key in FENCE_DERIVED else ""
            )
            errors.append(f"{_path('fence', key)}: must be {kind} between {low} and {high}{null}")
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
        errors += _fence_lease_errors(fence, config.get("raft"), numbers)
    return errors


def _fence_lease_errors(fence, raft, numbers):
    """The lease bound (docs/fence.md): the lease ends before the followers' election timer
    can fire, and it outlasts one round."""
    if _raft_timings(raft) is None:
        return []
    election, broadcast = _raft_timings(raft)

    def shown(key):
        return " (derived)" if fence.get(key) is None else ""

    lease = numbers["lease_fraction"] * election
    poll = numbers["poll_interval"] * 1000
    margin = numbers.get("margin_ms", 0)
    total = lease + poll + broadcast + margin
    if total >= election:
        return [
            f"{_path('fence', 'lease_fraction')}: lease {lease:.0f} ms + poll_interval "
            f"{poll:.0f} ms{shown('poll_interval')} + broadcast_timeout_ms {broadcast} ms + "
            f"margin_ms {margin} = {total:.0f} ms must stay below election_timeout_ms "
            f"({election} ms), or the lease could outlive the followers' election timer: "
            "lower fence:lease_fraction (or margin_ms), raise raft:election_timeout_ms, or "
            "set fence:enabled false"
        ]
    if "timeout" in numbers and poll + numbers["timeout"] * 1000 > lease:
        return [
            f"{_path('fence', 'poll_interval')}: poll_interval {poll:.0f} ms"
            f"{shown('poll_interval')} + timeout {numbers['timeout'] * 1000:.0f} ms"
            f"{shown('timeout')} exceed the lease ({lease:.0f} ms): "
            "the lease would lapse between two rounds"
        ]
    return []


# fullmatch: "$" alone would let a trailing newline through into the rendered credentials.
VERSION_RE = re.compile(r"\d+\.\d+")
TOKEN_RE = re.compile(r"[^:\s]+:\S+")


def _release_errors(config):
    """OpenNebula version, edition and the enterprise token (whose value is never echoed).
    Whether the OS has packages for that version is onenebula_platform's decision."""
    errors = []
    version = config.get("version")
    if not isinstance(version, str) or not VERSION_RE.fullmatch(version):
        errors.append(
            f"{_path('version')}: {_show(version)} must be an OpenNebula release written as a "
            'quoted string, e.g. "7.0" or "6.10" (unquoted, YAML reads 6.10 as the number 6.1)'
        )
    edition = config.get("edition")
    if edition not in ("community", "enterprise"):
        errors.append(f"{_path('edition')}: {_show(edition)} must be community or enterprise")
    packages = config.get("packages") if isinstance(config.get("packages"), dict) else {}
    token = packages.get("enterprise_token")
    if edition == "enterprise" and packages.get("manage") and not packages.get("repo"):
        if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
            errors.append(
                f"{_path('packages', 'enterprise_token')}: required with edition enterprise, "
                "as '<login>:<password>' (the customer token; its value is never shown)"
            )
    elif token is not None and edition != "enterprise":
        errors.append(
            f"{_path('packages', 'enterprise_token')}: set, but edition is {_show(edition)}; "
            "the token is only used with edition enterprise"
        )
    return errors


# ------------------------------------------------------------------ public API


def with_endpoints(config):
    """
    Return ``config`` with each server's ``endpoint`` derived from its address when unset
    (``http://<address>:<oned:port>/RPC2``, an IPv6 address in brackets).

    CLI Example:

    .. code-block:: bash

        salt-call onenebula_pillar.with_endpoints '{"servers": [{"address": "10.0.0.1"}]}'
    """
    oned = config.get("oned") if isinstance(config.get("oned"), dict) else {}
    port = oned.get("port", 2633)
    servers = config.get("servers")
    if not isinstance(servers, list):
        return config
    derived = []
    for server in servers:
        if isinstance(server, dict) and not server.get("endpoint") and server.get("address"):
            address = server["address"]
            host = f"[{address}]" if isinstance(address, str) and ":" in address else address
            server = dict(server, endpoint=f"http://{host}:{port}/RPC2")
        derived.append(server)
    return dict(config, servers=derived)


def find_errors(config, pillar=None, measured=False):
    """
    Return every problem in a merged ``onenebula_ha`` configuration, as messages.

    ``pillar`` is the raw ``onenebula_ha`` pillar the configuration was merged from, when
    known: errors in values set through ``onenebula_ha:lookup`` are then named by their
    ``lookup`` path.

    CLI Example:

    .. code-block:: bash

        salt-call onenebula_pillar.find_errors '{"servers": []}'
    """
    if not isinstance(config, dict):
        return [f"{ROOT}: must be a mapping, not {_show(config)}"]
    # ``measured``: the raw pillar was measured before the merge (settings), and the
    # defaults it was merged over are the formula's own.
    size = None if measured else _measure(config)
    if size:
        return [f"{ROOT}: too large ({size}); refused before it is rendered"]
    check = _Checker(pillar)
    try:
        config = with_endpoints(config)
        single_node = config.get("single_node") is True
        _unknown_keys(check, config, SCHEMA, [])
        if isinstance(pillar, dict):
            _lookup_errors(check, pillar.get("lookup"))
        elif "lookup" in config:
            _lookup_errors(check, config.get("lookup"))
        _server_errors(check, config.get("servers"), single_node)
        _vip_errors(check, config.get("vip"), config.get("servers"), single_node)
        _database_errors(check, config.get("database"), single_node)
        _raft_errors(check, config.get("raft"))
        _zone_errors(check, config)
        _secrets_errors(check, config)
        _hooks_errors(check, config)
        _mount_errors(check, config)
        _platform_errors(check, config)
        _misc_errors(check, config)
        check.errors += _fence_errors(config)
        check.errors += _release_errors(config)
    except Exception as exc:  # pylint: disable=broad-except
        # A bug here must still stop the render with a message, not a traceback that
        # might carry pillar values.
        check.errors.append(f"{ROOT}: the validator failed ({type(exc).__name__}); please report")
    return _redacted(check.errors, [config, pillar])


def _secrets_of(tree):
    """The secret strings of a configuration: the DB password, the secret files."""
    found = []
    if not isinstance(tree, dict):
        return found
    database = tree.get("database")
    if isinstance(database, dict) and isinstance(database.get("password"), str):
        found.append(database["password"])
    secrets = tree.get("secrets")
    files = secrets.get("files") if isinstance(secrets, dict) else None
    if isinstance(files, dict) and len(files) <= MAX_MAPPING:
        found += [value for value in files.values() if isinstance(value, str)]
        one_auth = files.get("one_auth")
        if isinstance(one_auth, str) and ":" in one_auth:
            found.append(one_auth.split(":", 1)[1].strip())
    packages = tree.get("packages")
    token = packages.get("enterprise_token") if isinstance(packages, dict) else None
    if isinstance(token, str) and token:
        found += [token, *token.split(":", 1)[1:]]
    return found


def _redacted(errors, trees):
    """``errors`` with every known secret (and any URL user-info) masked: a secret pasted
    into another key must not come back in the message about that key."""
    secrets = set()
    for tree in trees:
        secrets.update(value for value in _secrets_of(tree) if len(value) >= 4)
    forms = set()
    for secret in secrets:
        forms.add(secret)
        forms.add(_show(secret, limit=MAX_FILE_TEXT)[1:-1])
        shown = _show(secret)
        if shown.endswith("...'"):
            forms.add(shown[1:-4])  # the shortened form shows a prefix of it
    ordered = sorted((form for form in forms if len(form) >= 4), key=len, reverse=True)
    cleaned = []
    for error in errors:
        # The key path stays as it is; the message after it is cleaned.
        key, separator, message = error.partition(": ")
        message = _USER_INFO_RE.sub(r"\1<user-info>@", message)
        for form in ordered:
            message = message.replace(form, "<secret>")
        cleaned.append(key + separator + message)
    return cleaned


def validate(config, pillar=None, measured=False):
    """
    Validate and normalise the merged ``onenebula_ha`` configuration.

    Returns the configuration with derived values filled in (server endpoints, the fencing
    agent's ``poll_interval`` and ``timeout`` where null). Raises
    ``CommandExecutionError`` listing every problem, each named by its pillar key, so the
    render stops before any state changes anything.

    CLI Example:

    .. code-block:: bash

        # Salt 3008 masks pillar.get's values unless unmask=True (3006/3007: leave it out)
        salt vmm01 onenebula_pillar.validate "$(salt vmm01 pillar.get onenebula_ha unmask=True --out=json)"
    """
    errors = find_errors(config, pillar, measured=measured)
    if errors:
        raise CommandExecutionError("Invalid onenebula_ha pillar:\n  - " + "\n  - ".join(errors))
    config = with_endpoints(config)
    if isinstance(config.get("fence"), dict):
        fence = dict(config["fence"])
        fence.update(_fence_timings(fence, config.get("raft")))
        config = dict(config, fence=fence)
    return config


def _pillar_problem(pillar):
    """Check the raw pillar before it is merged: a mapping (``{}`` when the minion has
    no ``onenebula_ha`` pillar at all), not too large."""
    if not isinstance(pillar, dict):
        return f"{ROOT}: must be a mapping, not {_show(pillar)}"
    size = _measure(pillar)
    if size:
        return f"{ROOT}: too large ({size}); refused before it is merged or rendered"
    return None


def problem(pillar):
    """
    Why the raw ``onenebula_ha`` pillar cannot be merged (not a mapping, or beyond the size
    limits, found by a bounded walk), or None. Safe on any pillar: walk it further only
    when this says None.

    CLI Example:

    .. code-block:: bash

        salt-call onenebula_pillar.problem "$(salt-call pillar.get onenebula_ha unmask=True --out=json)"
    """
    return _pillar_problem(pillar)


def merge(defaults, platform, pillar):
    """
    Merge ``defaults`` < ``platform`` < ``pillar:lookup`` < ``pillar`` as map.jinja does
    (recursive, lists replaced). Raises CommandExecutionError when the raw pillar is not
    a mapping or is too large to walk.

    CLI Example:

    .. code-block:: bash

        salt-call onenebula_pillar.merge '{}' '{}' '{"zone": {"id": 0}}'
    """
    problem = _pillar_problem(pillar)
    if problem:
        raise CommandExecutionError("Invalid onenebula_ha pillar:\n  - " + problem)
    lookup = pillar.get("lookup")
    # merge(strategy="recurse") works on a deep copy of its first argument
    merged = salt.utils.dictupdate.merge(
        defaults, platform or {}, strategy="recurse", merge_lists=False
    )
    if isinstance(lookup, dict):
        usable = {
            key: value
            for key, value in lookup.items()
            if key in SCHEMA
            and key != "lookup"
            and (
                isinstance(value, dict) or not isinstance(SCHEMA[key], dict) and SCHEMA[key] != FREE
            )
        }
        merged = salt.utils.dictupdate.merge(merged, usable, strategy="recurse", merge_lists=False)
    return salt.utils.dictupdate.merge(merged, pillar, strategy="recurse", merge_lists=False)


def settings(defaults, platform, pillar):
    """
    The formula's settings: the raw ``onenebula_ha`` pillar measured, merged over
    ``defaults`` and ``platform`` (:func:`merge`) and validated (:func:`validate`).
    map.jinja's single entry point.

    CLI Example:

    .. code-block:: bash

        # Salt 3008 masks pillar.get's values unless unmask=True (3006/3007: leave it out)
        salt-call onenebula_pillar.settings '{}' '{}' "$(salt-call pillar.get onenebula_ha unmask=True --out=json)"
    """
    merged = merge(defaults, platform, pillar)
    return validate(merged, pillar, measured=True)


def check(
    defaults_source="salt://onenebula_ha/defaults.yaml",
    osfamilymap_source="salt://onenebula_ha/osfamilymap.yaml",
):
    """
    Validate this minion's ``onenebula_ha`` pillar merged over the formula's defaults and
    platform values, as the state tree will see it. Changes nothing.

    Returns ``{"valid": bool, "errors": [...]}``.

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_pillar.check
    """
    defaults_text = __salt__["cp.get_file_str"](defaults_source) or ""
    defaults = (salt.utils.yaml.safe_load(defaults_text) or {}).get(ROOT, {})
    osfamilymap = salt.utils.yaml.safe_load(__salt__["cp.get_file_str"](osfamilymap_source) or "")
    platform = __salt__["grains.filter_by"](osfamilymap or {}, grain="os_family") or {}
    # Salt 3008 masks pillar values (every scalar becomes '**********') unless asked
    # not to; the values never leave this function, only messages naming keys do.
    try:
        pillar = __salt__["pillar.get"](ROOT, {}, unmask=True)
    except TypeError:  # Salt before 3008: no masking, no unmask argument
        pillar = __salt__["pillar.get"](ROOT, {})
    problem = _pillar_problem(pillar)
    if problem:
        return {"valid": False, "errors": [problem]}
    errors = find_errors(merge(defaults, platform, pillar), pillar, measured=True)
    return {"valid": not errors, "errors": errors}
