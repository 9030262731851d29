"""A solo oned: raftstatus values, return arrays and messages, zone calls, start-up rules."""

import http.client
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from onesim import rpc
from onesim.zone_local import LocalZone


def server_template(name="server-0", endpoint="http://127.0.0.1:2633/RPC2"):
    return f'SERVER = [ NAME="{name}", ENDPOINT="{endpoint}" ]'


def test_behaviour_01_raft_status_and_solo_values(solo):
    reply = solo.call(0, "one.zone.raftstatus")
    assert reply == [
        True,
        "<RAFT><SERVER_ID>-1</SERVER_ID><STATE>0</STATE><TERM>0</TERM><VOTEDFOR>-1</VOTEDFOR>"
        "<COMMIT>0</COMMIT><LOG_INDEX>-1</LOG_INDEX><LOG_TERM>-1</LOG_TERM>"
        "<FEDLOG_INDEX>-1</FEDLOG_INDEX></RAFT>",
        0,
    ]


def test_bootstrapped_zone_zero(solo):
    ok, xml, code = solo.call(0, "one.zone.info", 0, False)
    assert (ok, code) == (True, 0)
    assert xml == (
        "<ZONE><ID>0</ID><NAME>OpenNebula</NAME><STATE>0</STATE><TEMPLATE><ENDPOINT>"
        "<![CDATA[http://localhost:2633/RPC2]]></ENDPOINT></TEMPLATE>"
        "<SERVER_POOL></SERVER_POOL></ZONE>"
    )
    pool = solo.call(0, "one.zonepool.info")[1]
    assert pool == f"<ZONE_POOL>{xml}</ZONE_POOL>"


@pytest.mark.parametrize(
    ("method", "params", "code", "message"),
    [
        (
            "one.zone.addserver",
            (1, server_template()),
            0x800,
            "[one.zone.addserver] Servers have to be added through the target zone endpoints",
        ),
        (
            "one.zone.addserver",
            (0, 'SERVER = [ ENDPOINT="http://h:2633/RPC2" ]'),
            0x800,
            "[one.zone.addserver] Missing NAME in SERVER",
        ),
        (
            "one.zone.addserver",
            (0, 'SERVER = [ NAME="s" ]'),
            0x800,
            "[one.zone.addserver] Missing ENDPOINT in SERVER",
        ),
        ("one.zone.addserver", (0, 'OTHER = "x"'), 0x800, "[one.zone.addserver] "),
        (
            "one.zone.delserver",
            (3, 0),
            0x800,
            "[one.zone.delserver] Servers have to be deleted through the target zone endpoints",
        ),
        ("one.zone.delserver", (0, 9), 0x800, "[one.zone.delserver] SERVER not found in zone"),
        (
            "one.zone.resetserver",
            (3, 0),
            0x800,
            "[one.zone.resetserver] Servers have to be deleted through the target zone endpoints",
        ),
        (
            "one.zone.enable",
            (3, True),
            0x800,
            "[one.zone.enable] Enable/disable mode have to be set through the target zone "
            "endpoints",
        ),
        ("one.zone.info", (5,), 0x400, "[one.zone.info] Error getting zone [5]."),
    ],
)
def test_behaviour_03_return_arrays_failures(solo_shared, method, params, code, message):
    reply = solo_shared.call(0, method, *params)
    assert reply[0] is False
    assert reply[1] == message
    assert reply[2] == code
    assert len(reply) == 5


def test_behaviour_03_return_arrays_authentication(solo):
    server = solo.servers[0]
    reply = rpc.call(server.endpoint, "one.zone.raftstatus", ("oneadmin:wrong",), 5)
    assert reply[:3] == [
        False,
        "[one.zone.raftstatus] User couldn't be authenticated, aborting call.",
        0x100,
    ]


def test_behaviour_03_failure_last_item_is_i8_on_the_wire(solo):
    server = solo.servers[0]
    body = rpc.xmlrpc.client.dumps((solo.session, 7), "one.zone.info")
    conn = http.client.HTTPConnection(server.address, server.port, timeout=5)
    conn.request("POST", "/RPC2", body, {"Content-Type": "text/xml"})
    text = conn.getresponse().read().decode()
    conn.close()
    values = re.findall(r"<value>(.*?)</value>", text, flags=re.S)
    # [false, msg, 0x400, resp_id = the zone id, replication index as i8]
    assert [v.strip() for v in values[-3:]] == ["<int>1024</int>", "<int>7</int>", "<i8>-1</i8>"]
    assert "<boolean>0</boolean>" in text


def test_behaviour_03_unknown_method_and_type_mismatch_are_faults(solo):
    with pytest.raises(rpc.xmlrpc.client.Fault) as unknown:
        solo.call(0, "one.zone.nosuchcall")
    assert unknown.value.faultString == "Method 'one.zone.nosuchcall' not defined"
    with pytest.raises(rpc.xmlrpc.client.Fault):
        solo.call(0, "one.zone.info", "0")
    with pytest.raises(rpc.xmlrpc.client.Fault):
        solo.call(0, "one.zone.delserver", 0)


def test_behaviour_05_membership_server_add_on_solo_only_edits_the_zone(solo):
    before = solo.raftstatus(0)
    assert solo.call(0, "one.zone.addserver", 0, server_template("a")) == [True, 0, 0]
    assert solo.call(0, "one.zone.addserver", 0, server_template("a")) == [True, 0, 0]
    zone = ET.fromstring(solo.call(0, "one.zone.info", 0)[1])
    servers = [(s.findtext("ID"), s.findtext("NAME")) for s in zone.iter("SERVER")]
    assert servers == [("0", "a"), ("1", "a")]  # names are not unique, ids are max+1
    assert solo.raftstatus(0) == before  # still solo, no log records
    assert solo.call(0, "one.zone.delserver", 0, 1) == [True, 0, 0]
    assert solo.call(0, "one.zone.addserver", 0, server_template("b")) == [True, 0, 0]
    zone = ET.fromstring(solo.call(0, "one.zone.info", 0)[1])
    assert [s.findtext("ID") for s in zone.iter("SERVER")] == ["0", "1"]  # top id reused
    assert solo.call(0, "one.zone.resetserver", 0, 42) == [True, 0, 0]


def test_zone_disabled_refuses_writes_but_serves_reads(solo):
    assert solo.call(0, "one.zone.enable", 0, False) == [True, 0, 0]
    try:
        assert "<STATE>1</STATE>" in solo.call(0, "one.zone.info", 0)[1]
        reply = solo.call(0, "one.vm.allocate", 'NAME="x"', False)
        assert reply[:3] == [
            False,
            "[one.vm.allocate] Cannot process request, zone disabled",
            0x2000,
        ]
        assert solo.call(0, "one.zone.raftstatus")[0] is True
    finally:
        assert solo.call(0, "one.zone.enable", 0, True) == [True, 0, 0]
    assert solo.call(0, "one.vm.allocate", 'NAME="x"', False) == [True, 0, 0]


def test_vm_writes_and_reads(solo):
    oid = solo.call(0, "one.vm.allocate", 'NAME = "web"\nCPU = 1', False)[1]
    xml = solo.call(0, "one.vm.info", oid)[1]
    assert f"<ID>{oid}</ID>" in xml and "<NAME>web</NAME>" in xml
    pool = solo.call(0, "one.vmpool.info", -2, -1, -1, -1)[1]
    assert pool.startswith("<VM_POOL>") and f"<ID>{oid}</ID>" in pool
    assert (
        solo.call(0, "one.vm.info", 999)[1] == "[one.vm.info] Error getting virtual machine [999]."
    )
    assert solo.call(0, "one.system.version") == [True, "7.0.0", 0]


def test_startup_files_and_log_format(solo):
    location = Path(solo.servers[0].location)
    lock = location / "var" / ".lock"
    assert int(lock.read_text()) == solo.servers[0].pid
    assert (location / "var" / "config").read_text().count("FEDERATION=") == 1
    log = (location / "var" / "oned.log").read_text()
    assert re.search(
        r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} \[Z0\]\[ONE\]\[I\]: oned started in solo mode\.$",
        log,
        flags=re.M,
    )
    solo.stop(0)
    assert not lock.exists()
    assert "All modules finalized, exiting." in (location / "var" / "oned.log").read_text()


def test_second_oned_refuses_while_lock_file_exists(solo):
    server = solo.servers[0]
    result = _run_oned(server.env, timeout=20)
    assert result.returncode != 0
    assert f"Cannot start oned, opening lock file {server.lock_path}" in result.stderr
    assert solo.running(0)


def _run_oned(env, timeout):
    import os

    return subprocess.run(
        [sys.executable, "-m", "onesim.entry", "oned", "-f"],
        env={**os.environ, **env, "ONESIM_WARMUP_MS": "0"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("federation", "message"),
    [
        (
            'MODE = "STANDALONE", ZONE_ID = 0, SERVER_ID = 0',
            "Database has to be bootstraped to start oned in HA",
        ),
        (
            'MODE = "MASTER", ZONE_ID = 0, SERVER_ID = -1',
            "Database has to be bootstraped to start oned in FEDERATION",
        ),
    ],
)
def test_behaviour_10_db_tooling_oned_refuses_ha_start_on_empty_db(tmp_path, federation, message):
    zone = LocalZone(1, tmp_path / "zone").prepare()
    try:
        server = zone.servers[0]
        conf = Path(server.location) / "etc" / "oned.conf"
        text = re.sub(
            r"(?ms)^FEDERATION = \[.*?^\]", f"FEDERATION = [ {federation} ]", conf.read_text()
        )
        conf.write_text(text)
        result = _run_oned(server.env, timeout=20)
        assert result.returncode != 0
        assert message in result.stderr
        assert message in server.log_path.read_text()
        assert not server.lock_path.exists()
    finally:
        zone.down()
