"""The XML-RPC request layer (oned's RequestManager) for the HA surface.

Each call goes through the same steps as ``Request::execute``: parameter types (faults), then
authentication (also on a follower, before any forward), then for leader-only methods the Raft
role (a follower forwards verbatim to its leader, a candidate or a reconciling leader refuses),
then the zone-disabled check, then the method itself. Replies follow :mod:`onesim.rpc`.

Calls are logged as ``Request.cc`` logs them: an ``invoked`` line at DEBUG built from
``LOG_CALL_FORMAT`` (default ``Req:%i UID:%u IP:%A %m invoked %l``) right after
authentication, and a ``result`` line once the reply is known: ``SUCCESS`` and the reply
values at DEBUG, ``FAILURE <message>`` at ERROR, with ``UID:-`` when authentication failed.
Parameters and values are ``, <int>``, ``, true``/``, false`` and ``, "<string>"`` with a
string cut to 20 characters (``%l<n>``: n) followed by ``...``. Every method is logged,
one.zone.voterequest included, but one.zone.replicate (the heartbeats): of those only a
failed authentication's result line appears.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from onesim import rpc, schema
from onesim.config import configuration_xml
from onesim.db import Database, DatabaseError, quote
from onesim.oned.log import OnedLog
from onesim.oned.raft import CANDIDATE, FOLLOWER, LEADER, RaftManager, WriteFailed
from onesim.template import Template, TemplateSyntaxError, parse_str_or_xml
from onesim.zone import DISABLED, ENABLED, Server, load_zone, load_zones, zone_pool_xml

__all__ = [
    "DEFAULT_LOG_CALL_FORMAT",
    "FORWARD_TIMEOUT_S",
    "Method",
    "RequestManager",
    "format_call_line",
    "log_value",
]

#: Request::xmlrpc_timeout, for requests a follower forwards to its leader.
FORWARD_TIMEOUT_S = 10.0

#: oned's built-in LOG_CALL_FORMAT (the shipped oned.conf comments out the same with ``%l20``).
DEFAULT_LOG_CALL_FORMAT = "Req:%i UID:%u IP:%A %m invoked %l"
#: ``Request::DEFAULT_LOG_LIMIT``: characters of a string parameter or result shown.
DEFAULT_LOG_LIMIT = 20

_TYPE_NAMES = {"i": "integer", "I": "64-bit integer", "b": "boolean", "s": "a string"}


def _type_ok(kind: str, value) -> bool:
    if kind in ("i", "I"):
        return type(value) is int
    if kind == "b":
        return type(value) is bool
    return isinstance(value, str)


def log_value(value, limit: int = DEFAULT_LOG_LIMIT, i8: bool = False) -> str:
    """One ``, <value>`` item of a call or result line (``Request::log_xmlrpc_value``)."""
    if isinstance(value, bool):
        return ", true" if value else ", false"
    if isinstance(value, int):
        if i8 or isinstance(value, rpc.I8):
            return f", {value % (1 << 64)}"  # printed as uint64_t
        return f", {value}"
    if isinstance(value, str):
        # std::string counts bytes: a cut may split a UTF-8 sequence, kept as raw bytes.
        raw = value.encode("utf-8", "surrogateescape")
        cut = "..." if len(raw) > limit else ""
        return f', "{raw[:limit].decode("utf-8", "surrogateescape")}{cut}"'
    if isinstance(value, float):
        return f", {value:g}"
    return ", unknown param type"


@dataclass(frozen=True)
class _Caller:
    """What ``RequestAttributes`` holds about the caller once authentication ran."""

    uid: int = -1
    gid: int = -1
    uname: str = ""
    gname: str = ""
    password: str = ""


def format_call_line(
    fmt: str,
    *,
    request_id: int,
    caller: _Caller,
    session: str,
    method: str,
    params: tuple,
    i8_params: frozenset[int],
    ip: str,
    port: str,
) -> str:
    """``Request::log_method_invoked``: expand ``%i %u %U %g %G %p %a %m %l[n] %A %P %%``.

    As in oned the loop stops before the format's last character, so a format that does not
    end in a ``%`` sequence loses its last character, and an unknown ``%x`` is copied.
    """
    out: list[str] = []
    j = 0
    while j < len(fmt) - 1:
        char = fmt[j]
        if char != "%":
            out.append(char)
            j += 1
            continue
        mod = fmt[j + 1]
        if mod == "%":
            out.append("%")
        elif mod == "i":
            out.append(str(request_id))
        elif mod == "u":
            out.append(str(caller.uid))
        elif mod == "U":
            out.append(caller.uname)
        elif mod == "g":
            out.append(str(caller.gid))
        elif mod == "G":
            out.append(caller.gname)
        elif mod == "p":
            out.append(caller.password)
        elif mod == "a":
            out.append(session)
        elif mod == "m":
            out.append(method)
        elif mod == "l":
            digits = ""
            while j + 2 < len(fmt) and fmt[j + 2].isdigit():
                digits += fmt[j + 2]
                j += 1
            limit = int(digits) if digits else DEFAULT_LOG_LIMIT
            out.extend(
                log_value(value, limit, index in i8_params)
                for index, value in enumerate(params[1:], start=1)
            )
        elif mod == "A":
            out.append(ip)
        elif mod == "P":
            out.append(port)
        else:
            out.append(char + mod)
        j += 2
    return "".join(out)


@dataclass(frozen=True)
class Method:
    name: str
    #: Parameter types after the session: i int, I i8, b boolean, s string.
    signature: str
    handler: Callable
    leader_only: bool = False
    #: Allowed while the zone is disabled.
    zone_disabled: bool = True
    #: ``Request::log_method_call``: logged as ``Req:<n> ... invoked`` / ``result`` lines.
    #: Only one.zone.replicate turns it off (ZoneReplicateLog); its refusals still log.
    logged: bool = True
    #: How many trailing parameters of the signature may be omitted.
    optional: int = 0


class RequestManager:
    def __init__(
        self,
        raft: RaftManager,
        db: Database,
        log: OnedLog,
        credentials: tuple[str, str],
        zone_id: int,
        listen_address: str,
        configuration: Template | None = None,
        var_location: str = "/var/lib/one/",
    ):
        self.raft = raft
        self.db = db
        self.log = log
        self._user, self._password = credentials
        self.zone_id = zone_id
        self._listen_address = listen_address
        self._configuration = configuration if configuration is not None else Template()
        self._var_location = var_location
        self.log_call_format = str(
            self._configuration.get("LOG_CALL_FORMAT") or DEFAULT_LOG_CALL_FORMAT
        )
        self._request_ids = itertools.count(1)
        self._zone_lock = threading.Lock()
        self._vm_lock = threading.Lock()
        self.methods = {m.name: m for m in self._method_table()}

    def _method_table(self) -> list[Method]:
        return [
            Method("one.zone.info", "ib", self.zone_info, optional=1),
            Method("one.zonepool.info", "", self.zonepool_info),
            Method("one.zone.raftstatus", "", self.zone_raftstatus),
            Method("one.zone.addserver", "is", self.zone_addserver, True, False),
            Method("one.zone.delserver", "ii", self.zone_delserver, True, False),
            Method("one.zone.resetserver", "ii", self.zone_resetserver, True, False),
            Method("one.zone.enable", "ib", self.zone_enable, True, True),
            Method("one.zone.voterequest", "iiIi", self.zone_voterequest),
            Method("one.zone.replicate", "iIiIiIiIs", self.zone_replicate, logged=False),
            Method("one.system.version", "", self.system_version),
            Method("one.system.config", "", self.system_config),
            Method("one.vm.allocate", "sb", self.vm_allocate, True, False, optional=1),
            Method("one.vm.info", "ib", self.vm_info, optional=1),
            Method("one.vmpool.info", "iiiis", self.vmpool_info, optional=5),
        ]

    # ------------------------------------------------------------------ dispatch
    def dispatch(self, name: str, params: tuple, client_ip: str, client_port: int = 0):
        method = self.methods.get(name)
        if method is None:
            raise xmlrpc.client.Fault(rpc.FAULT_NO_SUCH_METHOD, f"Method '{name}' not defined")
        self._check_types(method, params)
        # Request ids are (this * random) % 10000 in oned; a counter keeps the same range.
        request_id = next(self._request_ids) % 10000
        args = params[1 : 1 + len(method.signature)]
        caller = self._authenticate(params[0])
        if method.logged:
            i8_params = frozenset(
                index for index, kind in enumerate(method.signature, start=1) if kind == "I"
            )
            self.log.debug(
                "ReM",
                format_call_line(
                    self.log_call_format,
                    request_id=request_id,
                    caller=caller,
                    session=params[0],
                    method=name,
                    params=params,
                    i8_params=i8_params,
                    ip=client_ip,
                    port=str(client_port),
                ),
            )
        try:
            result = self._execute(method, params, args, caller)
        except DatabaseError as exc:
            # oned turns a failed DB access into an error reply, never into a fault.
            self.log.error("ReM", f"Req:{request_id} {name}: database error: {exc}")
            result = self._database_failure(name, args)
        # Request::execute logs the result of a failed authentication whatever the method.
        if method.logged or caller.uid == -1:
            self._log_result(request_id, caller, name, result)
        return result

    def _authenticate(self, session) -> _Caller:
        """The core driver's check of ``user:password`` (only oneadmin exists here)."""
        if session != f"{self._user}:{self._password}":
            return _Caller()
        return _Caller(
            uid=0,
            gid=0,
            uname=self._user,
            gname="oneadmin",
            password=hashlib.sha256(self._password.encode()).hexdigest(),
        )

    def _log_result(self, request_id: int, caller: _Caller, name: str, result) -> None:
        """``Request::log_result``."""
        uid = str(caller.uid) if caller.uid != -1 else "-"
        head = f"Req:{request_id} UID:{uid} {name} result "
        if result and result[0] is True:
            values = "".join(log_value(value) for value in result[1:-1])
            self.log.debug("ReM", f"{head}SUCCESS{values}")
        else:
            message = result[1] if len(result) > 1 else ""
            self.log.error("ReM", f"{head}FAILURE {message}")

    @staticmethod
    def _check_types(method: Method, params: tuple) -> None:
        # xmlrpc-c faults (approximate texts: those of its C++ paramList accessors).
        required = 1 + len(method.signature) - method.optional
        if len(params) < required:
            raise xmlrpc.client.Fault(rpc.FAULT_TYPE, "Not enough parameters")
        if not isinstance(params[0], str):
            raise xmlrpc.client.Fault(
                rpc.FAULT_TYPE, "Parameter that is supposed to be a string is not"
            )
        for kind, value in zip(method.signature, params[1:], strict=False):
            if not _type_ok(kind, value):
                raise xmlrpc.client.Fault(
                    rpc.FAULT_TYPE, f"Parameter that is supposed to be {_TYPE_NAMES[kind]} is not"
                )

    def _execute(self, method: Method, params: tuple, args: tuple, caller: _Caller):
        name = method.name
        # oned authenticates every call locally first, forwarded ones included.
        if caller.uid == -1:
            return rpc.authentication_failure(name)
        if method.leader_only:
            state = self.raft.state
            if state == FOLLOWER:
                return self._forward(name, params)
            if state == CANDIDATE:
                return rpc.failure(
                    name, rpc.INTERNAL, "Cannot process request, oned cluster in election mode"
                )
            if state == LEADER and self.raft.reconciling:
                return rpc.failure(
                    name, rpc.INTERNAL, "Cannot process request, oned cluster is replicating log"
                )
        if not method.zone_disabled and self._zone_disabled():
            return rpc.failure(name, rpc.INTERNAL, "Cannot process request, zone disabled")
        return method.handler(name, *args)

    @staticmethod
    def _database_failure(name: str, args: tuple):
        """An object that cannot be read is reported as missing, anything else as INTERNAL."""
        if name in ("one.zone.info", "one.vm.info"):
            kind = "zone" if name == "one.zone.info" else "virtual machine"
            return rpc.no_exists(name, kind, args[0])
        return rpc.failure(name, rpc.INTERNAL, "Error accessing the database")

    def _forward(self, name: str, params: tuple):
        endpoint = self.raft.leader_endpoint()
        if endpoint is None:
            return rpc.failure(name, rpc.INTERNAL, "Cannot process request, no leader found")
        try:
            return rpc.call(
                endpoint,
                name,
                params,
                FORWARD_TIMEOUT_S,
                rpc.source_for(endpoint, self._listen_address),
            )
        # Client::call (src/client/Client.cc) hands its error text to an INTERNAL failure.
        except xmlrpc.client.Fault as fault:
            return rpc.failure(name, rpc.INTERNAL, fault.faultString)
        except TimeoutError:
            return rpc.failure(name, rpc.INTERNAL, "RPC call timed out and aborted")
        except (OSError, xmlrpc.client.Error, ValueError) as exc:
            # (uncertain) xmlrpc-c's curl transport words other failures its own way.
            return rpc.failure(name, rpc.INTERNAL, f"Cannot process request: {exc}")

    def _zone_disabled(self) -> bool:
        body = self.db.scalar(f"SELECT body FROM zone_pool WHERE oid = {self.zone_id}") or ""
        match = re.search(r"<STATE>(\d+)</STATE>", body)
        return bool(match) and int(match.group(1)) == DISABLED

    def _write(self, name: str, statements: list[str]):
        """Run a replicated write; None on success, else the failure reply."""
        try:
            self.raft.write(statements)
        except WriteFailed as exc:
            return rpc.failure(name, rpc.INTERNAL, str(exc))
        return None

    # ------------------------------------------------------------------ zone calls
    def zone_info(self, name: str, zone_id: int, decrypt: bool = False):
        zone = load_zone(self.db, zone_id)
        if zone is None:
            return rpc.no_exists(name, "zone", zone_id)
        return rpc.success(zone.to_xml())

    def zonepool_info(self, name: str):
        return rpc.success(zone_pool_xml(load_zones(self.db)))

    def zone_raftstatus(self, name: str):
        return rpc.success(self.raft.status_xml())

    def zone_addserver(self, name: str, zone_id: int, text: str):
        if zone_id != self.zone_id:
            return rpc.failure(
                name, rpc.ACTION, "Servers have to be added through the target zone endpoints"
            )
        try:
            template = parse_str_or_xml(text)
        except TemplateSyntaxError as exc:
            return rpc.failure(name, rpc.ACTION, f"Parse error: {exc}")
        server = template.vector("SERVER")
        if server is None:
            return rpc.failure(name, rpc.ACTION, "")  # 7.0 sends an empty message here
        server_name = (server.get("NAME") or "").strip()
        endpoint = (server.get("ENDPOINT") or "").strip()
        if not server_name:
            return rpc.failure(name, rpc.ACTION, "Missing NAME in SERVER")
        if not endpoint:
            return rpc.failure(name, rpc.ACTION, "Missing ENDPOINT in SERVER")
        with self._zone_lock:
            zone = load_zone(self.db, zone_id)
            if zone is None:
                return rpc.no_exists(name, "zone", zone_id)
            server_id = zone.next_server_id()
            zone.servers.append(Server(server_id, server_name, endpoint))
            # Committed with the old membership; the quorum grows afterwards.
            failed = self._write(name, [zone.upsert_sql()])
            if failed:
                return failed
            self.raft.add_server(server_id, endpoint)
        return rpc.success(zone_id)

    def zone_delserver(self, name: str, zone_id: int, server_id: int):
        if zone_id != self.zone_id:
            return rpc.failure(
                name, rpc.ACTION, "Servers have to be deleted through the target zone endpoints"
            )
        with self._zone_lock:
            zone = load_zone(self.db, zone_id)
            if zone is None:
                return rpc.no_exists(name, "zone", zone_id)
            if zone.server(server_id) is None:
                return rpc.failure(name, rpc.ACTION, "SERVER not found in zone")
            # The quorum shrinks first; the removed server never gets the record removing it.
            self.raft.delete_server(server_id)
            zone.servers = [s for s in zone.servers if s.id != server_id]
            failed = self._write(name, [zone.upsert_sql()])
            if failed:
                return failed
        return rpc.success(zone_id)

    def zone_resetserver(self, name: str, zone_id: int, server_id: int):
        if zone_id != self.zone_id:
            return rpc.failure(
                name, rpc.ACTION, "Servers have to be deleted through the target zone endpoints"
            )
        self.raft.reset_server(server_id)
        return rpc.success(zone_id)

    def zone_enable(self, name: str, zone_id: int, enable: bool):
        if zone_id != self.zone_id:
            return rpc.failure(
                name,
                rpc.ACTION,
                "Enable/disable mode have to be set through the target zone endpoints",
            )
        with self._zone_lock:
            zone = load_zone(self.db, zone_id)
            if zone is None:
                return rpc.no_exists(name, "zone", zone_id)
            zone.state = ENABLED if enable else DISABLED
            failed = self._write(name, [zone.upsert_sql()])
            if failed:
                return failed
        return rpc.success(zone_id)

    # ------------------------------------------------------------------ internal Raft calls
    def zone_voterequest(self, name: str, term: int, cand_id: int, last_index: int, last_term: int):
        if cand_id < 0:
            # oned sets no message: the reply is "[one.zone.voterequest] " and the term.
            return rpc.failure(name, rpc.INTERNAL, "", resp_id=self.raft.term)
        granted, error, current = self.raft.on_voterequest(term, cand_id, last_index, last_term)
        if granted:
            return rpc.success(current)
        return rpc.failure(name, rpc.ACTION, error, resp_id=current)

    def zone_replicate(
        self,
        name: str,
        leader_id: int,
        leader_commit: int,
        leader_term: int,
        index: int,
        term: int,
        prev_index: int,
        prev_term: int,
        fed_index: int,
        sql: str,
    ):
        ok, error, current = self.raft.on_replicate(
            leader_id, leader_commit, leader_term, index, term, prev_index, prev_term, sql
        )
        if ok:
            return rpc.success(current)
        return rpc.failure(name, rpc.ACTION, error, resp_id=current)

    # ------------------------------------------------------------------ system and VMs
    def system_version(self, name: str):
        return rpc.success(schema.SHARED_VERSION)

    def system_config(self, name: str):
        """oned.conf as XML; the DB connection is masked unless the caller is in oneadmin's
        group (always, as oneadmin is the only user here)."""
        return rpc.success(
            configuration_xml(self._configuration, admin=True, var_location=self._var_location)
        )

    def vm_allocate(self, name: str, text: str, hold: bool = False):
        try:
            template = parse_str_or_xml(text)
        except TemplateSyntaxError as exc:
            return rpc.failure(name, rpc.INTERNAL, f"Parse error: {exc}")
        with self._vm_lock:
            last_oid = self.db.scalar(
                "SELECT last_oid FROM pool_control WHERE tablename = 'vm_pool'", -1
            )
            oid = int(last_oid) + 1
            vm_name = str(template.get("NAME") or f"one-{oid}")
            state = 2 if hold else 1  # HOLD or PENDING
            body = _vm_xml(oid, vm_name, state, template.to_xml())
            failed = self._write(
                name,
                [
                    # REPLACE, not INSERT: a deposed leader may have applied its own stale
                    # record for this oid (heartbeat commits are min(leader_commit, own last
                    # index)); the new leader's record must then overwrite it.
                    "REPLACE INTO vm_pool (oid, name, body, uid, gid, state, lcm_state, owner_u, "
                    f"group_u, other_u) VALUES ({oid}, {quote(vm_name)}, {quote(body)}, 0, 0, "
                    f"{state}, 0, 1, 0, 0)",
                    f"REPLACE INTO pool_control (tablename, last_oid) VALUES ('vm_pool', {oid})",
                ],
            )
            if failed:
                return failed
        return rpc.success(oid)

    def vm_info(self, name: str, oid: int, decrypt: bool = False):
        body = self.db.scalar(f"SELECT body FROM vm_pool WHERE oid = {int(oid)}")
        if body is None:
            return rpc.no_exists(name, "virtual machine", oid)
        return rpc.success(body)

    def vmpool_info(self, name: str, *filters):
        rows = self.db.query("SELECT body FROM vm_pool ORDER BY oid")
        return rpc.success("<VM_POOL>" + "".join(row[0] for row in rows) + "</VM_POOL>")


def _vm_xml(oid: int, name: str, state: int, template_xml: str) -> str:
    return (
        f"<VM><ID>{oid}</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin</UNAME>"
        f"<GNAME>oneadmin</GNAME><NAME>{escape(name)}</NAME><LAST_POLL>0</LAST_POLL>"
        f"<STATE>{state}</STATE><LCM_STATE>0</LCM_STATE><PREV_STATE>{state}</PREV_STATE>"
        f"<PREV_LCM_STATE>0</PREV_LCM_STATE><RESCHED>0</RESCHED><STIME>{int(time.time())}</STIME>"
        f"<ETIME>0</ETIME><DEPLOY_ID></DEPLOY_ID>{template_xml}<USER_TEMPLATE/></VM>"
    )
