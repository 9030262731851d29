"""Fixtures for the simulated oned on loopback (fast Raft timings set through oned.conf)."""

import pytest

from onesim.zone_local import LocalZone

#: Short Raft timings: these tests wait for elections, so keep them small but well above the
#: 50 ms tick and the cost of one XML-RPC round trip on a busy 2-core machine.
FAST = {
    "election_ms": 600,
    "broadcast_ms": 100,
    "xmlrpc_timeout_ms": 250,
    "warmup_ms": 300,
}


@pytest.fixture
def solo(tmp_path):
    """One self-contained oned started solo (SERVER_ID -1) on its own loopback address."""
    zone = LocalZone(1, tmp_path / "zone", **FAST).prepare()
    try:
        zone.start(0)
        yield zone
    finally:
        zone.down()


@pytest.fixture(scope="module")
def zone3(tmp_path_factory):
    """A bootstrapped 3-server zone shared by a module's tests (they must leave it healthy)."""
    with LocalZone(3, tmp_path_factory.mktemp("zone3") / "zone", **FAST) as zone:
        yield zone
