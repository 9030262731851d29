"""Helpers shared by the onedb functional tests (a uniquely named module, not ``conftest``,
so test files can import it whatever other test directories are collected with them)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
DB_PASSWORD = "Tr1cky pass'word\"#;$HOME"  # quotes, spaces, shell and option-file specials
ONE_AUTH_SECRET = "oneadmin:opennebula"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sql_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def run_onedb(*args: str, env: dict[str, str], stdin: str = "", timeout: float = 90):
    return subprocess.run(
        [str(BIN / "onedb"), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )
