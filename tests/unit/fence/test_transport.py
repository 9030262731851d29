"""The agent's XML-RPC transport (one HTTP/1.0 exchange on a plain socket) against a local
server that answers what each test scripts: oned's answers, and every broken answer
turned into an RpcError that names no credential."""

import socket
import threading
import xmlrpc.client

import pytest
from fence_harness import RAFT_FOLLOWER, SESSION, accepted, agent, read_request

RAFT = RAFT_FOLLOWER.format(sid=1)


def ok_body(value=RAFT, ok=True):
    return xmlrpc.client.dumps(([ok, value, 0],), methodresponse=True).encode()


def http(body, status="200 OK", headers=None):
    lines = [f"HTTP/1.1 {status}", "Content-Type: text/xml"]
    lines += headers if headers is not None else [f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Server:
    """One answer per connection; records each request."""

    def __init__(self, answer, close=True):
        self.answer = answer
        self.close = close
        self.requests = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        for conn in accepted(self.sock):
            with conn:
                self.requests.append(read_request(conn))
                if self.answer is not None:
                    conn.sendall(self.answer)
                if not self.close:
                    threading.Event().wait(3)  # keeps the connection open, answers no more

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}/RPC2"

    def stop(self):
        self.sock.close()


@pytest.fixture
def serve():
    servers = []

    def make(answer, close=True):
        servers.append(Server(answer, close))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def test_raftstatus_over_http_1_0(serve):
    server = serve(http(ok_body()))
    status = agent.query_raftstatus(server.endpoint, SESSION, 2.0)
    assert (status.server_id, status.state, status.term, status.log_index) == (1, 2, 4, 21)
    head, body = server.requests[0]
    assert head.splitlines()[0] == "POST /RPC2 HTTP/1.0"
    assert f"Host: 127.0.0.1:{server.port}" in head.splitlines()
    assert "Content-Type: text/xml" in head.splitlines()
    assert SESSION not in head  # the session travels in the body only
    params, method = xmlrpc.client.loads(body)
    assert (params, method) == ((SESSION,), "one.zone.raftstatus")


def test_answer_without_content_length_is_read_to_the_end(serve):
    server = serve(http(ok_body(), headers=[]))
    assert agent.query_raftstatus(server.endpoint, SESSION, 2.0).term == 4


def test_answer_is_cut_at_content_length(serve):
    body = ok_body()
    server = serve(http(body, headers=[f"Content-Length: {len(body)}"]) + b"trailing junk")
    assert agent.query_raftstatus(server.endpoint, SESSION, 2.0).log_index == 21


def test_a_server_that_keeps_the_connection_open_is_answered_by_content_length(serve):
    server = serve(http(ok_body()), close=False)
    assert agent.query_raftstatus(server.endpoint, SESSION, 2.0).state == 2


def test_oned_failure_is_reported_with_its_message(serve):
    server = serve(http(ok_body("[one.zone.raftstatus] User couldn't be authenticated", False)))
    with pytest.raises(agent.RpcError, match="one.zone.raftstatus failed: .*authenticated"):
        agent.query_raftstatus(server.endpoint, SESSION, 2.0)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (http(b"oops", status="500 Internal Server Error"), "HTTP 500 from 127.0.0.1"),
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "bad HTTP status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/xml", "no HTTP answer"),
        (http(ok_body(), headers=["Transfer-Encoding: chunked"]), "Transfer-Encoding"),
        (http(ok_body(), headers=["Content-Length: many"]), "bad Content-Length"),
        (http(b"<methodResponse><params>"), "malformed XML-RPC answer"),
        (
            http(xmlrpc.client.dumps(xmlrpc.client.Fault(7, "no"), methodresponse=True).encode()),
            "XML-RPC fault 7",
        ),
        (http(xmlrpc.client.dumps((42,), methodresponse=True).encode()), "not OpenNebula's"),
        (http(ok_body("<VM/>")), "not <RAFT>"),
        (http(ok_body(RAFT + " " * agent.MAX_ANSWER)), "malformed|not a RAFT"),
    ],
)
def test_broken_answers_are_rpc_errors(serve, answer, message):
    server = serve(answer)
    with pytest.raises(agent.RpcError, match=message) as err:
        agent.query_raftstatus(server.endpoint, SESSION, 2.0)
    assert SESSION not in str(err.value)


def test_silence_and_refusal_are_transport_errors(serve):
    server = serve(None, close=False)  # reads the request, never answers
    with pytest.raises(agent.RpcError, match=f"TimeoutError talking to 127.0.0.1:{server.port}"):
        agent.query_raftstatus(server.endpoint, SESSION, 0.3)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    with pytest.raises(agent.RpcError, match="ConnectionRefusedError talking to"):
        agent.query_raftstatus(f"http://127.0.0.1:{port}/RPC2", SESSION, 1.0)


def test_source_address_is_used(serve):
    server = serve(http(ok_body()))
    with pytest.raises(agent.RpcError, match="talking to"):
        agent.query_raftstatus(server.endpoint, SESSION, 1.0, source_address="192.0.2.1")


def _xmlrpc_c(raft, ok="1", code="<i4>0</i4>"):
    """An answer laid out as xmlrpc-c (oned's XML-RPC library) writes it."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\r\n<methodResponse>\r\n<params>\r\n'
        f"<param><value><array><data>\r\n<value><boolean>{ok}</boolean></value>\r\n"
        f"<value><string>{raft}</string></value>\r\n<value>{code}</value>\r\n"
        "</data></array></value></param>\r\n</params>\r\n</methodResponse>\r\n"
    ).encode()


def _escaped(text, gt="&gt;"):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", gt)


@pytest.mark.parametrize(
    "payload",
    [
        ok_body(),
        _xmlrpc_c(_escaped(RAFT)),
        _xmlrpc_c(_escaped(RAFT, gt=">")),  # '>' need not be escaped in XML text
        _xmlrpc_c(_escaped(RAFT.replace("<TERM>4<", "<TERM> 4 <"))),  # spaces: full parse
        _xmlrpc_c(_escaped(RAFT.replace("<TERM>4</TERM>", "<TERM>4</TERM><TERM>9</TERM>"))),
        _xmlrpc_c(_escaped(RAFT.replace("<TERM>4</TERM>", ""))),  # a field missing
        _xmlrpc_c(_escaped(RAFT.replace("<STATE>2<", "<STATE>7<"))),  # unknown state
        _xmlrpc_c(_escaped(RAFT.replace("<TERM>4</TERM>", "<X><TERM>9</TERM></X><TERM>4</TERM>"))),
        _xmlrpc_c(_escaped(RAFT), ok="0"),
        _xmlrpc_c(_escaped(RAFT), code="<int>-1</int>"),
        _xmlrpc_c(_escaped(RAFT)).replace(b"<string>", b"").replace(b"</string>", b""),
    ],
)
def test_the_quick_reading_of_an_answer_never_differs_from_the_full_parse(payload):
    """oned's usual answer is read with one regular expression; whatever it accepts, the
    XML parsers read the same way, and anything else is left to them."""
    try:
        (result,), _ = xmlrpc.client.loads(payload)
        full = agent.parse_raftstatus(result[1]).as_dict() if result[0] is True else "refused"
    except (agent.RpcError, xmlrpc.client.Error, IndexError):
        full = "error"
    quick = agent.fast_raftstatus(payload)
    if quick is not None:
        assert quick.as_dict() == full
    decoded = (
        agent.decode_raftstatus(200, payload, "h") if full not in ("error", "refused") else None
    )
    if decoded is not None:
        assert decoded.as_dict() == full


def test_the_quick_reading_takes_oned_s_usual_answers():
    assert agent.fast_raftstatus(ok_body()).term == 4
    assert agent.fast_raftstatus(_xmlrpc_c(_escaped(RAFT))).log_index == 21
    assert agent.fast_raftstatus(_xmlrpc_c(_escaped(RAFT, gt=">"))).state == 2
