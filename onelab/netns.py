"""Looking into a host's network namespace from this process, without spawning anything.

A thread can move itself into another network namespace (``setns(2)`` with
``CLONE_NEWNET`` changes only the calling thread); every socket it creates afterwards
belongs to that namespace for its whole life, whichever thread uses it. The samplers use
this to read a host's addresses over netlink and to call its oned on the host's own
loopback (never partitioned: nftables rules of the lab only match ``eth0``), a hundred
times less costly than an ``ip netns exec`` per look.

A socket or a thread inside a namespace keeps it alive: close the sockets and end the
threads before the lab deletes its namespaces.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"

_libc = ctypes.CDLL(None, use_errno=True)


def enter(netns: str) -> None:
    """Move the calling thread into the named network namespace (``ip netns`` name)."""
    fd = os.open(os.path.join(NETNS_RUN_DIR, netns), os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into {netns}: {os.strerror(errno)}")
    finally:
        os.close(fd)


def call_in(netns: str, function: Callable[[], T]) -> T:
    """Run ``function`` in a short-lived thread inside ``netns`` and return its result."""
    result: list = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            enter(netns)
            result.append(function())
        except BaseException as exc:  # handed to the caller
            failure.append(exc)

    thread = threading.Thread(target=body, name=f"netns-{netns}", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


# -- netlink: the IPv4 addresses of an interface ----------------------------------------------

_NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, interface index
_RTATTR = struct.Struct("=HH")  # length, type
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_RTM_NEWADDR, _RTM_GETADDR = 20, 22
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_IFA_LOCAL, _IFA_LABEL = 2, 3


def _align(length: int) -> int:
    return (length + 3) & ~3


def parse_addresses(payload: bytes, sequence: int) -> tuple[list[tuple[str, str, int]], bool]:
    """Decode an ``RTM_NEWADDR`` dump chunk: ``[(label, address, prefixlen)]`` and done-flag."""
    found = []
    offset = 0
    while offset + _NLMSGHDR.size <= len(payload):
        length, kind, _flags, seq, _port = _NLMSGHDR.unpack_from(payload, offset)
        if length < _NLMSGHDR.size:
            break
        if seq == sequence:
            if kind == _NLMSG_DONE:
                return found, True
            if kind == _NLMSG_ERROR:
                (code,) = struct.unpack_from("=i", payload, offset + _NLMSGHDR.size)
                raise OSError(-code, f"netlink address dump: {os.strerror(-code)}")
            if kind == _RTM_NEWADDR:
                found.extend(_address_entry(payload, offset + _NLMSGHDR.size, offset + length))
        offset += _align(length)
    return found, False


def _address_entry(payload: bytes, start: int, end: int) -> list[tuple[str, str, int]]:
    family, prefixlen, _flags, _scope, _index = _IFADDRMSG.unpack_from(payload, start)
    if family != socket.AF_INET:
        return []
    label, local = "", ""
    offset = start + _IFADDRMSG.size
    while offset + _RTATTR.size <= end:
        length, kind = _RTATTR.unpack_from(payload, offset)
        if length < _RTATTR.size:
            break
        value = payload[offset + _RTATTR.size : offset + length]
        if kind == _IFA_LOCAL:
            local = socket.inet_ntop(socket.AF_INET, value[:4])
        elif kind == _IFA_LABEL:
            label = value.split(b"\0", 1)[0].decode(errors="replace")
        offset += _align(length)
    return [(label, local, prefixlen)] if local else []


class AddressReader:
    """Reads the IPv4 addresses of a host's interfaces through one netlink socket.

    The socket is opened inside the host's namespace once; each :meth:`addresses` is one
    dump request (microseconds, no process). Close it before the namespace is deleted.
    """

    def __init__(self, netns: str, *, timeout: float = 1.0):
        self.netns = netns
        self._sequence = 0
        self._sock = call_in(
            netns, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        )
        self._sock.settimeout(timeout)
        self._sock.bind((0, 0))

    def addresses(self, interface: str = "eth0") -> list[str]:
        """The interface's IPv4 addresses (``a.b.c.d``), in the kernel's order."""
        self._sequence += 1
        sequence = self._sequence
        request = _NLMSGHDR.pack(
            _NLMSGHDR.size + _IFADDRMSG.size,
            _RTM_GETADDR,
            _NLM_F_REQUEST | _NLM_F_DUMP,
            sequence,
            0,
        ) + _IFADDRMSG.pack(socket.AF_INET, 0, 0, 0, 0)
        self._sock.send(request)
        found: list[tuple[str, str, int]] = []
        done = False
        while not done:
            chunk, done = parse_addresses(self._sock.recv(65536), sequence)
            found.extend(chunk)
        return [address for label, address, _prefix in found if label.split(":")[0] == interface]

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> AddressReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
