"""``onezone show -j/-x/-y`` against hand-written goldens (docs/opennebula-cli.md §4)."""

from __future__ import annotations

import json

from sim_cli_support import raft_xml, zone_xml
from stub_oned import closed_port_endpoint, success_string


def one_server_zone(stubs, raft_server):
    leader = raft_server(raft_xml(0, 3, term=1, votedfor=0, commit=3, log_index=3))
    main = stubs({"one.zone.info": success_string(zone_xml([("0", "server-0", leader.endpoint)]))})
    return main, leader.endpoint


def test_behaviour_02_onezone_show_procedure_json_one_server_is_an_object(
    stubs, raft_server, onezone
):
    main, endpoint = one_server_zone(stubs, raft_server)

    result = onezone("show", "0", "-j", endpoint=main.endpoint)

    expected = (
        "{\n"
        '  "ZONE": {\n'
        '    "ID": "0",\n'
        '    "NAME": "OpenNebula",\n'
        '    "STATE": "0",\n'
        '    "TEMPLATE": {\n'
        '      "ENDPOINT": "http://localhost:2633/RPC2"\n'
        "    },\n"
        '    "SERVER_POOL": {\n'
        '      "SERVER": {\n'
        f'        "ENDPOINT": "{endpoint}",\n'
        '        "ID": "0",\n'
        '        "NAME": "server-0",\n'
        '        "STATE": "3",\n'
        '        "TERM": "1",\n'
        '        "VOTEDFOR": "0",\n'
        '        "COMMIT": "3",\n'
        '        "LOG_INDEX": "3",\n'
        '        "FEDLOG_INDEX": "-1"\n'
        "      }\n"
        "    }\n"
        "  }\n"
        "}\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


def test_behaviour_02_onezone_show_procedure_json_two_servers_is_an_array(
    stubs, raft_server, onezone
):
    leader = raft_server(raft_xml(0, 3))
    down = closed_port_endpoint()
    main = stubs(
        {
            "one.zone.info": success_string(
                zone_xml([("0", "server-0", leader.endpoint), ("1", "server-1", down)])
            )
        }
    )

    result = onezone("show", "0", "--json", endpoint=main.endpoint)

    assert result.returncode == 0, result.stderr
    servers = json.loads(result.stdout)["ZONE"]["SERVER_POOL"]["SERVER"]
    assert isinstance(servers, list)
    assert [s["STATE"] for s in servers] == ["3", "-"]
    assert servers[1] == {
        "ENDPOINT": down,
        "ID": "1",
        "NAME": "server-1",
        "STATE": "-",
        "TERM": "-",
        "VOTEDFOR": "-",
        "COMMIT": "-",
        "LOG_INDEX": "-",
        "FEDLOG_INDEX": "-",
    }
    # every value is a string, keys in the order oned + the CLI produce them
    assert all(isinstance(v, str) for s in servers for v in s.values())
    assert list(servers[0]) == [
        "ENDPOINT", "ID", "NAME", "STATE", "TERM", "VOTEDFOR", "COMMIT", "LOG_INDEX", "FEDLOG_INDEX",
    ]  # fmt: skip


def test_onezone_show_json_empty_pool_is_empty_object(stubs, onezone):
    main = stubs({"one.zone.info": success_string(zone_xml([]))})

    result = onezone("show", "0", "-j", endpoint=main.endpoint)

    assert result.returncode == 0, result.stderr
    assert '    "SERVER_POOL": {}\n' in result.stdout
    assert json.loads(result.stdout)["ZONE"]["SERVER_POOL"] == {}


def test_onezone_show_xml_keeps_cdata_and_appends_raft_fields(stubs, raft_server, onezone):
    main, endpoint = one_server_zone(stubs, raft_server)

    result = onezone("show", "0", "-x", endpoint=main.endpoint)

    expected = (
        "<ZONE>\n"
        "  <ID>0</ID>\n"
        "  <NAME>OpenNebula</NAME>\n"
        "  <STATE>0</STATE>\n"
        "  <TEMPLATE>\n"
        "    <ENDPOINT><![CDATA[http://localhost:2633/RPC2]]></ENDPOINT>\n"
        "  </TEMPLATE>\n"
        "  <SERVER_POOL>\n"
        "    <SERVER>\n"
        f"      <ENDPOINT><![CDATA[{endpoint}]]></ENDPOINT>\n"
        "      <ID><![CDATA[0]]></ID>\n"
        "      <NAME><![CDATA[server-0]]></NAME>\n"
        "      <STATE>3</STATE>\n"
        "      <TERM>1</TERM>\n"
        "      <VOTEDFOR>0</VOTEDFOR>\n"
        "      <COMMIT>3</COMMIT>\n"
        "      <LOG_INDEX>3</LOG_INDEX>\n"
        "      <FEDLOG_INDEX>-1</FEDLOG_INDEX>\n"
        "    </SERVER>\n"
        "  </SERVER_POOL>\n"
        "</ZONE>\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


def test_onezone_show_xml_empty_pool_self_closes(stubs, onezone):
    main = stubs({"one.zone.info": success_string(zone_xml([]))})

    result = onezone("show", "0", "-x", endpoint=main.endpoint)

    assert result.returncode == 0, result.stderr
    assert "\n  <SERVER_POOL/>\n" in result.stdout
    assert "<?xml" not in result.stdout


def test_onezone_show_xml_unreachable_server_gets_plain_dashes(stubs, onezone):
    down = closed_port_endpoint()
    main = stubs({"one.zone.info": success_string(zone_xml([("0", "server-0", down)]))})

    result = onezone("show", "0", "-x", endpoint=main.endpoint)

    assert result.returncode == 0, result.stderr
    for name in ("STATE", "TERM", "VOTEDFOR", "COMMIT", "LOG_INDEX", "FEDLOG_INDEX"):
        assert f"      <{name}>-</{name}>\n" in result.stdout


def test_onezone_show_yaml_psych_style(stubs, raft_server, onezone):
    """Psych ignores the CLI's ``:indent => 4``: 2-space indentation, ``- `` items at the
    level of their key, numbers-as-strings single-quoted, ``-1``/``-`` double-quoted."""
    leader = raft_server(raft_xml(0, 3, term=1, votedfor=0, commit=3, log_index=3))
    down = closed_port_endpoint()
    main = stubs(
        {
            "one.zone.info": success_string(
                zone_xml([("0", "server-0", leader.endpoint), ("1", "server-1", down)])
            )
        }
    )

    result = onezone("show", "0", "-y", endpoint=main.endpoint)

    expected = (
        "---\n"
        "ZONE:\n"
        "  ID: '0'\n"
        "  NAME: OpenNebula\n"
        "  STATE: '0'\n"
        "  TEMPLATE:\n"
        "    ENDPOINT: http://localhost:2633/RPC2\n"
        "  SERVER_POOL:\n"
        "    SERVER:\n"
        f"    - ENDPOINT: {leader.endpoint}\n"
        "      ID: '0'\n"
        "      NAME: server-0\n"
        "      STATE: '3'\n"
        "      TERM: '1'\n"
        "      VOTEDFOR: '0'\n"
        "      COMMIT: '3'\n"
        "      LOG_INDEX: '3'\n"
        '      FEDLOG_INDEX: "-1"\n'
        f"    - ENDPOINT: {down}\n"
        "      ID: '1'\n"
        "      NAME: server-1\n"
        '      STATE: "-"\n'
        '      TERM: "-"\n'
        '      VOTEDFOR: "-"\n'
        '      COMMIT: "-"\n'
        '      LOG_INDEX: "-"\n'
        '      FEDLOG_INDEX: "-"\n'
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


def test_onezone_show_yaml_one_server_and_empty_pool(stubs, raft_server, onezone):
    """One server: SERVER is a mapping (no ``- ``); an empty pool is ``{}``."""
    main, endpoint = one_server_zone(stubs, raft_server)
    empty = stubs({"one.zone.info": success_string(zone_xml([]))})

    one = onezone("show", "0", "-y", endpoint=main.endpoint)
    none = onezone("show", "0", "-y", endpoint=empty.endpoint)

    assert one.returncode == 0, one.stderr
    assert (
        f"  SERVER_POOL:\n    SERVER:\n      ENDPOINT: {endpoint}\n      ID: '0'\n"
    ) in one.stdout
    assert none.stdout == (
        "---\nZONE:\n  ID: '0'\n  NAME: OpenNebula\n  STATE: '0'\n  TEMPLATE:\n"
        "    ENDPOINT: http://localhost:2633/RPC2\n  SERVER_POOL: {}\n"
    )


def test_onezone_list_yaml_zone_list(stubs, onezone):
    zone = zone_xml([], endpoint="http://10.0.0.9:2633/RPC2")
    main = stubs({"one.zonepool.info": success_string(f"<ZONE_POOL>{zone}</ZONE_POOL>")})

    result = onezone("list", "-y", endpoint=main.endpoint)

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        "---\nZONE_POOL:\n  ZONE:\n  - ID: '0'\n    NAME: OpenNebula\n    STATE: '0'\n"
        "    TEMPLATE:\n      ENDPOINT: http://10.0.0.9:2633/RPC2\n    SERVER_POOL: {}\n"
    )
