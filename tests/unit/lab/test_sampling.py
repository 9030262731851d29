"""The lab's samplers as plain functions: a trial's figures from timelines, netlink decoding."""

from __future__ import annotations

import socket
import struct

import pytest

from onelab.netns import parse_addresses
from onelab.sampling import (
    ProbeSample,
    RaftSample,
    VipSample,
    VipSampler,
    failover_figures,
    first_steady,
)


def _vip(start: float, holders_per_sample: list[tuple[str, ...]], step: float = 0.1):
    return [VipSample(start + i * step, holders) for i, holders in enumerate(holders_per_sample)]


def test_figures_of_a_failover_with_an_overlap_and_a_gap():
    # fault at t=10.0; vmm01 keeps the VIP 0.3 s after vmm02 took it, then nobody for 0.2 s
    vip = _vip(
        9.8,
        [("vmm01",)] * 4  # 9.8 .. 10.1 (two before the fault)
        + [("vmm01", "vmm02")] * 3  # 10.2 .. 10.4
        + [()] * 2  # 10.5, 10.6
        + [("vmm02",)] * 3,  # 10.7 .. 10.9
    )
    raft = [
        RaftSample(9.9, "vmm02", "follower", 4),
        RaftSample(10.15, "vmm02", "leader", 5),
        RaftSample(10.15, "vmm03", "leader", 5),  # same instant, sorted by time first
        RaftSample(10.5, "vmm01", "leader", 4),
    ]
    figures = failover_figures(vip, raft, start=10.0, old_leader="vmm01")
    assert figures.new_leader == "vmm02"
    assert figures.new_leader_s == pytest.approx(0.15)
    assert figures.vip_new_leader_only_s == pytest.approx(0.7)
    assert figures.vip_after_election_s == pytest.approx(0.55)
    assert figures.two_holder_samples == 3
    assert figures.two_holder_s == pytest.approx(0.3)
    assert figures.no_holder_s == pytest.approx(0.2)
    assert figures.max_holders == 2
    assert figures.vip_samples == 10


def test_the_old_leader_reporting_leader_is_no_new_leader_and_the_window_ends():
    vip = _vip(0.0, [("vmm01",)] * 5 + [("vmm02",)] * 5)
    raft = [RaftSample(0.2, "vmm01", "leader", 3), RaftSample(0.8, "vmm02", "leader", 4)]
    figures = failover_figures(vip, raft, start=0.0, end=0.45, old_leader="vmm01")
    assert (figures.new_leader, figures.new_leader_s, figures.vip_new_leader_only_s) == (
        None,
        None,
        None,
    )
    assert figures.vip_samples == 5 and figures.two_holder_samples == 0
    later = failover_figures(vip, raft, start=0.0, old_leader="vmm01")
    assert later.new_leader == "vmm02" and later.vip_new_leader_only_s == pytest.approx(0.5)
    assert later.vip_after_election_s == pytest.approx(-0.3)  # the VIP came before the sample


def test_unanswered_samples_are_not_a_leader():
    raft = [RaftSample(1.0, "vmm02", None), RaftSample(1.1, "vmm03", "candidate", 7)]
    figures = failover_figures(_vip(1.0, [()] * 3), raft, start=1.0, old_leader="vmm01")
    assert figures.new_leader is None
    assert figures.no_holder_s == pytest.approx(0.2)


def _nlmsg(kind: int, seq: int, body: bytes) -> bytes:
    header = struct.pack("=IHHII", 16 + len(body), kind, 2, seq, 0)
    padded = header + body
    return padded + b"\0" * (-len(padded) % 4)


def _rtattr(kind: int, value: bytes) -> bytes:
    attr = struct.pack("=HH", 4 + len(value), kind) + value
    return attr + b"\0" * (-len(attr) % 4)


def _address(label: str, address: str, prefix: int) -> bytes:
    body = struct.pack("=BBBBI", socket.AF_INET, prefix, 0, 0, 2)
    body += _rtattr(1, socket.inet_aton(address)) + _rtattr(2, socket.inet_aton(address))
    return body + _rtattr(3, label.encode() + b"\0")


def test_netlink_address_dump_is_decoded_per_sequence():
    chunk = (
        _nlmsg(20, 7, _address("eth0", "10.213.0.10", 24))
        + _nlmsg(20, 6, _address("eth0", "10.9.9.9", 24))  # an older request's answer
        + _nlmsg(20, 7, _address("eth0", "10.213.0.100", 24))
        + _nlmsg(20, 7, _address("lo", "127.0.0.1", 8))
    )
    found, done = parse_addresses(chunk, 7)
    assert not done
    assert found == [
        ("eth0", "10.213.0.10", 24),
        ("eth0", "10.213.0.100", 24),
        ("lo", "127.0.0.1", 8),
    ]
    assert parse_addresses(_nlmsg(3, 7, b"\0\0\0\0"), 7) == ([], True)


def test_netlink_error_is_raised():
    with pytest.raises(OSError, match="netlink"):
        parse_addresses(_nlmsg(2, 3, struct.pack("=i", -1) + b"\0" * 16), 3)


def test_first_steady_is_where_every_answer_comes_from_the_leader():
    samples = [
        ProbeSample(1.0, 0, "leader"),  # before the fault
        ProbeSample(2.0, None, None),
        ProbeSample(2.1, 1, "leader"),
        ProbeSample(2.2, 0, "leader"),  # the old one answered again: not settled yet
        ProbeSample(2.3, None, None),
        ProbeSample(2.4, 1, "leader"),
        ProbeSample(2.5, None, None),  # a failed call does not unsettle
        ProbeSample(2.6, 1, "leader"),
    ]
    assert first_steady(samples, 1.5, 1) == 2.4
    assert first_steady(samples, 1.5, 2) is None
    assert first_steady(samples[:4], 1.5, 1) is None
    assert first_steady([ProbeSample(3.0, 1, "follower")], 0, 1) is None


def test_since_finds_samples_even_from_a_thread_that_finished_late():
    sampler = VipSampler([])
    sampler.samples = [VipSample(t, ()) for t in (1.0, 2.0, 3.0, 2.9, 4.0)]
    assert [s.t for s in sampler.since(2.95)] == [3.0, 4.0]
    assert [s.t for s in sampler.since(2.5)] == [3.0, 2.9, 4.0]
    assert sampler.last().t == 4.0
