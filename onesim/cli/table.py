"""Fixed-width tables and section headers as ``CLIHelper`` prints them.

Each cell is ``%-W.Ws`` (left) or ``%W.Ws`` (right): padded to the width *and cut* to it,
unless the column is "adjusted" (``%Ws``, wider values pass through). Cells are joined with
one space; data rows are ``rstrip``-ed, the column-header line is not. On a terminal headers
are bold (and underlined for the column-header line) and an ``on``/``error``-like value in the
``STAT`` column is coloured.
"""

from __future__ import annotations

import fcntl
import math
import os
import re
import struct
import sys
import termios
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from .cmdparser import CliError

__all__ = [
    "EXPAND_ALL",
    "Column",
    "ListOptions",
    "Listing",
    "Table",
    "color_state",
    "csv_line",
    "print_header",
    "terminal_width",
]

BOLD = "\033[1m"
UNDERLINE = "\033[4m"
RESET = "\033[0m"
GREEN = "\033[32m"
RED = "\033[31m"
YELLOW = "\033[33m"

_OK_STATES = {"runn", "rdy", "on", "SUCCESS", "RUNNING"}
_BAD_STATES = {
    "fail",
    "err",
    "error",
    "ERROR",
    "FAILED_DEPLOYING",
    "FAILED_DEPLOYING_NETS",
    "FAILED_UNDEPLOYING",
    "FAILED_UNDEPLOYING_NETS",
    "FAILED_SCALING",
}
_REGULAR_STATES = {
    "PENDING",
    "DEPLOYING",
    "DEPLOYING_NETS",
    "UNDEPLOYING",
    "UNDEPLOYING_NETS",
    "CONFIGURING",
    "WARNING",
}


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def print_header(text: str, underline: bool = True, out: TextIO | None = None) -> None:
    """``CLIHelper.print_header``: the text (ANSI bold/underline on a TTY) and a newline."""
    out = sys.stdout if out is None else out
    if _isatty(out):
        out.write(BOLD + (UNDERLINE if underline else "") + text + RESET)
    else:
        out.write(text)
    out.write("\n")


def color_state(text: str, out: TextIO | None = None) -> str:
    """``CLIHelper.color_state``: colour a padded state cell when printing to a TTY."""
    out = sys.stdout if out is None else out
    if not _isatty(out):
        return text
    state = text.strip()
    if state in _OK_STATES:
        return GREEN + text + RESET
    if state in _BAD_STATES:
        return RED + text + RESET
    if state in _REGULAR_STATES:
        return YELLOW + text + RESET
    return text


def csv_line(fields: Sequence[object], delimiter: str = ",") -> str:
    """``CSV.generate_line(fields, col_sep: delimiter)`` of Ruby's csv (3.x), newline included.

    ``None`` is an empty unquoted cell; an empty string is ``""``; a field holding a quote,
    CR, LF or **any character** of the delimiter (Ruby builds a character class from it, so a
    multi-character delimiter quotes on each of its characters) is quoted, quotes doubled.
    """
    special = set('\r\n"') | set(delimiter)
    cells = []
    for value in fields:
        if value is None:
            cells.append("")
            continue
        text = str(value)
        if text == "" or special.intersection(text):
            cells.append('"' + text.replace('"', '""') + '"')
        else:
            cells.append(text)
    return delimiter.join(cells) + "\n"


def _winsize_columns(fd: int) -> int | None:
    try:
        packed = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return None
    columns = struct.unpack("HHHH", packed)[1]
    return columns or None


def terminal_width(out: TextIO | None = None) -> int | None:
    """Width used to expand columns: stdout's terminal, else the controlling terminal.

    Ruby's CLI falls back to ``IO.console`` (``/dev/tty``) when stdout is a pipe, so a
    command run from an interactive shell with ``| cat`` still expands; a daemon or a
    process without a controlling terminal gets no expansion.
    """
    out = sys.stdout if out is None else out
    if _isatty(out):
        return _winsize_columns(out.fileno())
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return None
    try:
        if not os.isatty(fd):
            return None
        return _winsize_columns(fd)
    finally:
        os.close(fd)


@dataclass
class Column:
    name: str
    description: str
    value: Callable[[object], object]
    size: int = 5
    left: bool = False
    adjust: bool = False
    expand: bool = False

    def format(self, value: object) -> str:
        text = "" if value is None else str(value)
        if self.adjust:
            return text.ljust(self.size) if self.left else text.rjust(self.size)
        cut = text[: self.size]
        return cut.ljust(self.size) if self.left else cut.rjust(self.size)


@dataclass
class Table:
    """A ``CLIHelper::ShowTable``: its columns; :class:`Listing` shows records with them."""

    columns: list[Column]
    stat_column: str = "STAT"

    def describe(self, out: TextIO | None = None) -> None:
        out = sys.stdout if out is None else out
        for column in self.columns:
            out.write(f"{column.name:<20}: {column.description:<20}\n")

    def show(self, records: Sequence[object], out: TextIO | None = None) -> None:
        """``show(data, {})``: no list options, no terminal expansion."""
        out = sys.stdout if out is None else out
        Listing(self, ListOptions(), out, None).show(records, self.stat_column)


def _ruby_to_i(text: str) -> int:
    """``String#to_i``: the leading integer, 0 if none."""
    match = re.match(r"\s*([-+]?\d+)", text or "")
    return int(match.group(1)) if match else 0


def _ruby_to_f(text: str) -> float:
    """``String#to_f``: the leading decimal number, 0.0 if none."""
    match = re.match(r"\s*([-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?)", text or "")
    return float(match.group(1)) if match else 0.0


def _ruby_round(value: float) -> int:
    """``Float#round``: halves away from zero."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


#: ``CLIHelper::FILTER_OPS``; tried in this order, so ``<=``/``>=`` never match (``<``/``>``
#: win, leaving ``=`` in the value), as in Ruby.
FILTER_OPS = ("=", "!=", "<", "<=", ">", ">=", "~")
_FILTER_RE = re.compile(r"^(.*?)(" + "|".join(re.escape(op) for op in FILTER_OPS) + r")(.*?)$")

#: ``options[:expand]`` given without a value (``--expand``): expand every shown column.
EXPAND_ALL = "all"


@dataclass
class ListOptions:
    """The ``CLIHelper::OPTIONS`` of a ``list`` command, as the parser leaves them."""

    columns: list | None = None  # --list
    filter: list | None = None  # --filter
    operator: str | None = None  # --operator
    adjust: list | None = None  # --adjust
    size: list | None = None  # --size
    expand: object = None  # --expand: None (not given), EXPAND_ALL or a list
    no_expand: bool = False
    no_header: bool = False
    csv_delimiter: str | None = None  # --csv (with --csv-del)


def _upper(name) -> str:
    if name is None:  # Array options turn "a,,b" into ["a", nil, "b"]
        raise CliError("undefined method `upcase' for nil:NilClass")
    return str(name).upper()


class Listing:
    """``CLIHelper::ShowTable#show`` of a list of records, step by step as Ruby does it.

    All values are computed first (every default column, in default order, even the ones
    ``--list`` hides), then ``--filter`` drops rows, then sizes are settled (``adjust``, then
    ``--size``, then expansion), then the header and the rows are printed.
    """

    def __init__(self, table: Table, options: ListOptions, out: TextIO, expand_to: int | None):
        self.columns = {c.name: c for c in table.columns}
        self.default = [c.name for c in table.columns]
        self.options = options
        self.out = out
        self.expand_to = expand_to
        self.cli = (
            [_upper(c) for c in options.columns]
            if options.columns is not None
            else list(self.default)
        )

    # -- data ---------------------------------------------------------------------------
    def _data(self, records) -> list[list]:
        for index, name in enumerate(self.cli):  # unknown --list names join the data row
            if name not in self.default:
                self.default.insert(index + 1, name)
        rows = []
        for record in records:
            row = []
            for name in self.default:
                column = self.columns.get(name)
                if column is None:
                    row.append(None)
                    continue
                value = column.value(record)
                row.append("" if value is None else str(value))
            rows.append(row)
        if self.options.filter:
            rows = self._filter(rows)
        return rows

    def _filter(self, rows: list[list]) -> list[list]:
        operator = (self.options.operator or "AND").upper()
        stems = []
        for expression in self.options.filter:
            if expression is None:  # "a,,b" gives a nil element
                raise CliError("undefined method `match' for nil:NilClass")
            match = _FILTER_RE.match(expression)
            if match is None:
                raise CliError(f"Expression '{expression}' incorrect")
            left, op, right = match.groups()
            if left.upper() not in self.default:
                raise CliError(f"Column '{left}' not found")
            stems.append((self.default.index(left.upper()), op, right))

        def test(value, op, right) -> bool:
            if value is None:  # a --list name that is no column: nil only knows == and !=
                if op in ("=", "!="):
                    return op == "!="
                method = "include?" if op == "~" else op
                raise CliError(f"undefined method `{method}' for nil:NilClass")
            return {
                "=": value == right,
                "!=": value != right,
                "<": value < right,
                "<=": value <= right,
                ">": value > right,
                ">=": value >= right,
                "~": right in value,
            }[op]

        kept = []
        for row in rows:
            passed = True
            for index, op, right in stems:
                if test(row[index], op, right):
                    if operator == "OR":
                        passed = True
                        break
                else:
                    passed = False
                    if operator == "AND":
                        break
            if passed:
                kept.append(row)
        return kept

    # -- sizes --------------------------------------------------------------------------
    def _column(self, name: str) -> Column:
        column = self.columns.get(name)
        if column is None:
            raise CliError("undefined method `[]' for nil:NilClass")
        return column

    def _sizes(self, rows: list[list]) -> None:
        options = self.options
        # config_adjust_data/config_expand_data read every shown column's settings: a name
        # --list added that is no column fails here, before anything is printed.
        adjust = list(options.adjust or []) + [
            n.lower() for n in self.cli if self._column(n).adjust
        ]
        expand_all = options.expand == EXPAND_ALL
        expand_data: list[str] = []
        if expand_all:
            expand_data = list(self.cli)
        elif options.expand is not None:
            expand_data = list(options.expand)
        expand_data += [n.lower() for n in self.cli if self._column(n).expand]
        if not expand_all:
            for name in adjust:
                name = _upper(name)
                # Ruby looks the width up at the column's place in the --list order, in rows
                # kept in default order (they coincide without --list).
                index = self.cli.index(name) if name in self.cli else None
                if index is None and rows:
                    raise CliError("no implicit conversion from nil to integer")
                widths = [len(row[index] or "") for row in rows] if rows else []
                widest = max(widths) if widths else None
                if widest is not None and widest > self._column(name).size:
                    self._column(name).adjust = True
                    self._column(name).size = widest
        for item in options.size or []:
            name, _, size = str(item).partition("=")
            column = self.columns.get(_upper(name))
            if column is None:
                raise CliError("undefined method `[]=' for nil:NilClass")
            column.adjust = False
            column.size = _ruby_to_i(size)
        if not options.no_expand:
            self._expand(expand_data)

    def _expand(self, expand_data: list[str]) -> None:
        if not expand_data or self.expand_to is None:
            return
        shown = [self._column(n) for n in self.cli]
        wanted = []
        for item in expand_data:
            name, eq, prop = str(item).partition("=")
            wanted.append((_upper(name), prop if eq else None))
        total = sum(c.size for c in shown)
        columns_size = sum(self._column(name).size for name, _ in wanted)
        available = self.expand_to - (len(self.cli) - 1)
        left = available - total
        remaining = left
        if left <= 0:
            return
        for name, prop in wanted:
            column = self.columns.get(name)
            if column is None:
                raise CliError(f"Unknown column {name}")
            share = _ruby_to_f(prop) if prop is not None else column.size / columns_size
            grow = _ruby_round(left * share)
            column.adjust = False
            column.size += grow
            remaining -= grow
        if remaining > 0:
            self.columns[wanted[-1][0]].size += remaining
        overflow = sum(c.size for c in shown) - available
        if overflow:
            self.columns[wanted[-1][0]].size -= overflow

    # -- printing -----------------------------------------------------------------------
    def _cell(self, name: str, value) -> str:
        column = self.columns.get(name)
        if column is None:
            raise CliError(f"Column {name} not defined.")
        return column.format(value)

    def show(self, records, stat_column: str = "STAT") -> None:
        rows = self._data(records)
        self._sizes(rows)
        options, out = self.options, self.out
        if options.csv_delimiter is not None:
            if not options.no_header:
                out.write(csv_line(self.cli, options.csv_delimiter))
            for row in rows:
                out.write(
                    csv_line([row[self.default.index(n)] for n in self.cli], options.csv_delimiter)
                )
            return
        if not options.no_header:
            print_header(" ".join(self._cell(n, n) for n in self.cli), out=out)
        for row in rows:
            cells = []
            for name in self.cli:
                if name not in self.default:
                    continue
                cell = self._cell(name, row[self.default.index(name)])
                if name == stat_column:
                    cell = color_state(cell, out)
                cells.append(cell)
            out.write(" ".join(cells).rstrip() + "\n")
