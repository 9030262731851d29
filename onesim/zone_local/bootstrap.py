"""Bringing a loopback zone up the documented way (docs/opennebula-raft.md §5.8).

The first server starts solo, adds itself, gets ``SERVER_ID = 0`` and restarts into a
one-server HA zone, where it elects itself. Every other server, one at a time, gets a copy of
the leader's DB, is added on the leader, gets its ``SERVER_ID`` and starts as a follower; the
next one is added only once it follows the leader and has heard from it.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
import xmlrpc.client
from typing import Protocol

from onesim.zone_local.servers import ZoneError, ZoneServer, wait


class Zone(Protocol):
    """What the bootstrap uses of :class:`onesim.zone_local.LocalZone`."""

    servers: list[ZoneServer]

    def start(self, index: int) -> None: ...

    def stop(self, index: int) -> None: ...

    def set_server_id(self, index: int, server_id: int) -> None: ...

    def copy_db(self, source: int, target: int) -> None: ...

    def call(self, index: int, method: str, *params, timeout: float = 10) -> list: ...

    def raftstatus(self, index: int) -> dict[str, int] | None: ...

    def wait_leader(self, timeout: float = 30) -> int: ...


def bootstrap_first(zone: Zone, deadline: float) -> None:
    """Server 0: solo start, ``server-add`` of itself, restart with its id, leader."""
    first = zone.servers[0]
    zone.start(0)
    wait(lambda: _state(zone, 0) == 0, deadline, "server-0 to start solo")
    add_server(zone, 0, first)
    server_id = server_id_by_name(zone, 0, first.name)
    zone.stop(0)
    zone.set_server_id(0, server_id)
    zone.start(0)
    wait(lambda: _state(zone, 0) == 3, deadline, "server-0 to become leader")


def join(zone: Zone, server: ZoneServer, deadline: float) -> None:
    """DB copy from the leader, ``server-add`` there, ``SERVER_ID``, start, follow the leader."""
    leader = zone.wait_leader(max(1.0, deadline - time.monotonic()))
    zone.copy_db(leader, server.id)
    add_server(zone, leader, server)
    zone.set_server_id(server.id, server_id_by_name(zone, leader, server.name))
    zone.start(server.id)
    # Its copy lacks the server-add record: INDEX/COMMIT catch up with the next write (as
    # the docs say), which the next server-add is; so wait for the follower role and term.
    term = zone.raftstatus(leader)["TERM"]
    wait(
        lambda: (
            (status := zone.raftstatus(server.id)) is not None
            and status["STATE"] == 2
            and status["TERM"] == term
        ),
        deadline,
        f"{server.name} to follow the leader",
    )
    wait(lambda: knows_leader(zone, server.id), deadline, f"{server.name} to hear the leader")


def knows_leader(zone: Zone, index: int) -> bool:
    """True once a follower forwards leader-only calls (it got a heartbeat).

    Probes with ``one.zone.resetserver(0, -1)``: forwarded by a follower that knows its
    leader, and a no-op there (no server has id -1).
    """
    try:
        return zone.call(index, "one.zone.resetserver", 0, -1, timeout=5)[0] is True
    except (OSError, xmlrpc.client.Error):
        return False


def add_server(zone: Zone, via: int, server: ZoneServer) -> None:
    template = f'SERVER = [ NAME="{server.name}", ENDPOINT="{server.endpoint}" ]'
    reply = zone.call(via, "one.zone.addserver", 0, template)
    if not reply[0]:
        raise ZoneError(f"server-add of {server.name} failed: {reply[1]}")


def server_id_by_name(zone: Zone, via: int, name: str) -> int:
    reply = zone.call(via, "one.zone.info", 0)
    root = ET.fromstring(reply[1])
    for node in root.findall("SERVER_POOL/SERVER"):
        if node.findtext("NAME") == name:
            return int(node.findtext("ID"))
    raise ZoneError(f"{name} not found in the zone")


def _state(zone: Zone, index: int) -> int | None:
    status = zone.raftstatus(index)
    return None if status is None else status["STATE"]
