"""A small XML tree that keeps CDATA sections, printed the way the Ruby CLIs print XML.

The OpenNebula CLIs hold oned's replies in a Nokogiri (libxml2) document. Three views of it
matter here:

* :func:`to_xml` -- ``Nokogiri::XML::Node#to_xml``: two-space indentation, ``<X/>`` for an
  empty element, CDATA kept, and no re-indentation inside an element that has text;
* :func:`to_hash` -- ``XMLElement#to_hash``: an element whose only child is text becomes a
  string, any other element a dict (repeated names become lists; an empty element ``{}``);
* :func:`template_str` -- ``XMLElement#template_str``: ``KEY="value"`` lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.parsers import expat

__all__ = ["Element", "Text", "parse", "template_str", "to_hash", "to_xml"]


@dataclass
class Text:
    """Character data; ``cdata`` tells whether it came as ``<![CDATA[...]]>``."""

    value: str
    cdata: bool = False


@dataclass
class Element:
    name: str
    attributes: dict[str, str] = field(default_factory=dict)
    children: list[Element | Text] = field(default_factory=list)

    # -- navigation -------------------------------------------------------------------
    def elements(self, name: str | None = None) -> list[Element]:
        """Child elements, optionally only those called ``name``."""
        return [
            c for c in self.children if isinstance(c, Element) and (name is None or c.name == name)
        ]

    def find(self, path: str) -> Element | None:
        """First element at a relative ``A/B/C`` path (like ``at_xpath``)."""
        current: list[Element] = [self]
        for step in path.split("/"):
            current = [child for node in current for child in node.elements(step)]
            if not current:
                return None
        return current[0]

    def find_all(self, path: str) -> list[Element]:
        current: list[Element] = [self]
        for step in path.split("/"):
            current = [child for node in current for child in node.elements(step)]
        return current

    @property
    def text(self) -> str:
        """All character data below this element, concatenated (Nokogiri ``#text``)."""
        out = []
        for child in self.children:
            out.append(child.value if isinstance(child, Text) else child.text)
        return "".join(out)

    def append_text_element(self, name: str, value: str) -> Element:
        """Append ``<name>value</name>`` as plain text (Nokogiri ``Node#content=``)."""
        element = Element(name, children=[Text(value)] if value != "" else [])
        self.children.append(element)
        return element


class _Builder:
    def __init__(self):
        self.root: Element | None = None
        self.stack: list[Element] = []
        self.in_cdata = False

    def start(self, name, attributes):
        element = Element(name, dict(attributes))
        if self.stack:
            self.stack[-1].children.append(element)
        elif self.root is None:
            self.root = element
        self.stack.append(element)

    def end(self, _name):
        self.stack.pop()

    def data(self, value):
        if not self.stack:
            return
        children = self.stack[-1].children
        # Expat delivers text in pieces; merge pieces of the same kind.
        if children and isinstance(children[-1], Text) and children[-1].cdata == self.in_cdata:
            children[-1].value += value
        else:
            children.append(Text(value, self.in_cdata))

    def start_cdata(self):
        self.in_cdata = True
        if self.stack:  # an empty CDATA section still exists as a node
            self.stack[-1].children.append(Text("", True))

    def end_cdata(self):
        self.in_cdata = False


def parse(document: str | bytes) -> Element:
    """Parse a document; raises ``ValueError`` when it is not well-formed XML."""
    builder = _Builder()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.StartCdataSectionHandler = builder.start_cdata
    parser.EndCdataSectionHandler = builder.end_cdata
    try:
        parser.Parse(document, True)
    except expat.ExpatError as exc:
        raise ValueError(str(exc)) from None
    if builder.root is None:
        raise ValueError("no root element")
    return builder.root


# -- Nokogiri printing -------------------------------------------------------------------


def _escape_text(value: str) -> str:
    """libxml2's text escaping; without a declared encoding non-ASCII becomes ``&#xHH;``."""
    out = []
    for ch in value:
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == "\r":
            out.append("&#13;")
        elif ord(ch) > 0x7F:
            out.append(f"&#x{ord(ch):X};")
        else:
            out.append(ch)
    return "".join(out)


def _escape_attribute(value: str) -> str:
    out = _escape_text(value).replace('"', "&quot;")
    return out.replace("\n", "&#10;").replace("\t", "&#9;")


def _open_tag(element: Element) -> str:
    attributes = "".join(f' {k}="{_escape_attribute(v)}"' for k, v in element.attributes.items())
    return f"<{element.name}{attributes}"


def _inline(node: Element | Text) -> str:
    if isinstance(node, Text):
        return f"<![CDATA[{node.value}]]>" if node.cdata else _escape_text(node.value)
    if not node.children:
        return _open_tag(node) + "/>"
    return _open_tag(node) + ">" + "".join(_inline(c) for c in node.children) + f"</{node.name}>"


def _formatted(element: Element, level: int) -> str:
    indent = "  " * level
    if not element.children:
        return indent + _open_tag(element) + "/>"
    if any(isinstance(c, Text) for c in element.children):
        # libxml2 turns formatting off inside an element that holds character data.
        return indent + _inline(element)
    inner = "\n".join(_formatted(c, level + 1) for c in element.children)
    return f"{indent}{_open_tag(element)}>\n{inner}\n{indent}</{element.name}>"


def to_xml(element: Element) -> str:
    """Pretty XML of one element, without the ``<?xml?>`` line and without a final newline."""
    return _formatted(element, 0)


# -- XMLElement#to_hash ------------------------------------------------------------------


def _build_hash(target: dict, element: Element) -> None:
    children = element.children
    if len(children) == 1 and isinstance(children[0], Text):
        value: str | dict = children[0].value
    else:
        value = {}
        for child in children:
            if isinstance(child, Element):
                _build_hash(value, child)
    if element.name in target:
        existing = target[element.name]
        if isinstance(existing, list):
            existing.append(value)
        else:
            target[element.name] = [existing, value]
    else:
        target[element.name] = value


def to_hash(element: Element) -> dict:
    """``{name: value}`` for ``element`` as ``XMLElement#to_hash`` builds it."""
    result: dict = {}
    _build_hash(result, element)
    return result


# -- XMLElement#template_str -------------------------------------------------------------


def _first_text(element: Element) -> str | None:
    """REXML ``Element#text``: the first text (or CDATA) child, ``None`` when there is none."""
    for child in element.children:
        if isinstance(child, Text):
            return child.value
    return None


def _attr_to_str(value: str) -> str:
    return '"' + value.replace('"', '\\"') + '"'


def template_str(template: Element | None) -> str:
    """The ``KEY="value"`` rendering of a ``TEMPLATE`` element (indented vectors)."""
    if template is None:
        return ""
    lines = []
    for node in template.elements():
        if node.elements():
            parts = []
            for sub in node.elements():
                text = _first_text(sub)
                if text is not None:
                    parts.append(f"  {sub.name}={_attr_to_str(text)}")
            lines.append(f"{node.name}=[\n" + ",\n".join(parts) + " ]")
        else:
            text = _first_text(node)
            if text is None:
                continue
            lines.append(f"{node.name}={_attr_to_str(text)}")
    return "\n".join(lines)
