"""``onezone list`` and the client set-up: endpoint/credential resolution, transport errors,
option parsing (docs/opennebula-cli.md §3.1, §5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sim_cli_support import ONE_AUTH_SECRET, raft_xml, zone_xml
from stub_oned import closed_port_endpoint, success_string

LIST_HEADER = (
    "C   ID NAME            ENDPOINT                                      FED_INDEX  STAT\n"
)


def pool_stub(stubs, zone_endpoint: str, state: int = 0):
    zone = zone_xml([], endpoint=zone_endpoint, state=state)
    return stubs(
        {
            "one.zonepool.info": success_string(f"<ZONE_POOL>{zone}</ZONE_POOL>"),
            "one.zone.info": success_string(zone),
        }
    )


def test_list_header_and_row_with_fed_index_from_zone_endpoint(stubs, raft_server, onezone):
    zone_front = raft_server(raft_xml(0, 3, fedlog_index="42"))
    main = pool_stub(stubs, zone_front.endpoint)

    result = onezone("list", endpoint=main.endpoint)

    assert result.returncode == 0, result.stderr
    row = f"     0 OpenNebula      {zone_front.endpoint:<45} 42         on\n"
    assert result.stdout == LIST_HEADER + row
    assert zone_front.calls == [("one.zone.raftstatus", (ONE_AUTH_SECRET,))]


def test_list_marks_current_zone_and_shows_dash_when_unreachable(stubs, onezone):
    down = closed_port_endpoint()
    main = pool_stub(stubs, down, state=1)

    result = onezone("list", "--endpoint", down, env_extra={"ONE_XMLRPC": main.endpoint})

    # --endpoint wins over ONE_XMLRPC: the pool call itself fails on the closed port
    assert result.returncode == 255
    assert "Failed to open TCP connection to 127.0.0.1:" in result.stderr
    assert main.calls == []

    result = onezone("list", endpoint=main.endpoint)
    assert result.stdout == LIST_HEADER + f"     0 OpenNebula      {down:<45} -          off\n"


def test_list_json_forces_zone_array(stubs, onezone):
    main = pool_stub(stubs, closed_port_endpoint())

    result = onezone("list", "-j", endpoint=main.endpoint)

    assert result.returncode == 0, result.stderr
    zones = json.loads(result.stdout)["ZONE_POOL"]["ZONE"]
    assert isinstance(zones, list) and zones[0]["NAME"] == "OpenNebula"


def test_one_auth_file_not_present_exits_255(stubs, onezone, home):
    if Path("/var/lib/one/.one/one_auth").is_file():
        pytest.skip("this machine has a system-wide one_auth")
    (home / ".one" / "one_auth").unlink()
    main = stubs({"one.zone.info": success_string(zone_xml([]))})

    result = onezone("show", "0", endpoint=main.endpoint)

    assert (result.returncode, result.stdout) == (255, "")
    assert result.stderr == "ONE_AUTH file not present\n"
    assert main.calls == []


def test_one_auth_env_file_and_user_password_options(stubs, onezone, tmp_path):
    auth = tmp_path / "other_auth"
    auth.write_text("serveradmin:s3cret  \n")
    main = stubs({"one.zone.info": success_string(zone_xml([]))})

    onezone("show", "0", endpoint=main.endpoint, env_extra={"ONE_AUTH": str(auth)})
    onezone("show", "0", "--user", "bob", "--password", "pw", endpoint=main.endpoint)

    assert [params[0] for _, params in main.calls] == ["serveradmin:s3cret", "bob:pw"]


def test_user_without_password_on_non_tty_fails_like_ruby(stubs, onezone):
    main = stubs({"one.zone.info": success_string(zone_xml([]))})

    result = onezone("show", "0", "--user", "bob", endpoint=main.endpoint)

    assert result.returncode == 255
    assert result.stdout == "Password: "
    assert result.stderr == "Inappropriate ioctl for device\n"


def test_endpoint_resolution_order(stubs, onezone, home):
    """--endpoint, then $ONE_XMLRPC, then ~/.one/one_endpoint (rstripped)."""
    by_option, by_env, by_file = (
        stubs({"one.zone.info": success_string(zone_xml([]))}) for _ in range(3)
    )
    (home / ".one" / "one_endpoint").write_text(by_file.endpoint + "\n")

    onezone("show", "0", "--endpoint", by_option.endpoint, endpoint=by_env.endpoint)
    onezone("show", "0", endpoint=by_env.endpoint)
    onezone("show", "0")

    assert [len(s.calls) for s in (by_option, by_env, by_file)] == [1, 1, 1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "0", "--bogus"], "invalid option: --bogus"),
        (["show", "0", "-q"], "invalid option: -q"),
        (["show", "0", "--endpoint"], "missing argument: --endpoint"),
        (["server-add", "0", "-n"], "missing argument: -n"),
        (["show", "0", "--xml=1"], "needless argument: --xml=1"),
        (["server-del", "0", "-1"], "invalid option: -1"),
    ],
)
def test_option_errors_exit_255(onezone, args, message):
    result = onezone(*args, endpoint=closed_port_endpoint())

    assert (result.returncode, result.stdout) == (255, "")
    assert result.stderr == message + "\n"


def test_long_options_abbreviate_and_attach(stubs, onezone):
    main = stubs({"one.zone.addserver": success_string("0")})

    result = onezone(
        "server-add", "0", "--na=fe9", "-rhttp://fe9:2633/RPC2", "--end", main.endpoint
    )

    assert result.returncode == 0, result.stderr
    assert 'NAME="fe9"' in main.calls[0][1][2]
    assert 'ENDPOINT="http://fe9:2633/RPC2"' in main.calls[0][1][2]


def test_argument_count_errors(onezone):
    missing = onezone("server-del", "0")
    extra = onezone("show", "0", "1")

    assert missing.returncode == 255
    assert missing.stderr == "Command server-del requires 2 parameters to run.\n"
    assert missing.stdout.startswith("## USAGE\nserver-del <zoneid> <serverid>\n")
    assert extra.returncode == 255
    assert extra.stderr == "Wrong number of arguments\nThe arguments should be: <zoneid>\n"


def test_unknown_command_prints_help_and_exits_0(onezone):
    result = onezone("frobnicate")

    assert result.returncode == 0
    assert result.stderr == "Command 'frobnicate' not found\n"
    assert result.stdout.startswith("## SYNOPSIS\n\n`onezone` <command> [<args>] [<options>]\n")


def test_version_option(onezone):
    result = onezone("show", "-V")

    assert result.returncode == 0
    assert result.stdout == (
        "OpenNebula 7.0.0\nCopyright 2002-2025, OpenNebula Project, OpenNebula Systems\n"
    )


def test_list_column_selection_and_csv(stubs, raft_server, onezone):
    zone_front = raft_server(raft_xml(0, 3, fedlog_index="7"))
    main = pool_stub(stubs, zone_front.endpoint)

    selected = onezone("list", "-l", "name,stat,fed_index", endpoint=main.endpoint)
    as_csv = onezone("list", "--csv", "--csv-del", ";", endpoint=main.endpoint)
    unknown = onezone("list", "-l", "bogus", endpoint=main.endpoint)

    assert selected.stdout == "NAME            STAT FED_INDEX \nOpenNebula      on   7\n"
    assert as_csv.stdout == (
        f'CURRENT;ID;NAME;ENDPOINT;FED_INDEX;STAT\n"";0;OpenNebula;{zone_front.endpoint};7;on\n'
    )
    # ShowTable#update_columns_size reads each shown column's :adjust before printing: an
    # unknown name fails there (NoMethodError on nil), not with "Column BOGUS not defined.".
    assert (unknown.returncode, unknown.stdout) == (255, "")
    assert unknown.stderr == "undefined method `[]' for nil:NilClass\n"


def test_list_csv_quotes_like_ruby_csv(stubs, onezone):
    """Ruby's CSV: an empty cell is ``""``; a cell holding a quote or any character of the
    delimiter is quoted (quotes doubled); a multi-character delimiter works."""
    down = closed_port_endpoint()
    zones = zone_xml([], endpoint=down) + zone_xml(
        [], zone_id=101, name='a,b "c"', state=1, endpoint="http://x:1/RPC2"
    )
    main = stubs({"one.zonepool.info": success_string(f"<ZONE_POOL>{zones}</ZONE_POOL>")})

    plain = onezone("list", "--csv", endpoint=main.endpoint)
    multi = onezone("list", "--csv", "--csv-del", "::", "--no-header", endpoint=main.endpoint)

    assert (plain.returncode, plain.stderr) == (0, "")
    assert plain.stdout == (
        "CURRENT,ID,NAME,ENDPOINT,FED_INDEX,STAT\n"
        f'"",0,OpenNebula,{down},-,on\n'
        '"",101,"a,b ""c""",http://x:1/RPC2,-,off\n'
    )
    assert multi.stdout == (
        f'""::0::OpenNebula::"{down}"::-::on\n""::101::"a,b ""c"""::"http://x:1/RPC2"::-::off\n'
    )
