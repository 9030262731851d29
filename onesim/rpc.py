"""XML-RPC conventions of oned: return arrays, error codes, messages, i8 values, a client.

Success is ``[true, value, 0]``; failure is
``[false, "[<method>] <message>", <code>, <resp_id>, <i8 replication index>]``. Unknown methods
and parameter type mismatches are XML-RPC faults (xmlrpc-c behaviour), not arrays.
"""

from __future__ import annotations

import http.client
import ipaddress
import xmlrpc.client
from urllib.parse import urlsplit

__all__ = [
    "ACTION",
    "ALLOCATE",
    "AUTHENTICATION",
    "AUTHORIZATION",
    "FAULT_NO_SUCH_METHOD",
    "FAULT_TYPE",
    "I8",
    "INTERNAL",
    "LOCKED",
    "NO_EXISTS",
    "REPLICATION",
    "XML_RPC_API",
    "call",
    "failure",
    "success",
]

AUTHENTICATION = 0x100
AUTHORIZATION = 0x200
NO_EXISTS = 0x400
ACTION = 0x800
XML_RPC_API = 0x1000
INTERNAL = 0x2000
ALLOCATE = 0x4000
LOCKED = 0x8000
REPLICATION = 0x10000

# xmlrpc-c fault codes (XMLRPC_TYPE_ERROR, XMLRPC_NO_SUCH_METHOD_ERROR).
FAULT_TYPE = -501
FAULT_NO_SUCH_METHOD = -506


class I8(int):
    """An int sent as ``<i8>`` (64-bit), as oned does for log indexes."""


def _dump_i8(marshaller, value, write):
    write("<value><i8>")
    write(str(int(value)))
    write("</i8></value>\n")


# Registering a dumper for our own int subclass only affects values wrapped in I8.
xmlrpc.client.Marshaller.dispatch[I8] = _dump_i8


def success(value) -> list:
    return [True, value, 0]


def failure(method: str, code: int, message: str, resp_id: int = -1, index: int = -1) -> list:
    return [False, f"[{method}] {message}", code, resp_id, I8(index)]


def authentication_failure(method: str) -> list:
    return failure(method, AUTHENTICATION, "User couldn't be authenticated, aborting call.")


def no_exists(method: str, object_name: str, oid: int) -> list:
    return failure(method, NO_EXISTS, f"Error getting {object_name} [{oid}].", oid)


# --------------------------------------------------------------------------- client


class _Transport(xmlrpc.client.Transport):
    """A transport with a timeout and an optional source address, one connection per call."""

    def __init__(self, timeout: float | None, source_address: str | None):
        super().__init__()
        self._timeout = timeout
        self._source = (source_address, 0) if source_address else None

    def make_connection(self, host):
        return http.client.HTTPConnection(host, timeout=self._timeout, source_address=self._source)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def source_for(endpoint: str, listen_address: str) -> str | None:
    """Source address to bind when calling ``endpoint``.

    Only on loopback: each simulated server listens on its own 127.x address and outgoing calls
    leave from it, so per-pair packet filters (partitions) match as they would between hosts.
    Elsewhere the kernel picks the address, as it does for the real oned.
    """
    host = urlsplit(endpoint).hostname or ""
    if _is_loopback(host) and _is_loopback(listen_address) and listen_address != "127.0.0.1":
        return listen_address
    return None


def call(
    endpoint: str,
    method: str,
    params: tuple,
    timeout_s: float | None,
    source_address: str | None = None,
):
    """Call ``method`` on ``endpoint`` and return the raw reply (the result array).

    Raises ``OSError``/``http.client.HTTPException`` on transport errors and
    ``xmlrpc.client.Fault`` on faults. ``timeout_s`` of None or 0 means no timeout.
    """
    transport = _Transport(timeout_s or None, source_address)
    proxy = xmlrpc.client.ServerProxy(endpoint, transport=transport, allow_none=False)
    try:
        return getattr(proxy, method)(*params)
    finally:
        proxy("close")()
