"""The zone object: its XML (as ``one.zone.info`` returns it), its server pool and its row.

Membership (``SERVER_POOL/SERVER[ID,NAME,ENDPOINT]``) lives inside the zone body in
``zone_pool``, so it is replicated through the Raft log like any other write.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from onesim.db import Database, quote
from onesim.template import Template, Vector, cdata

__all__ = ["ENABLED", "DISABLED", "Server", "Zone", "load_zone", "load_zones", "zone_pool_xml"]

ENABLED = 0
DISABLED = 1


@dataclass(frozen=True)
class Server:
    id: int
    name: str
    endpoint: str

    def to_xml(self) -> str:
        # Sub-attributes in alphabetical order, values as CDATA (oned's template rendering).
        return (
            f"<SERVER><ENDPOINT>{cdata(self.endpoint)}</ENDPOINT><ID>{cdata(str(self.id))}</ID>"
            f"<NAME>{cdata(self.name)}</NAME></SERVER>"
        )


@dataclass
class Zone:
    id: int
    name: str
    state: int = ENABLED
    template: Template = field(default_factory=Template)
    servers: list[Server] = field(default_factory=list)

    @classmethod
    def default(cls, endpoint: str) -> Zone:
        """Zone 0 as created at bootstrap."""
        template = Template()
        template.add("ENDPOINT", endpoint)
        return cls(0, "OpenNebula", ENABLED, template, [])

    def next_server_id(self) -> int:
        """``max(existing) + 1``, 0 for an empty pool (a deleted top id is reused)."""
        return max((server.id for server in self.servers), default=-1) + 1

    def server(self, server_id: int) -> Server | None:
        for server in self.servers:
            if server.id == server_id:
                return server
        return None

    def server_map(self) -> dict[int, str]:
        return {server.id: server.endpoint for server in self.servers}

    def to_xml(self) -> str:
        pool = "".join(server.to_xml() for server in self.servers)
        return (
            f"<ZONE><ID>{self.id}</ID><NAME>{self.name}</NAME><STATE>{self.state}</STATE>"
            f"{self.template.to_xml()}<SERVER_POOL>{pool}</SERVER_POOL></ZONE>"
        )

    @classmethod
    def from_xml(cls, body: str) -> Zone:
        root = ET.fromstring(body)
        template = Template()
        template_node = root.find("TEMPLATE")
        for child in template_node if template_node is not None else []:
            if len(child):
                template.add(child.tag, Vector({sub.tag: sub.text or "" for sub in child}))
            else:
                template.add(child.tag, child.text or "")
        servers = [
            Server(
                int(node.findtext("ID") or -1),
                node.findtext("NAME") or "",
                node.findtext("ENDPOINT") or "",
            )
            for node in root.findall("SERVER_POOL/SERVER")
        ]
        return cls(
            int(root.findtext("ID") or 0),
            root.findtext("NAME") or "",
            int(root.findtext("STATE") or ENABLED),
            template,
            servers,
        )

    def upsert_sql(self) -> str:
        """The statement that stores this zone (what goes into the Raft log)."""
        return (
            "REPLACE INTO zone_pool (oid, name, body, uid, gid, owner_u, group_u, other_u) "
            f"VALUES ({self.id}, {quote(self.name)}, {quote(self.to_xml())}, 0, 0, 1, 0, 0)"
        )


def load_zone(db: Database, zone_id: int) -> Zone | None:
    body = db.scalar(f"SELECT body FROM zone_pool WHERE oid = {int(zone_id)}")
    return Zone.from_xml(body) if body else None


def load_zones(db: Database) -> list[Zone]:
    return [Zone.from_xml(row[0]) for row in db.query("SELECT body FROM zone_pool ORDER BY oid")]


def zone_pool_xml(zones: list[Zone]) -> str:
    return "<ZONE_POOL>" + "".join(zone.to_xml() for zone in zones) + "</ZONE_POOL>"
