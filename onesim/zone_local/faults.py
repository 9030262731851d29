"""Network partitions between the servers of a loopback zone, with one nftables table."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable

from onesim.zone_local.servers import ZoneError


def table_name(net: str | None) -> str:
    """The zone's nftables table: ``onesim_<net with underscores>``."""
    return "onesim_" + (net or "").replace(".", "_")


def partition(table: str, here: str, peers: Iterable[str]) -> None:
    """Drop the traffic between address ``here`` and each of ``peers``, both ways."""
    lines = [
        f"add table ip {table}",
        f"add chain ip {table} output {{ type filter hook output priority 0; policy accept; }}",
    ]
    for there in peers:
        lines.append(f"add rule ip {table} output ip saddr {here} ip daddr {there} drop")
        lines.append(f"add rule ip {table} output ip saddr {there} ip daddr {here} drop")
    nft("\n".join(lines) + "\n")


def heal(table: str) -> None:
    """Remove the table, hence every partition rule in it (no error when there is none)."""
    nft(f"delete table ip {table}\n", check=False)


def nft(script: str, check: bool = True) -> None:
    result = subprocess.run(
        ["nft", "-f", "-"], input=script, text=True, capture_output=True, timeout=10, check=False
    )
    if check and result.returncode != 0:
        raise ZoneError(f"nft failed: {result.stderr.strip()}")
