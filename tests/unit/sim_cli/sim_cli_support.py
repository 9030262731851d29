"""Helpers shared by the simulated-CLI tests: reply bodies as oned writes them, a CLI runner.

(A uniquely named module rather than ``conftest`` so that test files can import it whatever
other test directories are collected in the same run.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
ONE_AUTH_SECRET = "oneadmin:opennebula"


def raft_xml(
    server_id: int,
    state: int,
    term: int = 3,
    votedfor: int = 0,
    commit: int = 120,
    log_index: int = 120,
    log_term: int = 3,
    fedlog_index: str = "-1",
) -> str:
    """A raftstatus reply body, byte for byte the one-line form of docs/opennebula-raft.md §2.2."""
    return (
        f"<RAFT><SERVER_ID>{server_id}</SERVER_ID><STATE>{state}</STATE><TERM>{term}</TERM>"
        f"<VOTEDFOR>{votedfor}</VOTEDFOR><COMMIT>{commit}</COMMIT><LOG_INDEX>{log_index}"
        f"</LOG_INDEX><LOG_TERM>{log_term}</LOG_TERM><FEDLOG_INDEX>{fedlog_index}"
        "</FEDLOG_INDEX></RAFT>"
    )


def server_xml(server_id: str, name: str, endpoint: str) -> str:
    """One SERVER as oned stores it: CDATA values, vector attributes in alphabetical order."""
    return (
        f"<SERVER><ENDPOINT><![CDATA[{endpoint}]]></ENDPOINT><ID><![CDATA[{server_id}]]></ID>"
        f"<NAME><![CDATA[{name}]]></NAME></SERVER>"
    )


def zone_xml(
    servers: list[tuple[str, str, str]],
    zone_id: int = 0,
    name: str = "OpenNebula",
    state: int = 0,
    endpoint: str = "http://localhost:2633/RPC2",
) -> str:
    """``one.zone.info`` body as in docs/opennebula-raft.md §2.2 (``Zone::to_xml``)."""
    pool = "".join(server_xml(*s) for s in servers)
    return (
        f"<ZONE><ID>{zone_id}</ID><NAME>{name}</NAME><STATE>{state}</STATE><TEMPLATE>"
        f"<ENDPOINT><![CDATA[{endpoint}]]></ENDPOINT></TEMPLATE>"
        f"<SERVER_POOL>{pool}</SERVER_POOL></ZONE>"
    )


def run(program: str, *args: str, env: dict[str, str], stdin: str | None = None, timeout=60):
    """Run a console script; return the CompletedProcess (text mode, no controlling TTY)."""
    return subprocess.run(
        [str(BIN / program), *args],
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )
