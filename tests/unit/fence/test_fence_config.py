"""Configuration and oned.conf timings: every error names the key, nothing is guessed."""

import json

import pytest
from fence_harness import agent, config

SHIPPED_RAFT = """
# RAFT = [ ELECTION_TIMEOUT_MS = 1 ]   (a comment, ignored)
RAFT = [
    LIMIT_PURGE          = 100000,
    LOG_RETENTION        = 250000,
    LOG_PURGE_TIMEOUT    = 60,
    ELECTION_TIMEOUT_MS  = 5000,
    BROADCAST_TIMEOUT_MS = "500",
    XMLRPC_TIMEOUT_MS    = 1000
]
"""


def test_shipped_raft_section_is_read():
    assert agent.parse_raft_timeouts(SHIPPED_RAFT) == (5000, 500)


def test_absent_raft_section_means_oned_builtin_values():
    assert agent.parse_raft_timeouts("PORT = 2633\n") == (1500, 500)


def test_present_section_with_a_missing_key_is_an_error():
    text = "RAFT = [ ELECTION_TIMEOUT_MS = 5000, XMLRPC_TIMEOUT_MS = 1000 ]"
    with pytest.raises(agent.ConfigError, match="BROADCAST_TIMEOUT_MS is missing"):
        agent.parse_raft_timeouts(text)


@pytest.mark.parametrize(
    ("value", "message"), [("abc", "not a whole number"), ("10", "above 10 ms")]
)
def test_bad_timeout_values(value, message):
    text = f"RAFT = [ ELECTION_TIMEOUT_MS = {value}, BROADCAST_TIMEOUT_MS = 500 ]"
    with pytest.raises(agent.ConfigError, match=message):
        agent.parse_raft_timeouts(text)


def test_unreadable_oned_conf(tmp_path):
    with pytest.raises(agent.ConfigError, match="cannot read"):
        agent.read_raft_timeouts(str(tmp_path / "missing.conf"))


def test_lease_plan_for_the_shipped_timings():
    plan = agent.lease_plan(config(), 5000, 500)
    assert plan == {"lease_s": 2.5, "election_ms": 5000, "broadcast_ms": 500}


def test_lease_plan_names_lease_fraction_when_the_safety_bound_breaks():
    with pytest.raises(agent.ConfigError, match=r"^lease_fraction: .* 5050 ms is not below"):
        agent.lease_plan(config(lease_fraction=0.6), 5000, 1300)


def test_lease_plan_names_poll_interval_when_rounds_cannot_renew():
    with pytest.raises(agent.ConfigError, match=r"^poll_interval: .*lapse"):
        agent.lease_plan(config(lease_fraction=0.3, poll_interval=0.5, timeout=1.1), 5000, 500)


def test_lease_plan_takes_the_safer_of_file_and_pillar_timings():
    plan = agent.lease_plan(config(election_timeout_ms=4000, broadcast_timeout_ms=800), 5000, 500)
    assert plan == {"lease_s": 2.0, "election_ms": 4000, "broadcast_ms": 800}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"server_id": 9}, "server_id: 9 is not one of"),
        ({"server_id": "0"}, "server_id: '0' must be a number"),
        ({"servers": []}, "servers: required"),
        ({"vip": {"address": "10.0.0.1", "interface": "eth0"}}, "vip.address"),
        ({"vip": {"address": "10.0.0.1/24", "interface": "eth0; reboot"}}, "vip.interface"),
        ({"leader_services": ["flow; rm -rf /"]}, "leader_services"),
        ({"bind": "localhost"}, "bind"),
        ({"port": 70000}, "port"),
        ({"poll_interval": True}, "poll_interval"),
        ({"lease_fraction": 1.5}, "lease_fraction"),
        ({"one_auth": "relative/path"}, "one_auth"),
        ({"commands": {"rm": "/bin/rm"}}, "commands"),
        ({"vip_presence": "ioctl"}, "vip_presence"),
        ({"typo_key": 1}, "unknown key"),
    ],
)
def test_configuration_errors_name_the_key(change, message):
    raw = {
        "server_id": 0,
        "servers": [{"id": 0, "name": "a", "endpoint": "http://10.0.0.1:2633/RPC2"}],
    }
    raw.update(change)
    with pytest.raises(agent.ConfigError, match=message):
        agent.check_config(raw)


def test_duplicate_server_ids_and_bad_endpoints():
    servers = [
        {"id": 0, "endpoint": "http://10.0.0.1:2633/RPC2"},
        {"id": 0, "endpoint": "http://10.0.0.2:2633/RPC2"},
    ]
    with pytest.raises(agent.ConfigError, match=r"servers\[1\]\.id: duplicate"):
        agent.check_config({"server_id": 0, "servers": servers})
    servers[1] = {"id": 1, "endpoint": "ftp://x/"}
    with pytest.raises(agent.ConfigError, match=r"servers\[1\]\.endpoint"):
        agent.check_config({"server_id": 0, "servers": servers})


def test_load_config_reports_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(agent.ConfigError, match="cannot read"):
        agent.load_config(str(tmp_path / "none.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(agent.ConfigError, match="not valid JSON"):
        agent.load_config(str(bad))
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            {"server_id": 1, "servers": [{"id": 1, "endpoint": "http://10.0.0.1:2633/RPC2"}]}
        )
    )
    assert agent.load_config(str(good))["poll_interval"] == 0.5


def test_main_exits_ex_config_on_a_bad_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert agent.main(["--config", str(bad)]) == agent.EX_CONFIG


@pytest.mark.parametrize(
    "text",
    [
        "<VM><ID>1</ID></VM>",
        "not xml at all",
        "<RAFT><SERVER_ID>0</SERVER_ID><STATE>3</STATE><TERM>x</TERM></RAFT>",
        "<RAFT><SERVER_ID>0</SERVER_ID><STATE>9</STATE><TERM>1</TERM><COMMIT>1</COMMIT>"
        "<LOG_INDEX>1</LOG_INDEX></RAFT>",
        "<RAFT><SERVER_ID>0</SERVER_ID></RAFT>",
    ],
)
def test_garbage_raftstatus_is_rejected(text):
    with pytest.raises(agent.RpcError):
        agent.parse_raftstatus(text)


def test_raftstatus_as_oned_prints_it():
    text = (
        "<RAFT><SERVER_ID>2</SERVER_ID><STATE>2</STATE><TERM>7</TERM><VOTEDFOR>0</VOTEDFOR>"
        "<COMMIT>30</COMMIT><LOG_INDEX>31</LOG_INDEX><LOG_TERM>7</LOG_TERM>"
        "<FEDLOG_INDEX>-1</FEDLOG_INDEX></RAFT>"
    )
    status = agent.parse_raftstatus(text)
    assert status.as_dict() == {
        "server_id": 2,
        "state": "follower",
        "term": 7,
        "commit": 30,
        "log_index": 31,
    }


def test_read_session(tmp_path):
    auth = tmp_path / "one_auth"
    auth.write_text("oneadmin:pw\n")
    assert agent.read_session(str(auth)) == "oneadmin:pw"
    auth.write_text("no colon\n")
    with pytest.raises(agent.ConfigError, match="not user:password") as err:
        agent.read_session(str(auth))
    assert "no colon" not in str(err.value)


def test_default_clock_is_boottime_where_available():
    clock = agent.default_clock()
    assert clock is agent.boottime_clock
    first = clock()
    assert clock() >= first


def _commands(vip, output, presence="ip"):
    calls = []

    def runner(argv, timeout):
        calls.append(argv)
        return 0, output

    cfg = agent.check_config(
        {
            "server_id": 0,
            "servers": [{"id": 0, "endpoint": "http://10.0.0.1:2633/RPC2"}],
            "vip": {"address": vip, "interface": "eth0"},
            "commands": {"ip": "/sbin/ip", "arping": "/usr/bin/arping"},
            "vip_presence": presence,
        }
    )
    return agent.Commands(cfg, runner=runner), calls


def test_vip_presence_with_ip_reads_ip_address_show():
    line = "2: eth0    inet 10.0.0.100/24 scope global secondary eth0\\       valid_lft forever"
    commands, calls = _commands("10.0.0.100/24", line)
    assert commands.vip_present() is True
    assert calls == [["/sbin/ip", "-o", "address", "show", "dev", "eth0"]]
    commands, _ = _commands("10.0.0.10/24", line)  # a prefix of another address: no
    assert commands.vip_present() is False


def test_ipv6_vip_is_compared_in_canonical_form():
    line = "2: eth0    inet6 2001:db8::100/64 scope global \\       valid_lft forever"
    commands, _ = _commands("2001:DB8:0:0::100/64", line)
    assert commands.vip_present() is True


def test_vip_actions_are_vip_sh_commands():
    commands, calls = _commands("10.0.0.100/24", "")
    commands.vip_add()
    commands.announce()
    commands.vip_del()
    assert calls == [
        ["/sbin/ip", "address", "add", "10.0.0.100/24", "dev", "eth0"],
        ["/usr/bin/arping", "-c", "1", "-U", "-I", "eth0", "10.0.0.100"],
        ["/usr/bin/arping", "-c", "1", "-A", "-I", "eth0", "10.0.0.100"],
        ["/sbin/ip", "address", "del", "10.0.0.100/24", "dev", "eth0"],
    ]
