"""The lab network: a bridge on the machine, one network namespace per host, partitions.

Each host has a network namespace ``oneha-<host>`` whose ``eth0`` is one end of a veth pair;
the other end (``onehv-<host>``) is a port of the bridge ``oneha0``, which carries
``10.213.0.1/24`` so the test process can exchange traffic with the hosts (Salt's test engine
and log forwarding). Partitions are nftables rules inside the partitioned host's namespace,
dropping both directions, so nothing on the machine's own firewall is touched.
"""

from __future__ import annotations

from collections.abc import Iterable

from onelab import proc, topology
from onelab.topology import BRIDGE, BRIDGE_IP, PREFIX_LEN, VIP, HostSpec

# nftables tables the lab puts in a host namespace; ``heal`` deletes exactly these.
PARTITION_TABLE = "onelab_partition"
ISOLATE_TABLE = "onelab_isolate"
PARTITION_SCOPES = ("peers", "master", "all")


def _ip(*args: str, netns: str | None = None, check: bool = True):
    argv = ["ip"] + (["-n", netns] if netns else []) + list(args)
    return proc.run(argv, check=check, timeout=15)


def bridge_exists() -> bool:
    return _ip("link", "show", BRIDGE, check=False).returncode == 0


def create_bridge() -> None:
    """Create ``oneha0`` with the test-only address and bring it up."""
    _ip("link", "add", BRIDGE, "type", "bridge")
    _ip("addr", "add", f"{BRIDGE_IP}/{PREFIX_LEN}", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")


def delete_bridge() -> None:
    if bridge_exists():
        _ip("link", "del", BRIDGE)


def lab_namespaces() -> list[str]:
    """Every network namespace on the machine whose name carries the lab prefix."""
    done = proc.run(["ip", "netns", "list"], timeout=10)
    names = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    return [name for name in names if name.startswith(topology.NETNS_PREFIX)]


def create_host_network(spec: HostSpec) -> None:
    """Create the namespace of ``spec`` with ``eth0`` on the bridge and its fixed address."""
    _ip("netns", "add", spec.netns)
    _ip("link", "add", spec.veth, "type", "veth", "peer", "name", "eth0", "netns", spec.netns)
    _ip("link", "set", spec.veth, "master", BRIDGE, "up")
    _ip("addr", "add", spec.cidr, "dev", "eth0", netns=spec.netns)
    _ip("link", "set", "eth0", "up", netns=spec.netns)
    _ip("link", "set", "lo", "up", netns=spec.netns)


def delete_namespace(netns: str) -> None:
    """Delete a namespace whose processes are gone (its veth and nftables go with it).

    Connections its processes left behind (e.g. FINs a partition drops) would keep the
    namespace, and so its veth, alive for minutes: they are destroyed first.
    """
    proc.run(["ip", "netns", "exec", netns, "ss", "-K", "-t", "-a"], check=False, timeout=15)
    _ip("netns", "del", netns, check=False)


def lab_links() -> list[str]:
    """Host-side veth ends of the lab present on the machine."""
    done = _ip("-o", "link", "show", check=False)
    names = [line.split(":")[1].strip().split("@")[0] for line in done.stdout.splitlines()]
    return [name for name in names if name.startswith(topology.VETH_PREFIX)]


def delete_stale_links() -> None:
    """Delete veth ends whose namespace is gone or going (deleting one end deletes both)."""
    for name in lab_links():
        _ip("link", "del", name, check=False)


def namespace_exists(netns: str) -> bool:
    return netns in lab_namespaces()


def addresses(spec: HostSpec) -> list[str]:
    """IPv4 addresses (``a.b.c.d/len``) on the host's ``eth0``."""
    done = _ip("-4", "-o", "addr", "show", "dev", "eth0", netns=spec.netns, check=False)
    found = []
    for line in done.stdout.splitlines():
        words = line.split()
        if "inet" in words:
            found.append(words[words.index("inet") + 1])
    return found


def holds_vip(spec: HostSpec) -> bool:
    return any(address.split("/")[0] == VIP for address in addresses(spec))


def link_up(spec: HostSpec) -> bool:
    """Whether the host's link is up: its bridge port (the machine-side veth end) is up.

    Read from sysfs, without a process: the VIP sampler asks every 100 ms.
    """
    try:
        with open(f"/sys/class/net/{spec.veth}/operstate") as handle:
            return handle.read().strip() == "up"
    except OSError:
        return False


def set_link(spec: HostSpec, up: bool) -> None:
    """Plug (``up``) or unplug the host's cable: its bridge port goes up or down.

    Inside the host ``eth0`` keeps its addresses and loses its carrier, as a VM's interface
    does while the VM is paused; nothing reaches the host and nothing leaves it.
    """
    _ip("link", "set", spec.veth, "up" if up else "down")


def drop_extra_addresses(spec: HostSpec) -> None:
    """Remove every address but the host's own from ``eth0`` (what a reboot does to a VIP)."""
    for address in addresses(spec):
        if address != spec.cidr:
            _ip("addr", "del", address, "dev", "eth0", netns=spec.netns, check=False)


def _nft(spec: HostSpec, script: str) -> None:
    proc.run(["ip", "netns", "exec", spec.netns, "nft", "-f", "-"], input=script, timeout=15)


def _partition_table_script(blocked: Iterable[str]) -> str:
    elements = ", ".join(sorted(set(blocked)))
    # "add + delete + define" in one transaction: replaces an older table atomically.
    return f"""
add table inet {PARTITION_TABLE}
delete table inet {PARTITION_TABLE}
table inet {PARTITION_TABLE} {{
    set blocked {{ type ipv4_addr; }}
    chain input {{ type filter hook input priority 0; policy accept;
        iifname "eth0" ip saddr @blocked drop; }}
    chain output {{ type filter hook output priority 0; policy accept;
        oifname "eth0" ip daddr @blocked drop; }}
}}
add element inet {PARTITION_TABLE} blocked {{ {elements} }}
"""


# ARP is filtered too when a host is cut from everything, so not even arping reaches it.
_ISOLATE_SCRIPT = f"""
table inet {ISOLATE_TABLE} {{
    chain input {{ type filter hook input priority 0; policy accept; iifname "eth0" drop; }}
    chain output {{ type filter hook output priority 0; policy accept; oifname "eth0" drop; }}
}}
table arp {ISOLATE_TABLE} {{
    chain input {{ type filter hook input priority 0; policy drop; }}
    chain output {{ type filter hook output priority 0; policy drop; }}
}}
"""


def blocked_addresses(spec: HostSpec, scope: str, lab_frontends: Iterable[HostSpec]) -> list[str]:
    """Addresses a ``peers`` or ``master`` partition of ``spec`` cuts it from."""
    if scope == "master":
        if spec.name == topology.MASTER:
            raise ValueError("the master cannot be partitioned from itself")
        return [topology.MASTER_HOST.ip]
    if scope == "peers":
        # The VIP is cut too: from a partitioned host it lives on the other side.
        return [other.ip for other in lab_frontends if other.name != spec.name] + [VIP]
    raise ValueError(f"partition scope must be one of {', '.join(PARTITION_SCOPES)}")


def partition(spec: HostSpec, scope: str, lab_frontends: Iterable[HostSpec]) -> None:
    """Cut ``spec`` off from ``scope`` (``peers``, ``master`` or ``all``), both directions.

    Partitions accumulate until :func:`heal`; the rules live in the host's namespace.
    """
    if scope == "all":
        if not any(name == ISOLATE_TABLE for _family, name in partition_tables(spec)):
            _nft(spec, _ISOLATE_SCRIPT)
        return
    blocked = set(blocked_addresses(spec, scope, lab_frontends)) | set(blocked_set(spec))
    _nft(spec, _partition_table_script(blocked))


def block(spec: HostSpec, addresses: Iterable[str]) -> None:
    """Cut ``spec`` off from ``addresses`` (both directions), beside its other partitions
    (a split of the zone: each side blocks the other's addresses)."""
    blocked = set(addresses) | set(blocked_set(spec))
    if blocked:
        _nft(spec, _partition_table_script(blocked))


def heal(spec: HostSpec) -> None:
    """Remove every partition rule from the host."""
    present = partition_tables(spec)
    script = "".join(f"delete table {family} {name}\n" for family, name in present)
    if script:
        _nft(spec, script)


def partition_tables(spec: HostSpec) -> list[tuple[str, str]]:
    """The lab's nftables tables present in the host, as ``(family, name)``."""
    done = proc.run(
        ["ip", "netns", "exec", spec.netns, "nft", "list", "tables"], check=False, timeout=15
    )
    found = []
    for line in done.stdout.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "table" and words[2] in (PARTITION_TABLE, ISOLATE_TABLE):
            found.append((words[1], words[2]))
    return found


def blocked_set(spec: HostSpec) -> list[str]:
    """Addresses currently in the host's partition set (empty when it has none)."""
    done = proc.run(
        [
            "ip",
            "netns",
            "exec",
            spec.netns,
            "nft",
            "list",
            "set",
            "inet",
            PARTITION_TABLE,
            "blocked",
        ],
        check=False,
        timeout=15,
    )
    if done.returncode != 0 or "elements = {" not in done.stdout:
        return []
    inside = done.stdout.split("elements = {", 1)[1].split("}", 1)[0]
    return [word.strip() for word in inside.split(",") if word.strip()]


def partition_summary(spec: HostSpec) -> str:
    """``none``, ``all`` or the blocked addresses, for ``onelab status``."""
    if any(name == ISOLATE_TABLE for _family, name in partition_tables(spec)):
        return "all"
    return ",".join(blocked_set(spec)) or "none"
