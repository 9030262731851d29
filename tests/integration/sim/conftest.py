"""Slower multi-second scenarios on loopback zones (partitions, log purge, service scripts)."""

import shutil

import pytest

#: Raft timings: fast elections, but generous enough for a loaded 2-core machine.
TIMINGS = {
    "election_ms": 600,
    "broadcast_ms": 100,
    "xmlrpc_timeout_ms": 250,
    "warmup_ms": 300,
}


@pytest.fixture
def timings():
    return dict(TIMINGS)


@pytest.fixture
def require_nft():
    if shutil.which("nft") is None:
        pytest.skip("nftables (nft) is not installed")
