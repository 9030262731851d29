"""oned's call log lines (Request.cc) and ``one.system.config`` on a real simulated oned."""

import re
import xml.etree.ElementTree as ET

import pyone
from pyone.bindings import supbind

LINE = r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} \[Z0\]"


def log_lines(zone, pattern: str) -> list[str]:
    return [
        line
        for line in zone.servers[0].log_path.read_text().splitlines()
        if re.search(pattern, line)
    ]


def test_call_lines_quote_cut_and_level_like_request_cc(solo):
    long_template = 'SERVER = [ NAME="fe-1", ENDPOINT="http://fe-1:2633/RPC2" ]'
    assert solo.call(0, "one.zone.info", 0, False)[0] is True
    assert solo.call(0, "one.zone.raftstatus")[0] is True
    assert solo.call(0, "one.zone.addserver", 5, long_template)[0] is False

    info = log_lines(solo, r"one\.zone\.info ")
    assert re.fullmatch(rf"{LINE}\[ReM\]\[D\]: Req:\d+ UID:0 IP:127(?:\.\d+){{3}} "
                        r"one\.zone\.info invoked , 0, false", info[0])  # fmt: skip
    assert re.fullmatch(
        rf"{LINE}\[ReM\]\[D\]: Req:\d+ UID:0 one\.zone\.info result SUCCESS, "
        r'"<ZONE><ID>0</ID><NAM\.\.\."',
        info[1],
    )
    raft = log_lines(solo, r"one\.zone\.raftstatus ")
    assert raft[0].endswith(" one.zone.raftstatus invoked ")  # %l adds nothing, space kept
    assert raft[1].endswith(' one.zone.raftstatus result SUCCESS, "<RAFT><SERVER_ID>-1<..."')
    add = log_lines(solo, r"one\.zone\.addserver ")
    assert add[0].endswith(' one.zone.addserver invoked , 5, "SERVER = [ NAME="fe-..."')
    assert re.fullmatch(
        rf"{LINE}\[ReM\]\[E\]: Req:\d+ UID:0 one\.zone\.addserver result FAILURE "
        r"\[one\.zone\.addserver\] Servers have to be added through the target zone endpoints",
        add[1],
    )


def test_failed_authentication_logs_uid_minus_one_then_dash(solo):
    bad = pyone.OneServer(solo.servers[0].endpoint, session="oneadmin:wrong", timeout=10)
    try:
        bad.zone.enable(0, True)
    except pyone.OneAuthenticationException:
        pass
    else:
        raise AssertionError("a wrong password was accepted")

    lines = log_lines(solo, r"one\.zone\.enable ")
    assert lines[0].endswith(" one.zone.enable invoked , 0, true")
    assert re.search(r"\[ReM\]\[D\]: Req:\d+ UID:-1 IP:", lines[0])
    assert re.fullmatch(
        rf"{LINE}\[ReM\]\[E\]: Req:\d+ UID:- one\.zone\.enable result FAILURE "
        r"\[one\.zone\.enable\] User couldn't be authenticated, aborting call\.",
        lines[1],
    )


def test_system_config_is_oned_conf_with_defaults(solo):
    ok, body, code = solo.call(0, "one.system.config")

    assert (ok, code) == (True, 0)
    root = ET.fromstring(body)
    assert root.tag == "OPENNEBULA_CONFIGURATION"
    names = [child.tag for child in root]
    assert names == sorted(names)  # oned keeps its attributes in a multimap
    server = solo.servers[0]
    assert f"<PORT><![CDATA[{server.port}]]></PORT>" in body
    assert (
        "<DB><BACKEND><![CDATA[sqlite]]></BACKEND><TIMEOUT><![CDATA[2500]]></TIMEOUT></DB>"
    ) in body
    assert (
        "<FEDERATION><MASTER_ONED><![CDATA[]]></MASTER_ONED><MODE><![CDATA[STANDALONE]]></MODE>"
        "<SERVER_ID><![CDATA[-1]]></SERVER_ID><ZONE_ID><![CDATA[0]]></ZONE_ID></FEDERATION>"
    ) in body
    # Not in the shipped oned.conf: oned's built-in defaults fill them in.
    assert "<MANAGER_TIMER><![CDATA[15]]></MANAGER_TIMER>" in body
    assert (
        "<LOG_CALL_FORMAT><![CDATA[Req:%i UID:%u IP:%A %m invoked %l]]></LOG_CALL_FORMAT>"
    ) in body
    assert root.findtext("RAFT/ELECTION_TIMEOUT_MS") == str(solo.options.election_ms)


def test_pyone_reads_system_config_into_its_binding(solo):
    one = pyone.OneServer(solo.servers[0].endpoint, session=solo.session, timeout=10)

    config = one.system.config()

    assert isinstance(config, supbind.OPENNEBULA_CONFIGURATION)
    port = solo.servers[0].port
    assert port == config.PORT
    assert (config.DB.BACKEND, config.FEDERATION.MODE, config.FEDERATION.SERVER_ID) == (
        "sqlite",
        "STANDALONE",
        -1,
    )
