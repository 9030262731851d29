"""What every part of a loopback zone shares: a server's addresses and paths, the options."""

from __future__ import annotations

import os
import random
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 2633
RAFT_STATES = {0: "solo", 1: "candidate", 2: "follower", 3: "leader"}


class ZoneError(RuntimeError):
    """The zone could not be brought to the requested state."""


@dataclass
class ZoneServer:
    id: int
    name: str
    address: str
    port: int
    location: str
    pid: int | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}:{self.port}/RPC2"

    @property
    def env(self) -> dict[str, str]:
        """Environment to run OpenNebula commands against this server."""
        root = Path(self.location)
        return {
            "ONE_LOCATION": str(root),
            "ONE_AUTH": str(root.parent / ".one" / "one_auth"),
            "ONE_XMLRPC": self.endpoint,
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        }

    @property
    def conf_path(self) -> Path:
        return Path(self.location) / "etc" / "oned.conf"

    @property
    def db_path(self) -> Path:
        return Path(self.location) / "var" / "one.db"

    @property
    def log_path(self) -> Path:
        return Path(self.location) / "var" / "oned.log"

    @property
    def lock_path(self) -> Path:
        return Path(self.location) / "var" / ".lock"


@dataclass
class ZoneOptions:
    election_ms: int = 1000
    broadcast_ms: int = 200
    xmlrpc_timeout_ms: int = 500
    warmup_ms: int = 1000
    log_retention: int = 250000
    log_purge_timeout_s: int = 60
    limit_purge: int = 100000
    hooks: bool = True
    db: str = "sqlite"
    #: For ``db="mysql"``: ``server``, ``port``, ``user``, ``passwd`` of a MariaDB/MySQL server;
    #: server ``i`` uses its own database ``one_<net>_<i>`` there.
    mysql: dict | None = None
    #: How a follower gets the leader's DB: "python" (SQLite online-backup API / SQL copy,
    #: fast) or "onedb" (``onedb backup`` + ``onedb restore -f``, the documented procedure;
    #: SQLite only, since a MySQL dump always restores into its original database name).
    db_copy: str = "python"

    def validate(self) -> None:
        if self.db not in ("sqlite", "mysql"):
            raise ValueError("LocalZone supports the sqlite and mysql backends")
        if self.db == "mysql" and not self.mysql:
            raise ValueError("db='mysql' needs mysql={server, port, user, passwd}")


def db_name(net: str | None, index: int) -> str:
    """MySQL database of server ``index`` of the zone on ``net`` (``db="mysql"`` only)."""
    return f"one_{(net or '').replace('.', '_')}_{index}"


def free_net(port: int) -> str:
    """A random ``127.X.Y`` whose first addresses have ``port`` free."""
    for _ in range(50):
        net = f"127.{random.randint(2, 254)}.{random.randint(1, 254)}"
        try:
            with socket.socket() as sock:
                sock.bind((f"{net}.1", port))
        except OSError:
            continue
        return net
    raise ZoneError("no free loopback network found")


def wait(
    condition: Callable[[], object],
    deadline: float,
    what: str,
    fail_fast: Callable[[], bool] | None = None,
) -> None:
    """Poll ``condition`` every 50 ms until it holds; :class:`ZoneError` at ``deadline``.

    ``fail_fast`` ends the wait early (the process being waited for exited).
    """
    while True:
        if condition():
            return
        if fail_fast is not None and fail_fast():
            raise ZoneError(f"gave up waiting for {what}: the process exited")
        if time.monotonic() >= deadline:
            raise ZoneError(f"timed out waiting for {what}")
        time.sleep(0.05)
