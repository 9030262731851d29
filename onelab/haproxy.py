"""Debian's HAProxy on the lab's client host, in front of every front-end's oned.

The no-VIP mode (``vip.enabled: false``): clients reach the leader through a load balancer
that asks each front-end's fencing agent ``GET /leader`` (200 only on the host that holds a
majority lease) and sends every request to the one server whose check passes::

    frontend oned            bind <listen>:2633 in the client host's namespace
    backend  oned_leader     option httpchk GET /leader
                             server vmm01 10.213.0.10:2633 check port <agent port>
                                 inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions

HAProxy runs in the foreground (``-db``) inside the client's network namespace and is
stopped with the lab's test; nothing listens outside the lab.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from onelab import proc, topology
from onelab.topology import HostSpec

PROGRAM = "haproxy"


def config_text(
    servers: Sequence[HostSpec],
    *,
    listen: str = "127.0.0.1",
    port: int = 2633,
    check_port: int = 2634,
    inter_ms: int = 500,
    fall: int = 2,
    rise: int = 2,
) -> str:
    """The HAProxy configuration of the oned backend, as ``docs/fence.md`` shows it."""
    lines = [
        "global",
        "    maxconn 256",
        "defaults",
        "    mode http",
        "    timeout connect 1s",
        "    timeout client 15s",
        "    timeout server 15s",
        "    timeout check 1s",
        "frontend oned",
        f"    bind {listen}:{port}",
        "    default_backend oned_leader",
        "backend oned_leader",
        "    option httpchk GET /leader",
        "    http-check expect status 200",
    ]
    for spec in servers:
        lines.append(
            f"    server {spec.name} {spec.ip}:{port} check port {check_port}"
            f" inter {inter_ms}ms fall {fall} rise {rise} on-marked-down shutdown-sessions"
        )
    return "\n".join(lines) + "\n"


class HAProxy:
    """A running HAProxy on the client host; use as a context manager."""

    def __init__(self, config: str, *, netns: str = topology.CLIENT_HOST.netns):
        if not shutil.which(PROGRAM):
            raise RuntimeError("haproxy is not installed (scripts/setup-system.sh installs it)")
        self.netns = netns
        self.config = config
        self._dir = tempfile.TemporaryDirectory(prefix="onelab-haproxy-")
        self.config_path = Path(self._dir.name) / "haproxy.cfg"
        self.config_path.write_text(config)
        self.process: subprocess.Popen | None = None

    def start(self) -> HAProxy:
        proc.run([PROGRAM, "-c", "-q", "-f", str(self.config_path)], timeout=30)
        self.log_path = Path(self._dir.name) / "haproxy.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, PROGRAM, "-db", "-f", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        self._dir.cleanup()

    def __enter__(self) -> HAProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
