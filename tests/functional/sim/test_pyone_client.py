"""OpenNebula's own Python bindings (pyone) as an outside client of the simulated oned."""

import pyone
import pytest
from pyone.bindings import supbind


@pytest.fixture
def one(solo):
    return pyone.OneServer(solo.servers[0].endpoint, session=solo.session, timeout=10)


def test_pyone_parses_raftstatus_into_its_raft_class(one):
    raft = one.zone.raftstatus()
    assert isinstance(raft, supbind.RAFT)
    assert (raft.SERVER_ID, raft.STATE, raft.TERM, raft.VOTEDFOR) == (-1, 0, 0, -1)
    assert (raft.COMMIT, raft.LOG_INDEX, raft.LOG_TERM, raft.FEDLOG_INDEX) == (0, -1, -1, -1)


def test_pyone_parses_zone_info_and_zone_pool(one, solo):
    assert one.zone.addserver(0, 'SERVER=[NAME="s1",ENDPOINT="http://h:2633/RPC2"]') == 0
    zone = one.zone.info(0)
    assert isinstance(zone, supbind.ZONE)
    assert (zone.ID, zone.NAME) == (0, "OpenNebula")
    assert zone.TEMPLATE["ENDPOINT"] == "http://localhost:2633/RPC2"
    servers = zone.SERVER_POOL.SERVER
    assert [(s.ID, s.NAME, s.ENDPOINT) for s in servers] == [(0, "s1", "http://h:2633/RPC2")]
    pool = one.zonepool.info()
    assert isinstance(pool, supbind.ZONE_POOL)
    assert [z.ID for z in pool.ZONE] == [0]


def test_pyone_raises_the_exception_class_of_each_failure_code(one, solo):
    bad_session = pyone.OneServer(solo.servers[0].endpoint, session="oneadmin:nope", timeout=10)
    with pytest.raises(pyone.OneAuthenticationException):  # 0x100
        bad_session.zone.raftstatus()
    with pytest.raises(pyone.OneNoExistsException):  # 0x400
        one.zone.info(42)
    with pytest.raises(pyone.OneActionException):  # 0x800
        one.zone.addserver(1, 'SERVER=[NAME="s",ENDPOINT="http://h:2633/RPC2"]')
    one.zone.enable(0, False)
    try:
        with pytest.raises(pyone.OneInternalException):  # 0x2000: zone disabled
            one.vm.allocate('NAME="x"', False)
    finally:
        one.zone.enable(0, True)
    with pytest.raises(pyone.OneException):  # an XML-RPC fault
        one.zone.nosuchcall()
