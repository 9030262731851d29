"""OpenNebula template syntax: parser, model and serialisers.

The syntax is the one of ``oned.conf`` and of every template sent through the API::

    # comment
    PORT = 2633
    LISTEN_ADDRESS = "0.0.0.0"
    DB = [ BACKEND = "mysql",
           SERVER  = "localhost" ]

Attribute names are case-insensitive (stored upper-case), the same name may repeat, a value is
either a single string (quoted or a bare word) or a vector of ``KEY = value`` pairs in brackets,
which may span lines. Quoted strings may span lines too and accept ``\\"`` and ``\\\\``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = [
    "Template",
    "TemplateSyntaxError",
    "Vector",
    "cdata",
    "parse",
    "parse_str_or_xml",
]

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
# A bare (unquoted) value: anything up to whitespace or a structural character.
_BARE_RE = re.compile(r'[^\s,\[\]="#]+')


class TemplateSyntaxError(ValueError):
    """Raised for text that is not valid template syntax; the message names line and column."""


@dataclass
class Vector:
    """A vector attribute value: ordered ``KEY -> value`` pairs (a repeated key keeps the last)."""

    values: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.values.get(key.upper(), default)

    def __getitem__(self, key: str) -> str:
        return self.values[key.upper()]

    def __contains__(self, key: str) -> bool:
        return key.upper() in self.values


Value = str | Vector


@dataclass
class Template:
    """An ordered list of ``(NAME, value)`` attributes; names may repeat."""

    attributes: list[tuple[str, Value]] = field(default_factory=list)

    def get_all(self, name: str) -> list[Value]:
        name = name.upper()
        return [value for key, value in self.attributes if key == name]

    def get(self, name: str, default: Value | None = None) -> Value | None:
        """The first value of ``name`` (OpenNebula's ``get`` also takes the first)."""
        values = self.get_all(name)
        return values[0] if values else default

    def vector(self, name: str) -> Vector | None:
        """The first vector value of ``name``, or None when absent or not a vector."""
        for value in self.get_all(name):
            if isinstance(value, Vector):
                return value
        return None

    def __contains__(self, name: str) -> bool:
        return bool(self.get_all(name))

    def add(self, name: str, value: Value) -> None:
        self.attributes.append((name.upper(), value))

    def replace(self, name: str, value: Value) -> None:
        """Set ``name`` to a single value, dropping every previous occurrence."""
        name = name.upper()
        self.attributes = [(key, val) for key, val in self.attributes if key != name]
        self.attributes.append((name, value))

    def to_text(self) -> str:
        """Serialise back to template syntax (one attribute per line)."""
        lines = []
        for name, value in self.attributes:
            if isinstance(value, Vector):
                inner = ",\n".join(f"  {k} = {_quote(v)}" for k, v in value.values.items())
                lines.append(f"{name} = [\n{inner} ]")
            else:
                lines.append(f"{name} = {_quote(value)}")
        return "\n".join(lines) + ("\n" if lines else "")

    def to_xml(self, root: str = "TEMPLATE") -> str:
        """oned's XML form: values in CDATA, vector sub-attributes in alphabetical order."""
        parts = [f"<{root}>"]
        for name, value in self.attributes:
            if isinstance(value, Vector):
                inner = "".join(
                    f"<{key}>{cdata(value.values[key])}</{key}>" for key in sorted(value.values)
                )
                parts.append(f"<{name}>{inner}</{name}>")
            else:
                parts.append(f"<{name}>{cdata(value)}</{name}>")
        parts.append(f"</{root}>")
        return "".join(parts)


def cdata(text: str) -> str:
    """Wrap ``text`` in CDATA, splitting any ``]]>`` it contains."""
    return "<![CDATA[" + str(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --------------------------------------------------------------------------- tokenizer


@dataclass
class _Token:
    kind: str  # NAME-or-BARE word, STRING, '=', '[', ']', ',', NL, EOF
    text: str
    line: int
    column: int


class _Lexer:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.line = 1
        self.line_start = 0

    def _column(self) -> int:
        return self.pos - self.line_start + 1

    def tokens(self) -> Iterator[_Token]:
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char == "\n":
                yield _Token("NL", "\n", self.line, self._column())
                self.pos += 1
                self.line += 1
                self.line_start = self.pos
            elif char in " \t\r":
                self.pos += 1
            elif char == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif char in "=[],":
                yield _Token(char, char, self.line, self._column())
                self.pos += 1
            elif char == '"':
                yield self._string()
            else:
                match = _BARE_RE.match(text, self.pos)
                if not match:
                    raise TemplateSyntaxError(
                        f"syntax error, unexpected character '{char}' "
                        f"at line {self.line}, column {self._column()}"
                    )
                yield _Token("WORD", match.group(), self.line, self._column())
                self.pos = match.end()
        yield _Token("EOF", "", self.line, self._column())

    def _string(self) -> _Token:
        line, column = self.line, self._column()
        self.pos += 1
        chars = []
        text = self.text
        while True:
            if self.pos >= len(text):
                raise TemplateSyntaxError(
                    f"syntax error, unterminated string at line {line}, column {column}"
                )
            char = text[self.pos]
            if char == "\\" and self.pos + 1 < len(text) and text[self.pos + 1] in '"\\':
                chars.append(text[self.pos + 1])
                self.pos += 2
                continue
            if char == '"':
                self.pos += 1
                return _Token("STRING", "".join(chars), line, column)
            if char == "\n":
                self.line += 1
                self.line_start = self.pos + 1
            chars.append(char)
            self.pos += 1


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str):
        self.tokens = list(_Lexer(text).tokens())
        self.index = 0

    def _peek(self, skip_newlines: bool = False) -> _Token:
        if skip_newlines:
            while self.tokens[self.index].kind == "NL":
                self.index += 1
        return self.tokens[self.index]

    def _next(self, skip_newlines: bool = False) -> _Token:
        token = self._peek(skip_newlines)
        self.index += 1
        return token

    @staticmethod
    def _error(token: _Token, expecting: str) -> TemplateSyntaxError:
        found = "end of input" if token.kind == "EOF" else repr(token.text)
        return TemplateSyntaxError(
            f"syntax error, unexpected {found}, expecting {expecting} "
            f"at line {token.line}, column {token.column}"
        )

    def _name(self, skip_newlines: bool) -> str:
        token = self._next(skip_newlines)
        if token.kind != "WORD" or not _NAME_RE.fullmatch(token.text):
            raise self._error(token, "attribute name")
        return token.text.upper()

    def _expect(self, kind: str, skip_newlines: bool = False) -> None:
        token = self._next(skip_newlines)
        if token.kind != kind:
            raise self._error(token, f"'{kind}'")

    def _single_value(self, skip_newlines: bool) -> str:
        token = self._next(skip_newlines)
        if token.kind not in ("WORD", "STRING"):
            raise self._error(token, "value")
        return token.text

    def parse(self) -> Template:
        template = Template()
        while self._peek(skip_newlines=True).kind != "EOF":
            name = self._name(skip_newlines=True)
            self._expect("=")
            if self._peek().kind == "[":
                self._next()
                template.attributes.append((name, self._vector()))
            else:
                template.attributes.append((name, self._single_value(skip_newlines=False)))
            end = self._peek()
            if end.kind not in ("NL", "EOF"):
                raise self._error(end, "end of line")
        return template

    def _vector(self) -> Vector:
        vector = Vector()
        if self._peek(skip_newlines=True).kind == "]":
            self._next()
            return vector
        while True:
            key = self._name(skip_newlines=True)
            self._expect("=", skip_newlines=True)
            vector.values[key] = self._single_value(skip_newlines=True)
            token = self._next(skip_newlines=True)
            if token.kind == "]":
                return vector
            if token.kind != ",":
                raise self._error(token, "',' or ']'")


def parse(text: str) -> Template:
    """Parse template syntax; raise :class:`TemplateSyntaxError` on malformed input."""
    return _Parser(text).parse()


def parse_str_or_xml(text: str) -> Template:
    """Parse either template syntax or oned's XML form (``<TEMPLATE>...</TEMPLATE>``)."""
    stripped = text.lstrip()
    if not stripped.startswith("<"):
        return parse(text)
    try:
        root = ET.fromstring(stripped)
    except ET.ParseError as exc:
        raise TemplateSyntaxError(f"Parse error: {exc}") from None
    template = Template()
    for child in root:
        if len(child):
            vector = Vector({sub.tag.upper(): (sub.text or "") for sub in child})
            template.attributes.append((child.tag.upper(), vector))
        else:
            template.attributes.append((child.tag.upper(), child.text or ""))
    return template
