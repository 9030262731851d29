"""Fixtures for the simulated CLI tests: stub oned servers, a temp HOME, a CLI runner.

The CLIs run as subprocesses (the console scripts Salt calls), in a new session so that they
have no controlling terminal (no column expansion), with a clean environment: only the
variables a test sets reach them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from sim_cli_support import ONE_AUTH_SECRET, run  # noqa: E402
from stub_oned import SilentServer, StubOned, success_string  # noqa: E402


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
