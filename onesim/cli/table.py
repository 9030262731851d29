"""Fixed-width tables and section headers as ``CLIHelper`` prints them.

Each cell is ``%-W.Ws`` (left) or ``%W.Ws`` (right): padded to the width *and cut* to it,
unless the column is "adjusted" (``%Ws``, wider values pass through). Cells are joined with
one space; data rows are ``rstrip``-ed, the column-header line is not. On a terminal headers
are bold (and underlined for the column-header line) and an ``on``/``error``-like value in the
``STAT`` column is coloured.
"""

from __future__ import annotations

import fcntl
import os
import struct
import sys
import termios
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

__all__ = ["Column", "Table", "color_state", "csv_line", "print_header", "terminal_width"]

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
    """A ``CLIHelper::ShowTable``: columns, then :meth:`show` of a list of records."""

    columns: list[Column]
    stat_column: str = "STAT"
    #: For a ``--list`` selection: the full table and the chosen column indexes. Ruby still
    #: evaluates every default column (and makes their calls) before picking the shown ones.
    source: tuple[Table, list[int]] | None = None
    _by_name: dict[str, Column] = field(init=False)

    def __post_init__(self):
        self._by_name = {c.name: c for c in self.columns}

    def describe(self, out: TextIO | None = None) -> None:
        out = sys.stdout if out is None else out
        for column in self.columns:
            out.write(f"{column.name:<20}: {column.description:<20}\n")

    def rows(self, records: Sequence[object]) -> list[list[str]]:
        """Evaluate every column for every record (all values first, as Ruby does)."""
        if self.source is not None:
            full, indexes = self.source
            return [[row[i] for i in indexes] for row in full.rows(records)]
        return [
            ["" if (v := c.value(r)) is None else str(v) for c in self.columns] for r in records
        ]

    def _fit(self, rows: list[list[str]], expand_to: int | None, no_expand: bool) -> None:
        for index, column in enumerate(self.columns):
            if column.adjust and rows:
                widest = max(len(row[index]) for row in rows)
                if widest > column.size:
                    column.size = widest
        expanding = [c for c in self.columns if c.expand]
        if no_expand or not expanding or expand_to is None:
            return
        total = sum(c.size for c in self.columns)
        available = expand_to - (len(self.columns) - 1)
        left = available - total
        if left <= 0:
            return
        expand_total = sum(c.size for c in expanding)
        remaining = left
        for column in expanding:
            grow = int(left * (column.size / expand_total) + 0.5)  # Ruby rounds half up
            column.adjust = False
            column.size += grow
            remaining -= grow
        if remaining > 0:
            expanding[-1].size += remaining
        overflow = sum(c.size for c in self.columns) - available
        if overflow:
            expanding[-1].size -= overflow

    def select(self, names: Sequence[str]) -> Table:
        """The table with only the columns named (``--list``), in that order."""
        indexes = []
        for name in names:
            column = self._by_name.get(name.upper())
            if column is None:
                from .cmdparser import CliError

                raise CliError(f"Column {name.upper()} not defined.")
            indexes.append(self.columns.index(column))
        return Table([self.columns[i] for i in indexes], self.stat_column, (self, indexes))

    def header(self) -> str:
        return " ".join(c.format(c.name) for c in self.columns)

    def show(
        self,
        records: Sequence[object],
        out: TextIO | None = None,
        *,
        no_header: bool = False,
        expand_to: int | None = None,
        no_expand: bool = False,
        csv_delimiter: str | None = None,
    ) -> None:
        out = sys.stdout if out is None else out
        rows = self.rows(records)
        if csv_delimiter is not None:  # --csv: raw values, no widths, no colours
            if not no_header:
                out.write(csv_line([c.name for c in self.columns], csv_delimiter))
            for row in rows:
                out.write(csv_line(row, csv_delimiter))
            return
        self._fit(rows, expand_to, no_expand)
        if not no_header:
            print_header(self.header(), out=out)
        for row in rows:
            cells = []
            for column, value in zip(self.columns, row, strict=True):
                cell = column.format(value)
                if column.name == self.stat_column:
                    cell = color_state(cell, out)
                cells.append(cell)
            out.write(" ".join(cells).rstrip() + "\n")
