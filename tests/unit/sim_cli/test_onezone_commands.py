"""``onezone`` membership and zone commands: messages, exit codes and the calls made
(docs/opennebula-cli.md §2.1, §2.2; docs/opennebula-raft.md §2.2)."""

from __future__ import annotations

import pytest
from sim_cli_support import ONE_AUTH_SECRET, zone_xml
from stub_oned import failure, success_int, success_string

SERVERS = [
    ("0", "fe1", "http://fe1:2633/RPC2"),
    ("1", "fe2", "http://fe2:2633/RPC2"),
    ("3", "twin", "http://fe3:2633/RPC2"),
    ("4", "twin", "http://fe4:2633/RPC2"),
]


@pytest.fixture
def zone_stub(stubs):
    """A front-end whose zone 0 has the servers above; all writes succeed."""
    return stubs(
        {
            "one.zone.info": success_string(zone_xml(SERVERS)),
            "one.zonepool.info": success_string(f"<ZONE_POOL>{zone_xml(SERVERS)}</ZONE_POOL>"),
            "one.zone.addserver": success_int(0),
            "one.zone.delserver": success_int(0),
            "one.zone.resetserver": success_int(0),
            "one.zone.enable": success_int(0),
        }
    )


def test_server_add_without_name_or_rpc_prints_usage_to_stderr_and_exits_255(zone_stub, onezone):
    for args in (("-r", "http://fe5:2633/RPC2"), ("-n", "fe5"), ()):
        result = onezone("server-add", "0", *args, endpoint=zone_stub.endpoint)

        assert result.returncode == 255
        assert result.stdout == ""
        assert result.stderr == "To add a server set:\n\t-n <server name>\n\t-r <RPC endpoint>\n"
    assert "one.zone.addserver" not in zone_stub.methods()


def test_server_add_wrong_protocol_goes_to_stdout_and_exits_255(zone_stub, onezone):
    result = onezone(
        "server-add", "0", "-n", "fe5", "-r", "fe5:2633/RPC2", endpoint=zone_stub.endpoint
    )

    assert result.returncode == 255
    assert result.stdout == "Wrong protocol specified. Only http or https allowed!\n"
    assert result.stderr == ""
    assert "one.zone.addserver" not in zone_stub.methods()


def test_server_add_sends_the_multiline_template_and_prints_nothing(zone_stub, onezone):
    result = onezone(
        "server-add", "0", "--name", "fe5", "--rpc", "https://fe5:2633/RPC2",
        endpoint=zone_stub.endpoint,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    template = (
        "            SERVER = [\n"
        '              NAME="fe5",\n'
        '              ENDPOINT="https://fe5:2633/RPC2"\n'
        "            ]\n"
    )
    assert zone_stub.calls == [("one.zone.addserver", (ONE_AUTH_SECRET, 0, template))]


def test_server_add_verbose_and_zone_name(zone_stub, onezone):
    result = onezone(
        "server-add", "OpenNebula", "-v", "-n", "fe5", "-r", "http://fe5:2633/RPC2",
        endpoint=zone_stub.endpoint,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout == "ZONE 0: server added\n"
    assert zone_stub.methods() == ["one.zonepool.info", "one.zone.addserver"]


def test_server_add_oned_error_to_stderr_exit_255(stubs, onezone):
    message = "[one.zone.addserver] Servers have to be added through the target zone endpoints"
    stub = stubs({"one.zone.addserver": failure(message, 0x800)})

    result = onezone(
        "server-add", "5", "-n", "x", "-r", "http://x:2633/RPC2", endpoint=stub.endpoint
    )

    assert result.returncode == 255
    assert result.stdout == ""
    assert result.stderr == message + "\n"


@pytest.mark.parametrize(
    ("command", "method", "verbose"),
    [
        ("server-del", "one.zone.delserver", "server deleted"),
        ("server-reset", "one.zone.resetserver", "server reset"),
    ],
)
def test_server_del_and_reset_accept_numeric_id_or_unique_name(
    zone_stub, onezone, command, method, verbose
):
    by_id = onezone(command, "0", "3", "-v", endpoint=zone_stub.endpoint)
    by_name = onezone(command, "0", "fe2", endpoint=zone_stub.endpoint)

    assert by_id.returncode == 0, by_id.stderr
    assert by_id.stdout == f"ZONE 0: {verbose}\n"
    assert by_name.returncode == 0, by_name.stderr
    assert by_name.stdout == ""
    assert zone_stub.calls == [
        (method, (ONE_AUTH_SECRET, 0, 3)),  # numeric: no lookup
        ("one.zone.info", (ONE_AUTH_SECRET, 0, False)),
        (method, (ONE_AUTH_SECRET, 0, 1)),
    ]


@pytest.mark.parametrize("command", ["server-del", "server-reset"])
@pytest.mark.parametrize("name", ["twin", "ghost"])
def test_server_name_missing_or_duplicated_exits_255(zone_stub, onezone, command, name):
    result = onezone(command, "0", name, endpoint=zone_stub.endpoint)

    assert result.returncode == 255
    assert result.stderr == f"{name} not found or duplicated\n"
    assert zone_stub.methods() == ["one.zone.info"]


def test_server_del_oned_error(stubs, onezone):
    message = "[one.zone.delserver] SERVER not found in zone"
    stub = stubs({"one.zone.delserver": failure(message, 0x800)})

    result = onezone("server-del", "0", "7", endpoint=stub.endpoint)

    assert (result.returncode, result.stderr) == (255, message + "\n")


def test_enable_disable_call_zone_enable(zone_stub, onezone):
    enabled = onezone("enable", "0", "-v", endpoint=zone_stub.endpoint)
    disabled = onezone("disable", "OpenNebula", "-v", endpoint=zone_stub.endpoint)

    assert (enabled.returncode, enabled.stdout) == (0, "ZONE 0: enable zone\n")
    assert (disabled.returncode, disabled.stdout) == (0, "ZONE 0: disable zone\n")
    assert ("one.zone.enable", (ONE_AUTH_SECRET, 0, True)) in zone_stub.calls
    assert ("one.zone.enable", (ONE_AUTH_SECRET, 0, False)) in zone_stub.calls


def test_unknown_zone_name(zone_stub, onezone):
    result = onezone("show", "Nowhere", endpoint=zone_stub.endpoint)

    assert result.returncode == 255
    assert result.stderr == "ZONE named Nowhere not found.\n"


def test_zone_info_error_message(stubs, onezone):
    stub = stubs({"one.zone.info": failure("[one.zone.info] Error getting zone [5].", 0x400)})

    result = onezone("show", "5", endpoint=stub.endpoint)

    assert (result.returncode, result.stdout) == (255, "")
    assert result.stderr == "[one.zone.info] Error getting zone [5].\n"
