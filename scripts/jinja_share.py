#!/usr/bin/env python3
"""Share of Jinja statement lines in SLS/Jinja files.

Counted lines: non-blank lines outside comments (YAML ``#`` lines and Jinja ``{# #}``
blocks). A line is a Jinja statement line when it belongs to a ``{% ... %}`` tag (the
opening line and the continuation lines of a tag spread over several lines).

    python scripts/jinja_share.py [--max PERCENT] FILE...

With ``--max`` the exit status is 1 when a file is above that share.
"""

import argparse
import re
import sys
from pathlib import Path

_DELIMITERS = re.compile(r"(\{%|%\}|\{#|#\})")


def share(text):
    """``(statement_lines, counted_lines)`` of one file's text."""
    statements = counted = 0
    in_comment = in_statement = False
    for line in text.splitlines():
        starts_in_comment = in_comment
        is_statement = in_statement
        code = []
        for piece in _DELIMITERS.split(line):
            if piece == "{#" and not in_statement:
                in_comment = True
            elif piece == "#}" and in_comment:
                in_comment = False
            elif in_comment:
                continue
            elif piece == "{%":
                in_statement = is_statement = True
            elif piece == "%}":
                in_statement = False
            else:
                code.append(piece)
        text_outside_comments = "".join(code).strip()
        if not line.strip() or (starts_in_comment and in_comment):
            continue
        if not is_statement and (
            not text_outside_comments or text_outside_comments.startswith("#")
        ):
            continue  # a comment line (YAML or Jinja)
        counted += 1
        statements += is_statement
    return statements, counted


def percent(path):
    statements, counted = share(Path(path).read_text())
    return 100.0 * statements / counted if counted else 0.0, statements, counted


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max", type=float, default=None, help="highest allowed share in %%")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    worst = 0.0
    for path in args.files:
        value, statements, counted = percent(path)
        worst = max(worst, value)
        print(f"{value:5.1f} %  {statements:3d}/{counted:<3d}  {path}")
    return 1 if args.max is not None and worst > args.max else 0


if __name__ == "__main__":
    sys.exit(main())
