"""
Read and edit OpenNebula's ``oned.conf`` in place.

``oned.conf`` is written in OpenNebula's template syntax::

    # a comment
    PORT = 2633
    LISTEN_ADDRESS = "0.0.0.0"
    FEDERATION = [
        MODE          = "STANDALONE",
        ZONE_ID       = 0,
        SERVER_ID     = -1,
        MASTER_ONED   = ""
    ]

Values are quoted strings (which may span lines and escape ``"`` as ``\\"``) or bare
words; a vector attribute holds ``NAME = value`` pairs separated by commas. Attribute
names are case-insensitive (oned upper-cases them). When an attribute appears more than
once, oned uses the first one, and so does this module.

Edits are made by replacing only the characters that change, so comments, blank lines,
alignment and the order of everything else are kept. Keys are addressed as ``KEY`` (a
top-level single value, or a whole vector for :func:`get`) or ``SECTION/KEY`` (one value
inside a vector).

Sub-keys that hold secrets (``PASSWD`` in the ``DB`` section) are masked in returned
data unless ``reveal=True`` is passed.

Configuration (minion config): ``onenebula_ha.oned_conf`` overrides the default path,
which is ``$ONE_LOCATION/etc/oned.conf`` for a self-contained install, else
``/etc/one/oned.conf``.
"""

import logging
import os
import re
import tempfile
from dataclasses import dataclass, field

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "onenebula_conf"
# ``set`` is the public name; the Python function avoids shadowing the builtin.
__func_alias__ = {"set_": "set"}

SECRET_KEYS = frozenset({"PASSWD", "PASSWORD"})
MASK = "********"
_INTEGER = re.compile(r"^-?[0-9]+$")


def __virtual__():
    # Pure file editing: nothing to probe, the module is always usable.
    return __virtualname__


# --------------------------------------------------------------------------- parsing


class TemplateSyntaxError(ValueError):
    """The file is not valid OpenNebula template syntax."""


@dataclass
class _Token:
    kind: str  # NAME/WORD share "WORD"; STRING, EQUAL, OPEN, CLOSE, COMMA, NEWLINE
    text: str
    start: int
    end: int


@dataclass
class _Item:
    """One ``NAME = value`` pair inside a vector."""

    name: str
    value: str
    start: int
    value_start: int
    value_end: int
    comma: tuple | None = None  # (start, end) of the comma that follows, if any


@dataclass
class _Attribute:
    """A top-level attribute: a single value, or a vector of items."""

    name: str
    start: int
    end: int
    value: str | None = None
    value_start: int = 0
    value_end: int = 0
    items: list | None = None
    open_end: int = 0  # just after '['
    close_start: int = 0  # at ']'

    @property
    def is_vector(self):
        return self.items is not None

    def item(self, name):
        for candidate in self.items:
            if candidate.name == name:
                return candidate
        return None


@dataclass
class _Document:
    text: str
    attributes: list = field(default_factory=list)

    def first(self, name):
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute
        return None


def _line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def _tokenize(text):
    tokens = []
    pos = 0
    length = len(text)
    singles = {"=": "EQUAL", "[": "OPEN", "]": "CLOSE", ",": "COMMA", "\n": "NEWLINE"}
    while pos < length:
        char = text[pos]
        if char in " \t\r":
            pos += 1
        elif char == "#":
            newline = text.find("\n", pos)
            pos = length if newline < 0 else newline
        elif char in singles:
            tokens.append(_Token(singles[char], char, pos, pos + 1))
            pos += 1
        elif char == '"':
            end = pos + 1
            while end < length and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            if end >= length:
                raise TemplateSyntaxError(f"unterminated string at line {_line_of(text, pos)}")
            raw = text[pos + 1 : end]
            tokens.append(_Token("STRING", raw.replace('\\"', '"'), pos, end + 1))
            pos = end + 1
        else:
            end = pos
            while end < length and text[end] not in ' \t\r\n=[],#"':
                end += 1
            tokens.append(_Token("WORD", text[pos:end], pos, end))
            pos = end
    return tokens


class _Parser:
    def __init__(self, text):
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def _peek(self, skip_newlines=True):
        index = self.index
        while skip_newlines and index < len(self.tokens) and self.tokens[index].kind == "NEWLINE":
            index += 1
        return self.tokens[index] if index < len(self.tokens) else None, index

    def _take(self, kind, skip_newlines=True):
        token, index = self._peek(skip_newlines)
        if token is None or token.kind != kind:
            where = _line_of(self.text, token.start) if token else "end of file"
            found = repr(token.text) if token else "end of file"
            raise TemplateSyntaxError(f"expected {kind.lower()} at line {where}, found {found}")
        self.index = index + 1
        return token

    def _value(self, skip_newlines):
        token, index = self._peek(skip_newlines)
        if token is None or token.kind not in ("STRING", "WORD"):
            where = _line_of(self.text, token.start) if token else "end of file"
            raise TemplateSyntaxError(f"expected a value at line {where}")
        self.index = index + 1
        return token

    def parse(self):
        document = _Document(self.text)
        while True:
            token, _ = self._peek()
            if token is None:
                return document
            name = self._take("WORD")
            self._take("EQUAL", skip_newlines=False)
            nxt, _ = self._peek(skip_newlines=False)
            if nxt is not None and nxt.kind == "OPEN":
                document.attributes.append(self._vector(name))
            else:
                value = self._value(skip_newlines=False)
                document.attributes.append(
                    _Attribute(
                        name=name.text.upper(),
                        start=name.start,
                        end=value.end,
                        value=value.text,
                        value_start=value.start,
                        value_end=value.end,
                    )
                )

    def _vector(self, name):
        opening = self._take("OPEN", skip_newlines=False)
        items = []
        while True:
            token, _ = self._peek()
            if token is not None and token.kind == "CLOSE":
                closing = self._take("CLOSE")
                break
            key = self._take("WORD")
            self._take("EQUAL")
            value = self._value(skip_newlines=True)
            items.append(_Item(key.text.upper(), value.text, key.start, value.start, value.end))
            token, _ = self._peek()
            if token is not None and token.kind == "COMMA":
                comma = self._take("COMMA")
                items[-1].comma = (comma.start, comma.end)
        return _Attribute(
            name=name.text.upper(),
            start=name.start,
            end=closing.end,
            items=items,
            open_end=opening.end,
            close_start=closing.start,
        )


def _parse(text):
    return _Parser(text).parse()


# --------------------------------------------------------------------------- rendering


def _render(value):
    """Render a Python value the way OpenNebula's shipped files write it."""
    if isinstance(value, bool):
        return '"YES"' if value else '"NO"'
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    return '"' + text.replace('"', '\\"') + '"'


def _as_text(value):
    """The text oned would read for ``value``: what comparisons are made on."""
    if isinstance(value, bool):
        return "YES" if value else "NO"
    return str(value)


def _same(current, wanted):
    if isinstance(wanted, bool):
        return current.upper() == _as_text(wanted)
    return current == _as_text(wanted)


def _line_start(text, pos):
    return text.rfind("\n", 0, pos) + 1


def _starts_line(text, pos):
    return text[_line_start(text, pos) : pos].strip() == ""


def _vector_layout(text, attribute):
    """Indentation and name width of the existing items, for new items to match.

    The model is the last item that starts its own line (``DB = [ BACKEND = "x",`` puts
    the first item on the opening line); its ``=`` column gives the name width.
    """
    inside = text[attribute.open_end : attribute.close_start]
    multiline = "\n" in inside
    if not multiline:
        return False, "", 0
    own_line = [item for item in attribute.items if _starts_line(text, item.start)]
    if not own_line:
        return True, "    ", 0
    model = own_line[-1]
    indent = text[_line_start(text, model.start) : model.start]
    width = text.find("=", model.start) - model.start - 1
    return True, indent, max(width, 0)


def _format_item(name, value, width):
    return f"{name.ljust(width)} = {_render(value)}"


def _splice(text, start, end, replacement):
    return text[:start] + replacement + text[end:]


# --------------------------------------------------------------------------- edits


def _set_top(text, name, value):
    document = _parse(text)
    attribute = document.first(name)
    if attribute is None:
        prefix = "" if not text or text.endswith("\n") else "\n"
        return text + prefix + f"{name} = {_render(value)}\n"
    if attribute.is_vector:
        raise CommandExecutionError(f"{name} is a vector attribute; use SECTION/KEY or set_section")
    if _same(attribute.value, value):
        return text
    return _splice(text, attribute.value_start, attribute.value_end, _render(value))


def _append_section(text, section, values):
    width = max((len(key) for key in values), default=0)
    lines = [f"    {_format_item(key, value, width)}" for key, value in values.items()]
    prefix = "" if not text or text.endswith("\n") else "\n"
    body = ",\n".join(lines)
    return text + prefix + f"\n{section} = [\n{body}\n]\n"


def _set_item(text, section, key, value):
    document = _parse(text)
    attribute = document.first(section)
    if attribute is None:
        return _append_section(text, section, {key: value})
    if not attribute.is_vector:
        raise CommandExecutionError(f"{section} is a single value, not a vector attribute")
    item = attribute.item(key)
    if item is not None:
        if _same(item.value, value):
            return text
        return _splice(text, item.value_start, item.value_end, _render(value))
    multiline, indent, width = _vector_layout(text, attribute)
    if not attribute.items:
        if multiline:
            new = f"\n{indent}{_format_item(key, value, width)}\n"
        else:
            new = f" {_format_item(key, value, 0)} "
        return _splice(text, attribute.open_end, attribute.close_start, new)
    last = attribute.items[-1]
    if multiline:
        addition = f"\n{indent}{_format_item(key, value, width)}"
    else:
        addition = f" {_format_item(key, value, 0)}"
    if last.comma is None:
        return _splice(text, last.value_end, last.value_end, "," + addition)
    return _splice(text, last.comma[1], last.comma[1], addition)


def _remove_item(text, section, key):
    attribute = _parse(text).first(section)
    if attribute is None or not attribute.is_vector:
        return text
    items = attribute.items
    position = next((i for i, item in enumerate(items) if item.name == key), None)
    if position is None:
        return text
    item = items[position]
    if position + 1 < len(items):
        end = item.comma[1] if item.comma else items[position + 1].start
        start = item.start
        if _starts_line(text, item.start):
            rest = text[end:]
            stripped = rest.lstrip(" \t")
            if stripped.startswith("\n"):
                start = _line_start(text, item.start)
                end += len(rest) - len(stripped) + 1
        return _splice(text, start, end, "")
    if position > 0:
        previous = items[position - 1]
        start = _line_start(text, item.start) - 1 if _starts_line(text, item.start) else item.start
        text = _splice(text, start, item.value_end, "")
        if previous.comma is not None:
            text = _splice(text, previous.comma[0], previous.comma[1], "")
        return text
    return _splice(text, item.start, item.value_end, "")


def _remove_top(text, name):
    attribute = _parse(text).first(name)
    if attribute is None:
        return text
    start, end = attribute.start, attribute.end
    if _starts_line(text, start):
        rest = text[end:]
        stripped = rest.lstrip(" \t")
        if stripped.startswith("\n") or not stripped:
            start = _line_start(text, start)
            end += len(rest) - len(stripped) + (1 if stripped else 0)
    return _splice(text, start, end, "")


def _set_section_text(text, section, values):
    values = {str(key).upper(): value for key, value in values.items()}
    attribute = _parse(text).first(section)
    if attribute is not None and not attribute.is_vector:
        raise CommandExecutionError(f"{section} is a single value, not a vector attribute")
    if attribute is None:
        return _append_section(text, section, values)
    for key, value in values.items():
        text = _set_item(text, section, key, value)
    existing = [item.name for item in _parse(text).first(section).items]
    for key in existing:
        if key not in values:
            text = _remove_item(text, section, key)
    return text


# --------------------------------------------------------------------------- file access


def default_path():
    """
    Return the oned.conf path used when no ``path`` is given: minion config
    ``onenebula_ha.oned_conf``, else ``$ONE_LOCATION/etc/oned.conf`` for a self-contained
    install, else ``/etc/one/oned.conf``.

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_conf.default_path
    """
    return __utils__["onenebula_ha.one_path"]("oned_conf", __opts__.get("onenebula_ha.oned_conf"))


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise CommandExecutionError(f"cannot read {path}: {exc.strerror}") from exc


def _parse_checked(text, path):
    try:
        return _parse(text)
    except TemplateSyntaxError as exc:
        raise CommandExecutionError(f"{path}: {exc}") from exc


def _write(path, text):
    """Replace ``path`` atomically, keeping its mode and ownership."""
    status = os.stat(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".oned.conf.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, status.st_mode & 0o7777)
        if os.geteuid() == 0:
            os.chown(temporary, status.st_uid, status.st_gid)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _edit(path, change, test):
    """Apply ``change`` (text -> text) to the file; return whether it changed anything."""
    path = path or default_path()
    text = _read(path)
    _parse_checked(text, path)
    try:
        new_text = change(text)
    except TemplateSyntaxError as exc:
        raise CommandExecutionError(f"{path}: {exc}") from exc
    if new_text == text:
        return False
    _parse_checked(new_text, path)  # never write a file oned could not read
    if not test:
        _write(path, new_text)
        log.info("onenebula_conf: updated %s", path)
    return True


def _split_key(key):
    parts = str(key).strip().upper().split("/")
    if len(parts) == 1 and parts[0]:
        return parts[0], None
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    raise CommandExecutionError(f"invalid key {key!r}: use KEY or SECTION/KEY")


def _masked(name, value, reveal):
    return MASK if (name in SECRET_KEYS and not reveal) else value


# --------------------------------------------------------------------------- public API


def get(key, path=None, default=None, reveal=False):
    """
    Return the value of ``KEY`` or ``SECTION/KEY`` from ``oned.conf``.

    A single value is returned as the text oned reads (quotes removed); a vector is
    returned as a dict of its sub-keys. ``default`` is returned when the key is absent.
    Secret sub-keys (``DB/PASSWD``) are masked unless ``reveal=True``.

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_conf.get FEDERATION/SERVER_ID
        salt '*' onenebula_conf.get RAFT
        salt '*' onenebula_conf.get PORT path=/etc/one/oned.conf
    """
    path = path or default_path()
    section, sub_key = _split_key(key)
    attribute = _parse_checked(_read(path), path).first(section)
    if attribute is None:
        return default
    if sub_key is None:
        if attribute.is_vector:
            return {item.name: _masked(item.name, item.value, reveal) for item in attribute.items}
        return attribute.value
    if not attribute.is_vector:
        return default
    item = attribute.item(sub_key)
    return default if item is None else _masked(item.name, item.value, reveal)


def set_(key, value, path=None, test=False):
    """
    Set ``KEY`` or ``SECTION/KEY`` in ``oned.conf`` to ``value``; return whether the file
    changed (with ``test=True``: whether it would change; nothing is written).

    Integers are written bare, strings quoted. A missing key is added (a missing section is
    created at the end of the file); everything else in the file is left untouched.

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_conf.set FEDERATION/SERVER_ID 2
        salt '*' onenebula_conf.set LISTEN_ADDRESS 0.0.0.0
    """
    section, sub_key = _split_key(key)
    if sub_key is None:
        return _edit(path, lambda text: _set_top(text, section, value), test)
    return _edit(path, lambda text: _set_item(text, section, sub_key, value), test)


def set_section(section, values, path=None, test=False):
    """
    Make the vector attribute ``section`` hold exactly ``values`` (a dict); return whether
    the file changed (with ``test=True``: whether it would change).

    Existing sub-keys are updated in place, missing ones appended in the section's own
    layout, sub-keys not in ``values`` removed. A missing section is appended to the file.

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_conf.set_section RAFT_LEADER_HOOK '{"COMMAND": "raft/vip.sh", "ARGUMENTS": "leader eth0 10.0.0.100/24"}'
    """
    if not isinstance(values, dict):
        raise CommandExecutionError("values must be a dict of sub-keys")
    name, sub_key = _split_key(section)
    if sub_key is not None:
        raise CommandExecutionError(f"invalid section name {section!r}")
    return _edit(path, lambda text: _set_section_text(text, name, values), test)


def unset(key, path=None, test=False):
    """
    Remove ``KEY`` (a whole attribute or vector) or ``SECTION/KEY`` from ``oned.conf``;
    return whether the file changed.

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_conf.unset RAFT_FOLLOWER_HOOK
    """
    section, sub_key = _split_key(key)
    if sub_key is None:
        return _edit(path, lambda text: _remove_top(text, section), test)
    return _edit(path, lambda text: _remove_item(text, section, sub_key), test)


def differences(section, values, path=None, reveal=False):
    """
    Compare the vector ``section`` with ``values``; return ``{"old": {...}, "new": {...}}``
    holding only the sub-keys that differ (empty dicts when equal). Secrets are masked
    unless ``reveal=True``. Used by the states to report changes.

    CLI Example:

    .. code-block:: bash

        salt '*' onenebula_conf.differences RAFT '{"ELECTION_TIMEOUT_MS": 5000}'
    """
    name, _ = _split_key(section)
    current = get(name, path=path, default={}, reveal=True)
    if not isinstance(current, dict):
        raise CommandExecutionError(f"{name} is a single value, not a vector attribute")
    wanted = {str(key).upper(): value for key, value in values.items()}
    old, new = {}, {}
    for key in sorted(set(current) | set(wanted)):
        if key in current and key in wanted and _same(current[key], wanted[key]):
            continue
        if key in current:
            old[key] = _masked(key, current[key], reveal)
        if key in wanted:
            new[key] = _masked(key, _as_text(wanted[key]), reveal)
    return {"old": old, "new": new}
