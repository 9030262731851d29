"""Fixtures for the simulated CLI tests: stub oned servers, a temp HOME, a CLI runner.

The CLIs run as subprocesses (the console scripts Salt calls), in a new session so that they
have no controlling terminal (no column expansion), with a clean environment: only the
variables a test sets reach them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from stub_oned import SilentServer, StubOned, success_string  # noqa: E402

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
    """A raftstatus reply body, byte for byte the one-line form of reference §2.2."""
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
    """``one.zone.info`` body as in reference §2.2 (``Zone::to_xml``)."""
    pool = "".join(server_xml(*s) for s in servers)
    return (
        f"<ZONE><ID>{zone_id}</ID><NAME>{name}</NAME><STATE>{state}</STATE><TEMPLATE>"
        f"<ENDPOINT><![CDATA[{endpoint}]]></ENDPOINT></TEMPLATE>"
        f"<SERVER_POOL>{pool}</SERVER_POOL></ZONE>"
    )


@pytest.fixture
def stubs():
    """Factory of started stub servers; all are stopped at teardown."""
    started: list = []

    def make(replies=None, *, silent: bool = False):
        server = SilentServer() if silent else StubOned(replies or {}).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def raft_server(stubs):
    """A stub front-end answering raftstatus with the given RAFT document."""

    def make(raft: str):
        return stubs({"one.zone.raftstatus": success_string(raft)})

    return make


@pytest.fixture
def home(tmp_path) -> Path:
    """A HOME with ``~/.one/one_auth`` holding the oneadmin secret."""
    home = tmp_path / "home"
    (home / ".one").mkdir(parents=True)
    (home / ".one" / "one_auth").write_text(ONE_AUTH_SECRET + "\n")
    return home


@pytest.fixture
def base_env(home) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}


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


@pytest.fixture
def onezone(base_env):
    """``onezone(*args, endpoint=..., env_extra=...)`` with ONE_XMLRPC pointing at a stub."""

    def call(*args: str, endpoint: str | None = None, env_extra: dict | None = None, **kw):
        env = dict(base_env)
        if endpoint is not None:
            env["ONE_XMLRPC"] = endpoint
        env.update(env_extra or {})
        return run("onezone", *args, env=env, **kw)

    return call
