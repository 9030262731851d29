#!/usr/bin/python3
"""
onenebula-ha-fence: the floating IP's fence on an OpenNebula HA front-end.

One agent runs on every front-end (installed and configured by the onenebula_ha formula,
state ``onenebula_ha.fence``), as its own service, independent of Salt. It owns the floating
IP (VIP) and the leader-only services of its host: it holds them only while it holds a
*lease* granted by a majority of the zone, and drops them the moment the lease ends.

Plain ``python3`` with the standard library only; the configuration is a JSON file written
by the formula (see ``load_config``); the oneadmin credentials are read from the ``one_auth``
file at run time and are never logged, never shown by the HTTP endpoint and never put on a
command line (the XML-RPC session string travels only in request bodies).

The lease
=========

Every ``poll_interval`` the agent sends, in parallel and each with its own timeout,
``one.zone.raftstatus`` to its own oned and to every other server of the zone. The round
*confirms* this host's leadership when

* the local oned answers STATE 3 (leader), with this host's SERVER_ID, in term T, and
* a majority of the zone, this host included, is in T with it: every other server counted
  answers STATE 2 (follower) in the same term T, with a LOG_INDEX at most ``max_lag``
  entries behind the leader's (a follower that does not keep up with the leader's log is
  not evidence that the leader still replicates to it).

A confirming round sent at time ``s`` (the clock is read *before* any request leaves) grants
the lease until ``s + L`` with ``L = lease_fraction * ELECTION_TIMEOUT``; ELECTION_TIMEOUT and
BROADCAST_TIMEOUT are read from oned.conf (the smaller ELECTION_TIMEOUT and the larger
BROADCAST_TIMEOUT of oned.conf and the pillar's values, so an edited file never lengthens
the lease). A round that does not confirm does not extend the lease. The lease is revoked at
once (VIP and leader-only services dropped) when the local oned does not answer, answers
garbage, reports another state or server id, or when any server reports a term above T
(proof that a newer election happened or is under way).

Safety argument (why the lease ends before anyone else can be elected)
----------------------------------------------------------------------

This is Raft's leader lease (D. Ongaro, "Consensus: Bridging Theory and Practice", Stanford
PhD thesis, 2014, section 6.4.1) and etcd's CheckQuorum, computed outside oned because
OpenNebula's Raft has neither: its leader never counts heartbeat acknowledgements and keeps
STATE 3 without a majority.

1. A new leader needs the votes of a majority in a term above T. Any majority shares at
   least one server F with the majority that confirmed our round, and F answered "follower
   in T" at some time ``a >= s``, so F must move to a newer term after ``a``.
2. In oned a follower moves to a newer term only when an election starts: its own timer
   fires at ``last_heartbeat + ELECTION_TIMEOUT`` (oned's *first* timeout after hearing a
   leader is not randomised; the random U(0,1)*ELECTION_TIMEOUT wait only separates the
   rounds of a failed election), or it is asked for a vote by a candidate whose timer
   fired, or it hears a newer leader (which itself needed 1.).
3. While our oned leads, it heartbeats every follower every BROADCAST_TIMEOUT, over the
   same path (source host, destination host and port) our query just used successfully.
   So F's last heartbeat is no older than ``s - BROADCAST_TIMEOUT``, and F's timer cannot
   fire before ``s - BROADCAST_TIMEOUT + ELECTION_TIMEOUT``. (Assumed: a leading oned's
   heartbeat threads run, and agents and oned share their network path.)
4. The lease ends at ``s + L`` on our clock. A clock running fast or slow by at most
   ``rho`` (crystal drift, far below 1 %) ends it, in real time, by
   ``s + L * (1 + rho)``; the watchdog wakes at the lease's end and ``ip address del``
   takes a few milliseconds. All of that is the *margin* ``m``.
5. Hence the configuration must satisfy
   ``L + poll_interval + BROADCAST_TIMEOUT + m < ELECTION_TIMEOUT``
   (``poll_interval`` is included so that a lease renewed by the last round can never be
   outlived by a host that stopped between rounds), which the formula's pillar validation
   and this agent both check; with the shipped timings (5000 ms / 500 ms) and the defaults
   (lease_fraction 0.5, poll 0.5 s, margin 250 ms): 2500 + 500 + 500 + 250 = 3750 < 5000.

The clock is ``CLOCK_BOOTTIME`` (monotonic, never set back, and it keeps counting while
the host is suspended or its processes are stopped), ``time.monotonic`` where that does not
exist. A host that was frozen (every process SIGSTOPped, a paused VM) wakes up with a clock
that moved on by the length of the pause: the main loop checks the lease against the clock
at the top of every iteration, before any I/O, and before it acts on a round's answers; a
separate watchdog thread enforces the expiry too, waiting on a CLOCK_BOOTTIME timer set to
the lease's end, so the first thing either thread does on waking is drop an expired lease.

What it does not cover (documented in docs/fence.md): oned grants votes without Raft's
"leader stickiness" (thesis section 4.2.3), so a server that cannot hear the leader but
reaches a majority can start an election before the followers' own timers fire. Its vote
requests move those followers to a newer term, the leader's next heartbeat (within
BROADCAST_TIMEOUT) is answered with that term and oned steps down, and this agent drops at
its next round (local state or a peer's higher term); if the agent can no longer reach the
followers, the lease runs out. A kernel that answers ARP while all its processes are stopped
cannot be fenced from inside the host (that needs STONITH).

The VIP actions
===============

They are those of OpenNebula's raft/vip.sh: ``ip address add <vip/prefix> dev <iface>`` then
gratuitous ARP (``arping -c 1 -U -I <iface> <ip>`` and ``arping -c 1 -A ...``), and on
release ``ip address del <vip/prefix> dev <iface>`` when present; the leader-only services
are started under the lease and stopped when it ends (``systemctl`` under systemd,
``service`` otherwise), off the fencing thread so a slow init script never delays a drop.
While the lease is held and the VIP is missing (a hook that failed or never ran) the agent
claims it itself, with exponential back-off on failures, logging why. Without a lease the
agent removes the VIP whoever put it there.

HTTP endpoint
=============

``GET /leader`` 200 while this host holds the lease, else 503; ``GET /follower`` 200 on a
follower in the leader's term whose log keeps up; ``GET /health`` JSON; ``GET /metrics``
Prometheus text format. Read-only, no credentials in any answer.

Usage: ``onenebula-ha-fence --config /etc/onenebula-ha/fence.json [--pidfile PATH]``
(``--check`` validates the configuration and the timings and exits).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import http.server
import ipaddress
import json
import logging
import math
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ElementTree
import xmlrpc.client

__version__ = "1.0"

LOG = logging.getLogger("onenebula-ha-fence")

EX_CONFIG = 78  # sysexits.h: configuration error (the service does not restart on it)

SOLO, CANDIDATE, FOLLOWER, LEADER = 0, 1, 2, 3
STATE_NAMES = {SOLO: "solo", CANDIDATE: "candidate", FOLLOWER: "follower", LEADER: "leader"}

# oned.conf built-in RAFT values, used only when the whole RAFT section is absent.
BUILTIN_ELECTION_MS = 1500
BUILTIN_BROADCAST_MS = 500

DEFAULTS = {
    "servers": [],
    "vip": None,
    "leader_services": [],
    "bind": "0.0.0.0",
    "port": 2634,
    "poll_interval": 0.5,
    "lease_fraction": 0.5,
    "timeout": 1.0,
    "margin_ms": 250,
    "max_lag": 100,
    "oned_conf": "/etc/one/oned.conf",
    "one_auth": "/var/lib/one/.one/one_auth",
    "election_timeout_ms": None,
    "broadcast_timeout_ms": None,
    "commands": {},
    "log_level": "info",
    "source_address": None,
    "vip_presence": "netlink",
    # OpenNebula's vip.sh serialises its runs with flock on this file; the agent takes it
    # around its service changes, so they never interleave with a hook's.
    "hook_lock": "/var/lock/one/vip_sh",
}
KNOWN_KEYS = set(DEFAULTS) | {"server_id"}
COMMANDS = ("ip", "arping", "systemctl", "service")
# How the agent tells whether the VIP is on its interface: the kernel's address list read
# in-process over rtnetlink (the default: no process per round), or ``ip -o address show``.
VIP_PRESENCE = ("netlink", "ip")
SERVICE_NAME_RE = re.compile(r"^[A-Za-z0-9@_.:-]+$")
IFACE_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")


class ConfigError(Exception):
    """The agent's configuration or the Raft timings are unusable."""


# ---------------------------------------------------------------------------------- clock


def boottime_clock():
    """Seconds on a clock that never goes back and keeps running while the host is paused."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def default_clock():
    """``CLOCK_BOOTTIME`` where the platform has it, else ``time.monotonic``."""
    if hasattr(time, "CLOCK_BOOTTIME"):
        try:
            boottime_clock()
            return boottime_clock
        except OSError:
            pass
    return time.monotonic


class BoottimeAlarm:
    """Wakes a waiting thread at an absolute instant of ``CLOCK_BOOTTIME``: a timerfd
    (timerfd_create(2)), through ctypes (``os.timerfd_*`` exists only from Python 3.13).

    A sleep or a timed wait counts ``CLOCK_MONOTONIC``, which stands still while the host
    is suspended; a timer on ``CLOCK_BOOTTIME`` fires on time across a suspend (at once on
    resume when its instant has passed). The watchdog waits on it instead of waking every
    100 ms to look at the clock. ``OSError`` where the kernel or libc has no timerfd.
    """

    CLOCK_BOOTTIME = 7  # linux/time.h
    TFD_TIMER_ABSTIME = 1
    TFD_NONBLOCK, TFD_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC  # as timerfd.h defines them

    def __init__(self):
        import ctypes  # only here: the agent needs it for this alarm alone

        class Timespec(ctypes.Structure):
            _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

        class Itimerspec(ctypes.Structure):
            _fields_ = [("it_interval", Timespec), ("it_value", Timespec)]

        self._ctypes, self._timespec, self._itimerspec = ctypes, Timespec, Itimerspec
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.timerfd_create(
            self.CLOCK_BOOTTIME, self.TFD_NONBLOCK | self.TFD_CLOEXEC
        )
        if self.fd < 0:
            self._raise()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._poll = select.poll()
        self._poll.register(self.fd, select.POLLIN)
        self._poll.register(self._wake_r, select.POLLIN)

    def _raise(self):
        code = self._ctypes.get_errno()
        raise OSError(code, os.strerror(code))

    def set(self, at):
        """Fire at ``at`` (seconds on CLOCK_BOOTTIME, rounded up to the nanosecond: never
        before it; at once when it has passed)."""
        nanoseconds = max(1, math.ceil(at * 1e9))  # 0 would disarm the timer
        value = self._timespec(nanoseconds // 10**9, nanoseconds % 10**9)
        spec = self._itimerspec(self._timespec(0, 0), value)
        ctypes = self._ctypes
        if self._libc.timerfd_settime(self.fd, self.TFD_TIMER_ABSTIME, ctypes.byref(spec), None):
            self._raise()

    def wait(self):
        """Until the alarm fires or :meth:`wake` is called."""
        self._poll.poll()
        for fd in (self.fd, self._wake_r):
            with contextlib.suppress(BlockingIOError):
                os.read(fd, 64)

    def wake(self):
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"\0")


# ---------------------------------------------------------------------------------- config


def _number(value, key, low, high, integer=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}: {value!r} must be a number")
    if integer and not isinstance(value, int):
        raise ConfigError(f"{key}: {value!r} must be a whole number")
    if not low <= value <= high:
        raise ConfigError(f"{key}: {value!r} must be between {low} and {high}")
    return value


def check_config(raw):
    """Validate a configuration mapping; returns it with the defaults filled in.

    Raises ``ConfigError`` naming the key. Pure: reads no file.
    """
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a JSON object")
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"unknown key(s): {', '.join(unknown)}")
    cfg = dict(DEFAULTS)
    cfg.update(raw)
    if "server_id" not in raw:
        raise ConfigError("server_id: required (this host's Raft SERVER_ID)")
    _number(cfg["server_id"], "server_id", 0, 2**31 - 1, integer=True)
    servers = cfg["servers"]
    if not isinstance(servers, list) or not servers:
        raise ConfigError("servers: required, the zone's servers (id, name, endpoint)")
    ids = set()
    for index, server in enumerate(servers):
        if not isinstance(server, dict):
            raise ConfigError(f"servers[{index}]: must be an object")
        _number(server.get("id"), f"servers[{index}].id", 0, 2**31 - 1, integer=True)
        if server["id"] in ids:
            raise ConfigError(f"servers[{index}].id: duplicate id {server['id']}")
        ids.add(server["id"])
        endpoint = server.get("endpoint")
        parsed = urllib.parse.urlsplit(endpoint) if isinstance(endpoint, str) else None
        if not parsed or parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(f"servers[{index}].endpoint: {endpoint!r} is not an http(s) URL")
        if not isinstance(server.get("name", ""), str):
            raise ConfigError(f"servers[{index}].name: must be a string")
    if cfg["server_id"] not in ids:
        raise ConfigError(f"server_id: {cfg['server_id']} is not one of the servers' ids")
    vip = cfg["vip"]
    if vip is not None:
        if not isinstance(vip, dict) or set(vip) - {"address", "interface"}:
            raise ConfigError("vip: must be null or an object with address and interface")
        address = vip.get("address")
        try:
            if not isinstance(address, str) or "/" not in address:
                raise ValueError
            ipaddress.ip_interface(address)
        except ValueError:
            raise ConfigError(f"vip.address: {address!r} is not an address/prefix") from None
        if not isinstance(vip.get("interface"), str) or not IFACE_RE.match(vip["interface"]):
            raise ConfigError(f"vip.interface: {vip.get('interface')!r} is not an interface name")
    services = cfg["leader_services"]
    if not isinstance(services, list) or not all(
        isinstance(s, str) and SERVICE_NAME_RE.match(s) for s in services
    ):
        raise ConfigError("leader_services: must be a list of service names")
    try:
        ipaddress.ip_address(cfg["bind"])
    except (ValueError, TypeError):
        raise ConfigError(f"bind: {cfg['bind']!r} is not an IP address") from None
    _number(cfg["port"], "port", 1, 65535, integer=True)
    _number(cfg["poll_interval"], "poll_interval", 0.05, 10)
    _number(cfg["lease_fraction"], "lease_fraction", 0.05, 0.95)
    _number(cfg["timeout"], "timeout", 0.05, 30)
    _number(cfg["margin_ms"], "margin_ms", 0, 60000, integer=True)
    _number(cfg["max_lag"], "max_lag", 0, 10**9, integer=True)
    for key in ("election_timeout_ms", "broadcast_timeout_ms"):
        if cfg[key] is not None:
            _number(cfg[key], key, 11, 10**7, integer=True)
    for key in ("oned_conf", "one_auth"):
        if not isinstance(cfg[key], str) or not cfg[key].startswith("/"):
            raise ConfigError(f"{key}: {cfg[key]!r} must be an absolute path")
    if cfg["hook_lock"] is not None and (
        not isinstance(cfg["hook_lock"], str) or not cfg["hook_lock"].startswith("/")
    ):
        raise ConfigError(f"hook_lock: {cfg['hook_lock']!r} must be null or an absolute path")
    commands = cfg["commands"]
    if not isinstance(commands, dict) or set(commands) - set(COMMANDS):
        raise ConfigError(f"commands: an object with some of {', '.join(COMMANDS)}")
    for name, path in commands.items():
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigError(f"commands.{name}: {path!r} must be an absolute path")
    if cfg["source_address"] is not None:
        try:
            ipaddress.ip_address(cfg["source_address"])
        except (ValueError, TypeError):
            raise ConfigError(
                f"source_address: {cfg['source_address']!r} is not an IP address"
            ) from None
    if cfg["vip_presence"] not in VIP_PRESENCE:
        raise ConfigError(f"vip_presence: one of {', '.join(VIP_PRESENCE)}")
    if cfg["log_level"] not in ("debug", "info", "warning", "error"):
        raise ConfigError("log_level: one of debug, info, warning, error")
    return cfg


def load_config(path):
    """Read and validate the JSON configuration file at ``path``."""
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    return check_config(raw)


# ---------------------------------------------------------------------------------- timings

_COMMENT_RE = re.compile(r"#[^\n]*")
_RAFT_RE = re.compile(r"^\s*RAFT\s*=\s*\[(?P<body>[^\]]*)\]", re.MULTILINE | re.IGNORECASE)


def parse_raft_timeouts(text):
    """``(election_timeout_ms, broadcast_timeout_ms)`` from the text of oned.conf.

    Follows oned: built-in values (1500/500) only when the whole RAFT section is absent; a
    present section with a key missing leaves the timer undefined, which is an error here.
    """
    text = _COMMENT_RE.sub("", text)
    sections = list(_RAFT_RE.finditer(text))
    if not sections:
        return BUILTIN_ELECTION_MS, BUILTIN_BROADCAST_MS
    body = sections[-1].group("body")
    values = []
    for key in ("ELECTION_TIMEOUT_MS", "BROADCAST_TIMEOUT_MS"):
        found = re.findall(rf'(?i)\b{key}\s*=\s*"?\s*([^,"\s]*)\s*"?', body)
        if not found:
            raise ConfigError(f"RAFT/{key} is missing from the RAFT section")
        try:
            value = int(found[-1])
        except ValueError:
            raise ConfigError(f"RAFT/{key} = {found[-1]!r} is not a whole number") from None
        if value <= 10:
            raise ConfigError(f"RAFT/{key} = {value} ms: oned needs timeouts above 10 ms")
        values.append(value)
    return values[0], values[1]


def read_raft_timeouts(path):
    """Read the timeouts from the oned.conf at ``path`` (``ConfigError`` when unreadable)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_raft_timeouts(text)


class ChangedFile:
    """``reader(path)``, read again only when the file at ``path`` changed.

    The key is the file's inode, device, size, mtime and ctime (``os.stat``, one system
    call a round instead of an open, a read and a parse): a file replaced (new inode) or
    written in place (new ctime, which no user can set back) is read afresh at the next
    round. Errors are not cached: an unreadable or invalid file raises ``ConfigError`` at
    every round, as the reader does.
    """

    def __init__(self, reader):
        self.reader = reader
        self.lock = threading.Lock()
        self.key = None
        self.value = None

    def __call__(self, path):
        try:
            st = os.stat(path)
        except OSError:
            return self.reader(path)  # the reader's own error message
        key = (path, st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        with self.lock:
            if key == self.key:
                return self.value
        value = self.reader(path)
        with self.lock:
            self.key, self.value = key, value
        return value


def lease_plan(cfg, election_ms, broadcast_ms):
    """The lease length in seconds for these timings, or ``ConfigError`` naming the key.

    Safety: ``lease + poll_interval + BROADCAST_TIMEOUT + margin < ELECTION_TIMEOUT``.
    Liveness: a lease must outlast one round (``poll_interval + timeout <= lease``), or the
    VIP would be dropped between two confirming rounds.
    """
    if cfg.get("election_timeout_ms"):
        election_ms = min(election_ms, cfg["election_timeout_ms"])
    if cfg.get("broadcast_timeout_ms"):
        broadcast_ms = max(broadcast_ms, cfg["broadcast_timeout_ms"])
    lease_ms = cfg["lease_fraction"] * election_ms
    poll_ms = cfg["poll_interval"] * 1000.0
    total = lease_ms + poll_ms + broadcast_ms + cfg["margin_ms"]
    if total >= election_ms:
        raise ConfigError(
            f"lease_fraction: lease {lease_ms:.0f} ms + poll_interval {poll_ms:.0f} ms + "
            f"BROADCAST_TIMEOUT {broadcast_ms} ms + margin {cfg['margin_ms']} ms = "
            f"{total:.0f} ms is not below ELECTION_TIMEOUT {election_ms} ms"
        )
    if poll_ms + cfg["timeout"] * 1000.0 > lease_ms:
        raise ConfigError(
            f"poll_interval: poll_interval {poll_ms:.0f} ms + timeout "
            f"{cfg['timeout'] * 1000:.0f} ms exceed the lease ({lease_ms:.0f} ms): it "
            "would lapse between rounds"
        )
    return {
        "lease_s": lease_ms / 1000.0,
        "election_ms": election_ms,
        "broadcast_ms": broadcast_ms,
    }


# ---------------------------------------------------------------------------------- XML-RPC


class RpcError(Exception):
    """A raftstatus query failed (transport, HTTP, XML-RPC or a garbage answer)."""


class RaftStatus:
    """One server's ``one.zone.raftstatus``."""

    __slots__ = ("server_id", "state", "term", "commit", "log_index")

    def __init__(self, server_id, state, term, commit, log_index):
        self.server_id = server_id
        self.state = state
        self.term = term
        self.commit = commit
        self.log_index = log_index

    @property
    def state_name(self):
        return STATE_NAMES.get(self.state, f"state {self.state}")

    def as_dict(self):
        return {
            "server_id": self.server_id,
            "state": self.state_name,
            "term": self.term,
            "commit": self.commit,
            "log_index": self.log_index,
        }

    def __repr__(self):
        return f"RaftStatus({self.as_dict()})"


RAFT_FIELDS = ("SERVER_ID", "STATE", "TERM", "COMMIT", "LOG_INDEX")


def parse_raftstatus(text):
    """Parse the ``<RAFT>`` document strictly (``RpcError`` on anything else)."""
    if not isinstance(text, str) or len(text) > 65536:
        raise RpcError("raftstatus answer is not a RAFT document")
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise RpcError(f"raftstatus answer is not XML ({exc})") from None
    if root.tag != "RAFT":
        raise RpcError(f"raftstatus answer is <{root.tag[:40]}>, not <RAFT>")
    values = {}
    for key in RAFT_FIELDS:
        node = root.find(key)
        raw = (node.text or "").strip() if node is not None else ""
        if not re.fullmatch(r"-?\d{1,20}", raw):
            raise RpcError(f"raftstatus {key} is {raw[:40]!r}, not an integer")
        values[key] = int(raw)
    return _raft_status(values)


def _raft_status(values):
    if values["STATE"] not in STATE_NAMES:
        raise RpcError(f"raftstatus STATE {values['STATE']} is unknown")
    return RaftStatus(
        values["SERVER_ID"], values["STATE"], values["TERM"], values["COMMIT"], values["LOG_INDEX"]
    )


#: The most of an answer the agent reads (a raftstatus answer is a few hundred bytes).
MAX_ANSWER = 1 << 20
_STATUS_LINE_RE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: [^\r\n]*)?")
_TLS_CONTEXT = []
#: How long a host name's addresses are reused before they are looked up again (an
#: endpoint given as an IP address is never looked up).
RESOLVE_TTL_S = 30.0


def _tls_context():
    """One default TLS context (certificates verified, as ``http.client`` does), made once."""
    if not _TLS_CONTEXT:
        import ssl

        _TLS_CONTEXT.append(ssl.create_default_context())
    return _TLS_CONTEXT[0]


_LENGTH_HEADERS_RE = re.compile(
    rb"\r\n[ \t]*(content-length|transfer-encoding)[ \t]*:([^\r\n]*)", re.IGNORECASE
)


def _content_length(header, host):
    """Content-Length from the header block (None when absent); chunked is refused."""
    length = None
    for name, value in _LENGTH_HEADERS_RE.findall(header):
        if name.lower() == b"transfer-encoding":
            raise RpcError(f"unexpected Transfer-Encoding from {host}")
        value = value.strip()
        if not value.isdigit():
            raise RpcError(f"bad Content-Length from {host}")
        length = int(value)
    return length


def raftstatus_request(session):
    """The body of ``one.zone.raftstatus`` (the session string travels only here)."""
    return xmlrpc.client.dumps((session,), "one.zone.raftstatus").encode("utf-8")


_XMLRPC_INT_RE = re.compile(r"\s*-?[0-9]{1,20}\s*")


def _xmlrpc_value(node):
    """One XML-RPC ``<value>``, of the types OpenNebula answers with (``ValueError`` for
    anything else). ElementTree's C parser instead of ``xmlrpc.client.loads``, whose
    Python callbacks cost several times the parse itself on every answer."""
    if node is None or node.tag != "value":
        raise ValueError("not a value")
    if len(node) == 0:
        return node.text or ""  # no type element: a string
    if len(node) != 1:
        raise ValueError("a value holds one typed element")
    typed = node[0]
    kind, text = typed.tag, typed.text or ""
    if kind == "string":
        return text
    if kind in ("int", "i4", "i8"):
        if not _XMLRPC_INT_RE.fullmatch(text):
            raise ValueError("bad integer")
        return int(text)
    if kind == "boolean":
        if text.strip() not in ("0", "1"):
            raise ValueError("bad boolean")
        return text.strip() == "1"
    if kind == "array":
        if len(typed) != 1 or typed[0].tag != "data":
            raise ValueError("an array holds one data element")
        return [_xmlrpc_value(item) for item in typed[0]]
    if kind == "struct":
        members = {}
        for member in typed:
            name = member.find("name")
            if member.tag != "member" or name is None:
                raise ValueError("bad struct member")
            members[name.text or ""] = _xmlrpc_value(member.find("value"))
        return members
    raise ValueError(f"XML-RPC type {kind[:40]} not expected here")


def decode_xmlrpc_answer(payload):
    """The one value of an XML-RPC ``methodResponse`` (``RpcError`` on a fault or garbage)."""
    try:
        root = ElementTree.fromstring(payload)
        if root.tag != "methodResponse" or len(root) != 1:
            raise ValueError("not a methodResponse")
        if root[0].tag == "fault":
            fault = _xmlrpc_value(root[0].find("value"))
            code = fault.get("faultCode") if isinstance(fault, dict) else None
            raise RpcError(f"XML-RPC fault {code if isinstance(code, int) else '?'}")
        params = root[0]
        if params.tag != "params" or len(params) != 1 or params[0].tag != "param":
            raise ValueError("a methodResponse holds one param")
        return _xmlrpc_value(params[0].find("value"))
    except RpcError:
        raise
    except Exception:  # noqa: BLE001 - any malformed body is a garbage answer
        raise RpcError("malformed XML-RPC answer") from None


# The answer as oned writes it, matched in one go (a quarter of the cost of two XML parses):
# ok, the RAFT document as an escaped string of flat integer elements, an optional error
# code. Anything else, or anything the full parsers would read differently (a field twice,
# a field missing, spaces), falls back to them.
_GT = rb"(?:&gt;|>)"
_FAST_ANSWER_RE = re.compile(
    rb"\s*(?:<\?xml[^<>]{0,200}\?>)?\s*<methodResponse>\s*<params>\s*<param>\s*<value>\s*"
    rb"<array>\s*<data>\s*<value>\s*<boolean>1</boolean>\s*</value>\s*"
    rb"<value>\s*<string>&lt;RAFT"
    + _GT
    + rb"(?P<fields>[^<]{0,65000})&lt;/RAFT"
    + _GT
    + rb"</string>\s*</value>\s*"
    rb"(?:<value>\s*<(?P<int>int|i4|i8)>-?[0-9]{1,20}</(?P=int)>\s*</value>\s*)?"
    rb"</data>\s*</array>\s*</value>\s*</param>\s*</params>\s*</methodResponse>\s*"
)
_FAST_FIELDS_RE = re.compile(
    rb"(?:&lt;[A-Z_]{1,40}" + _GT + rb"-?[0-9]{1,20}&lt;/[A-Z_]{1,40}" + _GT + rb")*"
)
_FAST_FIELD_RE = re.compile(
    rb"&lt;([A-Z_]{1,40})" + _GT + rb"(-?[0-9]{1,20})&lt;/([A-Z_]{1,40})" + _GT
)


def fast_raftstatus(payload):
    """The ``RaftStatus`` of an answer in oned's usual shape, or None to parse it fully
    (never a different reading: only what the full parsers read the same way passes)."""
    match = _FAST_ANSWER_RE.fullmatch(payload)
    if match is None or not _FAST_FIELDS_RE.fullmatch(match.group("fields")):
        return None
    values = {}
    for name, value, closing in _FAST_FIELD_RE.findall(match.group("fields")):
        name = name.decode("ascii")
        if name != closing.decode("ascii") or name in values:
            return None
        values[name] = value
    if any(key not in values for key in RAFT_FIELDS):
        return None
    try:
        return _raft_status({key: int(values[key]) for key in RAFT_FIELDS})
    except RpcError:
        return None  # the full parsers say what is wrong


def decode_raftstatus(status, payload, host):
    """The ``RaftStatus`` in one HTTP answer (``RpcError`` for anything else)."""
    if status != 200:
        raise RpcError(f"HTTP {status} from {host}")
    fast = fast_raftstatus(payload)
    if fast is not None:
        return fast
    result = decode_xmlrpc_answer(payload)
    if not isinstance(result, list) or len(result) < 2 or not isinstance(result[0], bool):
        raise RpcError("XML-RPC answer is not OpenNebula's [ok, value, ...] array")
    if not result[0]:
        # OpenNebula's messages name the method and never echo the session string.
        raise RpcError(f"one.zone.raftstatus failed: {str(result[1])[:200]}")
    return parse_raftstatus(result[1])


class Endpoint:
    """One server's XML-RPC URL, parsed once, and its addresses."""

    def __init__(self, url, resolve=socket.getaddrinfo, clock=time.monotonic):
        parts = urllib.parse.urlsplit(url)
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.path = parts.path or "/RPC2"
        authority = f"[{self.host}]" if ":" in self.host else self.host
        self.head = (
            f"POST {self.path} HTTP/1.0\r\n"
            f"Host: {authority}:{self.port}\r\n"
            "Content-Type: text/xml\r\n"
            "User-Agent: onenebula-ha-fence\r\n"
        )
        self.resolve = resolve
        self.clock = clock
        self.resolved_at = None
        try:
            ip = ipaddress.ip_address(self.host)
        except ValueError:
            self.literal = None
        else:
            family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
            self.literal = [(family, (str(ip), self.port))]
        self.cached = None
        self.body = self.bytes = None

    def request(self, body):
        """The whole request carrying ``body`` (made again only for another body)."""
        if body is not self.body:
            head = self.head + f"Content-Length: {len(body)}\r\n\r\n"
            self.body, self.bytes = body, head.encode("ascii") + body
        return self.bytes

    def addresses(self):
        """``[(family, sockaddr)]`` to try in order (``OSError`` when the name does not
        resolve). A name is looked up again after ``RESOLVE_TTL_S``; failures are not kept."""
        if self.literal is not None:
            return list(self.literal)
        now = self.clock()
        if self.cached is None or now - self.resolved_at >= RESOLVE_TTL_S:
            infos = self.resolve(self.host, self.port, 0, socket.SOCK_STREAM)
            self.cached = [(family, sockaddr) for family, _t, _p, _c, sockaddr in infos]
            self.resolved_at = now
        return list(self.cached)


class Exchange:
    """One HTTP/1.0 POST and its answer on a non-blocking socket, moved on by the
    :class:`Poller` each time the socket is ready: connect (the endpoint's next address
    when one refuses), TLS handshake for https, send, then read until the answer is
    complete (Content-Length read, or the server closed). ``OSError`` for transport
    failures, ``RpcError`` for an answer that is not HTTP."""

    def __init__(self, key, endpoint, request, source_address=None):
        self.key = key
        self.endpoint = endpoint
        self.request = request
        self.source_address = source_address
        self.addresses = endpoint.addresses()
        self.sock = None
        self.waiting_for = None  # "connect", "handshake", "send" or "answer"
        self.want_write = True
        self.sent = 0
        self.data = bytearray()
        self.header_end = -1
        self.expected = None
        self._connect()

    def _connect(self):
        if not self.addresses:
            raise OSError(errno.EHOSTUNREACH, f"no address for {self.endpoint.host}")
        family, sockaddr = self.addresses.pop(0)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            if self.source_address:
                sock.bind((self.source_address, 0))
            code = sock.connect_ex(sockaddr)
            if code not in (0, errno.EINPROGRESS):
                raise OSError(code, os.strerror(code))
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self.waiting_for, self.want_write = "connect", True

    def close(self):
        if self.sock is not None:
            self.sock.close()

    def events(self):
        """What to wait for on the socket (poll(2) flags)."""
        return select.POLLOUT if self.want_write else select.POLLIN

    def advance(self):
        """Go on after the socket became ready: True once the answer is complete."""
        if self.waiting_for == "connect":
            code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                if self.addresses:  # as socket.create_connection: the next address
                    self.close()
                    self._connect()
                    return False
                raise OSError(code, os.strerror(code))
            if self.endpoint.tls:
                self.sock = _tls_context().wrap_socket(
                    self.sock, server_hostname=self.endpoint.host, do_handshake_on_connect=False
                )
                self.waiting_for = "handshake"
            else:
                self.waiting_for = "send"
        try:
            if self.waiting_for == "handshake":
                self.sock.do_handshake()
                self.waiting_for = "send"
            if self.waiting_for == "send":
                self.sent += self.sock.send(self.request[self.sent :])
                if self.sent < len(self.request):
                    self.want_write = True
                    return False
                self.waiting_for, self.want_write = "answer", False
                return False  # the answer comes later: wait until it is readable
            return self._receive()
        except BlockingIOError:
            pass
        except OSError as exc:
            if not self.endpoint.tls:
                raise
            import ssl  # loaded already: the endpoint's TLS context needed it

            if isinstance(exc, ssl.SSLWantReadError):
                self.want_write = False
            elif isinstance(exc, ssl.SSLWantWriteError):
                self.want_write = True
            else:
                raise
        return False

    def _receive(self):
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return True
            self.data += chunk
            if self.header_end < 0:
                self.header_end = self.data.find(b"\r\n\r\n")
                if self.header_end >= 0:
                    header = bytes(self.data[: self.header_end])
                    self.expected = _content_length(header, self.endpoint.host)
            if len(self.data) > MAX_ANSWER + 65536:
                return True
            if self.expected is not None and len(self.data) - self.header_end - 4 >= self.expected:
                return True
            pending = getattr(self.sock, "pending", None)
            if not (pending and pending()):
                self.want_write = False
                return False  # a plain socket: wait for the next readiness, no EAGAIN read

    def answer(self):
        """``(status, payload)`` of the complete answer."""
        host, port = self.endpoint.host, self.endpoint.port
        if self.header_end < 0:
            raise RpcError(f"no HTTP answer from {host}:{port}")
        status = _STATUS_LINE_RE.fullmatch(bytes(self.data[: self.data.find(b"\r\n")]))
        if status is None:
            raise RpcError(f"bad HTTP status line from {host}:{port}")
        payload = bytes(self.data[self.header_end + 4 :])
        if self.expected is not None:
            payload = payload[: self.expected]
        return int(status.group(1)), payload[:MAX_ANSWER]


class Poller:
    """Sends a round's requests at once from the calling thread and collects the answers.

    Non-blocking sockets and one ``poll(2)`` wait for all of them:
    no thread per request and no hand-off between threads, which cost more than the
    requests themselves. Each request has the round's ``timeout``; a round stops waiting
    as soon as ``decided`` says the answers in hand decide it, and closes the other
    connections (an answer is only ever read on the connection of its own request).
    """

    def __init__(self, source_address=None, clock=time.monotonic):
        self.source_address = source_address
        self.clock = clock
        self.endpoints = {}

    def endpoint(self, url):
        if url not in self.endpoints:
            self.endpoints[url] = Endpoint(url)
        return self.endpoints[url]

    def ask(self, requests, timeout, decode, decided=None):
        """``requests``: ``{key: (url, body)}``; ``decode(status, payload, host)`` turns an
        answer into a value or raises ``RpcError``; ``decided(answers)``: whether the answers
        so far settle the round. Returns ``{key: value | RpcError}`` for every key."""
        deadline = self.clock() + timeout
        answers, pending = {}, {}  # pending: file descriptor -> Exchange
        poll = select.poll()
        try:
            for key, (url, body) in requests.items():
                endpoint = self.endpoint(url)
                try:
                    exchange = Exchange(key, endpoint, endpoint.request(body), self.source_address)
                except OSError as exc:
                    answers[key] = _transport_error(exc, endpoint)
                    continue
                pending[exchange.sock.fileno()] = exchange
                poll.register(exchange.sock, exchange.events())
            while pending and not (decided and decided(answers)):
                remaining = deadline - self.clock()
                if remaining <= 0:
                    break
                for fd, _ready in poll.poll(math.ceil(remaining * 1000)):
                    exchange = pending.get(fd)
                    if exchange is not None:
                        self._advance(exchange, fd, poll, pending, answers, decode)
        finally:
            settled = bool(decided and decided(answers))
            for exchange in pending.values():
                exchange.close()
                answers[exchange.key] = RpcError(
                    "not waited for (the round was decided)"
                    if settled
                    else f"TimeoutError talking to {exchange.endpoint.host}:{exchange.endpoint.port}"
                )
        return answers

    @staticmethod
    def _advance(exchange, fd, poll, pending, answers, decode):
        """Move ``exchange`` on; once it is complete (or failed) its answer is in ``answers``
        and its socket closed."""
        sock = exchange.sock
        try:
            done = exchange.advance()
            if done:
                answers[exchange.key] = decode(*exchange.answer(), exchange.endpoint.host)
        except OSError as exc:
            done, answers[exchange.key] = True, _transport_error(exc, exchange.endpoint)
        except RpcError as exc:
            done, answers[exchange.key] = True, exc
        except Exception as exc:  # noqa: BLE001 - a garbage answer never ends the loop
            done, answers[exchange.key] = True, RpcError(type(exc).__name__)
        if done or exchange.sock is not sock:  # finished, or moved on to the next address
            poll.unregister(fd)
            del pending[fd]
            if done:
                exchange.close()
                return
            pending[exchange.sock.fileno()] = exchange
            poll.register(exchange.sock, exchange.events())
        else:
            poll.modify(fd, exchange.events())


def _transport_error(exc, endpoint):
    """The error's kind and the server; never the request (it holds the session)."""
    return RpcError(f"{type(exc).__name__} talking to {endpoint.host}:{endpoint.port}")


class RaftQuery:
    """``one.zone.raftstatus`` of several servers at once, through one :class:`Poller`:
    ``query(endpoints, session, timeout, decided)`` gives ``{key: RaftStatus | RpcError}``
    for ``endpoints = {key: url}``."""

    def __init__(self, source_address=None):
        self.poller = Poller(source_address)
        self.session = self.body = None

    def __call__(self, endpoints, session, timeout, decided=None):
        if session != self.session:  # the request is the same every round until then
            self.session, self.body = session, raftstatus_request(session)
        requests = {key: (url, self.body) for key, url in endpoints.items()}
        return self.poller.ask(requests, timeout, decode_raftstatus, decided)


def query_raftstatus(endpoint, session, timeout, source_address=None):
    """``one.zone.raftstatus`` of the oned at ``endpoint`` (one request, through a Poller)."""
    answer = Poller(source_address).ask(
        {0: (endpoint, raftstatus_request(session))}, timeout, decode_raftstatus
    )[0]
    if isinstance(answer, RpcError):
        raise answer
    return answer


def read_session(path):
    """The oneadmin session string (``user:password``) from a one_auth file."""
    try:
        with open(path, encoding="utf-8") as handle:
            line = handle.readline().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the credentials file {path}: {exc.strerror}") from None
    if ":" not in line:
        raise ConfigError(f"the credentials file {path} is not user:password")
    return line


# ---------------------------------------------------------------------------------- verdict


class Verdict:
    """What one round says about this host's leadership."""

    __slots__ = ("confirmed", "revoke", "reason", "term", "confirmations", "needed")

    def __init__(self, confirmed, revoke, reason, term=None, confirmations=0, needed=0):
        self.confirmed = confirmed
        self.revoke = revoke
        self.reason = reason
        self.term = term
        self.confirmations = confirmations
        self.needed = needed

    def __repr__(self):
        return (
            f"Verdict(confirmed={self.confirmed}, revoke={self.revoke}, term={self.term}, "
            f"{self.confirmations}/{self.needed}, {self.reason!r})"
        )


def evaluate(self_id, zone_size, local, peers, max_lag):
    """Decide whether a round confirms this host as the zone's leader.

    ``local`` is the local oned's ``RaftStatus`` or the exception its query raised;
    ``peers`` maps every other server id to its ``RaftStatus`` or exception. Pure function.
    """
    needed = zone_size // 2 + 1
    if isinstance(local, BaseException) or not isinstance(local, RaftStatus):
        return Verdict(False, True, f"local oned not answering: {local}", needed=needed)
    if local.server_id != self_id:
        return Verdict(
            False,
            True,
            f"local oned reports SERVER_ID {local.server_id}, this host is {self_id}",
            needed=needed,
        )
    if local.state != LEADER:
        return Verdict(
            False,
            True,
            f"local oned is {local.state_name} in term {local.term}",
            term=local.term,
            needed=needed,
        )
    term = local.term
    confirmations = 1
    notes = []
    for sid in sorted(peers):
        status = peers[sid]
        if not isinstance(status, RaftStatus):
            notes.append(f"{sid}: {status}")
            continue
        if status.term > term:
            return Verdict(
                False,
                True,
                f"server {sid} is in term {status.term}, above this leader's term {term}",
                term=term,
                needed=needed,
            )
        if status.server_id != sid:
            notes.append(f"{sid}: answers as SERVER_ID {status.server_id}")
        elif status.state != FOLLOWER or status.term != term:
            notes.append(f"{sid}: {status.state_name} in term {status.term}")
        elif status.log_index < local.log_index - max_lag:
            notes.append(f"{sid}: {local.log_index - status.log_index} entries behind")
        else:
            confirmations += 1
    if confirmations >= needed:
        return Verdict(
            True,
            False,
            f"{confirmations} of {zone_size} servers confirm term {term}",
            term,
            confirmations,
            needed,
        )
    detail = "; ".join(notes) if notes else "no peer answered"
    return Verdict(
        False,
        False,
        f"only {confirmations} of {zone_size} servers confirm term {term} "
        f"({needed} needed): {detail}",
        term,
        confirmations,
        needed,
    )


def follower_view(self_id, local, peers, max_lag):
    """``(ok, reason)``: is this host a follower of the current leader whose log keeps up?"""
    if not isinstance(local, RaftStatus):
        return False, f"local oned not answering: {local}"
    if local.server_id != self_id or local.state != FOLLOWER:
        return False, f"local oned is {local.state_name} in term {local.term}"
    leaders = [s for s in peers.values() if isinstance(s, RaftStatus) and s.state == LEADER]
    leader = max(leaders, key=lambda s: s.term, default=None)
    if leader is None:
        return False, "no leader answered"
    if leader.term != local.term:
        return (
            False,
            f"leader {leader.server_id} is in term {leader.term}, this host in {local.term}",
        )
    if local.log_index < leader.log_index - max_lag:
        return False, f"{leader.log_index - local.log_index} entries behind the leader"
    return True, f"follower of {leader.server_id} in term {local.term}"


# ---------------------------------------------------------------------------------- VIP presence
#
# The VIP is a lock: the agent must never take it for absent while it is on the interface
# (a host without the lease would then keep it). ``ip -o address show`` costs a process at
# every round, so the agent asks the kernel itself, the way ``ip`` does: an RTM_GETADDR
# dump over a NETLINK_ROUTE socket of its own network namespace (rtnetlink(7),
# linux/rtnetlink.h, linux/if_addr.h), which lists every address of every interface,
# secondary ones included (the ioctls of netdevice(7) only see an interface's primary
# IPv4 address). Anything unexpected in the answer makes the presence *unknown* (None),
# never "absent".

NETLINK_ROUTE = 0
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWADDR, RTM_GETADDR = 20, 22
NLM_F_REQUEST, NLM_F_DUMP_INTR, NLM_F_DUMP = 0x1, 0x10, 0x300
IFA_ADDRESS, IFA_LOCAL = 1, 2
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER
NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, interface index
RTATTR = struct.Struct("=HH")  # length, type
NETLINK_BUFFER = 1 << 16


class PresenceUnknown(Exception):
    """The kernel's answer could not be read: whether the VIP is there is unknown."""


def _align(length):
    return (length + 3) & ~3


def addr_dump_request(seq, family):
    """An RTM_GETADDR dump request for the addresses of ``family``."""
    body = IFADDRMSG.pack(family, 0, 0, 0, 0)
    return (
        NLMSGHDR.pack(NLMSGHDR.size + len(body), RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
        + body
    )


def scan_addr_dump(data, seq, ifindex, family, packed):
    """One datagram of an RTM_GETADDR dump: ``(found, done)``.

    ``found``: an RTM_NEWADDR for interface ``ifindex`` and ``family`` whose local or peer
    address (IFA_LOCAL / IFA_ADDRESS, what ``ip address show`` prints) is ``packed``;
    ``done``: the dump ended (NLMSG_DONE). Raises ``PresenceUnknown`` on a kernel error,
    an interrupted dump (the addresses changed while it was read), another sequence
    number or anything malformed.
    """
    found = False
    offset, size = 0, len(data)
    while offset < size:
        if size - offset < NLMSGHDR.size:
            raise PresenceUnknown("truncated netlink header")
        length, kind, flags, msg_seq, _port = NLMSGHDR.unpack_from(data, offset)
        if length < NLMSGHDR.size or offset + length > size:
            raise PresenceUnknown(f"netlink message length {length} out of bounds")
        if msg_seq != seq:
            raise PresenceUnknown(f"netlink answer to request {msg_seq}, not {seq}")
        if flags & NLM_F_DUMP_INTR:
            raise PresenceUnknown("address dump interrupted (the addresses changed meanwhile)")
        payload = offset + NLMSGHDR.size
        end = offset + length
        if kind in (NLMSG_ERROR, NLMSG_DONE):
            code = struct.unpack_from("=i", data, payload)[0] if end - payload >= 4 else 0
            if kind == NLMSG_ERROR or code < 0:
                raise PresenceUnknown(f"netlink error {-code}")
            return found, True
        if kind != RTM_NEWADDR:
            raise PresenceUnknown(f"netlink message of type {kind} in an address dump")
        if end - payload < IFADDRMSG.size:
            raise PresenceUnknown("truncated address message")
        msg_family, _plen, _flags, _scope, index = IFADDRMSG.unpack_from(data, payload)
        attr = payload + _align(IFADDRMSG.size)
        while attr + RTATTR.size <= end:
            attr_len, attr_type = RTATTR.unpack_from(data, attr)
            if attr_len < RTATTR.size or attr + attr_len > end:
                raise PresenceUnknown("netlink attribute out of bounds")
            if (
                index == ifindex
                and msg_family == family
                and attr_type & NLA_TYPE_MASK in (IFA_ADDRESS, IFA_LOCAL)
                and data[attr + RTATTR.size : attr + attr_len] == packed
            ):
                found = True
            attr += _align(attr_len)
        offset += _align(length)
    return found, False


class NetlinkPresence:
    """Is ``address`` (an IP, no prefix) on interface ``iface``? Read in-process.

    ``present()`` returns True or False, or None when it cannot tell (no such interface,
    a socket error, an error or malformed answer from the kernel, the interface replaced
    during the dump). ``socket_factory`` is for tests.
    """

    def __init__(self, iface, address, timeout=1.0, socket_factory=None, nametoindex=None):
        ip = ipaddress.ip_address(address)
        self.iface = iface
        self.family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
        self.packed = ip.packed
        self.timeout = timeout
        self.socket_factory = socket_factory or (
            lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        )
        self.nametoindex = nametoindex or socket.if_nametoindex
        self.seq = 0
        self.seq_lock = threading.Lock()
        self.last_error = None

    def present(self):
        try:
            return self._read()
        except (OSError, PresenceUnknown, struct.error) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            return None

    def _read(self):
        ifindex = self.nametoindex(self.iface)  # OSError when there is no such interface
        with self.seq_lock:
            self.seq = self.seq % 0x7FFFFFFF + 1
            seq = self.seq
        buffer = bytearray(NETLINK_BUFFER)
        with self.socket_factory() as sock:
            sock.settimeout(self.timeout)
            sock.bind((0, 0))
            sock.sendall(addr_dump_request(seq, self.family))
            while True:
                # MSG_TRUNC: the datagram's real length, so a cut one is seen as such.
                length = sock.recv_into(buffer, NETLINK_BUFFER, socket.MSG_TRUNC)
                if length > NETLINK_BUFFER:
                    raise PresenceUnknown(f"netlink datagram of {length} bytes cut")
                found, done = scan_addr_dump(
                    bytes(buffer[:length]), seq, ifindex, self.family, self.packed
                )
                if found:
                    return True  # present: safe to say whatever follows
                if done:
                    break
        if self.nametoindex(self.iface) != ifindex:
            raise PresenceUnknown(f"{self.iface} was replaced during the dump")
        return False


# ---------------------------------------------------------------------------------- actions


class Scrubber(logging.Filter):
    """Replaces the credentials in every log record (defence in depth: none is logged)."""

    def __init__(self):
        super().__init__()
        self.secrets = []

    def set_session(self, session):
        parts = [session, session.split(":", 1)[1]] if session else []
        self.secrets = sorted({p for p in parts if len(p) >= 4}, key=len, reverse=True)

    def scrub(self, text):
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record):
        message = record.getMessage()
        clean = self.scrub(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


class ScrubbingFormatter(logging.Formatter):
    """Formats a record, traceback included, then takes the credentials out."""

    def __init__(self, fmt, scrubber):
        super().__init__(fmt)
        self.scrubber = scrubber

    def format(self, record):
        return self.scrubber.scrub(super().format(record))


def run_command(argv, timeout=10.0):
    """Run ``argv`` (no shell); returns ``(returncode, output)``; never raises."""
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return 127, f"{type(exc).__name__}: {exc}"
    return proc.returncode, proc.stdout.decode("utf-8", "replace").strip()


class Commands:
    """The host commands the agent runs, as vip.sh and the leader-services hook do."""

    def __init__(self, cfg, runner=run_command):
        self.runner = runner
        paths = cfg.get("commands") or {}
        search = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin"
        self.paths = {name: paths.get(name) or shutil.which(name, path=search) for name in COMMANDS}
        vip = cfg.get("vip")
        self.vip = vip["address"] if vip else None
        self.iface = vip["interface"] if vip else None
        # Canonical text, as `ip address show` prints it (IPv6 compressed, lower case).
        self.vip_ip = str(ipaddress.ip_interface(vip["address"]).ip) if vip else None
        self.presence = cfg.get("vip_presence", "netlink")
        self.netlink = (
            NetlinkPresence(self.iface, self.vip_ip) if vip and self.presence == "netlink" else None
        )

    def _run(self, name, *args, timeout=5.0):
        path = self.paths.get(name)
        if not path:
            return 127, f"{name} not found"
        return self.runner([path, *args], timeout=timeout)

    def vip_present(self):
        """``True``/``False``, or ``None`` when it cannot be told (never ``False`` then).

        In-process over rtnetlink by default; ``vip_presence: ip`` runs
        ``ip -o address show dev <iface>`` instead (one process per call).
        """
        if self.netlink is not None:
            present = self.netlink.present()
            if present is None:
                LOG.debug("VIP presence unknown: %s", self.netlink.last_error)
            return present
        rc, out = self._run("ip", "-o", "address", "show", "dev", self.iface)
        if rc != 0:
            return None
        return any(f" {self.vip_ip}/" in line.lower() for line in out.splitlines())

    def vip_add(self):
        return self._run("ip", "address", "add", self.vip, "dev", self.iface)

    def vip_del(self):
        return self._run("ip", "address", "del", self.vip, "dev", self.iface)

    def announce(self):
        results = []
        for flag in ("-U", "-A"):
            results.append(
                self._run("arping", "-c", "1", flag, "-I", self.iface, self.vip_ip, timeout=3.0)
            )
        return results

    def service(self, name, verb):
        if self.paths.get("systemctl") and os.path.isdir("/run/systemd/system"):
            return self._run("systemctl", verb, name, timeout=90.0)
        return self._run("service", name, verb, timeout=90.0)


@contextlib.contextmanager
def hook_lock(path, stop_event, wait=60.0):
    """Hold vip.sh's lock (``flock`` on ``path``) for the block, waiting up to ``wait``
    seconds; as vip.sh does, a lock that cannot be opened or taken in time is ignored."""
    handle = None
    if path:
        try:
            handle = open(path, "a")  # noqa: SIM115 - closed below; not inherited (PEP 446)
        except OSError as exc:
            LOG.debug("hook lock %s not used: %s", path, exc)
    try:
        deadline = time.monotonic() + wait
        while handle is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline or stop_event.wait(0.1):
                    LOG.warning("hook lock %s still held after %.0fs: going on", path, wait)
                    break
            except OSError as exc:
                LOG.debug("hook lock %s not taken: %s", path, exc)
                break
        yield
    finally:
        if handle is not None:
            handle.close()


class ServiceWorker(threading.Thread):
    """Converges the leader-only services on the wanted state, off the fencing thread.

    A failed start is retried with back-off while it is still wanted; stops are retried
    too (a leader-only service must not keep running without the lease). Each round holds
    vip.sh's lock (``hook_lock``): a Raft hook run in progress (its follower action stops
    these services) ends before the agent starts them again.
    """

    def __init__(self, services, commands, stop_event, lock_path=None):
        super().__init__(name="services", daemon=True)
        self.services = list(services)
        self.commands = commands
        self.stop_event = stop_event
        self.lock_path = lock_path
        self.cond = threading.Condition()
        self.wanted = "stopped"
        self.generation = 0
        self.done = None  # (generation, state) last converged
        self.failures = 0

    def want(self, state):
        with self.cond:
            if state != self.wanted:
                self.wanted = state
                self.generation += 1
                self.failures = 0
                self.cond.notify_all()

    def kick(self):
        with self.cond:
            self.generation += 1
            self.cond.notify_all()

    def run(self):
        while not self.stop_event.is_set():
            with self.cond:
                while self.done == (self.generation, self.wanted) and not self.stop_event.is_set():
                    self.cond.wait(1.0)
                generation, state = self.generation, self.wanted
            verb = "start" if state == "started" else "stop"
            failed = []
            with hook_lock(self.lock_path if self.services else None, self.stop_event):
                for name in self.services:
                    with self.cond:
                        if self.generation != generation:
                            break
                    rc, out = self.commands.service(name, verb)
                    if rc != 0:
                        failed.append(f"{name}: rc {rc} {out[-200:]}")
            with self.cond:
                if self.generation != generation:
                    continue
                if failed:
                    self.failures += 1
                    delay = min(30.0, 0.5 * 2 ** min(self.failures, 6))
                    LOG.warning(
                        "leader-only services: %s failed (%s); retry in %.1fs",
                        verb,
                        "; ".join(failed),
                        delay,
                    )
                    self.cond.wait(delay)
                else:
                    if self.services:
                        LOG.info("leader-only services %s: %s", state, " ".join(self.services))
                    self.failures = 0
                    self.done = (generation, state)


# ---------------------------------------------------------------------------------- fence


class Fence:
    """The lease, the VIP and the leader-only services of one front-end."""

    def __init__(
        self,
        cfg,
        clock=None,
        ask=None,
        commands=None,
        timings=None,
        session_reader=None,
        scrubber=None,
        alarm=None,
    ):
        self.cfg = cfg
        self.clock = clock or default_clock()
        # ask(endpoints, session, timeout, decided): raftstatus of several servers at once.
        self.ask = ask or RaftQuery(cfg.get("source_address"))
        self.commands = commands or Commands(cfg)
        # oned.conf and one_auth are read again only when they change (see ChangedFile).
        if timings is None:
            conf = ChangedFile(read_raft_timeouts)

            def timings():
                return conf(cfg["oned_conf"])

        self.timings = timings
        self.session_reader = session_reader or ChangedFile(read_session)
        self.scrubber = scrubber or Scrubber()
        self.self_id = cfg["server_id"]
        self.zone_size = len(cfg["servers"])
        self.local_endpoint = next(s["endpoint"] for s in cfg["servers"] if s["id"] == self.self_id)
        self.peers = {s["id"]: s["endpoint"] for s in cfg["servers"] if s["id"] != self.self_id}
        self.names = {s["id"]: s.get("name") or str(s["id"]) for s in cfg["servers"]}
        self.has_vip = cfg.get("vip") is not None
        self.stop_event = threading.Event()
        self.lock = threading.RLock()
        # Notified when a lease is granted or the agent stops: the watchdog sleeps on it
        # while no lease is held (nothing can expire then).
        self.lease_changed = threading.Condition(self.lock)
        # On CLOCK_BOOTTIME the watchdog waits for the lease's end on a timer (see
        # BoottimeAlarm); with another clock (the tests') it looks every 100 ms.
        self.alarm = alarm
        if alarm is None and self.clock is boottime_clock:
            try:
                self.alarm = BoottimeAlarm()
            except (OSError, AttributeError) as exc:  # no timerfd: the 100 ms looks
                LOG.info("no CLOCK_BOOTTIME timer (%s): the watchdog looks every 100 ms", exc)
        self.services = ServiceWorker(
            cfg["leader_services"], self.commands, self.stop_event, cfg.get("hook_lock")
        )
        # Lease state (under self.lock).
        self.lease_until = None
        self.lease_term = None
        self.lease_s = None
        self.plan_error = None
        self.removed_under_lease = False
        # Observations for the endpoint and the metrics.
        self.local = None
        self.peer_status = {}
        self.verdict = None
        self.follower = (False, "not checked yet")
        self.vip_held = None
        self.last_round_at = None
        self.last_transition = {"at": None, "what": "start", "why": "agent started"}
        self.claim_failures = 0
        self.next_claim_at = 0.0
        self.announce_thread = None
        self.counters = {
            "rounds": 0,
            "rounds_confirmed": 0,
            "leases_granted": 0,
            "leases_expired": 0,
            "leases_revoked": 0,
            "vip_claims": 0,
            "vip_claim_failures": 0,
            "vip_releases": 0,
            "errors": 0,
        }
        self._last_logged = {}
        self._follower_checked_at = None

    # -- logging helpers
    def _log_change(self, key, level, message, *args):
        """Log ``message`` only when it differs from the last one logged under ``key``."""
        text = message % args if args else message
        if self._last_logged.get(key) != text:
            self._last_logged[key] = text
            LOG.log(level, "%s", text)

    # -- lease
    def holds(self, now=None):
        """Whether the lease is held at ``now`` (the clock by default)."""
        with self.lock:
            if self.lease_until is None:
                return False
            return (self.clock() if now is None else now) < self.lease_until

    def lease_remaining(self):
        with self.lock:
            if self.lease_until is None:
                return 0.0
            return max(0.0, self.lease_until - self.clock())

    def enforce_expiry(self):
        """Drop an expired lease now. The first act of every iteration and of the watchdog."""
        with self.lock:
            if self.lease_until is None:
                return False
            now = self.clock()
            if now < self.lease_until:
                return False
            late = now - self.lease_until
            self.counters["leases_expired"] += 1
            self._drop(
                f"lease of term {self.lease_term} expired {late:.3f}s ago "
                "(no majority confirmed it in time)"
            )
            return True

    def revoke(self, why):
        with self.lock:
            if self.lease_until is not None:
                self.counters["leases_revoked"] += 1
                self._drop(why)

    def _drop(self, why):
        """Lose the lease: VIP removed, leader-only services stopped (vip.sh's follower action)."""
        self.lease_until = None
        self.lease_term = None
        self._release_vip(why)  # first: every millisecond counts after a thaw
        self.services.want("stopped")
        self._transition("released", why)
        LOG.warning("lease lost: %s; VIP and leader-only services dropped", why)

    def _release_vip(self, why):
        """``ip address del`` straight away (one command, no presence check first); a
        failure only counts when the address is still there afterwards."""
        if not self.has_vip:
            return
        rc, out = self.commands.vip_del()
        if rc == 0:
            self.counters["vip_releases"] += 1
            self.vip_held = False
            LOG.warning("VIP %s removed from %s: %s", self.commands.vip, self.commands.iface, why)
        elif self.commands.vip_present() is False:
            self.vip_held = False  # it was not there
        else:
            self.counters["errors"] += 1
            LOG.error("could not remove the VIP %s: rc %s %s", self.commands.vip, rc, out[-200:])

    def _transition(self, what, why):
        self.last_transition = {"at": time.time(), "what": what, "why": why}

    def grant(self, sent_at, term, why):
        """Extend the lease to ``sent_at + lease`` if that is still in the future."""
        with self.lock:
            if self.lease_s is None:
                return False
            until = sent_at + self.lease_s
            now = self.clock()
            if now >= until:
                self._log_change(
                    "grant",
                    logging.WARNING,
                    "round answered too late (%.3fs): no lease",
                    now - sent_at,
                )
                return False
            fresh = self.lease_until is None
            if fresh:
                self.lease_changed.notify_all()
                self.counters["leases_granted"] += 1
                self._transition("acquired", why)
                LOG.info("lease acquired for term %s: %s", term, why)
                self.services.want("started")
            if self.lease_until is None or until > self.lease_until:
                self.lease_until = until
                if self.alarm is not None:
                    self.alarm.set(until)  # the watchdog's wake-up moves with the lease
            self.lease_term = term
            return True

    # -- VIP upkeep
    def upkeep(self):
        """Claim a missing VIP under the lease; remove a VIP held without one."""
        if not self.has_vip:
            return
        with self.lock:
            holding = self.holds()
            present = self.commands.vip_present()
            if holding and present is False and self.vip_held:
                # Removed behind the agent's back under its lease, e.g. by a Raft hook's
                # follower action, which also stops the leader-only services: once the
                # VIP is back they are started again (after that hook run, see hook_lock).
                self.removed_under_lease = True
            if present is not None:
                self.vip_held = present
            if holding and present is False:
                now = self.clock()
                if now < self.next_claim_at:
                    return
                why = (
                    "VIP missing while this host holds the lease "
                    f"(term {self.lease_term}): claiming it"
                )
                LOG.warning("%s", why)
                rc, out = self.commands.vip_add()
                if rc == 0 or self.commands.vip_present():
                    self.counters["vip_claims"] += 1
                    self.claim_failures = 0
                    self.next_claim_at = 0.0
                    self.vip_held = True
                    self._transition("vip claimed", why)
                    self._start_announce()
                    if self.removed_under_lease:
                        self.removed_under_lease = False
                        LOG.warning(
                            "the VIP was removed under the lease: restarting %s",
                            " ".join(self.services.services) or "no service",
                        )
                        self.services.kick()
                else:
                    self.counters["vip_claim_failures"] += 1
                    self.claim_failures += 1
                    delay = min(10.0, self.cfg["poll_interval"] * 2**self.claim_failures)
                    self.next_claim_at = now + delay
                    LOG.error(
                        "claiming the VIP failed: rc %s %s; retry in %.1fs", rc, out[-200:], delay
                    )
            elif not holding and present:
                self._release_vip("this host holds no lease")

    def _start_announce(self):
        """Gratuitous ARP like vip.sh (a few rounds, 1 s apart), while the lease holds."""
        if self.announce_thread is not None and self.announce_thread.is_alive():
            return

        def announce():
            for round_no in range(3):
                if round_no:
                    self.stop_event.wait(1.0)
                if self.stop_event.is_set() or not self.holds():
                    return
                for rc, out in self.commands.announce():
                    if rc != 0:
                        self._log_change(
                            "arping", logging.WARNING, "arping failed: rc %s %s", rc, out[-200:]
                        )

        self.announce_thread = threading.Thread(target=announce, name="announce", daemon=True)
        self.announce_thread.start()

    # -- one round
    def _plan(self):
        """Lease length from the current timings; ``None`` (and logged) when unusable."""
        try:
            election_ms, broadcast_ms = self.timings()
            plan = lease_plan(self.cfg, election_ms, broadcast_ms)
        except ConfigError as exc:
            with self.lock:
                self.lease_s = None
                self.plan_error = str(exc)
            self._log_change("plan", logging.ERROR, "no lease possible: %s", exc)
            return None
        with self.lock:
            self.lease_s = plan["lease_s"]
            self.plan_error = None
        self._log_change(
            "plan",
            logging.INFO,
            "lease %.3fs (ELECTION_TIMEOUT %s ms, BROADCAST_TIMEOUT %s ms)",
            plan["lease_s"],
            plan["election_ms"],
            plan["broadcast_ms"],
        )
        return plan

    def _decided(self, answers):
        """Whether a leader's round is decided by ``answers`` so far."""
        local = answers.get("local")
        if not isinstance(local, RaftStatus) or local.state != LEADER:
            return False  # a follower waits for every peer (its /follower view needs them)
        peers = {key: value for key, value in answers.items() if key != "local"}
        verdict = evaluate(self.self_id, self.zone_size, local, peers, self.cfg["max_lag"])
        return verdict.confirmed or verdict.revoke

    def round(self):
        """One confirming round: query everyone, then grant, keep or revoke the lease."""
        plan = self._plan()
        try:
            session = self.session_reader(self.cfg["one_auth"])
            self.scrubber.set_session(session)
        except ConfigError as exc:
            self._log_change("session", logging.ERROR, "%s", exc)
            self.revoke(f"no credentials: {exc}")
            return None
        with self.lock:
            leading = self.local is not None and getattr(self.local, "state", None) == LEADER
        now = self.clock()
        check_peers = (
            leading
            or self.holds()
            or self._follower_checked_at is None
            or now - self._follower_checked_at >= 4 * self.cfg["poll_interval"]
        )
        endpoints = {"local": self.local_endpoint}
        if check_peers:
            endpoints.update(self.peers)
        sent_at = self.clock()  # the lease counts from before the first request leaves
        # Every server at once; the round stops waiting as soon as its answers decide it
        # (a cut-off or frozen peer then costs nothing), the others marked not waited for.
        answers = self.ask(endpoints, session, self.cfg["timeout"], self._decided)
        local = answers.pop("local")
        # A pause may have happened while waiting: expiry first, before acting on answers.
        self.enforce_expiry()
        with self.lock:
            self.counters["rounds"] += 1
            self.local = local
            self.last_round_at = self.clock()
            if check_peers:
                self.peer_status = answers
                self._follower_checked_at = sent_at
                self.follower = follower_view(self.self_id, local, answers, self.cfg["max_lag"])
        if not check_peers:
            # Not leading: only the local state was needed (peers are checked less often).
            verdict = evaluate(self.self_id, self.zone_size, local, {}, self.cfg["max_lag"])
            if not verdict.revoke:
                # The local oned just became leader: confirm at once with the peers.
                return self.round()
        else:
            verdict = evaluate(self.self_id, self.zone_size, local, answers, self.cfg["max_lag"])
        with self.lock:
            self.verdict = verdict
        if verdict.revoke:
            self.revoke(verdict.reason)
            self._log_change("verdict", logging.INFO, "not leader: %s", verdict.reason)
        elif verdict.confirmed:
            self.counters["rounds_confirmed"] += 1
            if plan is None:
                self.revoke(f"no usable Raft timings: {self.plan_error}")
            else:
                self.grant(sent_at, verdict.term, verdict.reason)
            # Keyed on the term only: how many servers answered before the round was
            # decided changes from round to round (the count is in /health).
            self._log_change(
                "verdict", logging.INFO, "leader: a majority confirms term %s", verdict.term
            )
        else:
            self._log_change("verdict", logging.WARNING, "leader not confirmed: %s", verdict.reason)
        return verdict

    def step(self):
        """One iteration of the main loop (also what the unit tests drive)."""
        self.enforce_expiry()  # first, before any I/O: the host may just have been thawed
        try:
            self.round()
        except Exception:  # noqa: BLE001 - fail safe, never a crash loop
            self.counters["errors"] += 1
            LOG.exception("round failed; dropping the lease")
            self.revoke("internal error in the round")
        self.enforce_expiry()
        try:
            self.upkeep()
        except Exception:  # noqa: BLE001
            self.counters["errors"] += 1
            LOG.exception("VIP upkeep failed")

    def startup(self):
        """At start no lease is held: whatever VIP and services this host has go."""
        LOG.info(
            "fence agent %s for server %s (%d servers), VIP %s",
            __version__,
            self.self_id,
            self.zone_size,
            self.cfg["vip"]["address"] if self.has_vip else "none",
        )
        self.services.start()
        with self.lock:
            self._release_vip("agent start: no lease yet")
            self.services.want("stopped")
            self.services.kick()

    def run(self):
        """Main loop: one step every poll_interval until stopped. Between rounds it only
        waits: the watchdog thread drops a lease that ends before the next round."""
        poll = self.cfg["poll_interval"]
        next_at = self.clock()
        while not self.stop_event.is_set():
            self.step()
            next_at = max(next_at + poll, self.clock())
            remaining = next_at - self.clock()
            if remaining > 0:
                self.stop_event.wait(remaining)

    def watchdog(self, tick=0.1, idle=1.0):
        """Second thread enforcing expiry, whatever the main loop is blocked on.

        While a lease is held it sleeps until the lease ends (each grant moves that later),
        but never more than ``tick`` at a time: sleeps are timed on CLOCK_MONOTONIC, which
        stands still while the host is suspended, and the lease on CLOCK_BOOTTIME, which
        does not; after a resume the expired lease goes within ``tick``. (A process that was
        stopped and continued wakes at once: its timeouts passed meanwhile.) Without a lease
        it sleeps until one is granted (``lease_changed``), at most ``idle`` at a time. On a
        healthy leader that is about ten wake-ups a second, on a follower one.

        With a :class:`BoottimeAlarm` (the agent's own clock, CLOCK_BOOTTIME) it waits on
        that instead: every grant sets the alarm to the lease's end, so the watchdog wakes
        when the lease ends (on time across a suspend too) and not in between.
        """
        if self.alarm is not None:
            self._watch_alarm()
            return
        while not self.stop_event.is_set():
            with self.lock:
                if self.lease_until is None:
                    self.lease_changed.wait(idle)
                    continue
                remaining = self.lease_until - self.clock()
            if remaining > 0:
                time.sleep(min(remaining, tick))
            try:
                self.enforce_expiry()
            except Exception:  # noqa: BLE001
                LOG.exception("watchdog failed to drop the lease")

    def _watch_alarm(self):
        while not self.stop_event.is_set():
            try:
                self.alarm.wait()
                self.enforce_expiry()
                with self.lock:
                    if self.lease_until is not None:
                        # Still held (the alarm rang for an end since moved, or a hair
                        # early): ring again at its end, so that it is never unwatched.
                        self.alarm.set(self.lease_until)
            except Exception:  # noqa: BLE001
                LOG.exception("watchdog failed to drop the lease")

    def shutdown(self, why="agent stopping"):
        self.stop_event.set()
        if self.alarm is not None:
            self.alarm.wake()
        with self.lock:
            self.lease_changed.notify_all()
            if self.lease_until is not None:
                self._drop(why)
            else:
                self._release_vip(why)

    # -- reporting
    def snapshot(self):
        """The agent's view, as JSON-ready data (no credentials anywhere)."""
        with self.lock:
            local = self.local
            verdict = self.verdict
            holding = self.holds()
            data = {
                "server_id": self.self_id,
                "name": self.names.get(self.self_id),
                "state": local.state_name if isinstance(local, RaftStatus) else "unknown",
                "term": local.term if isinstance(local, RaftStatus) else None,
                "log_index": local.log_index if isinstance(local, RaftStatus) else None,
                "local_error": None
                if isinstance(local, RaftStatus) or local is None
                else str(local),
                "lease": {
                    "held": holding,
                    "term": self.lease_term if holding else None,
                    "remaining_s": round(self.lease_remaining(), 3),
                    "length_s": self.lease_s,
                    "error": self.plan_error,
                },
                "confirmations": verdict.confirmations if verdict else 0,
                "needed": self.zone_size // 2 + 1,
                "verdict": verdict.reason if verdict else None,
                "follower_ok": self.follower[0],
                "follower": self.follower[1],
                "vip": {
                    "address": self.cfg["vip"]["address"] if self.has_vip else None,
                    "held": self.vip_held,
                },
                "peers": {
                    str(sid): (s.as_dict() if isinstance(s, RaftStatus) else {"error": str(s)})
                    for sid, s in sorted(self.peer_status.items())
                },
                "last_round_age_s": (
                    round(self.clock() - self.last_round_at, 3) if self.last_round_at else None
                ),
                "last_transition": dict(self.last_transition),
                "counters": dict(self.counters),
            }
        return json.loads(self.scrubber.scrub(json.dumps(data)))

    def metrics(self):
        """Prometheus text exposition of the snapshot."""
        snap = self.snapshot()
        state_code = {v: k for k, v in STATE_NAMES.items()}.get(snap["state"], -1)
        labels = f'server_id="{snap["server_id"]}"'
        lines = []

        def gauge(name, value, help_text, kind="gauge", extra=""):
            lines.append(f"# HELP onenebula_ha_fence_{name} {help_text}")
            lines.append(f"# TYPE onenebula_ha_fence_{name} {kind}")
            label = labels + (f",{extra}" if extra else "")
            lines.append(f"onenebula_ha_fence_{name}{{{label}}} {value}")

        gauge("lease_held", int(snap["lease"]["held"]), "1 while this host holds the lease")
        gauge("lease_remaining_seconds", snap["lease"]["remaining_s"], "time left on the lease")
        gauge("vip_held", int(bool(snap["vip"]["held"])), "1 while the VIP is on this host")
        gauge("raft_state", state_code, "local oned Raft state (0 solo..3 leader, -1 unknown)")
        gauge("raft_term", snap["term"] if snap["term"] is not None else -1, "local Raft term")
        gauge("follower_ok", int(snap["follower_ok"]), "1 on a caught-up follower")
        gauge("confirmations", snap["confirmations"], "servers confirming the last round")
        for name, value in snap["counters"].items():
            gauge(f"{name}_total", value, f"count of {name.replace('_', ' ')}", kind="counter")
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- HTTP


class Handler(http.server.BaseHTTPRequestHandler):
    """Read-only endpoint: /leader, /follower, /health, /metrics."""

    server_version = "onenebula-ha-fence"
    sys_version = ""
    fence = None  # set on the subclass made by make_server

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        LOG.debug("http %s %s", self.address_string(), format % args)

    def _send(self, code, body, ctype="text/plain; charset=utf-8"):
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's naming
        path = urllib.parse.urlsplit(self.path).path.rstrip("/") or "/"
        fence = self.fence
        if path == "/leader":
            if fence.holds():
                self._send(200, f"leader, lease {fence.lease_remaining():.3f}s\n")
            else:
                self._send(503, "not leader\n")
        elif path == "/follower":
            snap = fence.snapshot()
            age = snap["last_round_age_s"]
            fresh = age is not None and age < 10 * fence.cfg["poll_interval"] + fence.cfg["timeout"]
            self._send(200 if snap["follower_ok"] and fresh else 503, f"{snap['follower']}\n")
        elif path == "/health":
            self._send(200, json.dumps(fence.snapshot(), sort_keys=True) + "\n", "application/json")
        elif path == "/metrics":
            self._send(200, fence.metrics(), "text/plain; version=0.0.4; charset=utf-8")
        else:
            self._send(404, "unknown path: /leader /follower /health /metrics\n")

    do_HEAD = do_GET


def make_server(fence, bind, port):
    """A ThreadingHTTPServer serving ``fence`` (not started)."""
    handler = type("FenceHandler", (Handler,), {"fence": fence})
    family_server = http.server.ThreadingHTTPServer
    if ipaddress.ip_address(bind).version == 6:

        class V6Server(http.server.ThreadingHTTPServer):
            address_family = __import__("socket").AF_INET6

        family_server = V6Server
    server = family_server((bind, port), handler)
    server.daemon_threads = True
    return server


# ---------------------------------------------------------------------------------- main


def main(argv=None):
    parser = argparse.ArgumentParser(description="onenebula-ha fencing agent")
    parser.add_argument("--config", default="/etc/onenebula-ha/fence.json")
    parser.add_argument("--pidfile", help="written once the HTTP endpoint answers")
    parser.add_argument("--check", action="store_true", help="validate and exit")
    args = parser.parse_args(argv)

    scrubber = Scrubber()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(scrubber)
    handler.setFormatter(
        ScrubbingFormatter(
            "%(asctime)s onenebula-ha-fence[%(process)d] %(levelname)s %(message)s", scrubber
        )
    )
    LOG.handlers[:] = [handler]
    LOG.setLevel(logging.INFO)
    LOG.propagate = False

    try:
        cfg = load_config(args.config)
        LOG.setLevel(cfg["log_level"].upper())
        if args.check:
            plan = lease_plan(cfg, *read_raft_timeouts(cfg["oned_conf"]))
            print(json.dumps({"valid": True, **plan}))
            return 0
    except ConfigError as exc:
        LOG.error("configuration error: %s", exc)
        return EX_CONFIG

    fence = Fence(cfg, scrubber=scrubber)
    try:
        server = make_server(fence, cfg["bind"], cfg["port"])
    except OSError as exc:
        LOG.error("cannot listen on %s:%s: %s", cfg["bind"], cfg["port"], exc)
        return 1

    def on_signal(signum, _frame):
        LOG.info("signal %s: stopping", signum)
        fence.stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    fence.startup()
    threading.Thread(target=fence.watchdog, name="watchdog", daemon=True).start()
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    if args.pidfile:
        tmp = f"{args.pidfile}.tmp"
        with open(tmp, "w", encoding="ascii") as handle:
            handle.write(f"{os.getpid()}\n")
        os.replace(tmp, args.pidfile)
    try:
        fence.run()
    finally:
        fence.shutdown()
        server.shutdown()
        if args.pidfile:
            with contextlib.suppress(OSError):
                os.unlink(args.pidfile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
