"""Read the ``DB`` section of ``oned.conf`` the way ``onedb`` does (Augeas ``Oned.lns``).

``onedb`` asks Augeas for ``DB/BACKEND``, ``DB/SERVER``, ``DB/PORT``, ``DB/USER``,
``DB/PASSWD`` and ``DB/DB_NAME``, strips one pair of surrounding double quotes and then every
backslash from each value. A missing file or key yields ``None``.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["OnedConfError", "db_section", "oned_conf_path"]

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<quoted>"(?:[^"\\]|\\.)*")
  | (?P<punct>[=\[\],])
  | (?P<bare>[^\s=\[\],"\#]+)
    """,
    re.VERBOSE | re.DOTALL,
)


class OnedConfError(Exception):
    """oned.conf could not be parsed (``Unable to parse oned.conf: ...``)."""


def oned_conf_path(one_location: str | None) -> Path:
    """``/etc/one/oned.conf``, or ``$ONE_LOCATION/etc/oned.conf`` for self-contained installs."""
    if one_location:
        return Path(one_location) / "etc" / "oned.conf"
    return Path("/etc/one/oned.conf")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise OnedConfError(f"unexpected character at offset {position}")
        kind = match.lastgroup
        if kind not in ("space", "comment"):
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


def _sections(text: str) -> dict[str, list]:
    """``{NAME: [value or {KEY: value}]}`` for every top-level attribute, raw values kept."""
    tokens = _tokens(text)
    result: dict[str, list] = {}
    i = 0

    def value_at(j: int) -> tuple[str, int]:
        if j >= len(tokens) or tokens[j][0] not in ("quoted", "bare"):
            raise OnedConfError("value expected")
        return tokens[j][1], j + 1

    while i < len(tokens):
        kind, name = tokens[i]
        if kind != "bare" or i + 1 >= len(tokens) or tokens[i + 1][1] != "=":
            raise OnedConfError(f"attribute expected near {name!r}")
        i += 2
        if i < len(tokens) and tokens[i][1] == "[":
            i += 1
            vector: dict[str, str] = {}
            while i < len(tokens) and tokens[i][1] != "]":
                if tokens[i][1] == ",":
                    i += 1
                    continue
                key = tokens[i][1]
                if i + 1 >= len(tokens) or tokens[i + 1][1] != "=":
                    raise OnedConfError(f"'=' expected after {key!r}")
                vector[key.upper()], i = value_at(i + 2)
            if i >= len(tokens):
                raise OnedConfError(f"unterminated vector {name!r}")
            i += 1
            result.setdefault(name.upper(), []).append(vector)
        else:
            value, i = value_at(i)
            result.setdefault(name.upper(), []).append(value)
    return result


def _clean(value: str | None) -> str | None:
    """``chomp('"')`` at both ends, then drop every backslash (what onedb does)."""
    if value is None:
        return None
    if value.endswith('"'):
        value = value[:-1]
    if value.startswith('"'):
        value = value[1:]
    return value.replace("\\", "")


def db_section(path: Path) -> dict[str, str | None]:
    """``backend, server, port, user, passwd, db_name`` from the file's ``DB`` vector."""
    keys = {
        "backend": "BACKEND",
        "server": "SERVER",
        "port": "PORT",
        "user": "USER",
        "passwd": "PASSWD",
        "db_name": "DB_NAME",
    }
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return dict.fromkeys(keys)
    except OSError as exc:
        raise OnedConfError(str(exc)) from None
    vectors = [v for v in _sections(text).get("DB", []) if isinstance(v, dict)]
    if len(vectors) > 1:
        raise OnedConfError("Multiple DB sections")
    vector = vectors[0] if vectors else {}
    return {name: _clean(vector.get(key)) for name, key in keys.items()}
