"""The agent's in-process VIP check (rtnetlink RTM_GETADDR dump): present, absent, on
another interface, and every answer it cannot read taken as *unknown* (None), never as
absent: the VIP is a lock, and a host without the lease must remove it when it is there."""

import socket
import struct

import pytest
from fence_harness import agent

IFINDEX = 2
OTHER_IFINDEX = 3
V4 = socket.AF_INET
V6 = socket.AF_INET6


def _attr(kind, value):
    raw = struct.pack("=HH", 4 + len(value), kind) + value
    return raw + b"\0" * (-len(raw) % 4)


def newaddr(seq, address, index=IFINDEX, prefix=24, local=True, peer=None, flags=0x2):
    """An RTM_NEWADDR as the kernel sends it in a dump (NLM_F_MULTI)."""
    ip = socket.inet_pton(V6 if ":" in address else V4, address)
    family = V6 if ":" in address else V4
    attrs = _attr(agent.IFA_ADDRESS, socket.inet_pton(family, peer) if peer else ip)
    if local:
        attrs += _attr(agent.IFA_LOCAL, ip)
    attrs += _attr(3, b"eth0\0")  # IFA_LABEL, ignored
    body = struct.pack("=BBBBI", family, prefix, 0, 0, index) + attrs
    return struct.pack("=IHHII", 16 + len(body), agent.RTM_NEWADDR, flags, seq, 4242) + body


def done(seq, code=0):
    return struct.pack("=IHHIIi", 20, agent.NLMSG_DONE, 0x2, seq, 4242, code)


def nl_error(seq, errno):
    return struct.pack("=IHHIIi", 36, agent.NLMSG_ERROR, 0, seq, 4242, -errno) + b"\0" * 16


class FakeNetlink:
    """A NETLINK_ROUTE socket that answers the dump request with ``datagrams``
    (callables of the request's sequence number)."""

    def __init__(self, datagrams, timeout_after=None):
        self.datagrams = list(datagrams)
        self.sent = []
        self.bound = None
        self.timeout = None
        self.closed = False
        self.timeout_after = timeout_after

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.closed = True

    def settimeout(self, value):
        self.timeout = value

    def bind(self, address):
        self.bound = address

    def sendall(self, data):
        self.sent.append(data)

    def recv_into(self, buffer, size, flags):
        assert flags & socket.MSG_TRUNC
        if not self.datagrams:
            raise TimeoutError("timed out")  # what a blocked recv gives after settimeout
        seq = struct.unpack_from("=IHHII", self.sent[-1])[3]
        data = self.datagrams.pop(0)(seq)
        kept = data[:size]
        buffer[: len(kept)] = kept
        return len(data)  # MSG_TRUNC: the datagram's real length


def presence(datagrams, address="10.0.0.100", indexes=(IFINDEX, IFINDEX)):
    sockets = []
    order = list(indexes)

    def factory():
        sockets.append(FakeNetlink(datagrams))
        return sockets[-1]

    def nametoindex(name):
        assert name == "eth0"
        value = order.pop(0) if len(order) > 1 else order[0]
        if isinstance(value, BaseException):
            raise value
        return value

    checker = agent.NetlinkPresence(
        "eth0", address, socket_factory=factory, nametoindex=nametoindex
    )
    return checker, sockets


def one(*parts):
    """One datagram made of several messages of the same request."""
    return lambda seq: b"".join(part(seq) for part in parts)


def test_a_secondary_vip_on_the_interface_is_present():
    checker, sockets = presence(
        [one(lambda s: newaddr(s, "10.0.0.1"), lambda s: newaddr(s, "10.0.0.100"), done)]
    )
    assert checker.present() is True
    (sock,) = sockets
    assert sock.bound == (0, 0) and sock.closed and sock.timeout == 1.0
    length, kind, flags, seq, port = struct.unpack_from("=IHHII", sock.sent[0])
    assert (length, kind, port) == (24, agent.RTM_GETADDR, 0)
    assert flags == agent.NLM_F_REQUEST | agent.NLM_F_DUMP
    assert struct.unpack_from("=BBBBI", sock.sent[0], 16) == (V4, 0, 0, 0, 0)


def test_absent_when_the_interface_has_other_addresses_only():
    checker, _ = presence(
        [one(lambda s: newaddr(s, "10.0.0.1"), lambda s: newaddr(s, "10.0.0.10"), done)]
    )
    assert checker.present() is False  # 10.0.0.10 is a text prefix of .100, not the VIP


def test_absent_when_the_vip_is_on_another_interface():
    checker, _ = presence(
        [
            one(
                lambda s: newaddr(s, "10.0.0.1"),
                lambda s: newaddr(s, "10.0.0.100", OTHER_IFINDEX),
                done,
            )
        ]
    )
    assert checker.present() is False


def test_absent_when_the_interface_has_no_address():
    checker, _ = presence([done])
    assert checker.present() is False


def test_the_vip_as_a_point_to_point_peer_counts_as_present():
    # `ip address show` prints `inet 10.0.0.5 peer 10.0.0.100/32`: the old check saw it too.
    checker, _ = presence(
        [one(lambda s: newaddr(s, "10.0.0.5", prefix=32, peer="10.0.0.100"), done)]
    )
    assert checker.present() is True


def test_address_without_ifa_local_is_read_from_ifa_address():
    checker, _ = presence([one(lambda s: newaddr(s, "10.0.0.100", local=False), done)])
    assert checker.present() is True


def test_ipv6_vip():
    dump = one(
        lambda s: newaddr(s, "2001:db8::1", prefix=64),
        lambda s: newaddr(s, "2001:db8::100", prefix=64),
        done,
    )
    checker, sockets = presence([dump], address="2001:DB8:0:0::100")
    assert checker.present() is True
    assert struct.unpack_from("=BBBBI", sockets[0].sent[0], 16)[0] == V6
    checker, _ = presence(
        [one(lambda s: newaddr(s, "2001:db8::1", prefix=64), done)], "2001:db8::100"
    )
    assert checker.present() is False


def test_a_dump_over_several_datagrams_is_read_to_the_end():
    checker, sockets = presence(
        [
            one(lambda s: newaddr(s, "10.0.0.1")),
            one(lambda s: newaddr(s, "10.0.0.7", OTHER_IFINDEX)),
            one(lambda s: newaddr(s, "10.0.0.100"), done),
        ]
    )
    assert checker.present() is True
    assert sockets[0].datagrams == []
    checker, _ = presence([one(lambda s: newaddr(s, "10.0.0.1")), done])
    assert checker.present() is False


def test_sequence_numbers_change_between_checks():
    seqs = []

    def factory():
        sock = FakeNetlink([done])
        seqs.append(sock)
        return sock

    checker = agent.NetlinkPresence(
        "eth0", "10.0.0.100", socket_factory=factory, nametoindex=lambda _n: IFINDEX
    )
    assert checker.present() is False and checker.present() is False
    first, second = (struct.unpack_from("=IHHII", s.sent[0])[3] for s in seqs)
    assert first != second


def _truncated(seq):
    return newaddr(seq, "10.0.0.1")[:30]


def _bad_attribute(seq):
    message = bytearray(newaddr(seq, "10.0.0.100"))
    struct.pack_into("=H", message, 24, 200)  # first attribute claims 200 bytes
    return bytes(message) + done(seq)


@pytest.mark.parametrize(
    ("datagrams", "indexes", "why"),
    [
        ([lambda s: nl_error(s, 1)], None, "netlink error 1"),
        ([lambda s: done(s, -105)], None, "netlink error 105"),
        (
            [lambda s: newaddr(s, "10.0.0.1", flags=0x2 | agent.NLM_F_DUMP_INTR) + done(s)],
            None,
            "interrupted",
        ),
        ([lambda s: newaddr(s + 1, "10.0.0.1") + done(s + 1)], None, "answer to request"),
        ([_truncated], None, "out of bounds"),
        ([lambda s: newaddr(s, "10.0.0.1")[:12]], None, "truncated netlink header"),
        ([_bad_attribute], None, "attribute out of bounds"),
        (
            [lambda s: struct.pack("=IHHII", 16, 4, 0, s, 0) + done(s)],
            None,
            "type 4",
        ),
        ([lambda s: newaddr(s, "10.0.0.1") + b"\0" * agent.NETLINK_BUFFER], None, "cut"),
        ([one(lambda s: newaddr(s, "10.0.0.1"))], None, "timed out"),  # no NLMSG_DONE
        ([done], (OSError(19, "No such device"),), "No such device"),
        ([done], (IFINDEX, 7), "replaced"),
        ([done], (IFINDEX, OSError(19, "No such device")), "No such device"),
    ],
)
def test_unreadable_answers_make_the_presence_unknown_not_absent(datagrams, indexes, why):
    checker, _ = presence(datagrams, indexes=indexes or (IFINDEX, IFINDEX))
    assert checker.present() is None
    assert why in checker.last_error


def test_socket_errors_make_the_presence_unknown():
    def factory():
        raise PermissionError(1, "Operation not permitted")

    checker = agent.NetlinkPresence(
        "eth0", "10.0.0.100", socket_factory=factory, nametoindex=lambda _n: IFINDEX
    )
    assert checker.present() is None
    assert "Operation not permitted" in checker.last_error


def test_commands_use_netlink_by_default_and_run_no_process():
    def runner(argv, timeout):
        raise AssertionError(f"a process was started: {argv}")

    cfg = agent.check_config(
        {
            "server_id": 0,
            "servers": [{"id": 0, "endpoint": "http://10.0.0.1:2633/RPC2"}],
            "vip": {"address": "10.0.0.100/24", "interface": "eth0"},
        }
    )
    commands = agent.Commands(cfg, runner=runner)
    assert cfg["vip_presence"] == "netlink"
    checker, _ = presence([one(lambda s: newaddr(s, "10.0.0.100"), done)])
    commands.netlink = checker
    assert commands.vip_present() is True
    commands.netlink, _ = presence([lambda s: nl_error(s, 22)])
    assert commands.vip_present() is None


@pytest.mark.skipif(not hasattr(socket, "AF_NETLINK"), reason="rtnetlink is Linux only")
def test_the_kernel_answers_for_the_loopback_interface():
    # A read of this host's own addresses (changes nothing): lo always has 127.0.0.1.
    assert agent.NetlinkPresence("lo", "127.0.0.1").present() is True
    assert agent.NetlinkPresence("lo", "192.0.2.123").present() is False  # TEST-NET-1
    missing = agent.NetlinkPresence("onehanosuch0", "127.0.0.1")
    assert missing.present() is None
