"""Helpers for the beacon and reactor unit tests: import the beacon from its path, fake the
``onenebula_zone`` execution module, and render reactor/orchestration SLS the way Salt does."""

import importlib.util
from pathlib import Path

from salt.exceptions import CommandExecutionError

REPO_ROOT = Path(__file__).resolve().parents[3]
STATE_NAMES = {0: "solo", 1: "candidate", 2: "follower", 3: "leader"}


def load_beacon(name="onenebula_raft"):
    path = REPO_ROOT / "_beacons" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"onenebula_test_beacons_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def raft(state, server_id=0, term=1, votedfor=None):
    """A ``onenebula_zone.raft_status`` result."""
    return {
        "server_id": server_id,
        "state": state,
        "state_name": STATE_NAMES[state],
        "term": term,
        "votedfor": server_id if votedfor is None else votedfor,
        "commit": 10,
        "log_index": 10,
        "log_term": term,
        "fedlog_index": -1,
    }


def server(server_id, state, term=1):
    """A server row of ``onenebula_zone.show``."""
    error = state == "error"
    return {
        "id": server_id,
        "name": f"vmm0{server_id + 1}",
        "endpoint": f"http://10.213.0.{(server_id + 1) * 10}:2633/RPC2",
        "state": state,
        "term": None if error else term,
        "votedfor": None if error else 0,
        "commit": None if error else 10,
        "log_index": None if error else 10,
        "fedlog_index": None if error else -1,
    }


class FakeZone:
    """Scripted ``onenebula_zone.raft_status`` / ``onenebula_zone.show``."""

    def __init__(self):
        self.status = raft(2)
        self.down = None
        self.servers = []
        self.show_calls = 0

    def raft_status(self, timeout=2):
        if self.down is not None:
            raise CommandExecutionError(self.down, info={"reachable": False})
        return dict(self.status)

    def show(self, zone=0, refresh=False):
        self.show_calls += 1
        return {"id": zone, "name": "OpenNebula", "servers": [dict(s) for s in self.servers]}

    def functions(self):
        return {"onenebula_zone.raft_status": self.raft_status, "onenebula_zone.show": self.show}
