"""YAML text as Ruby's Psych prints ``hash.to_yaml``.

The OpenNebula CLIs call ``to_yaml(:indent => 4)``, but Psych's emitter only reads the
``:indentation`` option, so what they print is Psych's default: 2-space indentation with
``- `` sequence items at the level of their key.

Psych and PyYAML drive the same emitter design (libyaml and its Python port): block
layout, indentless sequences inside mappings, 80-column folding. They differ in which
quoting *style* they ask for. Psych asks for double quotes for a string starting with a
non-word character and holding no ``"`` (``"-"``, ``"-1"``), single quotes for a string its
scalar scanner would read as something else (``'0'``, ``'true'``), a literal block for
multi-line text, and plain otherwise. We feed PyYAML's emitter the events Psych would
produce, with Psych's style choices, so only the emitter's own safety checks change them.
"""

from __future__ import annotations

import io
import re

import yaml
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

__all__ = ["dump"]

# Psych::ScalarScanner (Psych 5) patterns, enough to tell "a string" from "anything else".
# %r{^[^\d.:-]?[[:alpha:]_\s!@#$%\^&*(){}<>|/\\~;=]+}, searched line by line like Ruby.
_STRING_LIKE = re.compile(r"^[^\d.:-]?(?:[^\W\d_]|[_\s!@#$%^&*(){}<>|/\\~;=])", re.MULTILINE)
_TIME = re.compile(
    r"^-?\d{4}-\d{1,2}-\d{1,2}(?:[Tt]|\s+)\d{1,2}:\d\d:\d\d(?:\.\d*)?"
    r"(?:\s*(?:Z|[-+]\d{1,2}:?(?:\d\d)?))?$"
)
_DATE = re.compile(r"^\d{4}-(?:1[012]|0\d|\d)-(?:[12]\d|3[01]|0\d|\d)$")
_SEXAGESIMAL_INT = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9]){1,2}$")
_SEXAGESIMAL_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9]){1,2}\.[0-9_]*$")
_FLOAT = re.compile(
    r"^(?:[-+]?([0-9][0-9_,]*)?\.[0-9]*([eE][-+][0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$"
)
_INTEGER = re.compile(
    r"^(?:[-+]?0b[0-1_,]+|[-+]?0[0-7_,]+|[-+]?(?:0|[1-9](?:[0-9]|,[0-9]|_[0-9])*)|[-+]?0x[0-9a-fA-F_,]+)$"
)


def _scans_as_string(value: str) -> bool:
    """True when ``Psych::ScalarScanner#tokenize`` would give the string back unchanged."""
    if value == "":
        return False  # tokenize('') is nil
    if _STRING_LIKE.search(value) or "\n" in value:
        if len(value) > 5:
            return True
        if re.match(r"^[^ytonf~]", value, re.IGNORECASE):
            return True
        if value == "~" or re.match(r"^null$", value, re.IGNORECASE):
            return False
        return not re.match(r"^(yes|true|on|no|false|off)$", value, re.IGNORECASE)
    if _TIME.match(value) or _DATE.match(value):
        return False
    if re.match(r"^[-+]?\.inf$", value, re.IGNORECASE) or re.match(
        r"^\.nan$", value, re.IGNORECASE
    ):
        return False
    if re.match(r"^:.", value):
        return False  # a Symbol
    if _SEXAGESIMAL_INT.match(value) or _SEXAGESIMAL_FLOAT.match(value):
        return False
    if _FLOAT.match(value):
        return bool(re.match(r"^[-+]?\.$", value))
    return not _INTEGER.match(value)


def _style_for(value: str) -> str | None:
    """The scalar style Psych's ``visit_String`` requests (None = plain)."""
    if re.search(r"\n(?!\Z)", value):
        return "|"
    if value == "<<":
        return "'"
    if value in ("y", "Y", "n", "N"):
        return '"'
    if re.search(r'^[^\w][^"]*$', value, re.MULTILINE):
        return '"'
    if not _scans_as_string(value) or re.match(r"\A0[0-7]*[89]", value):
        return "'"
    return None


def _events(node, out: list) -> None:
    if isinstance(node, dict):
        out.append(MappingStartEvent(None, None, True, flow_style=not node))
        for key, value in node.items():
            _events(str(key), out)
            _events(value, out)
        out.append(MappingEndEvent())
    elif isinstance(node, list):
        out.append(SequenceStartEvent(None, None, True, flow_style=not node))
        for item in node:
            _events(item, out)
        out.append(SequenceEndEvent())
    elif node is None:
        out.append(ScalarEvent(None, None, (True, False), ""))
    else:
        value = str(node)
        out.append(ScalarEvent(None, None, (True, True), value, style=_style_for(value)))


def dump(data, indent: int = 2) -> str:
    """``data.to_yaml(:indentation => indent)`` for dicts/lists of strings (ends with a newline)."""
    events: list = [StreamStartEvent(), DocumentStartEvent(explicit=True)]
    _events(data, events)
    events += [DocumentEndEvent(explicit=False), StreamEndEvent()]
    stream = io.StringIO()
    yaml.emit(events, stream, indent=indent, width=80, allow_unicode=True)
    return stream.getvalue()
