"""Small helpers for the lab's own e2e tests."""

from __future__ import annotations

import re

from onelab import topology


def reaches(lab, source: str, address: str) -> bool:
    """One ICMP echo from host ``source`` to ``address`` (1 s budget)."""
    return lab.exec(source, ["ping", "-c", "1", "-W", "1", "-q", address]).returncode == 0


def unreachable(lab, source: str, addresses: list[str]) -> list[str]:
    """The addresses ``source`` cannot ping, probed in one shell inside the host."""
    script = 'for a in "$@"; do ping -c 1 -W 1 -q "$a" >/dev/null 2>&1 || echo "$a"; done'
    done = lab.exec(source, ["sh", "-c", script, "probe", *addresses], timeout=60)
    return done.stdout.split()


def arping_mac(lab, source: str, address: str) -> str | None:
    """MAC address answering ARP for ``address`` as seen from ``source`` (None: no answer)."""
    done = lab.exec(source, ["arping", "-c", "1", "-w", "2", "-I", "eth0", address])
    match = re.search(r"\[([0-9A-Fa-f:]{17})\]", done.stdout)
    return match.group(1).lower() if match else None


def eth0_mac(lab, name: str) -> str:
    return lab.exec(name, ["cat", "/sys/class/net/eth0/address"], check=True).stdout.strip()


def add_vip(lab, name: str) -> None:
    """What vip.sh does on a new leader: add the VIP and announce it."""
    lab.exec(name, ["ip", "address", "add", f"{topology.VIP}/24", "dev", "eth0"], check=True)
    lab.exec(name, ["arping", "-c", "1", "-U", "-I", "eth0", topology.VIP])


def del_vip(lab, name: str) -> None:
    lab.exec(name, ["ip", "address", "del", f"{topology.VIP}/24", "dev", "eth0"])
