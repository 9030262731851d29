"""``onezone show`` text output against hand-written goldens (docs/opennebula-cli.md §3.1, §3.2).

The expected texts are typed from the layout rules and the 3-node example of that section;
trailing padding is spelled out with ``" " * n`` so it can be checked by eye: headers padded
to 80 columns, ``ID/NAME/STATE`` values padded to 20, the table header lines unstripped, data
rows right-stripped.
"""

from __future__ import annotations

import os
import pty
import subprocess
import time

from sim_cli_support import BIN, ONE_AUTH_SECRET, raft_xml, zone_xml
from stub_oned import closed_port_endpoint, success_string

SERVERS_HEADER = "ID NAME            ENDPOINT" + " " * 55 + "\n"  # 82 characters
SYNC_HEADER = "ID NAME            STATE      TERM       INDEX      COMMIT     VOTE  FED_INDEX \n"


def zone_top(zone_id="0", name="OpenNebula", state="ENABLED") -> str:
    """The ZONE INFORMATION block for one-character IDs, as in the example of docs/opennebula-cli.md §3.2."""
    return (
        f"ZONE {zone_id} INFORMATION" + " " * 62 + "\n"
        f"ID                : {zone_id}" + " " * 19 + "\n"
        f"NAME              : {name}" + " " * (20 - len(name)) + "\n"
        f"STATE             : {state}" + " " * (20 - len(state)) + "\n"
        "\n"
    )


TEMPLATE_BLOCK = "ZONE TEMPLATE" + " " * 67 + "\n" + 'ENDPOINT="http://localhost:2633/RPC2"\n'


def three_node_zone(stubs, raft_server):
    """The 3-node example of docs/opennebula-cli.md §3.2: 0 leader, 1 follower, 2 down (connection refused)."""
    s0 = raft_server(raft_xml(0, 3, term=3, votedfor=0, commit=120, log_index=120))
    s1 = raft_server(raft_xml(1, 2, term=3, votedfor=0, commit=120, log_index=120))
    down = closed_port_endpoint()
    endpoints = [s0.endpoint, s1.endpoint, down]
    servers = [(str(i), f"server-{i}", e) for i, e in enumerate(endpoints)]
    main = stubs({"one.zone.info": success_string(zone_xml(servers))})
    return main, s0, s1, endpoints


def test_behaviour_02_onezone_show_procedure_three_nodes_one_down_golden(
    stubs, raft_server, onezone
):
    main, s0, s1, (e0, e1, e2) = three_node_zone(stubs, raft_server)

    result = onezone("show", "0", endpoint=main.endpoint)

    expected = (
        zone_top()
        + "\n"
        + "ZONE SERVERS" + " " * 68 + "\n"
        + SERVERS_HEADER
        + f" 0 server-0        {e0}\n"
        + f" 1 server-1        {e1}\n"
        + f" 2 server-2        {e2}\n"
        + "\n"
        + "HA & FEDERATION SYNC STATUS" + " " * 53 + "\n"
        + SYNC_HEADER
        + " 0 server-0        leader     3          120        120        0     -1\n"
        + " 1 server-1        follower   3          120        120        0     -1\n"
        + " 2 server-2        error      -          -          -          -     -\n"
        + "\n"
        + TEMPLATE_BLOCK
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == expected


def test_behaviour_02_onezone_show_procedure_calls_info_then_raftstatus_per_server(
    stubs, raft_server, onezone
):
    """zone.info(id, false) on the CLI endpoint, then one raftstatus on each server endpoint,
    authenticated with ONE_AUTH even when --user/--password are given."""
    main, s0, s1, _ = three_node_zone(stubs, raft_server)

    result = onezone(
        "show", "0", "--user", "alice", "--password", "wonderland", endpoint=main.endpoint
    )

    assert result.returncode == 0, result.stderr
    assert main.calls == [("one.zone.info", ("alice:wonderland", 0, False))]
    assert s0.calls == [("one.zone.raftstatus", (ONE_AUTH_SECRET,))]
    assert s1.calls == [("one.zone.raftstatus", (ONE_AUTH_SECRET,))]


def test_behaviour_02_onezone_show_procedure_error_reply_fills_dashes(stubs, raft_server, onezone):
    """A [false, ...] raftstatus reply (e.g. no ZONE:ADMIN right) is an error row too."""
    from stub_oned import failure

    denied = stubs(
        {
            "one.zone.raftstatus": failure(
                "[one.zone.raftstatus] User [2] : Not authorized to perform ADMIN ZONE [0].",
                0x200,
            )
        }
    )
    main = stubs({"one.zone.info": success_string(zone_xml([("0", "server-0", denied.endpoint)]))})

    result = onezone("show", "0", endpoint=main.endpoint)

    assert result.returncode == 0, result.stderr
    assert " 0 server-0        error      -          -          -          -     -\n" in (
        result.stdout
    )


def test_behaviour_02_onezone_show_procedure_empty_pool_has_no_tables(stubs, onezone):
    main = stubs({"one.zone.info": success_string(zone_xml([]))})

    result = onezone("show", "0", endpoint=main.endpoint)

    assert result.returncode == 0, result.stderr
    assert result.stdout == zone_top() + "\n" + TEMPLATE_BLOCK
    assert main.methods() == ["one.zone.info"]


def test_behaviour_02_onezone_show_procedure_truncates_to_column_widths(
    stubs, raft_server, onezone
):
    """A 3-digit ID shows 2 characters, UINT64_MAX FED_INDEX shows 10, a long NAME 15."""
    server = raft_server(
        raft_xml(100, 3, term=1, votedfor=100, commit=5, log_index=5,
                 fedlog_index="18446744073709551615")
    )  # fmt: skip
    main = stubs(
        {
            "one.zone.info": success_string(
                zone_xml([("100", "a-very-long-server-name", server.endpoint)])
            )
        }
    )

    result = onezone("show", "0", endpoint=main.endpoint)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert f"10 a-very-long-ser {server.endpoint}" in lines
    assert "10 a-very-long-ser leader     1          5          5          100   1844674407" in (
        lines
    )


def test_onezone_show_disabled_zone_and_vector_template(stubs, onezone):
    zone = (
        "<ZONE><ID>0</ID><NAME>OpenNebula</NAME><STATE>1</STATE><TEMPLATE>"
        "<ENDPOINT><![CDATA[http://10.0.0.100:2633/RPC2]]></ENDPOINT>"
        '<NOTE><![CDATA[say "hi"]]></NOTE>'
        "<VEC><A><![CDATA[1]]></A><B><![CDATA[two]]></B></VEC>"
        "</TEMPLATE><SERVER_POOL></SERVER_POOL></ZONE>"
    )
    main = stubs({"one.zone.info": success_string(zone)})

    result = onezone("show", "0", endpoint=main.endpoint)

    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        zone_top(state="DISABLED")
        + "\n"
        + "ZONE TEMPLATE" + " " * 67 + "\n"
        + 'ENDPOINT="http://10.0.0.100:2633/RPC2"\n'
        + 'NOTE="say \\"hi\\""\n'
        + 'VEC=[\n  A="1",\n  B="two" ]\n'
    )  # fmt: skip


def test_onezone_show_on_a_tty_uses_bold_and_underline(stubs, raft_server, base_env):
    """On a terminal: ZONE INFORMATION and table header lines bold+underlined, section
    headers bold only; STATE values are not coloured."""
    s0 = raft_server(raft_xml(0, 3))
    main = stubs({"one.zone.info": success_string(zone_xml([("0", "server-0", s0.endpoint)]))})
    env = dict(base_env, ONE_XMLRPC=main.endpoint)
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [str(BIN / "onezone"), "show", "0"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=subprocess.PIPE,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO once the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=30) == 0
    finally:
        os.close(leader)
    text = b"".join(chunks).decode().replace("\r\n", "\n")
    bold, underline, reset = "\033[1m", "\033[4m", "\033[0m"
    assert text.startswith(bold + underline + "ZONE 0 INFORMATION" + " " * 62 + reset + "\n")
    assert bold + "ZONE SERVERS" + " " * 68 + reset + "\n" in text
    assert bold + underline + SERVERS_HEADER[:-1] + reset + "\n" in text
    assert bold + underline + SYNC_HEADER[:-1] + reset + "\n" in text
    assert " 0 server-0        leader     3          120        120        0     -1\n" in text


def test_behaviour_02_onezone_show_procedure_silent_server_waits_5s_then_next(
    stubs, raft_server, onezone
):
    """The one slow test: a server that accepts but never answers costs its 5 s timeout and
    becomes an error row; the next server is asked only afterwards (calls are sequential)."""
    silent = stubs(silent=True)
    s1 = raft_server(raft_xml(1, 3, term=2, votedfor=1, commit=7, log_index=7))
    main = stubs(
        {
            "one.zone.info": success_string(
                zone_xml([("0", "server-0", silent.endpoint), ("1", "server-1", s1.endpoint)])
            )
        }
    )
    asked_at: list[float] = []
    original = s1.replies["one.zone.raftstatus"]

    def stamp(_params):
        asked_at.append(time.monotonic())
        return original

    s1.replies["one.zone.raftstatus"] = stamp

    started = time.monotonic()
    result = onezone("show", "0", endpoint=main.endpoint)
    elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    assert " 0 server-0        error      -          -          -          -     -\n" in (
        result.stdout
    )
    assert " 1 server-1        leader     2          7          7          1     -1\n" in (
        result.stdout
    )
    assert len(asked_at) == 1
    assert asked_at[0] - started >= 4.8  # only after the silent server's 5 s timeout
    assert elapsed < 9.0
