"""oned.conf semantics: the keys oned reads for HA, their defaults and validation rules.

Defaults follow OpenNebula's rule that they apply **per section**: a missing FEDERATION, DB or
RAFT section gets the built-in block, but a section that is present is not filled in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from onesim.template import Template, TemplateSyntaxError, Vector, parse

__all__ = [
    "ConfigError",
    "DbConfig",
    "FederationConfig",
    "HookConfig",
    "OnedConfig",
    "RAFT_BUILTIN_DEFAULTS",
    "RAFT_KEYS",
    "RAFT_SHIPPED_VALUES",
    "RaftConfig",
    "load",
]

#: RAFT values written in the shipped oned.conf (5.8 → 7.x).
RAFT_SHIPPED_VALUES = {
    "LIMIT_PURGE": 100000,
    "LOG_RETENTION": 250000,
    "LOG_PURGE_TIMEOUT": 60,
    "ELECTION_TIMEOUT_MS": 5000,
    "BROADCAST_TIMEOUT_MS": 500,
    "XMLRPC_TIMEOUT_MS": 1000,
}

#: Built-in values used when the **whole** RAFT section is absent.
RAFT_BUILTIN_DEFAULTS = {
    "LIMIT_PURGE": 100000,
    "LOG_RETENTION": 500000,
    "LOG_PURGE_TIMEOUT": 600,
    "ELECTION_TIMEOUT_MS": 1500,
    "BROADCAST_TIMEOUT_MS": 500,
    "XMLRPC_TIMEOUT_MS": 100,
}

RAFT_KEYS = tuple(RAFT_BUILTIN_DEFAULTS)

FEDERATION_MODES = ("STANDALONE", "MASTER", "SLAVE", "CACHE")


class ConfigError(ValueError):
    """oned.conf cannot be used; the message is the one oned prints before exiting."""


@dataclass(frozen=True)
class RaftConfig:
    limit_purge: int
    log_retention: int
    log_purge_timeout_s: int
    election_timeout_ms: int
    broadcast_timeout_ms: int
    xmlrpc_timeout_ms: int
    #: Keys that were missing from a present RAFT section (set to 0, see :func:`_raft`).
    missing: tuple[str, ...] = ()

    @classmethod
    def from_values(cls, values: dict[str, int], missing: tuple[str, ...] = ()) -> RaftConfig:
        return cls(
            limit_purge=values["LIMIT_PURGE"],
            log_retention=values["LOG_RETENTION"],
            log_purge_timeout_s=values["LOG_PURGE_TIMEOUT"],
            election_timeout_ms=values["ELECTION_TIMEOUT_MS"],
            broadcast_timeout_ms=values["BROADCAST_TIMEOUT_MS"],
            xmlrpc_timeout_ms=values["XMLRPC_TIMEOUT_MS"],
            missing=missing,
        )


@dataclass(frozen=True)
class FederationConfig:
    mode: str = "STANDALONE"
    zone_id: int = 0
    server_id: int = -1
    master_oned: str = ""

    @property
    def is_ha(self) -> bool:
        return self.server_id >= 0

    @property
    def is_federated(self) -> bool:
        return self.mode != "STANDALONE"


@dataclass(frozen=True)
class DbConfig:
    backend: str = "sqlite"
    server: str = "localhost"
    port: int = 0
    user: str = "oneadmin"
    passwd: str = field(default="oneadmin", repr=False)
    db_name: str = "opennebula"
    timeout_ms: int = 2500
    connections: int = 25
    errors_limit: int = 25


@dataclass(frozen=True)
class HookConfig:
    name: str  # RAFT_LEADER_HOOK or RAFT_FOLLOWER_HOOK
    command: str
    arguments: str = ""


@dataclass(frozen=True)
class OnedConfig:
    template: Template
    port: int
    listen_address: str
    federation: FederationConfig
    raft: RaftConfig
    db: DbConfig
    leader_hook: HookConfig | None
    follower_hook: HookConfig | None
    debug_level: int
    #: Warnings oned logs once the log is open (e.g. a hook without COMMAND).
    warnings: tuple[str, ...] = ()


def _int(value: object, default: int = 0) -> int:
    """C++ ``istringstream >> int`` semantics, roughly: leading integer or ``default``."""
    if value is None or isinstance(value, Vector):
        return default
    text = str(value).strip()
    digits = ""
    for index, char in enumerate(text):
        if char.isdigit() or (index == 0 and char in "+-"):
            digits += char
        else:
            break
    try:
        return int(digits)
    except ValueError:
        return default


def _federation(template: Template) -> FederationConfig:
    vector = template.vector("FEDERATION")
    if vector is None:
        return FederationConfig()
    mode = (vector.get("MODE") or "STANDALONE").upper()
    if mode not in FEDERATION_MODES:
        raise ConfigError("FEDERATION MODE must be one of STANDALONE, MASTER, SLAVE or CACHE.")
    server_id = _int(vector.get("SERVER_ID"), -1) if vector.get("SERVER_ID") else -1
    master_oned = vector.get("MASTER_ONED") or ""
    if mode == "STANDALONE":
        # STANDALONE forces zone 0 whatever ZONE_ID says.
        return FederationConfig(mode, 0, server_id, master_oned)
    if not vector.get("ZONE_ID"):
        raise ConfigError("FEDERATION ZONE_ID must be set for federated instances.")
    if mode == "SLAVE" and not master_oned:
        raise ConfigError("MASTER_ONED endpoint is missing.")
    if mode == "CACHE" and not master_oned:
        raise ConfigError("MASTER_ONED is missing.")
    return FederationConfig(mode, _int(vector.get("ZONE_ID")), server_id, master_oned)


def _raft(template: Template) -> RaftConfig:
    """RAFT timings.

    A missing section takes the built-in defaults. In a present section a missing key is left
    uninitialised by the real oned (undefined timers); the simulator picks **0** for it, the value
    of zero-initialised memory, which makes the mistake visible (elections right after warm-up,
    back-to-back heartbeats, no purge retention) instead of silently working. oned also logs a
    warning naming the key.
    """
    vector = template.vector("RAFT")
    if vector is None:
        return RaftConfig.from_values(dict(RAFT_BUILTIN_DEFAULTS))
    values, missing = {}, []
    for key in RAFT_KEYS:
        raw = vector.get(key)
        if raw is None:
            missing.append(key)
        values[key] = _int(raw, 0)
    return RaftConfig.from_values(values, tuple(missing))


def _db(template: Template) -> DbConfig:
    vector = template.vector("DB")
    if vector is None:
        return DbConfig()
    backend = (vector.get("BACKEND") or "").lower()
    if backend not in ("sqlite", "mysql"):
        raise ConfigError("DB BACKEND must be sqlite or mysql.")
    defaults = DbConfig()
    return DbConfig(
        backend=backend,
        server=vector.get("SERVER") or defaults.server,
        port=_int(vector.get("PORT"), defaults.port),
        user=vector.get("USER") or defaults.user,
        passwd=vector.get("PASSWD") if vector.get("PASSWD") is not None else defaults.passwd,
        db_name=vector.get("DB_NAME") or defaults.db_name,
        timeout_ms=_int(vector.get("TIMEOUT"), defaults.timeout_ms),
        connections=_int(vector.get("CONNECTIONS"), defaults.connections),
        errors_limit=_int(vector.get("ERRORS_LIMIT"), defaults.errors_limit),
    )


def _hook(template: Template, name: str, warnings: list[str]) -> HookConfig | None:
    vector = template.vector(name)
    if vector is None:
        return None
    command = (vector.get("COMMAND") or "").strip()
    if not command:
        warnings.append(f"Empty COMMAND attribute in {name}. Hook not registered!")
        return None
    return HookConfig(name, command, vector.get("ARGUMENTS") or "")


def from_template(template: Template) -> OnedConfig:
    """Interpret a parsed oned.conf; raise :class:`ConfigError` with oned's message."""
    warnings: list[str] = []
    raft = _raft(template)
    warnings.extend(f"RAFT attribute {key} not set, using 0" for key in raft.missing)
    log = template.vector("LOG")
    return OnedConfig(
        template=template,
        port=_int(template.get("PORT"), 2633) if "PORT" in template else 2633,
        listen_address=str(template.get("LISTEN_ADDRESS") or "0.0.0.0"),
        federation=_federation(template),
        raft=raft,
        db=_db(template),
        leader_hook=_hook(template, "RAFT_LEADER_HOOK", warnings),
        follower_hook=_hook(template, "RAFT_FOLLOWER_HOOK", warnings),
        debug_level=_int(log.get("DEBUG_LEVEL"), 3) if log and log.get("DEBUG_LEVEL") else 3,
        warnings=tuple(warnings),
    )


def load(path: Path) -> OnedConfig:
    """Read and interpret oned.conf at ``path``."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"Error reading configuration file {path}: {exc.strerror}") from None
    try:
        template = parse(text)
    except TemplateSyntaxError as exc:
        raise ConfigError(f"Error parsing configuration file {path}: {exc}") from None
    return from_template(template)


def dump_effective(config: OnedConfig) -> str:
    """The ``/var/lib/one/config`` dump oned writes at every start.

    One ``NAME=value`` line per attribute; vectors as ``NAME=K1=v1,K2=v2`` with the keys in
    alphabetical order, which is the form ``follower_cleanup`` matches
    (``^RAFT_FOLLOWER_HOOK=(?:ARGUMENTS=(.*),)?COMMAND=(.*)$``).
    """
    rule = "-" * 40
    lines = [rule, "     OpenNebula Configuration File", rule]
    for name, value in config.template.attributes:
        if isinstance(value, Vector):
            body = ",".join(f"{key}={value.values[key]}" for key in sorted(value.values))
        else:
            body = value
        if name == "DB" and isinstance(value, Vector) and "PASSWD" in value:
            # Keep the DB password out of a world-readable dump.
            body = ",".join(
                f"{key}={'***' if key == 'PASSWD' else value.values[key]}"
                for key in sorted(value.values)
            )
        lines.append(f"{name}={body}")
    lines.append(rule)
    return "\n".join(lines) + "\n"


#: Attributes oned adds when oned.conf lacks them (``OpenNebulaTemplate::set_conf_default``,
#: 7.0), whole attributes only: a present vector is never completed. ``{var}`` is oned's
#: var location with its trailing slash. Defaults of the VM-operation, hook-log and
#: scheduler sections are not modelled.
CONF_DEFAULTS: tuple[tuple[str, str | dict[str, str]], ...] = (
    ("MANAGER_TIMER", "15"),
    ("MONITORING_INTERVAL_MARKET", "600"),
    ("MONITORING_INTERVAL_DATASTORE", "300"),
    ("DS_MONITOR_VM_DISK", "10"),
    ("VM_MONITORING_EXPIRATION_TIME", "14400"),
    ("PORT", "2633"),
    ("LISTEN_ADDRESS", "0.0.0.0"),
    ("SCRIPTS_REMOTE_DIR", "/var/tmp/one"),
    ("VM_SUBMIT_ON_HOLD", "NO"),
    ("API_LIST_ORDER", "DESC"),
    ("SHOWBACK_ONLY_RUNNING", "NO"),
    ("CONTEXT_RESTRICTED_DIRS", "/etc"),
    ("CONTEXT_SAFE_DIRS", ""),
    ("CONTEXT_ALLOW_ETH_UPDATES", "NO"),
    ("DB", {"BACKEND": "sqlite", "TIMEOUT": "2500"}),
    ("LOG", {"SYSTEM": "file", "DEBUG_LEVEL": "3", "USE_VMS_LOCATION": "NO"}),
    ("VNC_PORTS", {"RESERVED": "", "START": "5900"}),
    ("MAX_BACKUPS", "5"),
    ("MAX_BACKUPS_HOST", "2"),
    ("FEDERATION", {"MODE": "STANDALONE", "ZONE_ID": "0", "SERVER_ID": "-1", "MASTER_ONED": ""}),
    ("RAFT", {key: str(value) for key, value in RAFT_BUILTIN_DEFAULTS.items()}),
    ("DEFAULT_COST", {"CPU_COST": "0", "MEMORY_COST": "0", "DISK_COST": "0"}),
    ("MAX_CONN", "15"),
    ("MAX_CONN_BACKLOG", "15"),
    ("KEEPALIVE_TIMEOUT", "15"),
    ("KEEPALIVE_MAX_CONN", "30"),
    ("TIMEOUT", "15"),
    ("RPC_LOG", "NO"),
    ("MESSAGE_SIZE", "1073741824"),
    ("LOG_CALL_FORMAT", "Req:%i UID:%u IP:%A %m invoked %l"),
    ("MAC_PREFIX", "02:00"),
    ("NETWORK_SIZE", "254"),
    ("VLAN_IDS", {"RESERVED": "0, 1, 4095", "START": "2"}),
    ("VXLAN_IDS", {"START": "2"}),
    ("PCI_PASSTHROUGH_BUS", "0x01"),
    ("DATASTORE_LOCATION", "{var}/datastores"),
    ("DATASTORE_CAPACITY_CHECK", "YES"),
    ("DEFAULT_IMAGE_TYPE", "OS"),
    ("DEFAULT_IMAGE_PERSISTENT", ""),
    ("DEFAULT_IMAGE_PERSISTENT_NEW", ""),
    ("DEFAULT_DEVICE_PREFIX", "hd"),
    ("DEFAULT_CDROM_DEVICE_PREFIX", "hd"),
    ("VM_SNAPSHOT_FACTOR", "0"),
    ("DEFAULT_AUTH", "default"),
    ("SESSION_EXPIRATION_TIME", "0"),
    ("ENABLE_OTHER_PERMISSIONS", "YES"),
    ("DEFAULT_UMASK", "177"),
)

#: What ``one.system.config`` shows as ``***`` to users outside the oneadmin group.
HIDDEN_ATTRIBUTES = {"DB": ("BACKEND", "SERVER", "PORT", "USER", "PASSWD", "DB_NAME")}


def effective_attributes(template: Template, var_location: str) -> list[tuple[str, str | Vector]]:
    """oned.conf's attributes plus the defaults of the absent ones, ordered as oned keeps
    them (a multimap: by name, repeated names in file order)."""
    present = {name for name, _ in template.attributes}
    attributes: list[tuple[str, str | Vector]] = list(template.attributes)
    for name, default in CONF_DEFAULTS:
        if name in present:
            continue
        if isinstance(default, dict):
            attributes.append((name, Vector(dict(default))))
        else:
            attributes.append((name, default.replace("{var}", var_location)))
    return sorted(attributes, key=lambda item: item[0])


def configuration_xml(template: Template, admin: bool, var_location: str = "/var/lib/one/") -> str:
    """``one.system.config``: ``<OPENNEBULA_CONFIGURATION>`` with every value in CDATA (oned
    wraps it as is, without splitting a ``]]>``), vector keys in alphabetical order. Callers
    outside the oneadmin group get the DB connection values as ``***``."""

    def value_xml(name: str, key: str | None, value: str) -> str:
        hidden = HIDDEN_ATTRIBUTES.get(name)
        if not admin and hidden is not None and (key is None or key in hidden):
            return "***"
        return f"<![CDATA[{value}]]>"

    parts = ["<OPENNEBULA_CONFIGURATION>"]
    for name, value in effective_attributes(template, var_location):
        if isinstance(value, Vector):
            inner = "".join(
                f"<{key}>{value_xml(name, key, value.values[key])}</{key}>"
                for key in sorted(value.values)
                if key
            )
            parts.append(f"<{name}>{inner}</{name}>")
        else:
            parts.append(f"<{name}>{value_xml(name, None, value)}</{name}>")
    parts.append("</OPENNEBULA_CONFIGURATION>")
    return "".join(parts)
