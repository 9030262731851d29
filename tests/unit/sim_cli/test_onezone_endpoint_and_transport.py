"""Endpoint checks (xmlrpc 0.3's ``XMLRPC::Client.new2`` with Ruby's RFC 3986 URI parser) and
transport errors as Ruby 3.1's net-http prints them (``one_client.RUBY_VERSION``)."""

from __future__ import annotations

import contextlib
import socket

import pytest
from sim_cli_support import raft_xml, zone_xml
from stub_oned import closed_port_endpoint, success_string

from onesim.cli import one_client

WRONG_PROTOCOL = "Wrong protocol specified. Only http or https allowed!\n"


def port_of(endpoint: str) -> str:
    return endpoint.split(":")[2].split("/")[0]


@pytest.mark.parametrize(
    ("endpoint", "stderr"),
    [
        ("foo", WRONG_PROTOCOL),
        ("ftp://fe1:2633/RPC2", WRONG_PROTOCOL),
        ("localhost:2633", WRONG_PROTOCOL),  # scheme "localhost"
        ("", WRONG_PROTOCOL),  # ONE_XMLRPC="" is used as is
        ("127.0.0.1:2633", 'bad URI(is not URI?): "127.0.0.1:2633"\n'),
        ("http://a b/RPC2", 'bad URI(is not URI?): "http://a b/RPC2"\n'),
        ('http://x/"q"\\', 'bad URI(is not URI?): "http://x/\\"q\\"\\\\"\n'),
    ],
)
def test_bad_endpoint_refused_before_any_call(stubs, onezone, endpoint, stderr):
    result = onezone("show", "0", endpoint=endpoint)

    assert (result.returncode, result.stdout, result.stderr) == (255, "", stderr)


def test_bad_endpoint_option_is_checked_before_the_arguments(onezone):
    """The client is built in the before hook: its error wins over a missing argument."""
    result = onezone("show", "--endpoint", "ftp://x/RPC2")

    assert (result.returncode, result.stdout, result.stderr) == (255, "", WRONG_PROTOCOL)


def test_server_endpoint_with_a_space_fails_show_cleanly(stubs, onezone):
    """A SERVER/ENDPOINT oned accepted but Ruby's URI refuses: the per-server client raises
    inside ``info_extended`` and ``show`` fails as a whole (no traceback, nothing on stdout)."""
    main = stubs({"one.zone.info": success_string(zone_xml([("0", "fe1", "http://a b/RPC2")]))})

    result = onezone("show", "0", endpoint=main.endpoint)

    assert (result.returncode, result.stdout) == (255, "")
    assert result.stderr == 'bad URI(is not URI?): "http://a b/RPC2"\n'


def test_connection_refused_names_the_socket_address(onezone):
    down = closed_port_endpoint()
    port = port_of(down)

    result = onezone("show", "0", endpoint=down)

    assert (result.returncode, result.stdout) == (255, "")
    assert result.stderr == (
        f"Failed to open TCP connection to 127.0.0.1:{port} "
        f"(Connection refused - connect(2) for 127.0.0.1:{port})\n"
    )


def test_ipv6_literal_reaches_getaddrinfo_with_its_brackets(onezone):
    result = onezone("show", "0", endpoint="http://[::1]:2633/RPC2")

    assert (result.returncode, result.stdout) == (255, "")
    assert result.stderr == (
        "Failed to open TCP connection to [::1]:2633 (getaddrinfo: Name or service not known)\n"
    )


def test_tls_against_plain_http_oned(stubs, onezone):
    plain = stubs({"one.zone.info": success_string(zone_xml([]))})
    port = port_of(plain.endpoint)

    result = onezone("show", "0", endpoint=f"https://127.0.0.1:{port}/RPC2")

    assert (result.returncode, result.stdout) == (255, "")
    assert result.stderr == (
        f"SSL_connect returned=1 errno=0 peeraddr=127.0.0.1:{port} "
        "state=error: wrong version number\n"
    )
    assert plain.calls == []


@pytest.fixture
def full_backlog():
    """A listener whose accept queue is full: further SYNs are dropped (connect times out)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


def test_connect_timeout_text(onezone, full_backlog):
    result = onezone(
        "show",
        "0",
        endpoint=f"http://127.0.0.1:{full_backlog}/RPC2",
        env_extra={"ONE_XMLRPC_TIMEOUT": "1"},
    )

    assert (result.returncode, result.stdout) == (255, "")
    assert result.stderr == (
        f"Failed to open TCP connection to 127.0.0.1:{full_backlog} "
        "(Connection timed out - user specified timeout)\n"
    )


def test_read_timeout_text(stubs, onezone):
    silent = stubs(silent=True)

    result = onezone("show", "0", endpoint=silent.endpoint, env_extra={"ONE_XMLRPC_TIMEOUT": "1"})

    assert (result.returncode, result.stdout) == (255, "")
    assert result.stderr == "Net::ReadTimeout with #<Socket:(closed)>\n"


def test_user_agent_names_the_documented_ruby(stubs, onezone):
    seen = []
    main = stubs({"one.zone.info": success_string(zone_xml([]))})
    handler = main._server.RequestHandlerClass
    original = handler.do_POST

    def recording(self):
        seen.append(self.headers.get("User-Agent"))
        original(self)

    handler.do_POST = recording
    result = onezone("show", "0", endpoint=main.endpoint)

    assert result.returncode == 0, result.stderr
    assert one_client.RUBY_VERSION == "3.1.2"
    assert seen == ["XMLRPC::Client (Ruby 3.1.2)"]


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("http://fe1:2633/RPC2", ("fe1", 2633, "/RPC2", False)),
        ("HTTPS://fe1/RPC2?x=1", ("fe1", 443, "/RPC2?x=1", True)),
        ("http://[fd00::1]:2633/RPC2", ("[fd00::1]", 2633, "/RPC2", False)),
        ("http://u:p@fe1:80", ("fe1", 80, "/RPC2", False)),
        ("http:/RPC2", ("localhost", 80, "/RPC2", False)),  # no authority: host nil
    ],
)
def test_parse_endpoint_keeps_what_new2_keeps(endpoint, expected):
    target = one_client.parse_endpoint(endpoint)

    assert (target.host, target.port, target.path, target.use_ssl) == expected


@pytest.mark.parametrize("variable", ["ONE_DISABLE_SSL_VERIFY", "ONE_CERT_DIR"])
def test_ssl_settings_refused_for_the_per_server_clients(stubs, raft_server, onezone, variable):
    """OpenNebula::Client raises for SSL settings unless built with :sync, which only the CLI's
    own client is: show (one client per SERVER) and list (one per zone) fail as a whole."""
    leader = raft_server(raft_xml(0, 3))
    zone = zone_xml([("0", "fe1", leader.endpoint)], endpoint=leader.endpoint)
    main = stubs(
        {
            "one.zone.info": success_string(zone),
            "one.zonepool.info": success_string(f"<ZONE_POOL>{zone}</ZONE_POOL>"),
        }
    )
    empty = stubs({"one.zone.info": success_string(zone_xml([]))})
    env = {variable: "/nonexistent"}

    show = onezone("show", "0", endpoint=main.endpoint, env_extra=env)
    listing = onezone("list", endpoint=main.endpoint, env_extra=env)
    no_servers = onezone("show", "0", endpoint=empty.endpoint, env_extra=env)

    for result in (show, listing):
        assert (result.returncode, result.stdout) == (255, "")
        assert result.stderr == "SSL options don't work in async mode\n"
    assert leader.calls == []
    assert (no_servers.returncode, no_servers.stderr) == (0, "")
