"""The no-VIP mode behind Debian's HAProxy on the client host: a backend over every
front-end's oned with ``option httpchk GET /leader`` against the fencing agent sends each
request to the leader, and after a leader SIGKILL to the new leader within
ELECTION_TIMEOUT + inter x fall + 1 s.

It runs on the package's zone (five front-ends with the fencing agent): the balancer needs
no VIP, its health check is the agent's ``/leader`` answer, which the agent gives with or
without a VIP (the agent's no-VIP mode itself is covered by tests/unit/fence). The probe is
a client on the client host calling ``one.zone.raftstatus`` through HAProxy every 100 ms
(answered by the oned that receives it, so it names the server HAProxy chose).
"""

from __future__ import annotations

import json
import time

import pytest
from fence_test_helpers import fence_setting

from onelab import haproxy, proc
from onelab.sampling import ONE_AUTH, RpcProbe, first_steady
from onelab.trials import FAULT_KINDS, restore

pytestmark = pytest.mark.long

# As docs/fence.md shows the backend.
INTER_MS = 500
FALL = 2
RISE = 2
LISTEN = "127.0.0.1"  # in the client host's namespace


@pytest.fixture(scope="module")
def balancer(deployed, fence_pillar):
    config = haproxy.config_text(
        [host.spec for host in deployed.lab.frontends],
        listen=LISTEN,
        check_port=fence_setting(fence_pillar, "port"),
        inter_ms=INTER_MS,
        fall=FALL,
        rise=RISE,
    )
    with haproxy.HAProxy(config) as running:
        yield running


def test_haproxy_reaches_the_new_leader_after_a_sigkill(
    deployed, timeline, balancer, fence_pillar, election_timeout, fault_figures
):
    lab = deployed.lab
    ids = {server["minion"]: server["id"] for server in fence_pillar["onenebula_ha"]["servers"]}
    names = {server_id: name for name, server_id in ids.items()}
    auth = lab.frontends[0].tree.path(ONE_AUTH)
    leader = timeline.wait_healthy(180)
    with RpcProbe(f"http://{LISTEN}:2633/RPC2", auth) as probe:
        settled_before = proc.wait_until(
            lambda: first_steady(probe.snapshot(), 0, ids[leader]),
            timeout=30,
            what=f"HAProxy to send requests to the leader {leader}",
        )
        time.sleep(1)
        assert first_steady(probe.snapshot(), 0, ids[leader]) == settled_before
        start = timeline.mark(f"haproxy: SIGKILL oned on {leader}")
        FAULT_KINDS["sigkill"].inject(lab, leader)
        elected = proc.wait_until(
            lambda: next(
                (
                    s
                    for s in timeline.raft.snapshot()
                    if s.t >= start and s.state == "leader" and s.host != leader
                ),
                None,
            ),
            timeout=60,
            what="a new leader",
        )
        bound = max(election_timeout, elected.t - start) + INTER_MS / 1000 * FALL + 1
        proc.wait_until(
            lambda: (
                time.monotonic() - start > bound + 1
                and first_steady(probe.since(start), start, ids[elected.host])
            ),
            timeout=bound + 30,
            what=f"requests through HAProxy to reach the new leader {elected.host}",
        )
        samples = probe.snapshot()
    reached = first_steady(samples, start, ids[elected.host])
    # From the first health checks on (HAProxy starts its servers up until a check fails).
    answered = [s for s in samples if s.t >= settled_before and s.server_id is not None]
    row = {
        "kind": "haproxy_sigkill",
        "old_leader": leader,
        "new_leader": elected.host,
        "new_leader_s": round(elected.t - start, 2),
        "haproxy_new_leader_s": round(reached - start, 2),
        "haproxy_after_election_s": round(reached - elected.t, 2),
        "bound_s": round(bound, 2),
        "failed_calls": sum(1 for s in samples if s.t >= start and s.server_id is None),
        "answered_by": sorted({names[s.server_id] for s in answered}),
    }
    fault_figures.append(row)
    detail = json.dumps(row)
    # Once checking, HAProxy never sent a call to a server that was not the leader.
    assert all(s.state == "leader" for s in answered), detail
    assert reached - start <= bound, detail
    restore(lab)
    timeline.wait_healthy(180)
