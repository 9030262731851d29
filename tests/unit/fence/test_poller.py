"""The agent's poller: a round's requests sent at once from one thread over non-blocking
sockets, against fake peers on loopback that answer, answer late, in pieces, garbage, never,
or refuse; a round that is decided stops waiting and closes the other connections."""

import socket
import ssl
import subprocess
import threading
import time
import xmlrpc.client

import pytest
from fence_harness import RAFT_FOLLOWER as RAFT
from fence_harness import SESSION, accepted, agent, read_request


def answer(sid):
    body = xmlrpc.client.dumps(([True, RAFT.format(sid=sid), 0],), methodresponse=True).encode()
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body


class Peer:
    """A fake oned on a loopback port. ``behave(conn, request)`` answers one connection;
    ``closed`` is set once the client closed a connection this peer never answered."""

    def __init__(self, behave, tls_context=None):
        self.behave = behave
        self.tls_context = tls_context
        self.requests = []
        self.closed = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    @property
    def url(self):
        scheme = "https" if self.tls_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}/RPC2"

    def serve(self):
        for conn in accepted(self.sock):
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        try:
            if self.tls_context:
                conn = self.tls_context.wrap_socket(conn, server_side=True)
            self.requests.append(read_request(conn))
            self.behave(self, conn)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self):
        self.sock.close()


def answers_with(sid):
    return lambda peer, conn: conn.sendall(answer(sid))


def after(seconds, behave):
    def late(peer, conn):
        time.sleep(seconds)  # the fake server's own delay: the client's wait is under test
        behave(peer, conn)

    return late


def silent(peer, conn):
    """Reads the request, never answers; notices when the client hangs up."""
    conn.settimeout(10)
    if conn.recv(1) == b"":
        peer.closed.set()


@pytest.fixture
def peers():
    made = []

    def make(behave, **kwargs):
        made.append(Peer(behave, **kwargs))
        return made[-1]

    yield make
    for peer in made:
        peer.stop()


def ask(requests, timeout=2.0, decided=None, poller=None):
    body = agent.raftstatus_request(SESSION)
    poller = poller or agent.Poller()
    return poller.ask(
        {key: (url, body) for key, url in requests.items()},
        timeout,
        agent.decode_raftstatus,
        decided,
    )


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once closed


def test_the_requests_of_a_round_are_in_flight_together(peers):
    # Each peer answers only once all five requests arrived: asked one after the other,
    # the first would never answer.
    arrived = threading.Barrier(5, timeout=5)

    def together(sid):
        def behave(peer, conn):
            arrived.wait()
            conn.sendall(answer(sid))

        return behave

    group = {sid: peers(together(sid)) for sid in range(5)}
    answers = ask({sid: peer.url for sid, peer in group.items()}, timeout=5.0)
    assert {sid: a.server_id for sid, a in answers.items()} == {sid: sid for sid in range(5)}
    head, body = group[0].requests[0]
    assert head.splitlines()[0] == "POST /RPC2 HTTP/1.0" and SESSION not in head
    assert xmlrpc.client.loads(body) == ((SESSION,), "one.zone.raftstatus")


def test_each_failure_is_its_own_answer_and_the_round_ends_at_its_timeout(peers):
    def garbage(peer, conn):
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")

    def in_pieces(peer, conn):
        data = answer(4)
        for start in range(0, len(data), 7):
            conn.sendall(data[start : start + 7])
            time.sleep(0.001)

    refused, quiet = closed_port(), peers(silent)
    group = {
        0: peers(answers_with(0)).url,
        1: peers(after(0.2, answers_with(1))).url,
        2: peers(garbage).url,
        3: quiet.url,
        4: peers(in_pieces).url,
        5: f"http://127.0.0.1:{refused}/RPC2",
    }
    started = time.monotonic()
    answers = ask(group, timeout=1.0)
    elapsed = time.monotonic() - started
    assert answers[0].server_id == 0 and answers[1].server_id == 1 and answers[4].server_id == 4
    assert "bad HTTP status line" in str(answers[2])
    assert str(answers[3]) == f"TimeoutError talking to 127.0.0.1:{quiet.port}"
    assert str(answers[5]) == f"ConnectionRefusedError talking to 127.0.0.1:{refused}"
    assert 1.0 <= elapsed < 5.0  # waited for the silent one until the round's timeout only
    assert all(SESSION not in str(a) for a in answers.values())


def test_a_decided_round_stops_waiting_and_hangs_up_on_the_others(peers):
    quiet = peers(silent)
    group = {0: peers(answers_with(0)).url, 1: peers(answers_with(1)).url, 2: quiet.url}

    def decided(answers):
        return sum(isinstance(a, agent.RaftStatus) for a in answers.values()) >= 2

    answers = ask(group, timeout=30.0, decided=decided)
    assert answers[2].args == ("not waited for (the round was decided)",)
    assert quiet.closed.wait(5)  # its connection was closed, not left for a later round


def test_the_round_runs_in_the_calling_thread_and_starts_none(peers):
    group = {sid: peers(answers_with(sid)).url for sid in range(3)}
    threads = threading.active_count()
    seen = []

    def decode(status, payload, host):
        seen.append((threading.current_thread(), threading.active_count()))
        return agent.decode_raftstatus(status, payload, host)

    body = agent.raftstatus_request(SESSION)
    agent.Poller().ask({k: (u, body) for k, u in group.items()}, 2.0, decode)
    assert seen and all(t is threading.current_thread() for t, _n in seen)
    # The fake peers start a thread per connection; the poller itself starts none.
    assert threading.active_count() - threads <= len(group)


def test_a_name_is_looked_up_once_and_its_next_address_is_tried(peers):
    good = peers(answers_with(7))
    refused = closed_port()
    lookups = []

    def resolve(host, port, family, kind):
        lookups.append(host)
        return [
            (socket.AF_INET, kind, 6, "", ("127.0.0.1", refused)),
            (socket.AF_INET, kind, 6, "", ("127.0.0.1", good.port)),
        ]

    poller = agent.Poller()
    poller.endpoints["http://oned-7:2633/RPC2"] = agent.Endpoint(
        "http://oned-7:2633/RPC2", resolve=resolve
    )
    for _ in range(2):
        answers = ask({7: "http://oned-7:2633/RPC2"}, poller=poller)
        assert answers[7].server_id == 7
    assert lookups == ["oned-7"]
    assert "Host: oned-7:2633" in good.requests[0][0].splitlines()


def test_a_name_that_does_not_resolve_is_an_error_of_that_server_only(peers):
    good = peers(answers_with(0))
    answers = ask({0: good.url, 1: "http://no-such-host.invalid:2633/RPC2"})
    assert answers[0].server_id == 0
    assert "talking to no-such-host.invalid:2633" in str(answers[1])


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", str(key)]
        + ["-out", str(cert), "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return server, cert


def test_https_endpoints_verify_the_certificate(peers, certificate, monkeypatch):
    server_context, cert = certificate
    peer = peers(answers_with(3), tls_context=server_context)
    untrusted = ask({3: peer.url})
    assert "SSLCertVerificationError talking to 127.0.0.1" in str(untrusted[3])
    trusting = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(agent, "_TLS_CONTEXT", [trusting])
    assert ask({3: peer.url})[3].server_id == 3
