"""Fixtures for the simulated oned on loopback (fast Raft timings set through oned.conf)."""

import pytest
from sim_timings import FAST

from onesim.zone_local import LocalZone


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
def solo_shared(tmp_path_factory):
    """A solo oned shared by a module's read-only tests."""
    zone = LocalZone(1, tmp_path_factory.mktemp("solo") / "zone", **FAST).prepare()
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


@pytest.fixture
def require_nft():
    import shutil

    if shutil.which("nft") is None:
        pytest.skip("nftables (nft) is not installed")
