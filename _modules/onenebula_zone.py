"""
OpenNebula zone membership and Raft status, through ``onezone`` and XML-RPC.

Everything here uses OpenNebula's public surface only:

* ``onezone show <zone> -j`` (zone servers plus one ``one.zone.raftstatus`` per server,
  asked by the CLI from this host), ``onezone server-add/server-del/server-reset``;
* ``one.zone.raftstatus`` on this host's own oned (for :func:`raft_status`, cheap enough
  for a beacon every second);
* ``one.zone.info`` and ``one.zone.raftstatus`` on every server, the XML-RPC calls
  ``onezone show`` makes, made in-process (for :func:`raft_zone`: the beacon's zone check
  starts no process).

Endpoint and credentials are resolved the way OpenNebula's clients do. The endpoint is
the minion config key ``onenebula_ha.endpoint``, else ``$ONE_XMLRPC``, else
``~/.one/one_endpoint``, else ``/var/lib/one/.one/one_endpoint``, else built from
``PORT``/``LISTEN_ADDRESS`` in ``oned.conf``, else ``http://localhost:2633/RPC2``. The
credentials file is ``onenebula_ha.one_auth_file``, else ``$ONE_AUTH``, else
``~/.one/one_auth``, else ``/var/lib/one/.one/one_auth``. When the two minion config keys
are set they are also handed to ``onezone`` (as ``ONE_XMLRPC``/``ONE_AUTH``), so the CLI
and the XML-RPC calls talk to the same oned. The session string is never logged.

``onezone show`` results are cached per run in ``__context__``; functions that change
membership drop the cache, and ``refresh=True`` forces a new read.
"""

import concurrent.futures
import contextlib
import copy
import http.client
import ipaddress
import logging
import os
import re
import time
import xml.etree.ElementTree as ET
import xmlrpc.client

import salt.utils.json
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "onenebula_zone"

ZONE_STATES = {0: "enabled", 1: "disabled"}
DEFAULT_ENDPOINT = "http://localhost:2633/RPC2"
# Where OpenNebula's clients look, in order, after the environment variables.
ENDPOINT_FILES = ("~/.one/one_endpoint", "/var/lib/one/.one/one_endpoint")
RAFT_FIELDS = (
    "SERVER_ID",
    "STATE",
    "TERM",
    "VOTEDFOR",
    "COMMIT",
    "LOG_INDEX",
    "LOG_TERM",
    "FEDLOG_INDEX",
)
#: The fields ``onezone show`` copies from each server's ``one.zone.raftstatus`` answer
#: (``-`` in all of them when the call fails).
SHOW_RAFT_FIELDS = ("STATE", "TERM", "VOTEDFOR", "COMMIT", "LOG_INDEX", "FEDLOG_INDEX")
#: Seconds ``onezone show`` gives each server's ``one.zone.raftstatus`` call.
SHOW_RAFT_TIMEOUT = 5
_CACHE_KEY = "onenebula_zone.show"
_CONF_ENDPOINT_KEY = "onenebula_zone.conf_endpoint"


def __virtual__():
    return __utils__["onenebula_ha.needs_command"](__virtualname__, "onezone")


# ------------------------------------------------------------------ configuration


def _option(name, default=None):
    return __opts__.get(f"onenebula_ha.{name}", default)


def _first_line(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.readline().strip()
    except OSError:
        return None


def _oned_conf_endpoint():
    """``http://<LISTEN_ADDRESS>:<PORT>/RPC2`` from this host's oned.conf, if readable.

    Cached in ``__context__`` until the file changes: a beacon may ask every second.
    """
    getter = __salt__.get("onenebula_conf.get")
    locate = __salt__.get("onenebula_conf.default_path")
    if getter is None or locate is None:
        return None
    path = locate()
    try:
        status = os.stat(path)
    except OSError:
        return None
    key = (path, status.st_mtime_ns, status.st_size)
    cached = __context__.get(_CONF_ENDPOINT_KEY)
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        port = getter("PORT", path=path) or "2633"
        address = getter("LISTEN_ADDRESS", path=path) or "0.0.0.0"
    except CommandExecutionError:
        return None
    if address in ("0.0.0.0", "::", "[::]", ""):
        address = "localhost"
    elif ":" in address and not address.startswith("["):
        address = f"[{address}]"
    endpoint = f"http://{address}:{port}/RPC2"
    __context__[_CONF_ENDPOINT_KEY] = (key, endpoint)
    return endpoint


def _local_endpoint():
    """The XML-RPC endpoint of this host's oned, resolved as OpenNebula's clients do."""
    configured = _option("endpoint")
    if configured:
        return configured
    if os.environ.get("ONE_XMLRPC"):
        return os.environ["ONE_XMLRPC"]
    for path in ENDPOINT_FILES:
        endpoint = _first_line(os.path.expanduser(path))
        if endpoint:
            return endpoint
    return _oned_conf_endpoint() or DEFAULT_ENDPOINT


def _auth_file():
    return __utils__["onenebula_ha.auth_file"](__opts__)


def _session():
    session = _first_line(_auth_file())
    if not session:
        raise CommandExecutionError("ONE_AUTH file is empty")
    return session


def _cli_env():
    """Environment for ``onezone`` so it uses the configured endpoint and credentials."""
    return __utils__["onenebula_ha.cli_env"](__opts__) or None


# ------------------------------------------------------------------ onezone CLI


def _run(argv):
    """Run an OpenNebula CLI command; return stdout, raise with the CLI's own message."""
    result = __salt__["cmd.run_all"](
        argv,
        python_shell=False,
        env=_cli_env(),
        ignore_retcode=True,
        output_loglevel="debug",
    )
    if result["retcode"] != 0:
        message = (result.get("stderr") or "").strip() or (result.get("stdout") or "").strip()
        raise __utils__["onenebula_ha.error"](
            message or f"{argv[0]} {argv[1]} exited with {result['retcode']}",
            command=" ".join(argv[:2]),
            retcode=result["retcode"],
        )
    return result.get("stdout") or ""


def _to_int(value):
    """``"12"`` -> 12; ``"-"``, missing or malformed -> None."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _normalise_server(server):
    state = _to_int(server.get("STATE"))
    return {
        "id": _to_int(server.get("ID")),
        "name": server.get("NAME"),
        "endpoint": server.get("ENDPOINT"),
        "state": __utils__["onenebula_ha.state_name"](state),
        "term": _to_int(server.get("TERM")),
        "votedfor": _to_int(server.get("VOTEDFOR")),
        "commit": _to_int(server.get("COMMIT")),
        "log_index": _to_int(server.get("LOG_INDEX")),
        "fedlog_index": _to_int(server.get("FEDLOG_INDEX")),
    }


def _normalise_zone(document):
    """Turn ``onezone show -j`` output into plain Python values.

    ``SERVER_POOL.SERVER`` is an object for one server, an array for two or more, and the
    pool itself is ``{}`` (or missing) when empty.
    """
    zone = document.get("ZONE") or {}
    pool = zone.get("SERVER_POOL") or {}
    servers = pool.get("SERVER") if isinstance(pool, dict) else None
    if servers is None:
        servers = []
    elif isinstance(servers, dict):
        servers = [servers]
    template = zone.get("TEMPLATE") or {}
    return {
        "id": _to_int(zone.get("ID")),
        "name": zone.get("NAME"),
        "state": ZONE_STATES.get(_to_int(zone.get("STATE")), "unknown"),
        "endpoint": template.get("ENDPOINT") if isinstance(template, dict) else None,
        "servers": sorted(
            (_normalise_server(server) for server in servers),
            key=lambda server: (server["id"] is None, server["id"]),
        ),
    }


def _forget(zone=None):
    cache = __context__.get(_CACHE_KEY)
    if cache is None:
        return
    if zone is None:
        cache.clear()
    else:
        cache.pop(str(zone), None)


def show(zone=0, refresh=False, live=False):
    """
    Return the zone and the Raft status of its servers, as ``onezone show <zone> -j``
    sees them from this host (``live``: read as that command reads them, in this
    process, :func:`raft_zone`: no ``onezone`` process, for the steps of a join).

    Each server is ``{"id", "name", "endpoint", "state", "term", "votedfor", "commit",
    "log_index", "fedlog_index"}``; ``state`` is ``leader``, ``follower``, ``candidate``,
    ``solo`` or ``error`` (this host could not get that server's raftstatus), and the
    numbers are ints, or None in an ``error`` row. The result is cached for the rest of
    the run unless ``refresh=True``.

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_zone.show
        salt '*' onenebula_zone.show zone=0 refresh=True
        salt '*' onenebula_zone.show refresh=True live=True
    """
    cache = __context__.setdefault(_CACHE_KEY, {})
    key = str(zone)
    if live and (refresh or key not in cache):
        cache[key] = raft_zone(zone)
    elif refresh or key not in cache:
        output = _run(["onezone", "show", key, "-j"])
        try:
            document = salt.utils.json.loads(output)
        except ValueError as exc:
            raise CommandExecutionError(f"onezone show printed invalid JSON: {exc}") from exc
        cache[key] = _normalise_zone(document)
    return copy.deepcopy(cache[key])


# ------------------------------------------------------------------ XML-RPC


class _TimeoutMixin:
    """An XML-RPC transport whose connections give up after ``timeout`` seconds."""

    def __init__(self, timeout):
        super().__init__()
        self._timeout = timeout

    def make_connection(self, host):
        connection = super().make_connection(host)
        connection.timeout = self._timeout
        return connection


class _TimeoutTransport(_TimeoutMixin, xmlrpc.client.Transport):
    pass


class _SafeTimeoutTransport(_TimeoutMixin, xmlrpc.client.SafeTransport):
    pass


def _proxy(endpoint, timeout):
    """An XML-RPC proxy for ``endpoint`` whose calls give up after ``timeout`` seconds."""
    if endpoint.startswith("https://"):
        transport = _SafeTimeoutTransport(timeout)
    else:
        transport = _TimeoutTransport(timeout)
    return xmlrpc.client.ServerProxy(endpoint, transport=transport)


def _call(endpoint, method, *params, timeout=2.0):
    """Call an oned XML-RPC method; return the value of a ``[true, value, 0]`` reply.

    Raises CommandExecutionError with oned's own message for a ``[false, msg, code…]``
    reply; ``info["reachable"]`` tells an oned that answered from one that did not.
    """
    session = _session()
    proxy = _proxy(endpoint, timeout)
    try:
        reply = getattr(proxy, method)(session, *params)
    except xmlrpc.client.Fault as exc:
        raise __utils__["onenebula_ha.error"](exc.faultString, reachable=True) from None
    except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError) as exc:
        raise __utils__["onenebula_ha.error"](
            f"cannot reach oned at {endpoint}: {exc}", reachable=False
        ) from None
    finally:
        proxy("close")()
    if not isinstance(reply, list | tuple) or not reply:
        raise __utils__["onenebula_ha.error"](f"{method}: unexpected reply", reachable=True)
    if not reply[0]:
        message = reply[1] if len(reply) > 1 else f"{method} failed"
        code = reply[2] if len(reply) > 2 else None
        raise __utils__["onenebula_ha.error"](message, reachable=True, code=code)
    return reply[1] if len(reply) > 1 else None


def _parse_raft(xml_text):
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise CommandExecutionError(f"one.zone.raftstatus returned invalid XML: {exc}") from None
    values = {field.lower(): _to_int(root.findtext(field)) for field in RAFT_FIELDS}
    values["state_name"] = __utils__["onenebula_ha.state_name"](values["state"])
    return values


def raft_status(timeout=2):
    """
    Return this host's Raft status straight from its own oned (``one.zone.raftstatus``),
    without spawning a process: ``{"server_id", "state", "state_name", "term",
    "votedfor", "commit", "log_index", "log_term", "fedlog_index"}`` (ints; state_name is
    solo/candidate/follower/leader).

    Raises CommandExecutionError with oned's message on failure, or when oned does not
    answer within ``timeout`` seconds.

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_zone.raft_status
    """
    endpoint = _local_endpoint()
    return _parse_raft(_call(endpoint, "one.zone.raftstatus", timeout=float(timeout)))


def _server_raft(endpoint, session, timeout):
    """The fields ``onezone show`` copies from the ``one.zone.raftstatus`` of the server at
    ``endpoint``: ``-`` in every one when the call fails in any way, as the CLI does.

    Runs in worker threads: plain values in and out, no loader globals (``__opts__``,
    ``__utils__``) touched here.
    """
    failed = dict.fromkeys(SHOW_RAFT_FIELDS, "-")
    try:
        proxy = _proxy(endpoint, timeout)
        try:
            reply = proxy.one.zone.raftstatus(session)
        finally:
            proxy("close")()
        if not isinstance(reply, list | tuple) or len(reply) < 2 or reply[0] is not True:
            return failed
        root = ET.fromstring(reply[1])
    except Exception:  # noqa: BLE001 - any failure is an `error` row, as in onezone show
        return failed
    if root.tag != "RAFT":
        return failed
    return {field: root.findtext(field, "-") for field in SHOW_RAFT_FIELDS}


def _zone_document(xml_text):
    """``one.zone.info``'s ``<ZONE>`` as the dict ``onezone show -j`` prints (the parts
    :func:`_normalise_zone` reads)."""
    try:
        root = ET.fromstring(xml_text)
    except (ET.ParseError, TypeError) as exc:
        raise CommandExecutionError(f"one.zone.info returned invalid XML: {exc}") from None
    if root.tag != "ZONE":
        raise CommandExecutionError(f"one.zone.info returned <{root.tag[:40]}>, not <ZONE>")
    servers = [
        {key: node.findtext(key) for key in ("ID", "NAME", "ENDPOINT")}
        for node in root.findall("SERVER_POOL/SERVER")
    ]
    return {
        "ZONE": {
            "ID": root.findtext("ID"),
            "NAME": root.findtext("NAME"),
            "STATE": root.findtext("STATE"),
            "TEMPLATE": {"ENDPOINT": root.findtext("TEMPLATE/ENDPOINT")},
            "SERVER_POOL": {"SERVER": servers},
        }
    }


def raft_zone(zone=0, timeout=SHOW_RAFT_TIMEOUT):
    """
    What :func:`show` returns (the zone, and each server's Raft status as this host sees
    it), read the way ``onezone show`` reads it but without starting the CLI:
    ``one.zone.info`` on this host's oned, then ``one.zone.raftstatus`` on every server's
    ENDPOINT with the ONE_AUTH credentials, each within ``timeout`` seconds (the CLI's 5 s),
    all servers at once instead of one after the other. A server whose call fails is in
    state ``error``. Never cached. For a caller that polls (the ``onenebula_raft``
    beacon): no process spawned.

    Raises CommandExecutionError when this host's oned does not answer ``one.zone.info``
    (with ``info["reachable"]``) or there are no credentials.

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_zone.raft_zone
        salt '*' onenebula_zone.raft_zone zone=0 timeout=2
    """
    timeout = float(timeout)
    document = _zone_document(
        _call(_local_endpoint(), "one.zone.info", int(zone), False, timeout=timeout)
    )
    servers = document["ZONE"]["SERVER_POOL"]["SERVER"]
    if servers:
        session = _session()
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(servers)) as pool:
            answers = list(
                pool.map(
                    lambda server: _server_raft(server["ENDPOINT"] or "", session, timeout),
                    servers,
                )
            )
        for server, fields in zip(servers, answers, strict=True):
            server.update(fields)
    return _normalise_zone(document)


# ------------------------------------------------------------------ health


def _label(server):
    return f"server {server['id']} ({server['name']})"


def _ignored(server, ignore):
    return server["id"] in ignore or server["name"] in ignore


def _normalise_ignore(ignore):
    if ignore is None:
        return set()
    if isinstance(ignore, str | int):
        ignore = [ignore]
    wanted = set()
    for entry in ignore:
        wanted.add(entry)
        if isinstance(entry, str) and entry.lstrip("-").isdigit():
            wanted.add(int(entry))
    return wanted


def leader(zone=0, refresh=False):
    """
    Return the leader server of the zone (see :func:`show`), or None when no server is
    in state ``leader``. With several (a partitioned old leader keeps state 3), the one
    with the highest term is returned.

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_zone.leader
    """
    leaders = [s for s in show(zone, refresh=refresh)["servers"] if s["state"] == "leader"]
    if not leaders:
        return None
    return max(leaders, key=lambda server: server["term"] or -1)


def health(zone=0, max_lag=None, ignore=None, refresh=True, live=False):
    """
    Judge the zone's health as the OpenNebula docs define it: exactly one leader, every
    other server a follower, and (here) every follower's log index within ``max_lag``
    records of the leader's (default 100, or minion config ``onenebula_ha.max_lag``).

    Returns ``{"healthy": bool, "leader": <server or None>, "problems": [...],
    "servers": [...]}``, e.g. problems ``["server 2 (vmm03) is in state error"]``.
    Servers listed in ``ignore`` (IDs or names) are left out of the judgement, e.g. the
    server about to be removed. Failing to read the zone is itself a problem.
    ``live``: read the zone fresh in this process (:func:`raft_zone`, no ``onezone``
    process) instead of with :func:`show`, for a caller that polls.

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_zone.health
        salt '*' onenebula_zone.health max_lag=10 ignore='[2]'
    """
    lag_limit = __utils__["onenebula_ha.max_lag"](max_lag, _option("max_lag"))
    ignore = _normalise_ignore(ignore)
    try:
        servers = (raft_zone(zone) if live else show(zone, refresh=refresh))["servers"]
    except CommandExecutionError as exc:
        return {
            "healthy": False,
            "leader": None,
            "problems": [f"cannot read zone {zone}: {exc}"],
            "servers": [],
        }
    considered = [server for server in servers if not _ignored(server, ignore)]
    problems = []
    if not considered:
        problems.append(f"zone {zone} has no servers")
    leaders = [server for server in considered if server["state"] == "leader"]
    if considered and not leaders:
        problems.append("no leader")
    elif len(leaders) > 1:
        problems.append(f"{len(leaders)} leaders: " + ", ".join(_label(s) for s in leaders))
    for server in considered:
        if server["state"] not in __utils__["onenebula_ha.healthy_states"]():
            problems.append(f"{_label(server)} is in state {server['state']}")
    current = max(leaders, key=lambda s: s["term"] or -1) if leaders else None
    if current is not None and current["log_index"] is not None:
        for server in considered:
            if server["state"] != "follower":
                continue
            if server["log_index"] is None:
                problems.append(f"{_label(server)} reports no log index")
                continue
            behind = __utils__["onenebula_ha.lag_problem"](
                server["log_index"], current["log_index"], lag_limit
            )
            if behind:
                problems.append(f"{_label(server)} is {behind}")
    return {"healthy": not problems, "leader": current, "problems": problems, "servers": servers}


def is_healthy(zone=0, max_lag=None, ignore=None):
    """
    Return True when :func:`health` finds no problem.

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_zone.is_healthy
    """
    return health(zone, max_lag=max_lag, ignore=ignore)["healthy"]


def wait_healthy(zone=0, timeout=120, interval=2, max_lag=None, ignore=None):
    """
    Wait until the zone is healthy (see :func:`health`), polling every ``interval``
    seconds; return the health report, or raise CommandExecutionError listing the last
    problems once ``timeout`` seconds have passed.

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_zone.wait_healthy timeout=60
    """
    deadline = time.monotonic() + float(timeout)
    while True:
        report = health(zone, max_lag=max_lag, ignore=ignore, refresh=True)
        if report["healthy"]:
            return report
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise __utils__["onenebula_ha.error"](
                f"zone {zone} is not healthy after {timeout}s: " + "; ".join(report["problems"]),
                report=report,
            )
        time.sleep(min(float(interval), remaining))


# ------------------------------------------------------------------ membership


def server_id(name, zone=0, refresh=False):
    """
    Return the ID of the zone server called ``name``, or None when there is none.
    Raises CommandExecutionError when several servers share the name (OpenNebula does
    not enforce unique names).

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_zone.server_id vmm02
    """
    ids = [s["id"] for s in show(zone, refresh=refresh)["servers"] if s["name"] == name]
    if len(ids) > 1:
        raise CommandExecutionError(f"{name} not found or duplicated (IDs {sorted(ids)})")
    return ids[0] if ids else None


# Arguments are checked before anything changes: what server_add hands to ``onezone``
# must be a plain name (never read as an option) and an XML-RPC endpoint of the form
# OpenNebula documents, the same grammar as the pillar's (onenebula_pillar).
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
ENDPOINT_RE = re.compile(
    r"(?P<scheme>https?)://(?P<host>\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,253})"
    r"(?::(?P<port>[1-9][0-9]{0,4}))?/RPC2"
)
MAX_ADD_TIMEOUT = 3600


def _check_name(name):
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise CommandExecutionError(
            f"refusing server name {name!r}: letters, digits, _ . - only, not starting with - or ."
        )


def _endpoint_key(endpoint):
    """``(scheme, host, port)`` of an endpoint, normalised so spellings of one endpoint
    (host case, default or zero-padded port, trailing slash) compare equal."""
    match = re.match(
        r"\s*([A-Za-z][A-Za-z0-9+.-]*)://(?:[^/@]*@)?(\[[^\]]*\]|[^:/?#]*)(?::([0-9]*))?([^?#]*)",
        str(endpoint or ""),
    )
    if not match:
        return None
    scheme, host, port, path = match.groups()
    scheme = scheme.lower()
    host = host.strip("[]").lower()
    with contextlib.suppress(ValueError):
        host = str(ipaddress.ip_address(host))
    port = int(port) if port else {"http": 80, "https": 443}.get(scheme)
    return (scheme, host, port, path.rstrip("/") or "/")


def _check_endpoint(endpoint):
    match = ENDPOINT_RE.fullmatch(endpoint) if isinstance(endpoint, str) else None
    if match is None or (match["port"] and int(match["port"]) > 65535):
        shown = "<with user-info>" if "@" in str(endpoint) else repr(endpoint)
        raise CommandExecutionError(
            f"refusing endpoint {shown}: expected http(s)://<host>[:<port>]/RPC2 "
            "(port 1-65535 without leading zeros, no user-info)"
        )


def _check_timeout(timeout):
    try:
        if isinstance(timeout, bool):
            raise ValueError(timeout)
        value = float(timeout)
    except (TypeError, ValueError):
        raise CommandExecutionError(f"refusing timeout {timeout!r}: a number of seconds") from None
    if not 0 < value <= MAX_ADD_TIMEOUT:
        raise CommandExecutionError(
            f"refusing timeout {timeout!r}: between 0 and {MAX_ADD_TIMEOUT} seconds"
        )
    return value


def _check_zone(zone):
    text = str(zone).strip()
    if isinstance(zone, bool) or not text.isdigit():
        raise CommandExecutionError(f"refusing zone {zone!r}: a zone ID (0 unless federated)")
    return int(text)


def _target(server, zone):
    """The zone's server row for ``server`` (an ID or a unique name), read fresh; raises
    when there is none (or the name is shared).

    Names are resolved here rather than by the CLI: OpenNebula 6.10 and older turn any
    name into server 0.
    """
    servers = show(zone, refresh=True)["servers"]
    if isinstance(server, int) and not isinstance(server, bool):
        matches = [s for s in servers if s["id"] == server]
    else:
        text = str(server).strip()
        if text.lstrip("-").isdigit():
            matches = [s for s in servers if s["id"] == int(text)]
        else:
            matches = [s for s in servers if s["name"] == text]
            if len(matches) > 1:
                raise CommandExecutionError(
                    f"{text} not found or duplicated (IDs {sorted(s['id'] for s in matches)})"
                )
    if not matches:
        raise CommandExecutionError(
            f"{server} not found or duplicated: no such server in zone {zone}"
        )
    return matches[0], servers


def server_add(name, endpoint, zone=0, timeout=30, max_lag=None):
    """
    Add a server to the zone (``onezone server-add``) and return its new ID.

    Refuses, before changing anything, as the ``onenebula_zone.server_present`` state
    does: a name that is not a plain server name (letters, digits, ``_ . -``, never
    starting with ``-``), an endpoint that is not ``http(s)://<host>[:<port>]/RPC2``, a
    ``timeout`` that is not a number of seconds, a name or endpoint the zone already has
    (endpoints compared after normalisation), and a zone that is not healthy (an empty
    zone, the bootstrap of a solo oned adding itself, is allowed).

    The CLI does not print the ID (oned returns the zone ID), so it is read back by name
    from the zone (read as ``onezone show`` reads it, in this process); a follower's copy
    of the zone may lag, hence the short wait (up to ``timeout`` seconds).

    CLI Example:

    .. code-block:: bash

        salt vmm01 onenebula_zone.server_add vmm02 http://10.213.0.20:2633/RPC2
    """
    _check_name(name)
    _check_endpoint(endpoint)
    wait = _check_timeout(timeout)
    zone = _check_zone(zone)
    servers = show(zone, refresh=True, live=True)["servers"]
    key = _endpoint_key(endpoint)
    for server in servers:
        if server["name"] == name:
            raise CommandExecutionError(
                f"refusing to add {name}: zone {zone} already has a server {name} "
                f"(ID {server['id']})"
            )
        if _endpoint_key(server["endpoint"]) == key:
            raise CommandExecutionError(
                f"refusing to add {name}: server {server['id']} ({server['name']}) already "
                f"has the endpoint {server['endpoint']}"
            )
    if servers:
        report = health(zone, max_lag=max_lag, refresh=False)
        if not report["healthy"]:
            raise CommandExecutionError(
                f"refusing to add {name}: zone {zone} is not healthy: "
                + "; ".join(report["problems"])
            )
    known = {s["id"] for s in servers}
    _run(["onezone", "server-add", str(zone), "--name", name, "--rpc", endpoint])
    _forget(zone)
    deadline = time.monotonic() + wait
    while True:
        servers = show(zone, refresh=True, live=True)["servers"]
        new = [s["id"] for s in servers if s["name"] == name and s["id"] not in known]
        if new:
            return max(new)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CommandExecutionError(
                f"server {name} was added but does not show in zone {zone} after {timeout}s"
            )
        time.sleep(min(0.5, remaining))


def server_del(server, zone=0, max_lag=None, require_stopped=True):
    """
    Remove a server (ID or unique name) from the zone (``onezone server-del``); return
    the ID removed.

    Refuses, as the ``onenebula_zone.server_absent`` state does: a server the zone does
    not have, the last member, the current leader, a zone that is not healthy apart from
    that server, and (``require_stopped``, default True) a server whose oned still
    answers: stop OpenNebula on that host first, a removed oned that keeps running
    disrupts the zone with its elections.

    CLI Example:

    .. code-block:: bash

        salt vmm01 onenebula_zone.server_del vmm05
    """
    zone = _check_zone(zone)
    target, servers = _target(server, zone)
    label = _label(target)
    if len(servers) == 1:
        raise CommandExecutionError(f"refusing to remove {label}: the last member of zone {zone}")
    if target["state"] == "leader":
        raise CommandExecutionError(
            f"refusing to remove {label}: the current leader of zone {zone}; stop OpenNebula "
            "on it so another server takes over first"
        )
    if require_stopped and target["state"] != "error":
        raise CommandExecutionError(
            f"refusing to remove {label}: its oned still answers (state {target['state']}); "
            "stop OpenNebula on it first"
        )
    report = health(zone, max_lag=max_lag, ignore=[target["id"]], refresh=False)
    if not report["healthy"]:
        raise CommandExecutionError(
            f"refusing to remove {label}: zone {zone} is not healthy apart from it: "
            + "; ".join(report["problems"])
        )
    return _server_command("server-del", target["id"], zone)


def server_reset(server, zone=0):
    """
    Reset the leader's replication index for a follower (``onezone server-reset``),
    after that follower's DB was restored from a fresh leader backup; return its ID.

    Refuses a server the zone does not have, the leader itself (it has nothing to
    reset), and a zone without a leader to run the reset.

    CLI Example:

    .. code-block:: bash

        salt vmm01 onenebula_zone.server_reset vmm03
    """
    zone = _check_zone(zone)
    target, servers = _target(server, zone)
    leaders = [s for s in servers if s["state"] == "leader"]
    if target["state"] == "leader":
        raise CommandExecutionError(
            f"refusing to reset {_label(target)}: it is the leader of zone {zone}; only a "
            "follower is reset"
        )
    if not leaders:
        raise CommandExecutionError(
            f"refusing to reset {_label(target)}: zone {zone} has no leader"
        )
    return _server_command("server-reset", target["id"], zone)


def _server_command(verb, number, zone):
    """Run ``onezone <verb> <zone> <id>``; the zone view cached for this run is dropped
    either way, as membership may have moved."""
    try:
        _run(["onezone", verb, str(zone), str(number)])
    finally:
        _forget(zone)
    return number
