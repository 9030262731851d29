"""The stub's canned replies are what OpenNebula's own Python bindings accept.

pyone parses replies with bindings generated from OpenNebula's XSDs (zone.xsd,
raftstatus.xsd) and maps failure codes to exceptions (docs/opennebula-cli.md §7). If pyone reads our stub
the way it reads oned, the goldens above were checked against oned-shaped replies.
"""

from __future__ import annotations

import pyone
import pytest
from sim_cli_support import raft_xml, zone_xml
from stub_oned import failure, success_int, success_string


@pytest.fixture
def front_end(stubs):
    return stubs(
        {
            "one.zone.info": success_string(
                zone_xml(
                    [
                        ("0", "server-0", "http://fe1:2633/RPC2"),
                        ("1", "server-1", "http://fe2:2633/RPC2"),
                    ]
                )
            ),
            "one.zone.raftstatus": success_string(raft_xml(0, 3, term=4, votedfor=0)),
            "one.zone.addserver": success_int(0),
            "one.zone.delserver": failure("[one.zone.delserver] SERVER not found in zone", 0x800),
            "one.zone.resetserver": failure(
                "[one.zone.resetserver] Cannot process request, no leader found", 0x2000
            ),
        }
    )


def test_pyone_reads_zone_and_raft_documents(front_end):
    one = pyone.OneServer(front_end.endpoint, session="oneadmin:opennebula", timeout=5)

    zone = one.zone.info(0)
    raft = one.zone.raftstatus()

    assert zone.ID == 0 and zone.NAME == "OpenNebula"
    assert [s.NAME for s in zone.SERVER_POOL.SERVER] == ["server-0", "server-1"]
    assert (raft.SERVER_ID, raft.STATE, raft.TERM, raft.FEDLOG_INDEX) == (0, 3, 4, -1)
    assert one.zone.addserver(0, 'SERVER=[NAME="s",ENDPOINT="http://s:2633/RPC2"]') == 0


def test_pyone_maps_failure_codes(front_end):
    one = pyone.OneServer(front_end.endpoint, session="oneadmin:opennebula", timeout=5)

    with pytest.raises(pyone.OneActionException, match="SERVER not found in zone"):
        one.zone.delserver(0, 9)
    with pytest.raises(pyone.OneInternalException, match="no leader found"):
        one.zone.resetserver(0, 1)
