"""The renderings of ``onezone show`` and ``onezone list`` (``OneZoneHelper``, 7.0).

``show`` text (``format_resource``): an 80-column ``ZONE <id> INFORMATION`` header, the
``ID``/``NAME``/``STATE`` lines (``%-18s: %-20s``, trailing spaces kept), and, when the zone
has servers, the ``ZONE SERVERS`` and ``HA & FEDERATION SYNC STATUS`` tables (fixed widths,
values cut to the width, rows right-stripped), then ``ZONE TEMPLATE``.

``-x`` prints the extended ZONE element, ``-j``/``-y`` its hash; ``SERVER_POOL.SERVER`` stays
an object for one server because the CLI's XSD-driven array forcing never reaches it, while
``ZONE_POOL.ZONE`` of ``list -j`` is always a list.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TextIO

from . import xmldoc
from .table import Column, Listing, ListOptions, Table, print_header

__all__ = [
    "RAFT_FIELDS",
    "pool_hash",
    "pool_table",
    "raft_state_name",
    "render_json",
    "render_yaml",
    "zone_hash",
    "zone_text",
]

#: The SERVER children ``Zone#info_extended`` appends, in that order, and where it reads them.
RAFT_FIELDS = (
    ("STATE", "RAFT/STATE"),
    ("TERM", "RAFT/TERM"),
    ("VOTEDFOR", "RAFT/VOTEDFOR"),
    ("COMMIT", "RAFT/COMMIT"),
    ("LOG_INDEX", "RAFT/LOG_INDEX"),
    ("FEDLOG_INDEX", "RAFT/FEDLOG_INDEX"),
)

_ZONE_STATES = ("ENABLED", "DISABLED")
_SHORT_ZONE_STATES = {"ENABLED": "on", "DISABLED": "off"}
_RAFT_STATE_NAMES = {"0": "solo", "1": "candidate", "2": "follower", "3": "leader"}


def ruby_to_i(text: object) -> int:
    """``String#to_i``: the leading (signed) integer, 0 when there is none."""
    text = str(text or "").lstrip()
    sign, digits = 1, ""
    if text[:1] in "+-" and text[:1]:
        sign, text = (-1 if text[0] == "-" else 1), text[1:]
    for ch in text:
        if not ch.isdigit():
            break
        digits += ch
    return sign * int(digits) if digits else 0


def ruby_to_s(value: object) -> str:
    """``to_s`` of a value taken from a ``to_hash`` result (string, hash or list)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{" + ", ".join(f'"{k}" => {_inspect(v)}' for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_inspect(v) for v in value) + "]"
    return str(value)


def _inspect(value: object) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else ruby_to_s(value)


def _zone_state_name(state_text: str | None) -> str | None:
    index = ruby_to_i(state_text)
    try:
        return _ZONE_STATES[index]  # Ruby arrays accept negative indexes too
    except IndexError:
        return None


def raft_state_name(state: object) -> str:
    """The ``HA & FEDERATION SYNC STATUS`` STATE cell: a Raft state name, else ``error``."""
    return _RAFT_STATE_NAMES.get(state if isinstance(state, str) else "", "error")


def _child_text(element: xmldoc.Element, name: str) -> str | None:
    """``XMLElement#[]``: the text of the first child called ``name``, None when absent."""
    child = element.find(name)
    return None if child is None else child.text


def _servers(zone: xmldoc.Element) -> list:
    """``[zone_hash['ZONE']['SERVER_POOL']['SERVER']].flatten`` (records may be dicts)."""
    pool = xmldoc.to_hash(zone)[zone.name]
    pool = pool.get("SERVER_POOL") if isinstance(pool, dict) else None
    servers = pool.get("SERVER") if isinstance(pool, dict) else None
    if isinstance(servers, list):
        return servers
    return [servers]


def _get(record: object, key: str) -> object:
    return record.get(key) if isinstance(record, dict) else None


def _servers_table() -> Table:
    return Table(
        [
            Column("ID", "", lambda d: ruby_to_s(_get(d, "ID")), size=2),
            Column("NAME", "", lambda d: ruby_to_s(_get(d, "NAME")), size=15, left=True),
            Column("ENDPOINT", "", lambda d: ruby_to_s(_get(d, "ENDPOINT")), size=63, left=True),
        ]
    )


def _sync_table() -> Table:
    def text(key: str) -> Callable[[object], str]:
        return lambda d: ruby_to_s(_get(d, key))

    return Table(
        [
            Column("ID", "", text("ID"), size=2),
            Column("NAME", "", text("NAME"), size=15, left=True),
            Column("STATE", "", lambda d: raft_state_name(_get(d, "STATE")), size=10, left=True),
            Column("TERM", "", text("TERM"), size=10, left=True),
            Column("INDEX", "", text("LOG_INDEX"), size=10, left=True),
            Column("COMMIT", "", text("COMMIT"), size=10, left=True),
            Column("VOTE", "", text("VOTEDFOR"), size=5, left=True),
            Column("FED_INDEX", "", text("FEDLOG_INDEX"), size=10, left=True),
        ]
    )


def zone_text(zone: xmldoc.Element, out: TextIO) -> None:
    """``onezone show <id>`` without -x/-j/-y, for an already extended ZONE element."""
    line = "%-18s: %-20s"
    header = "%-80s"
    print_header(header % f"ZONE {_child_text(zone, 'ID') or ''} INFORMATION", out=out)
    name = _child_text(zone, "NAME")
    state = _zone_state_name(_child_text(zone, "STATE"))
    out.write(line % ("ID", ruby_to_i(_child_text(zone, "ID"))) + "\n")
    out.write(line % ("NAME", name if name is not None else "") + "\n")
    out.write(line % ("STATE", state if state is not None else "") + "\n")
    out.write("\n")
    if any(server.children for server in zone.find_all("SERVER_POOL/SERVER")):
        out.write("\n")
        print_header(header % "ZONE SERVERS", underline=False, out=out)
        servers = _servers(zone)
        _servers_table().show(servers, out)
        out.write("\n")
        print_header(header % "HA & FEDERATION SYNC STATUS", underline=False, out=out)
        _sync_table().show(servers, out)
    out.write("\n")
    print_header(header % "ZONE TEMPLATE", underline=False, out=out)
    out.write(xmldoc.template_str(zone.find("TEMPLATE")) + "\n")


def zone_hash(zone: xmldoc.Element) -> dict:
    """The hash ``show -j``/``-y`` print (the CLI's XSD pass changes nothing in a ZONE)."""
    return xmldoc.to_hash(zone)


def pool_hash(pool: xmldoc.Element) -> dict:
    """The hash ``list -j``/``-y`` print: ``ZONE_POOL.ZONE`` forced to a list (zone_pool.xsd)."""
    data = xmldoc.to_hash(pool)
    body = data.get(pool.name)
    if isinstance(body, dict) and "ZONE" in body and not isinstance(body["ZONE"], list):
        body["ZONE"] = [body["ZONE"]]
    return data


def render_json(data: dict) -> str:
    """``JSON.pretty_generate`` (json >= 2.8: ``{}`` and ``[]`` for empty containers)."""
    return json.dumps(data, indent=2, ensure_ascii=False)


def render_yaml(data: dict) -> str:
    """``to_yaml(:indent => 4)`` as Psych prints it: Psych ignores the ``:indent`` option
    (Ruby's ``Psych.dump`` reads ``:indentation``), so the output is indented by 2."""
    from . import psych_yaml  # PyYAML is only needed for -y

    return psych_yaml.dump(data, indent=2)


def pool_table(
    pool: xmldoc.Element,
    *,
    current_endpoint: str,
    fed_index: Callable[[str], str],
    out: TextIO,
    options: ListOptions | None = None,
    expand_to: int | None = None,
) -> None:
    """``onezone list`` as a table (columns and widths of ``onezone.yaml`` over the helper),
    with the list options (``--list``, ``--filter``, ``--size``, ``--expand``, ``--csv``...)."""
    from .cmdparser import CliError

    def endpoint_of(d) -> str:
        template = _get(d, "TEMPLATE")
        endpoint = _get(template, "ENDPOINT")
        if endpoint is None:
            raise CliError("undefined method 'strip' for nil")
        return ruby_to_s(endpoint)

    def current(d) -> str:
        return "*" if current_endpoint.strip() == endpoint_of(d).strip() else ""

    def stat(d) -> str | None:
        name = _zone_state_name(ruby_to_s(_get(d, "STATE")))
        return _SHORT_ZONE_STATES.get(name) if name else None

    table = Table(
        [
            Column("CURRENT", "Active Zone", current, size=1),
            Column(
                "ID",
                "ONE identifier for the Zone",
                lambda d: ruby_to_s(_get(d, "ID")),
                size=4,
                adjust=True,
            ),
            Column(
                "NAME",
                "Name of the Zone",
                lambda d: ruby_to_s(_get(d, "NAME")),
                size=15,
                left=True,
                expand=True,
            ),
            Column(
                "ENDPOINT",
                "Endpoint of the Zone",
                lambda d: _get(_get(d, "TEMPLATE"), "ENDPOINT"),
                size=45,
                left=True,
            ),
            Column(
                "FED_INDEX",
                "Federation index",
                lambda d: fed_index(_get(_get(d, "TEMPLATE"), "ENDPOINT")),
                size=10,
                left=True,
            ),
            Column("STAT", "Zone status", stat, size=4, left=True),
        ]
    )
    body = xmldoc.to_hash(pool).get(pool.name)
    zones = body.get("ZONE") if isinstance(body, dict) else None
    records = [] if zones is None else (zones if isinstance(zones, list) else [zones])
    Listing(table, options or ListOptions(), out, expand_to).show(records)


def pool_describe(out: TextIO) -> None:
    """``onezone list --describe``."""
    rows = (
        ("CURRENT", "Active Zone"),
        ("ID", "ONE identifier for the Zone"),
        ("NAME", "Name of the Zone"),
        ("ENDPOINT", "Endpoint of the Zone"),
        ("FED_INDEX", "Federation index"),
        ("STAT", "Zone status"),
    )
    for name, description in rows:
        out.write(f"{name:<20}: {description:<20}\n")
