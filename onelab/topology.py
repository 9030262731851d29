"""Fixed names and addresses of the lab (see docs/architecture.md, "Lab").

Everything the lab creates on the machine is found again from these names, which is what lets
``onelab down`` clean up after a run that crashed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

BRIDGE = "oneha0"
BRIDGE_IP = "10.213.0.1"
PREFIX_LEN = 24
VIP = "10.213.0.100"
NETNS_PREFIX = "oneha-"
# Host-side veth names are "<prefix><host>" (at most 15 characters: "onehv-client").
VETH_PREFIX = "onehv-"

MASTER = "salt"
CLIENT = "client"
FRONTEND_NAMES = ("vmm01", "vmm02", "vmm03", "vmm04", "vmm05")
ALLOWED_SIZES = (3, 5)

# Short on purpose: Salt's unix sockets live below it (108-byte limit on socket paths).
DEFAULT_STATE_DIR = Path("/run/onelab")
STATE_DIR_ENV = "ONELAB_STATE_DIR"


@dataclass(frozen=True)
class HostSpec:
    """One lab host: its name, address and role (``frontend``, ``master`` or ``client``)."""

    name: str
    ip: str
    role: str

    @property
    def netns(self) -> str:
        return NETNS_PREFIX + self.name

    @property
    def veth(self) -> str:
        return VETH_PREFIX + self.name

    @property
    def cidr(self) -> str:
        return f"{self.ip}/{PREFIX_LEN}"


def frontend(index: int) -> HostSpec:
    """Front-end number ``index`` (1-based): ``vmm0<index>`` at ``10.213.0.<index>0``."""
    return HostSpec(FRONTEND_NAMES[index - 1], f"10.213.0.{index * 10}", "frontend")


MASTER_HOST = HostSpec(MASTER, "10.213.0.2", "master")
CLIENT_HOST = HostSpec(CLIENT, "10.213.0.200", "client")
ALL_HOSTS = (*(frontend(i) for i in range(1, len(FRONTEND_NAMES) + 1)), MASTER_HOST, CLIENT_HOST)
BY_NAME = {spec.name: spec for spec in ALL_HOSTS}


def frontends(count: int) -> list[HostSpec]:
    """The first ``count`` front-ends; only odd Raft sizes 3 and 5 are supported."""
    if count not in ALLOWED_SIZES:
        raise ValueError(f"a lab has 3 or 5 front-ends, not {count}")
    return [frontend(i) for i in range(1, count + 1)]


def host(name: str) -> HostSpec:
    """Look a host up by name, with a clear error for typos."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown lab host {name!r} (known: {', '.join(BY_NAME)})") from None


def state_dir() -> Path:
    """The lab's state directory (``$ONELAB_STATE_DIR`` or ``/run/onelab``)."""
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


def hosts_file_lines() -> list[str]:
    """``/etc/hosts`` entries every lab host gets, so names resolve without any DNS."""
    return [f"{spec.ip}\t{spec.name}" for spec in ALL_HOSTS]
