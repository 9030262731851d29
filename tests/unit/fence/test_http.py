"""The health endpoint: /leader, /follower, /health, /metrics, and no credentials in any answer."""

import http.client
import json
import threading

import pytest
from fence_harness import SESSION, agent, follower, leader, make_fence


@pytest.fixture
def served():
    """A fence (fake zone) behind its real ThreadingHTTPServer on a loopback port."""
    answers = {0: leader(), 1: follower(1), 2: follower(2)}
    fence, clock, zone, commands, events = make_fence(answers)
    server = agent.make_server(fence, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]

    def get(path, method="GET"):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request(method, path)
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type"), response.read().decode()
        finally:
            connection.close()

    try:
        yield fence, clock, zone, get
    finally:
        server.shutdown()
        server.server_close()


def test_leader_is_503_until_the_lease_then_200_then_503_when_it_ends(served):
    fence, clock, zone, get = served
    assert get("/leader")[0] == 503
    fence.step()
    status, _ctype, body = get("/leader")
    assert status == 200 and body.startswith("leader, lease 2.500s")
    assert get("/leader", method="HEAD")[0] == 200
    clock.advance(2.5)  # expired on the clock even before anyone enforced it
    assert get("/leader")[0] == 503


def test_health_json(served):
    fence, clock, zone, get = served
    fence.step()
    status, ctype, body = get("/health")
    assert status == 200 and ctype == "application/json"
    data = json.loads(body)
    assert data["state"] == "leader" and data["term"] == 3
    assert data["lease"]["held"] is True and data["lease"]["remaining_s"] == 2.5
    assert data["vip"] == {"address": "10.9.0.100/24", "held": True}
    assert data["last_transition"]["what"] == "vip claimed"
    assert "VIP missing" in data["last_transition"]["why"]
    assert data["confirmations"] == 3 and data["needed"] == 3
    assert set(data["peers"]["3"]) == {"error"}  # refused, or not waited for


def test_follower_endpoint(served):
    fence, clock, zone, get = served
    zone.answers = {0: follower(0), 1: leader(1), 2: follower(2)}
    assert get("/follower")[0] == 503  # nothing checked yet
    fence.step()
    status, _ctype, body = get("/follower")
    assert status == 200 and body == "follower of 1 in term 3\n"
    assert get("/leader")[0] == 503
    zone.answers[0] = leader(0, term=9)
    fence.step()
    assert get("/follower")[0] == 503


def test_metrics_in_prometheus_text_format(served):
    fence, clock, zone, get = served
    fence.step()
    status, ctype, body = get("/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    lines = body.splitlines()
    assert 'onenebula_ha_fence_lease_held{server_id="0"} 1' in lines
    assert 'onenebula_ha_fence_raft_state{server_id="0"} 3' in lines
    assert 'onenebula_ha_fence_vip_claims_total{server_id="0"} 1' in lines
    assert "# TYPE onenebula_ha_fence_rounds_total counter" in lines
    for line in lines:
        assert line.startswith("#") or len(line.split(" ")) == 2, line


def test_unknown_path_is_404(served):
    assert served[3]("/RPC2")[0] == 404


def test_no_answer_carries_the_credentials(served):
    fence, clock, zone, get = served
    password = SESSION.split(":", 1)[1]
    fence.step()
    zone.answers[0] = agent.RpcError(f"[one.zone.raftstatus] bad session {SESSION}")
    zone.answers[1] = agent.RpcError(password)
    clock.advance(5)
    fence.step()
    for path in ("/leader", "/follower", "/health", "/metrics"):
        body = get(path)[2]
        assert password not in body, path
    assert "bad session ***" in get("/health")[2]
