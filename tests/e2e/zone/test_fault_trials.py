"""One trial per fault kind on the Raft leader of a deployed 5-front-end zone with the
fencing agent: never two VIP holders, and after a SIGKILL the VIP on the new leader only
within 1.5 s of the moment it reports state leader.

The trials share the module's lab and run in order; each starts from a healthy zone (one
leader, the others its followers, the VIP on the leader only) and ends healed and healthy
again. Figures: see the session's terminal summary.
"""

from __future__ import annotations

import json

import pytest

from onelab.trials import FAULT_KINDS, run_trial

pytestmark = pytest.mark.long

#: A paused VM answers ARP for its addresses the moment it resumes, before any of its
#: programs run: one 100 ms sample with two holders is allowed there, and reported.
TWO_HOLDER_SAMPLES_ALLOWED = {"host_freeze": 1}
#: Kinds whose fault is a SIGKILL of the leader's oned (a killed oned runs no hook).
SIGKILL_KINDS = ("sigkill", "minion_stopped", "master_stopped")
#: The VIP on the new leader only, at most this long after it reports state leader.
VIP_AFTER_ELECTION_S = 1.5


@pytest.mark.parametrize("kind", list(FAULT_KINDS))
def test_a_fault_on_the_leader_never_leaves_two_vip_holders(
    kind, deployed, timeline, election_timeout, fault_figures
):
    row = run_trial(deployed.lab, timeline, FAULT_KINDS[kind], election_timeout=election_timeout)
    fault_figures.append(row)
    detail = json.dumps(row)
    assert row["two_holder_samples"] <= TWO_HOLDER_SAMPLES_ALLOWED.get(kind, 0), detail
    assert row["new_leader"] is not None, detail
    if kind in SIGKILL_KINDS:
        assert row["vip_after_election_s"] is not None, detail
        assert row["vip_after_election_s"] <= VIP_AFTER_ELECTION_S, detail
