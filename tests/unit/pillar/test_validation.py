"""The pillar model: pillar.example is accepted, each malformed pillar is rejected with a
message naming the offending key."""

import pytest


def test_pillar_example_is_valid(pillar_module, merged):
    assert pillar_module.find_errors(merged()) == []


def test_validate_derives_endpoints_from_addresses(pillar_module, merged):
    settings = pillar_module.validate(merged())
    assert [s["endpoint"] for s in settings["servers"]] == [
        f"http://10.213.0.{n}:2633/RPC2" for n in (10, 20, 30, 40, 50)
    ]


def test_pillar_example_mirrors_the_users_cluster(merged):
    settings = merged()
    assert [s["minion"] for s in settings["servers"]] == [f"vmm0{n}" for n in range(1, 6)]
    assert [s["id"] for s in settings["servers"]] == [0, 1, 2, 3, 4]
    assert settings["vip"]["address"].endswith(".100/24")
    assert settings["vip"]["interface"] == "eth0"
    assert settings["zone"]["id"] == 0


def _servers(config, count):
    config["servers"] = config["servers"][:count]
    return config


def _set(path, value):
    def mutate(config):
        node = config
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return config

    return mutate


def _drop(path):
    def mutate(config):
        node = config
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
        return config

    return mutate


def _single_node_with_two(config):
    config["single_node"] = True
    return _servers(config, 2)


def _duplicate(key):
    def mutate(config):
        config["servers"][2][key] = config["servers"][1][key]
        return config

    return mutate


# (case id, mutation of the valid pillar, expected fragment of the message)
MALFORMED = [
    (
        "even-count-4",
        lambda c: _servers(c, 4),
        "onenebula_ha:servers: 4 server(s) listed; Raft HA needs an odd number",
    ),
    ("even-count-2", lambda c: _servers(c, 2), "onenebula_ha:servers: 2 server(s) listed"),
    ("one-without-single-node", lambda c: _servers(c, 1), "or set onenebula_ha:single_node: true"),
    ("no-servers", _set(["servers"], []), "onenebula_ha:servers: at least one server is required"),
    ("single-node-with-two", _single_node_with_two, "single_node is set but 2 servers are listed"),
    ("duplicate-id", _duplicate("id"), "onenebula_ha:servers:2:id: duplicate id '1'"),
    ("duplicate-name", _duplicate("name"), "onenebula_ha:servers:2:name: duplicate name 'vmm02'"),
    (
        "duplicate-minion",
        _duplicate("minion"),
        "onenebula_ha:servers:2:minion: duplicate minion 'vmm02'",
    ),
    (
        "duplicate-endpoint",
        _duplicate("address"),
        "onenebula_ha:servers:2:endpoint: duplicate endpoint 'http://10.213.0.20:2633/RPC2'",
    ),
    (
        "negative-id",
        _set(["servers", 0, "id"], -1),
        "onenebula_ha:servers:0:id: SERVER_ID -1 is negative",
    ),
    (
        "id-not-int",
        _set(["servers", 0, "id"], "zero"),
        "onenebula_ha:servers:0:id: required, an integer SERVER_ID",
    ),
    (
        "ids-out-of-join-order",
        _set(["servers", 1, "id"], 9),
        "onenebula_ha:servers:2:id: SERVER_ID 2 after 9",
    ),
    (
        "endpoint-not-http",
        _set(["servers", 3, "endpoint"], "ftp://10.213.0.40:2633/RPC2"),
        "onenebula_ha:servers:3:endpoint: 'ftp://10.213.0.40:2633/RPC2' is not an http(s):// XML-RPC endpoint",
    ),
    (
        "endpoint-and-address-missing",
        _drop(["servers", 2, "address"]),
        "onenebula_ha:servers:2:endpoint: required: set address, or endpoint",
    ),
    ("server-name-missing", _drop(["servers", 1, "name"]), "onenebula_ha:servers:1:name: required"),
    (
        "vip-not-an-address",
        _set(["vip", "address"], "10.213.0.300/24"),
        "onenebula_ha:vip:address: '10.213.0.300/24' is not a valid address/prefix",
    ),
    (
        "vip-without-prefix",
        _set(["vip", "address"], "10.213.0.100"),
        "onenebula_ha:vip:address: '10.213.0.100' must be an address with prefix",
    ),
    (
        "vip-is-a-server-address",
        _set(["vip", "address"], "10.213.0.30/24"),
        "onenebula_ha:vip:address: 10.213.0.30 is the address of servers:2 (vmm03)",
    ),
    (
        "vip-outside-interface-network",
        _set(["vip", "address"], "10.213.1.100/24"),
        "onenebula_ha:vip:address: 10.213.1.100 is outside the network 10.213.0.0/24 of interface eth0",
    ),
    (
        "vip-is-broadcast",
        _set(["vip", "address"], "10.213.0.255/24"),
        "is the network or broadcast address",
    ),
    (
        "vip-missing-interface",
        _set(["vip", "interface"], None),
        "onenebula_ha:vip:interface: required when the VIP is enabled",
    ),
    (
        "vip-missing-address",
        _set(["vip", "address"], None),
        "onenebula_ha:vip:address: required when the VIP is enabled (or set onenebula_ha:vip:enabled: false",
    ),
    (
        "db-password-missing",
        _set(["database", "password"], None),
        "onenebula_ha:database:password: required for the mysql backend",
    ),
    (
        "db-password-empty",
        _set(["database", "password"], ""),
        "onenebula_ha:database:password: required",
    ),
    (
        "db-backend-unknown",
        _set(["database", "backend"], "postgresql"),
        "onenebula_ha:database:backend: 'postgresql' must be mysql or sqlite",
    ),
    (
        "db-sqlite-in-ha",
        _set(["database", "backend"], "sqlite"),
        "sqlite is only allowed with single_node",
    ),
    (
        "db-port-invalid",
        _set(["database", "port"], 70000),
        "onenebula_ha:database:port: '70000' is out of range: a TCP port from 1 to 65535",
    ),
    (
        "raft-election-too-short",
        _set(["raft", "election_timeout_ms"], 10),
        "onenebula_ha:raft:election_timeout_ms: 10 ms is too short",
    ),
    (
        "raft-xmlrpc-too-short",
        _set(["raft", "xmlrpc_timeout_ms"], 5),
        "onenebula_ha:raft:xmlrpc_timeout_ms: 5 ms is too short",
    ),
    (
        "raft-broadcast-not-below-election",
        _set(["raft", "broadcast_timeout_ms"], 5000),
        "onenebula_ha:raft:broadcast_timeout_ms: 5000 ms must be below election_timeout_ms (5000 ms)",
    ),
    (
        "raft-key-not-int",
        _set(["raft", "log_retention"], "many"),
        "onenebula_ha:raft:log_retention: 'many' must be a positive integer",
    ),
    (
        "raft-key-missing",
        _drop(["raft", "limit_purge"]),
        "onenebula_ha:raft:limit_purge: null must be a positive integer",
    ),
    (
        "unknown-top-level-key",
        _set(["severs"], []),
        "onenebula_ha:severs: unknown key (did you mean 'servers'?)",
    ),
    ("unknown-nested-key", _set(["vip", "iface"], "eth0"), "onenebula_ha:vip:iface: unknown key"),
    (
        "unknown-server-key",
        _set(["servers", 1, "addres"], "x"),
        "onenebula_ha:servers:1:addres: unknown key (did you mean 'address'?)",
    ),
    (
        "unknown-raft-key",
        _set(["raft", "election_timeout"], 5000),
        "onenebula_ha:raft:election_timeout: unknown key (did you mean 'election_timeout_ms'?)",
    ),
    (
        "zone-id-negative",
        _set(["zone", "id"], -1),
        "onenebula_ha:zone:id: '-1' is out of range: an integer zone id from 0 to 65535",
    ),
    (
        "secrets-source-unknown",
        _set(["secrets", "source"], "nfs"),
        "onenebula_ha:secrets:source: 'nfs' must be leader or pillar",
    ),
    (
        "secrets-pillar-without-one-auth",
        _set(["secrets", "source"], "pillar"),
        "onenebula_ha:secrets:files:one_auth: required with source pillar",
    ),
    (
        "failover-script-unordered-name",
        _set(["hooks", "failover_scripts"], {"notify": "#!/bin/sh\n"}),
        "onenebula_ha:hooks:failover_scripts:notify: name must look like NN-name",
    ),
    (
        "mount-relative-path",
        _set(["sharedfs", "mounts"], [{"name": "datastores", "device": "nfs:/x", "fstype": "nfs"}]),
        "onenebula_ha:sharedfs:mounts:0:name: 'datastores' must be an absolute path",
    ),
    (
        "beacon-interval-zero",
        _set(["beacon", "interval"], 0),
        "onenebula_ha:beacon:interval: '0' must be a whole number of seconds from 1 to 3600",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "message"), [pytest.param(m, msg, id=i) for i, m, msg in MALFORMED]
)
def test_malformed_pillar_is_rejected_with_its_key(pillar_module, merged, mutate, message):
    config = mutate(merged())
    errors = pillar_module.find_errors(config)
    assert any(message in error for error in errors), errors
    with pytest.raises(pillar_module.CommandExecutionError) as excinfo:
        pillar_module.validate(config)
    assert message in str(excinfo.value)


def test_each_malformed_case_is_reported_only_in_its_own_section(pillar_module, merged):
    """Each mutation is reported under the top-level section its message names, and in no
    other: a validator that reported unrelated keys (or everything) would fail here."""
    assert pillar_module.find_errors(merged()) == []
    for case_id, mutate, message in MALFORMED:
        errors = pillar_module.find_errors(mutate(merged()))
        assert errors, case_id
        sections = {error.split(": ")[0].split(":")[1] for error in errors}
        expected = (
            message.split(": ")[0].split(":")[1] if message.startswith("onenebula_ha:") else None
        )
        if expected is not None:
            assert sections == {expected}, (case_id, errors)


def test_no_vip_mode_is_explicit(pillar_module, merged):
    config = merged()
    config["vip"] = {"enabled": False}
    assert pillar_module.find_errors(config) == []


def test_single_node_is_allowed_when_flagged(pillar_module, merged):
    config = merged()
    config["single_node"] = True
    config["servers"] = config["servers"][:1]
    assert pillar_module.find_errors(config) == []


def test_three_servers_are_valid(pillar_module, merged):
    config = merged()
    config["servers"] = config["servers"][:3]
    assert pillar_module.find_errors(config) == []


def test_error_messages_never_carry_the_db_password(pillar_module, merged):
    config = merged()
    config["database"]["password"] = "s3cr3t-value"
    config["database"]["port"] = "bad"
    config["vip"]["address"] = "bad"
    errors = pillar_module.find_errors(config)
    assert errors
    assert not any("s3cr3t-value" in error for error in errors)
