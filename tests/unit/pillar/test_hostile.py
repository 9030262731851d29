"""Hostile pillars, through the entry point map.jinja calls (``onenebula_pillar.settings``:
measure, merge over the defaults, validate).

Each refused case names the key path it expects in the message and a fragment of the
message; each accepted case sits on an edge of a grammar or a bound and must pass. Every
value that reaches sudoers, a shell script, a command line, a Salt target, oned.conf or
fstab has a strict grammar matched against the whole string; messages never carry a
secret.
"""

import copy

import pytest

SECRET = "s3cr3t-Pa55"
HOSTILE_SUDOERS = "eth0\noneadmin ALL=(ALL) NOPASSWD: ALL\n#"


def put(path, value):
    """Set ``path`` of the raw pillar to ``value`` (created when missing)."""

    def mutate(pillar):
        parent = pillar
        for key in path[:-1]:
            parent = parent.setdefault(key, {}) if isinstance(parent, dict) else parent[key]
        parent[path[-1]] = copy.deepcopy(value)
        return pillar

    return mutate


def both(*mutations):
    def mutate(pillar):
        for mutation in mutations:
            pillar = mutation(pillar)
        return pillar

    return mutate


def replace(value):
    return lambda pillar: copy.deepcopy(value)


def servers(count):
    def mutate(pillar):
        base = pillar["servers"]
        pillar["servers"] = (
            [
                {
                    "minion": f"vmm{i:03d}",
                    "id": i,
                    "name": f"vmm{i:03d}",
                    "address": f"10.213.1.{i}",
                }
                for i in range(count)
            ]
            if count > len(base)
            else base[:count]
        )
        return pillar

    return mutate


def alias_bomb(levels=6, width=10):
    """What YAML anchors/aliases build: each level references the previous one
    ``width`` times, so the expanded tree has width**levels leaves in a few objects."""
    node = ["lol"] * width
    for _ in range(levels - 1):
        node = [node] * width
    return node


def recursive_list():
    node = []
    node.append(node)
    return node


def nested(depth):
    node = "leaf"
    for _ in range(depth):
        node = {"k": node}
    return node


def repo_of(size):
    return {"name": [f"deb http://repo.example.org/{i} stable main" for i in range(size)]}


def secret_files(count):
    return {f"file{i}": "x" for i in range(count)}


def set_server_key(index, key, value):
    def mutate(pillar):
        pillar["servers"][index][key] = value
        pillar["servers"][index].pop("address", None) if key == "endpoint" else None
        return pillar

    return mutate


# (id, mutation of the raw pillar.example, key path, fragment of the message)
REFUSED = [
    # --- endpoints: grammar, bounds, duplicates after normalisation, no user-info
    (
        "endpoint-dup-trailing-slash",
        set_server_key(2, "endpoint", "http://10.213.0.20:2633/RPC2/"),
        "onenebula_ha:servers:2:endpoint",
        "duplicate endpoint (the same scheme, host, port and path) (also servers:1)",
    ),
    (
        "endpoint-dup-zero-padded-port",
        set_server_key(2, "endpoint", "http://10.213.0.20:02633/RPC2"),
        "onenebula_ha:servers:2:endpoint",
        "duplicate endpoint (the same scheme, host, port and path) (also servers:1)",
    ),
    (
        "endpoint-zero-padded-port-grammar",
        set_server_key(2, "endpoint", "http://10.213.0.30:02633/RPC2"),
        "onenebula_ha:servers:2:endpoint",
        "port 1-65535 without leading zeros, path exactly /RPC2",
    ),
    (
        "endpoint-dup-host-case",
        both(
            set_server_key(1, "endpoint", "http://vmm02.example.org:2633/RPC2"),
            set_server_key(2, "endpoint", "http://VMM02.Example.ORG:2633/RPC2"),
        ),
        "onenebula_ha:servers:2:endpoint",
        "duplicate endpoint 'http://VMM02.Example.ORG:2633/RPC2' (also servers:1)",
    ),
    (
        "endpoint-dup-default-port",
        both(
            set_server_key(1, "endpoint", "http://vmm02.example.org/RPC2"),
            set_server_key(2, "endpoint", "http://vmm02.example.org:80/RPC2"),
        ),
        "onenebula_ha:servers:2:endpoint",
        "duplicate endpoint",
    ),
    (
        "endpoint-port-99999",
        set_server_key(3, "endpoint", "http://10.213.0.40:99999/RPC2"),
        "onenebula_ha:servers:3:endpoint",
        "port 99999 is above 65535",
    ),
    (
        "endpoint-port-0",
        set_server_key(3, "endpoint", "http://10.213.0.40:0/RPC2"),
        "onenebula_ha:servers:3:endpoint",
        "is not an http(s):// XML-RPC endpoint",
    ),
    (
        "endpoint-user-info",
        set_server_key(3, "endpoint", f"http://oneadmin:{SECRET}@10.213.0.40:2633/RPC2"),
        "onenebula_ha:servers:3:endpoint",
        "must not carry user-info",
    ),
    (
        "endpoint-command-substitution",
        set_server_key(3, "endpoint", "http://10.213.0.40:2633/RPC2$(id)"),
        "onenebula_ha:servers:3:endpoint",
        "'http://10.213.0.40:2633/RPC2$(id)' is not an http(s):// XML-RPC endpoint",
    ),
    (
        "endpoint-trailing-newline",
        set_server_key(3, "endpoint", "http://10.213.0.40:2633/RPC2\n"),
        "onenebula_ha:servers:3:endpoint",
        "'http://10.213.0.40:2633/RPC2\\n' is not an http(s)://",
    ),
    (
        "endpoint-other-path",
        set_server_key(3, "endpoint", "http://10.213.0.40:2633/RPC3"),
        "onenebula_ha:servers:3:endpoint",
        "path exactly /RPC2",
    ),
    (
        "endpoint-query",
        set_server_key(3, "endpoint", "http://10.213.0.40:2633/RPC2?x=1"),
        "onenebula_ha:servers:3:endpoint",
        "is not an http(s):// XML-RPC endpoint",
    ),
    (
        "endpoint-bad-host",
        set_server_key(3, "endpoint", "http://-bad-:2633/RPC2"),
        "onenebula_ha:servers:3:endpoint",
        "'-bad-' is not a host name or IP address",
    ),
    (
        "endpoint-bad-ipv4",
        set_server_key(3, "endpoint", "http://10.213.0.400:2633/RPC2"),
        "onenebula_ha:servers:3:endpoint",
        "'10.213.0.400' is not a host name or IP address",
    ),
    (
        "endpoint-not-a-string",
        set_server_key(3, "endpoint", 2633),
        "onenebula_ha:servers:3:endpoint",
        "'2633' is not an http(s):// XML-RPC endpoint",
    ),
    # --- server ids, minion ids, names, addresses
    (
        "server-id-2-63",
        put(["servers", 4, "id"], 2**63),
        "onenebula_ha:servers:4:id",
        "is above 65535",
    ),
    (
        "server-id-bool",
        put(["servers", 0, "id"], True),
        "onenebula_ha:servers:0:id",
        "required, an integer SERVER_ID (not true)",
    ),
    (
        "server-id-float",
        put(["servers", 0, "id"], 0.0),
        "onenebula_ha:servers:0:id",
        "required, an integer SERVER_ID (not '0.0')",
    ),
    (
        "minion-glob",
        put(["servers", 0, "minion"], "vmm0*"),
        "onenebula_ha:servers:0:minion",
        "'vmm0*' is not a minion id (letters, digits, _ . -; no glob or list characters)",
    ),
    (
        "minion-list-separator",
        put(["servers", 0, "minion"], "vmm01,vmm02"),
        "onenebula_ha:servers:0:minion",
        "is not a minion id",
    ),
    (
        "minion-compound",
        put(["servers", 0, "minion"], "G@os:Debian"),
        "onenebula_ha:servers:0:minion",
        "is not a minion id",
    ),
    (
        "minion-trailing-newline",
        put(["servers", 0, "minion"], "vmm01\n"),
        "onenebula_ha:servers:0:minion",
        "'vmm01\\n' is not a minion id",
    ),
    (
        "minion-list",
        put(["servers", 0, "minion"], ["vmm01"]),
        "onenebula_ha:servers:0:minion",
        "a list must be a minion id",
    ),
    (
        "name-hash-comment",
        put(["servers", 1, "name"], "vmm02 #x"),
        "onenebula_ha:servers:1:name",
        "'vmm02 #x' is not a server name",
    ),
    (
        "name-colon-space",
        put(["servers", 1, "name"], "vmm02: x"),
        "onenebula_ha:servers:1:name",
        "is not a server name",
    ),
    (
        "name-option",
        put(["servers", 1, "name"], "--help"),
        "onenebula_ha:servers:1:name",
        "'--help' is not a server name (letters, digits, _ . -, not starting with - or .)",
    ),
    (
        "name-control-char",
        put(["servers", 1, "name"], "vmm\x0102"),
        "onenebula_ha:servers:1:name",
        "'vmm\\x0102' is not a server name",
    ),
    (
        "name-duplicate-case",
        put(["servers", 2, "name"], "VMM02"),
        "onenebula_ha:servers:2:name",
        "duplicate name 'VMM02' (also servers:1)",
    ),
    (
        "address-injection",
        put(["servers", 0, "address"], "10.213.0.10; reboot"),
        "onenebula_ha:servers:0:address",
        "'10.213.0.10; reboot' is not an IP address or host name",
    ),
    (
        "servers-mapping",
        put(["servers"], {"vmm01": {"id": 0}}),
        "onenebula_ha:servers",
        "must be a list",
    ),
    ("servers-too-many", servers(17), "onenebula_ha:servers", "17 servers listed; at most 15"),
    (
        "server-a-string",
        put(["servers", 1], "vmm02"),
        "onenebula_ha:servers:1",
        "must be a mapping, not 'vmm02'",
    ),
    # --- VIP
    (
        "vip-interface-sudoers-injection",
        put(["vip", "interface"], HOSTILE_SUDOERS),
        "onenebula_ha:vip:interface",
        "is not an interface name (up to 15 letters, digits, _ . -)",
    ),
    (
        "vip-interface-16-chars",
        put(["vip", "interface"], "e" * 16),
        "onenebula_ha:vip:interface",
        "is not an interface name",
    ),
    (
        "vip-interface-space",
        put(["vip", "interface"], "eth0 "),
        "onenebula_ha:vip:interface",
        "'eth0 ' is not an interface name",
    ),
    (
        "vip-interface-slash",
        put(["vip", "interface"], "../x"),
        "onenebula_ha:vip:interface",
        "is not an interface name",
    ),
    (
        "vip-prefix-leading-zero",
        put(["vip", "address"], "10.213.0.100/024"),
        "onenebula_ha:vip:address",
        "'10.213.0.100/024' is not a valid address/prefix",
    ),
    (
        "vip-trailing-newline",
        put(["vip", "address"], "10.213.0.100/24\n"),
        "onenebula_ha:vip:address",
        "is not a valid address/prefix",
    ),
    (
        "vip-netmask-form",
        put(["vip", "address"], "10.213.0.100/255.255.255.0"),
        "onenebula_ha:vip:address",
        "is not a valid address/prefix",
    ),
    (
        "vip-ipv6-not-canonical",
        both(put(["vip", "address"], "FD00:0::100/64"), put(["vip", "network"], None)),
        "onenebula_ha:vip:address",
        "is not in canonical form; write fd00::100/64",
    ),
    (
        "vip-enabled-string",
        put(["vip", "enabled"], "yes"),
        "onenebula_ha:vip:enabled",
        "'yes' must be true or false",
    ),
    (
        "vip-network-comment",
        put(["vip", "network"], "10.213.0.0/24 #"),
        "onenebula_ha:vip:network",
        "is not a valid network",
    ),
    (
        "vip-a-list",
        put(["vip"], ["10.213.0.100/24"]),
        "onenebula_ha:vip",
        "must be a mapping, not a list",
    ),
    # --- database
    (
        "db-host-wildcard",
        put(["database", "host"], "%"),
        "onenebula_ha:database:host",
        "'%' is not a host name or IP address (no wildcards such as %)",
    ),
    (
        "db-host-space",
        put(["database", "host"], "db host"),
        "onenebula_ha:database:host",
        "is not a host name or IP address",
    ),
    (
        "db-password-trailing-backslash",
        put(["database", "password"], SECRET + "\\"),
        "onenebula_ha:database:password",
        'must not contain " or \\ (it is written as a quoted oned.conf value)',
    ),
    (
        "db-password-quote",
        put(["database", "password"], 'a"b' + SECRET),
        "onenebula_ha:database:password",
        'must not contain " or \\',
    ),
    (
        "db-password-newline",
        put(["database", "password"], SECRET + "\nPORT = 1"),
        "onenebula_ha:database:password",
        "must not contain control characters",
    ),
    (
        "db-password-number",
        put(["database", "password"], 12345),
        "onenebula_ha:database:password",
        "must be a string (quote it in YAML)",
    ),
    (
        "db-password-too-long",
        put(["database", "password"], SECRET * 30),
        "onenebula_ha:database:password",
        "is longer than 256 characters",
    ),
    (
        "db-user-dollar",
        put(["database", "user"], "oneadmin$"),
        "onenebula_ha:database:user",
        "'oneadmin$' is not a database identifier",
    ),
    (
        "db-name-injection",
        put(["database", "name"], "opennebula; DROP DATABASE x"),
        "onenebula_ha:database:name",
        "is not a database identifier",
    ),
    (
        "db-port-string",
        put(["database", "port"], "3306"),
        "onenebula_ha:database:port",
        "'3306' must be a TCP port from 1 to 65535",
    ),
    (
        "db-port-bool",
        put(["database", "port"], True),
        "onenebula_ha:database:port",
        "true must be a TCP port",
    ),
    (
        "db-manage-server-string",
        put(["database", "manage_server"], "no"),
        "onenebula_ha:database:manage_server",
        "'no' must be true or false",
    ),
    # --- Raft
    (
        "raft-election-unbounded",
        put(["raft", "election_timeout_ms"], 10**12),
        "onenebula_ha:raft:election_timeout_ms",
        "1000000000000 ms is above the limit of 120000 ms",
    ),
    (
        "raft-xmlrpc-unbounded",
        put(["raft", "xmlrpc_timeout_ms"], 2**63),
        "onenebula_ha:raft:xmlrpc_timeout_ms",
        "is above the limit of 120000 ms",
    ),
    (
        "raft-purge-timeout-unbounded",
        put(["raft", "log_purge_timeout"], 10**6),
        "onenebula_ha:raft:log_purge_timeout",
        "1000000 is above the limit of 86400",
    ),
    (
        "raft-limit-purge-float",
        put(["raft", "limit_purge"], 1e5),
        "onenebula_ha:raft:limit_purge",
        "'100000.0' must be a positive integer",
    ),
    ("raft-a-list", put(["raft"], [1, 2]), "onenebula_ha:raft", "must be a mapping, not a list"),
    # --- zone, oned, flags
    (
        "zone-id-huge",
        put(["zone", "id"], 2**40),
        "onenebula_ha:zone:id",
        "is out of range: an integer zone id from 0 to 65535",
    ),
    (
        "zone-name-space",
        put(["zone", "name"], "Open Nebula"),
        "onenebula_ha:zone:name",
        "'Open Nebula' is not a zone name",
    ),
    (
        "oned-listen-injection",
        put(["oned", "listen_address"], "0.0.0.0; id"),
        "onenebula_ha:oned:listen_address",
        "is not an IP address",
    ),
    ("oned-port-zero", put(["oned", "port"], 0), "onenebula_ha:oned:port", "'0' is out of range"),
    (
        "single-node-string",
        put(["single_node"], "yes"),
        "onenebula_ha:single_node",
        "'yes' must be true or false",
    ),
    # --- secrets
    (
        "secret-file-traversal",
        put(["secrets", "files"], {"../one_auth": SECRET}),
        "onenebula_ha:secrets:files:'../one_auth'",
        "not a plain file name",
    ),
    (
        "secret-file-dotdot",
        put(["secrets", "files"], {"..": SECRET}),
        "onenebula_ha:secrets:files:'..'",
        "not a plain file name",
    ),
    (
        "secret-file-not-text",
        put(["secrets", "files"], {"one_key": {"value": SECRET}}),
        "onenebula_ha:secrets:files:one_key",
        "must be the file's text (a string)",
    ),
    (
        "secret-one-auth-two-lines",
        both(
            put(["secrets", "source"], "pillar"),
            put(["secrets", "files"], {"one_auth": f"oneadmin:{SECRET}\nroot:x"}),
        ),
        "onenebula_ha:secrets:files:one_auth",
        "required with source pillar, as one line 'oneadmin:<password>'",
    ),
    (
        "secret-files-too-many",
        put(["secrets", "files"], secret_files(65)),
        "onenebula_ha:secrets:files",
        "lists 65 files; at most 64",
    ),
    # --- hooks
    (
        "vip-script-traversal",
        put(["hooks", "vip_script"], "raft/../../../../tmp/x"),
        "onenebula_ha:hooks:vip_script",
        "must not contain '.' or '..' segments",
    ),
    (
        "vip-script-command-substitution",
        put(["hooks", "vip_script"], "raft/vip.sh$(id)"),
        "onenebula_ha:hooks:vip_script",
        "may only contain letters, digits and _ . @ + - between its slashes",
    ),
    (
        "vip-script-absolute",
        put(["hooks", "vip_script"], "/tmp/vip.sh"),
        "onenebula_ha:hooks:vip_script",
        "'/tmp/vip.sh' must be relative",
    ),
    (
        "hook-command-injection",
        put(["hooks", "command"], "raft/failover.sh; id"),
        "onenebula_ha:hooks:command",
        "may only contain letters, digits",
    ),
    (
        "hook-command-absolute-traversal",
        put(["hooks", "command"], "/var/lib/one/../../tmp/x"),
        "onenebula_ha:hooks:command",
        "must not contain '.' or '..' segments",
    ),
    (
        "failover-script-name-injection",
        put(["hooks", "failover_scripts"], {"10-x;rm": "#!/bin/sh\n"}),
        "onenebula_ha:hooks:failover_scripts:'10-x;rm'",
        "name must look like NN-name",
    ),
    (
        "failover-script-name-traversal",
        put(["hooks", "failover_scripts"], {"10-../../x": "#!/bin/sh\n"}),
        "onenebula_ha:hooks:failover_scripts:'10-../../x'",
        "name must look like NN-name",
    ),
    (
        "failover-script-not-text",
        put(["hooks", "failover_scripts"], {"10-notify": ["logger", "x"]}),
        "onenebula_ha:hooks:failover_scripts:10-notify",
        "must be the script's text (a string)",
    ),
    (
        "failover-scripts-a-list",
        put(["hooks", "failover_scripts"], ["10-notify"]),
        "onenebula_ha:hooks:failover_scripts",
        "must be a mapping, not a list",
    ),
    # --- shared file systems
    (
        "mount-traversal",
        put(
            ["sharedfs", "mounts"],
            [{"name": "/var/lib/one/../../etc", "device": "nfs:/x", "fstype": "nfs"}],
        ),
        "onenebula_ha:sharedfs:mounts:0:name",
        "must not contain '.' or '..' segments",
    ),
    (
        "mount-trailing-slash",
        put(["sharedfs", "mounts"], [{"name": "/srv/one/", "device": "nfs:/x", "fstype": "nfs"}]),
        "onenebula_ha:sharedfs:mounts:0:name",
        "is not normalised",
    ),
    (
        "mount-device-space",
        put(["sharedfs", "mounts"], [{"name": "/srv/one", "device": "nfs:/x y", "fstype": "nfs"}]),
        "onenebula_ha:sharedfs:mounts:0:device",
        "'nfs:/x y' is not a device",
    ),
    (
        "mount-fstype-newline",
        put(["sharedfs", "mounts"], [{"name": "/srv/one", "device": "nfs:/x", "fstype": "nfs\nx"}]),
        "onenebula_ha:sharedfs:mounts:0:fstype",
        "is not a file system type",
    ),
    (
        "mount-opts-string",
        put(
            ["sharedfs", "mounts"],
            [{"name": "/srv/one", "device": "nfs:/x", "fstype": "nfs", "opts": "rw,hard"}],
        ),
        "onenebula_ha:sharedfs:mounts:0:opts",
        "must be a list of mount options, not a single string",
    ),
    (
        "mount-opt-space",
        put(
            ["sharedfs", "mounts"],
            [{"name": "/srv/one", "device": "nfs:/x", "fstype": "nfs", "opts": ["rw hard"]}],
        ),
        "onenebula_ha:sharedfs:mounts:0:opts:0",
        "'rw hard' is not a mount option",
    ),
    (
        "mount-duplicate",
        put(
            ["sharedfs", "mounts"],
            [
                {"name": "/srv/one", "device": "nfs:/x", "fstype": "nfs"},
                {"name": "/srv/one", "device": "nfs:/y", "fstype": "nfs"},
            ],
        ),
        "onenebula_ha:sharedfs:mounts:1:name",
        "duplicate mount point (also sharedfs:mounts:0)",
    ),
    (
        "mount-mkmnt-string",
        put(
            ["sharedfs", "mounts"],
            [{"name": "/srv/one", "device": "nfs:/x", "fstype": "nfs", "mkmnt": "yes"}],
        ),
        "onenebula_ha:sharedfs:mounts:0:mkmnt",
        "'yes' must be true or false",
    ),
    (
        "mounts-a-mapping",
        put(["sharedfs", "mounts"], {"name": "/srv/one"}),
        "onenebula_ha:sharedfs:mounts",
        "must be a list, not a mapping",
    ),
    # --- services
    (
        "web-ui-services-string",
        put(["web_ui", "services"], "opennebula-fireedge"),
        "onenebula_ha:web_ui:services",
        "must be a list of service names, not a single string (write ['opennebula-fireedge'])",
    ),
    (
        "web-ui-service-injection",
        put(["web_ui", "services"], ["fireedge; id"]),
        "onenebula_ha:web_ui:services:0",
        "'fireedge; id' is not a service name",
    ),
    (
        "leader-service-substitution",
        put(["leader_services"], ["$(id)"]),
        "onenebula_ha:leader_services:0",
        "'$(id)' is not a service name",
    ),
    (
        "leader-service-option",
        put(["leader_services"], ["--help"]),
        "onenebula_ha:leader_services:0",
        "'--help' is not a service name",
    ),
    (
        "leader-service-sudoers-injection",
        put(["leader_services"], ["opennebula-flow\noneadmin ALL=(ALL) NOPASSWD: ALL"]),
        "onenebula_ha:leader_services:0",
        "is not a service name",
    ),
    (
        "leader-service-sudoers-special",
        put(["leader_services"], ["flow:x,y=z"]),
        "onenebula_ha:leader_services:0",
        "is not a service name",
    ),
    (
        "leader-service-duplicate",
        put(["leader_services"], ["opennebula-flow", "opennebula-flow"]),
        "onenebula_ha:leader_services:1",
        "duplicate service name 'opennebula-flow'",
    ),
    (
        "leader-services-mapping",
        put(["leader_services"], {"opennebula-flow": True}),
        "onenebula_ha:leader_services",
        "must be a list of service names, not a mapping",
    ),
    # --- users
    (
        "ssh-user-injection",
        put(["ssh", "user"], "oneadmin; id"),
        "onenebula_ha:ssh:user",
        "'oneadmin; id' is not a user name",
    ),
    (
        "ssh-user-newline",
        put(["ssh", "user"], "oneadmin\n"),
        "onenebula_ha:ssh:user",
        "is not a user name",
    ),
    (
        "ssh-user-substitution",
        put(["ssh", "user"], "$(id)"),
        "onenebula_ha:ssh:user",
        "is not a user name",
    ),
    (
        "ssh-manage-string",
        put(["ssh", "manage"], "true"),
        "onenebula_ha:ssh:manage",
        "'true' must be true or false",
    ),
    # --- lookup and platform values
    (
        "lookup-user-space",
        put(["lookup", "user"], "one admin"),
        "onenebula_ha:lookup:user",
        "'one admin' is not a user name",
    ),
    (
        "lookup-path-relative",
        put(["lookup", "paths"], {"oned_conf": "etc/one/oned.conf"}),
        "onenebula_ha:lookup:paths:oned_conf",
        "'etc/one/oned.conf' must be an absolute path below /",
    ),
    (
        "lookup-paths-list",
        put(["lookup", "paths"], ["/etc/one/oned.conf"]),
        "onenebula_ha:lookup:paths",
        "must be a mapping, not a list",
    ),
    (
        "lookup-a-list",
        put(["lookup"], ["paths"]),
        "onenebula_ha:lookup",
        "must be a mapping, not a list",
    ),
    (
        "lookup-unknown-key",
        put(["lookup", "pathz"], {}),
        "onenebula_ha:lookup:pathz",
        "unknown key (did you mean 'paths'?)",
    ),
    (
        "paths-traversal",
        put(["paths"], {"hooks_dir": "/var/lib/one/remotes/../../../tmp"}),
        "onenebula_ha:paths:hooks_dir",
        "must not contain '.' or '..' segments",
    ),
    (
        "paths-unknown-key",
        put(["paths"], {"oned_cnf": "/etc/one/oned.conf"}),
        "onenebula_ha:paths:oned_cnf",
        "unknown path key",
    ),
    (
        "service-name-injection",
        put(["services"], {"oned": "opennebula; id"}),
        "onenebula_ha:services:oned",
        "'opennebula; id' is not a service name",
    ),
    (
        "pkgs-string",
        put(["pkgs"], {"opennebula": "opennebula"}),
        "onenebula_ha:pkgs:opennebula",
        "must be a list of package names, not a single string",
    ),
    (
        "pkg-injection",
        put(["pkgs"], {"opennebula": ["opennebula && id"]}),
        "onenebula_ha:pkgs:opennebula:0",
        "'opennebula && id' is not a package name",
    ),
    # --- deploy, beacon, reactor
    (
        "backup-dir-relative",
        put(["deploy", "backup_dir"], "backups"),
        "onenebula_ha:deploy:backup_dir",
        "'backups' must be an absolute path below /",
    ),
    (
        "backup-dir-traversal",
        put(["deploy", "backup_dir"], "/var/lib/one/../../tmp"),
        "onenebula_ha:deploy:backup_dir",
        "must not contain '.' or '..' segments",
    ),
    (
        "backup-dir-root",
        put(["deploy", "backup_dir"], "/"),
        "onenebula_ha:deploy:backup_dir",
        "'/' must be an absolute path below /",
    ),
    (
        "wait-timeout-unbounded",
        put(["deploy", "wait_timeout"], 10**9),
        "onenebula_ha:deploy:wait_timeout",
        "must be a whole number of seconds from 1 to 86400",
    ),
    (
        "beacon-interval-unbounded",
        put(["beacon", "interval"], 10**9),
        "onenebula_ha:beacon:interval",
        "must be a whole number of seconds from 1 to 3600",
    ),
    (
        "reactor-enabled-string",
        put(["reactor", "enabled"], "yes"),
        "onenebula_ha:reactor:enabled",
        "'yes' must be true or false",
    ),
    (
        "repair-lock-ttl-unbounded",
        put(["reactor", "repair_lock_ttl"], 10**12),
        "onenebula_ha:reactor:repair_lock_ttl",
        "must be a whole number of seconds from 0 to 86400",
    ),
    # --- packages:repo (free-form) and the size of the whole pillar
    (
        "repo-alias-bomb",
        put(["packages", "repo"], {"name": alias_bomb()}),
        "onenebula_ha",
        "too large (more than 5000 values); refused before it is merged or rendered",
    ),
    (
        "repo-too-large",
        put(["packages", "repo"], repo_of(300)),
        "onenebula_ha:packages:repo",
        "too large: more than 256 values (pkgrepo.managed arguments)",
    ),
    (
        "repo-key-newline",
        put(["packages", "repo"], {"name\nx": "deb http://x stable main"}),
        "onenebula_ha:packages:repo:'name\\nx'",
        "not a pkgrepo.managed argument name",
    ),
    (
        "repo-nested-value",
        put(["packages", "repo"], {"name": {"deb": "x"}}),
        "onenebula_ha:packages:repo:name",
        "must be a string, number, boolean or a list of them",
    ),
    (
        "repo-a-list",
        put(["packages", "repo"], ["deb x"]),
        "onenebula_ha:packages:repo",
        "must be a mapping, not a list",
    ),
    (
        "packages-manage-string",
        put(["packages", "manage"], "false"),
        "onenebula_ha:packages:manage",
        "'false' must be true or false",
    ),
    (
        "self-referencing-list",
        put(["sharedfs", "mounts"], recursive_list()),
        "onenebula_ha",
        "too large (nested deeper than 16 levels)",
    ),
    (
        "deep-nesting",
        put(["packages", "repo"], nested(40)),
        "onenebula_ha",
        "nested deeper than 16 levels",
    ),
    ("pillar-too-many-values", servers(6000), "onenebula_ha", "too large (more than 5000 values)"),
    # --- the pillar itself
    ("pillar-null", replace(None), "onenebula_ha", "must be a mapping, not null"),
    ("pillar-list", replace(["servers"]), "onenebula_ha", "must be a mapping, not a list"),
    ("pillar-string", replace("servers"), "onenebula_ha", "must be a mapping, not 'servers'"),
    (
        "unknown-key-newline",
        put(["vip\nx"], 1),
        "onenebula_ha:'vip\\nx'",
        "unknown key",
    ),
]

# Grammar and bound edges that must be accepted: (id, mutation)
ACCEPTED = [
    (
        "endpoint-https-hostname-port",
        set_server_key(4, "endpoint", "https://vmm05.example.org:443/RPC2"),
    ),
    ("endpoint-ipv6", set_server_key(4, "endpoint", "http://[fd00::50]:2633/RPC2")),
    ("endpoint-no-port", set_server_key(4, "endpoint", "http://vmm05.example.org/RPC2")),
    ("endpoint-port-65535", set_server_key(4, "endpoint", "http://10.213.0.50:65535/RPC2")),
    ("minion-id-fqdn", put(["servers", 4, "minion"], "vmm-05.example_org")),
    ("server-name-dots", put(["servers", 4, "name"], "vmm05.a_b-c")),
    ("server-id-bound", put(["servers", 4, "id"], 65535)),
    ("interface-vlan", put(["vip", "interface"], "enp0s31f6.100")),
    ("interface-15-chars", put(["vip", "interface"], "e" * 15)),
    ("leader-service-template-unit", put(["leader_services"], ["opennebula-flow", "onegate@1"])),
    ("leader-services-empty", put(["leader_services"], [])),
    ("db-host-fqdn", put(["database", "host"], "db.example.org")),
    ("db-host-ipv6", put(["database", "host"], "::1")),
    ("db-password-shell-characters", put(["database", "password"], "pa$s w'o`r#d;|&<>(){}*?")),
    (
        "raft-bounds",
        put(
            ["raft"],
            {
                "election_timeout_ms": 120000,
                "broadcast_timeout_ms": 11,
                "xmlrpc_timeout_ms": 11,
                "limit_purge": 1,
                "log_retention": 100_000_000,
                "log_purge_timeout": 86400,
            },
        ),
    ),
    (
        "lookup-paths-absolute",
        put(["lookup", "paths"], {"oned_conf": "/opt/one/etc/oned.conf", "salt_conf_dir": None}),
    ),
    (
        "lookup-salt-master-null",
        put(["lookup", "services"], {"salt_master": None, "database": "mysql"}),
    ),
    ("ipv6-address-endpoint", put(["servers", 4, "address"], "fd00::50")),
    (
        "failover-script",
        put(["hooks", "failover_scripts"], {"99-notify.sh": "#!/bin/sh\nlogger x\n"}),
    ),
    ("hook-command-absolute", put(["hooks", "command"], "/usr/local/lib/one/failover.sh")),
    (
        "mount-nfs-ipv6",
        put(
            ["sharedfs", "mounts"],
            [
                {
                    "name": "/var/lib/one/datastores",
                    "device": "[fd00::1]:/export/one",
                    "fstype": "nfs4",
                    "opts": ["rw", "hard", "vers=4.2"],
                }
            ],
        ),
    ),
    (
        "repo-pkgrepo-arguments",
        put(
            ["packages", "repo"],
            {
                "name": "deb https://downloads.opennebula.io/repo/6.10/Ubuntu/24.04 stable opennebula",
                "file": "/etc/apt/sources.list.d/opennebula.list",
                "key_url": "https://downloads.opennebula.io/repo/repo2.key",
                "gpgcheck": 1,
            },
        ),
    ),
    ("vip-disabled", put(["vip"], {"enabled": False})),
    (
        "secrets-from-pillar",
        both(
            put(["secrets", "source"], "pillar"),
            put(["secrets", "files"], {"one_auth": f"oneadmin:{SECRET}\n", "one_key": SECRET}),
        ),
    ),
    ("zone-id-bound", put(["zone", "id"], 65535)),
]


@pytest.fixture
def raw_example(example_pillar):
    return lambda: copy.deepcopy(example_pillar)


@pytest.fixture
def settings_of(pillar_module, formula_defaults):
    """map.jinja's path: measure, merge over the defaults, validate."""
    return lambda pillar: pillar_module.settings(formula_defaults, {}, pillar)


@pytest.mark.parametrize(
    ("mutate", "key", "fragment"), [pytest.param(m, k, f, id=i) for i, m, k, f in REFUSED]
)
def test_hostile_pillar_is_refused_naming_its_key(
    pillar_module, settings_of, raw_example, mutate, key, fragment
):
    with pytest.raises(pillar_module.CommandExecutionError) as excinfo:
        settings_of(mutate(raw_example()))
    message = str(excinfo.value)
    assert f"\n  - {key}: " in message and fragment in message, message
    lines = message.splitlines()
    assert lines[0] == "Invalid onenebula_ha pillar:"
    # Every reported line names a key; none carries a raw newline, a secret or user-info.
    assert all(line.startswith("  - onenebula_ha") for line in lines[1:]), message
    assert SECRET not in message


@pytest.mark.parametrize("mutate", [pytest.param(m, id=i) for i, m in ACCEPTED])
def test_grammar_edges_are_accepted(settings_of, raw_example, mutate):
    result = settings_of(mutate(raw_example()))
    assert isinstance(result, dict)
    assert all(server["endpoint"].endswith("/RPC2") for server in result["servers"])


def test_the_case_tables_are_distinct_and_large_enough():
    ids = [case[0] for case in REFUSED] + [case[0] for case in ACCEPTED]
    assert len(ids) == len(set(ids))
    assert len(REFUSED) >= 60


def test_ipv6_address_gets_a_bracketed_endpoint(settings_of, raw_example):
    result = settings_of(put(["servers", 4, "address"], "fd00::50")(raw_example()))
    assert result["servers"][4]["endpoint"] == "http://[fd00::50]:2633/RPC2"


def test_the_sudoers_injection_of_the_issue_is_refused(pillar_module, settings_of, raw_example):
    """The interface value that gave oneadmin full root through sudoers stops the render."""
    with pytest.raises(pillar_module.CommandExecutionError) as excinfo:
        settings_of(put(["vip", "interface"], HOSTILE_SUDOERS)(raw_example()))
    message = str(excinfo.value)
    assert "onenebula_ha:vip:interface: 'eth0\\noneadmin ALL=(ALL) NOPASSWD: ALL\\n#'" in message
    assert "NOPASSWD: ALL\n" not in message


def test_alias_bomb_is_refused_without_expanding_it(pillar_module, settings_of, raw_example):
    """A billion-laughs structure (10**8 leaves, a few hundred objects) is refused after a
    bounded walk: the check costs what a pillar of MAX_NODES values costs."""
    import time

    pillar = put(["packages", "repo"], {"name": alias_bomb(levels=8)})(raw_example())
    started = time.perf_counter()
    with pytest.raises(pillar_module.CommandExecutionError, match="too large"):
        settings_of(pillar)
    assert time.perf_counter() - started < 1.0


def test_lookup_values_are_merged_below_the_pillar(settings_of, raw_example):
    pillar = put(["lookup", "paths"], {"oned_conf": "/opt/one/etc/oned.conf"})(raw_example())
    pillar["paths"] = {"oned_conf": "/srv/one/oned.conf"}
    result = settings_of(pillar)
    assert result["paths"]["oned_conf"] == "/srv/one/oned.conf"
    assert result["paths"]["hooks_dir"] == "/var/lib/one/remotes/hooks"


def test_a_minion_without_the_pillar_gets_the_missing_keys_named(pillar_module, settings_of):
    with pytest.raises(pillar_module.CommandExecutionError) as excinfo:
        settings_of({})
    message = str(excinfo.value)
    assert "onenebula_ha:servers: at least one server is required" in message
    assert "onenebula_ha:database:password: required for the mysql backend" in message
