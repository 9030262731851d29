"""The real agent processes against a loopback zone of simulated oned (onesim), one agent per
server, each with a fake ``ip``/``arping``/``service`` in its own directory that records what
it does to "its" VIP. Proves the whole loop: leases, claims, drops, the endpoint, and that
two agents never hold the VIP at once across leader faults."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.load import FENCE_AGENT as AGENT

from onelab.proc import wait_until
from onesim.zone_local import LocalZone

# The host's own python3, as the service runs it; the test's interpreter where there is none.
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
# ELECTION_TIMEOUT 3000 ms, heartbeats every 100 ms. Agents: lease 0.5 x 3000 = 1500 ms,
# rounds every 250 ms with 600 ms per call, margin 250 ms: 1500 + 250 + 100 + 250 < 3000.
# (Shorter leases lapse now and then on a loaded 2-core machine: safe, but the VIP flaps.)
ZONE = {"election_ms": 3000, "broadcast_ms": 100, "xmlrpc_timeout_ms": 250, "warmup_ms": 300}
AGENT_SETTINGS = {"poll_interval": 0.25, "lease_fraction": 0.5, "timeout": 0.6, "margin_ms": 250}
LEASE_S = 1.5
VIP = "10.213.99.100/24"

FAKE_IP = """#!/bin/sh
# Fake ip(8): the VIP is "on" this host while $DIR/present exists; changes are logged.
DIR=@DIR@
log() { echo "$(date +%s.%N) $*" >> "$DIR/events"; }
case "$*" in
    "-o address show dev "*)
        [ -e "$DIR/present" ] && echo "7: $5    inet $(cat "$DIR/present") scope global $5"
        exit 0 ;;
    "address add "*)
        if [ -e "$DIR/present" ]; then echo "RTNETLINK answers: File exists" >&2; exit 2; fi
        echo "$3" > "$DIR/present"; log add; exit 0 ;;
    "address del "*)
        if [ ! -e "$DIR/present" ]; then
            echo "RTNETLINK answers: Cannot assign requested address" >&2; exit 2
        fi
        rm -f "$DIR/present"; log del; exit 0 ;;
esac
echo "fake ip: unexpected arguments: $*" >&2
exit 1
"""
FAKE_RECORDER = """#!/bin/sh
echo "$(date +%s.%N) @NAME@ $*" >> @DIR@/events
"""


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Agent:
    """One agent process with its fake commands in ``directory``."""

    def __init__(self, zone, index, directory):
        self.index = index
        self.dir = directory
        self.dir.mkdir(parents=True)
        commands = {}
        for name, text in (("ip", FAKE_IP), ("arping", FAKE_RECORDER), ("service", FAKE_RECORDER)):
            path = self.dir / name
            path.write_text(text.replace("@DIR@", str(self.dir)).replace("@NAME@", name))
            path.chmod(0o755)
            commands[name] = str(path)
        self.port = _free_port()
        server = zone.servers[index]
        config = {
            "server_id": server.id,
            "servers": [{"id": s.id, "name": s.name, "endpoint": s.endpoint} for s in zone.servers],
            "vip": {"address": VIP, "interface": "fence0"},
            "leader_services": ["opennebula-flow"],
            "bind": "127.0.0.1",
            "port": self.port,
            "oned_conf": str(Path(server.location) / "etc" / "oned.conf"),
            "one_auth": str(zone.directory / ".one" / "one_auth"),
            "source_address": server.address,  # the same path as this server's Raft traffic
            "commands": commands,
            # The VIP lives in the fake ip's file, not on an interface: presence through it.
            "vip_presence": "ip",
            "log_level": "debug",
            **AGENT_SETTINGS,
        }
        self.config = self.dir / "fence.json"
        self.config.write_text(json.dumps(config))
        self.log = self.dir / "agent.log"
        self.process = None

    def start(self):
        pidfile = self.dir / "pid"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [PYTHON, str(AGENT), "--config", str(self.config), "--pidfile", str(pidfile)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            lambda: pidfile.exists() or self.process.poll() is not None,
            timeout=15,
            interval=0.05,
            what="agent start",
        )
        assert self.process.poll() is None, self.log.read_text()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def holds(self):
        return (self.dir / "present").exists()

    def events(self):
        path = self.dir / "events"
        if not path.exists():
            return []
        return [
            (float(t), rest)
            for t, rest in (line.split(" ", 1) for line in path.read_text().splitlines())
        ]

    def get(self, path):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()


def holding_intervals(agent, until):
    """``[(start, end)]`` wall-clock intervals during which ``agent`` held the VIP."""
    intervals, start = [], None
    for stamp, what in agent.events():
        if what == "add":
            start = stamp
        elif what == "del" and start is not None:
            intervals.append((start, stamp))
            start = None
    if start is not None:
        intervals.append((start, until))
    return intervals


def assert_never_two_holders(agents):
    now = time.time()
    spans = sorted(
        (start, end, agent.index)
        for agent in agents
        for start, end in holding_intervals(agent, now)
    )
    for (_s1, e1, a1), (s2, _e2, a2) in zip(spans, spans[1:], strict=False):
        assert s2 >= e1, f"agents {a1} and {a2} held the VIP together for {e1 - s2:.3f}s"


@pytest.fixture(scope="module")
def fenced(tmp_path_factory):
    """A 3-server zone with one agent per server; everything stopped at the end."""
    base = tmp_path_factory.mktemp("fenced")
    zone = LocalZone(3, base / "zone", **ZONE)
    agents = []
    try:
        zone.up()
        agents = [Agent(zone, i, base / f"agent-{i}") for i in range(3)]
        for agent in agents:
            agent.start()
        yield zone, agents
    finally:
        for agent in agents:
            agent.stop()
        zone.heal()
        zone.down()
        if os.environ.get("KEEP_FENCE_LOGS"):
            shutil.copytree(base, Path(os.environ["KEEP_FENCE_LOGS"]), dirs_exist_ok=True)


def _settled(agent):
    """The fake ip logs a change right after making it: wait for the line too."""
    changes = [what for _t, what in agent.events() if what in ("add", "del")]
    return agent.holds == (bool(changes) and changes[-1] == "add")


def _single_holder(agents, index):
    holders = [a.index for a in agents if a.holds]
    return holders == [index] and all(_settled(a) for a in agents)


def test_only_the_leader_holds_the_vip_and_serves_leader(fenced):
    zone, agents = fenced
    leader = zone.wait_leader(timeout=30)
    wait_until(
        lambda: _single_holder(agents, leader),
        timeout=10,
        interval=0.05,
        what=f"the VIP on server {leader} only",
    )
    for agent in agents:
        status, body = agent.get("/leader")
        assert status == (200 if agent.index == leader else 503), body
    followers = [a for a in agents if a.index != leader]
    wait_until(
        lambda: all(a.get("/follower")[0] == 200 for a in followers),
        timeout=10,
        interval=0.05,
        what="/follower 200",
    )
    health = json.loads(agents[leader].get("/health")[1])
    assert health["state"] == "leader" and health["lease"]["held"] is True
    assert health["confirmations"] >= 2 and health["vip"]["held"] is True
    assert 0 < health["lease"]["remaining_s"] <= LEASE_S
    services = [what for _t, what in agents[leader].events() if what.startswith("service")]
    assert services[-1] == "service opennebula-flow start"
    assert zone.session.split(":")[1] not in json.dumps(health)
    assert_never_two_holders(agents)


def test_sigkill_of_the_leaders_oned_moves_the_vip_without_overlap(fenced):
    zone, agents = fenced
    old = zone.wait_leader(timeout=30)
    wait_until(
        lambda: _single_holder(agents, old), timeout=10, interval=0.05, what="the VIP on the leader"
    )
    killed_at = time.time()
    zone.kill(old)
    wait_until(
        lambda: not agents[old].holds and _settled(agents[old]),
        timeout=5,
        interval=0.05,
        what="the VIP dropped by the killed leader's host",
    )
    # The first removal after the kill (none if a lapsed lease had dropped it just before).
    removals = [t for t, what in agents[old].events() if what == "del" and t >= killed_at]
    dropped = removals[0] - killed_at if removals else 0.0
    others = [i for i in range(3) if i != old]
    new = zone.wait_leader(timeout=30, among=others)
    leader_seen = time.time()
    wait_until(
        lambda: _single_holder(agents, new),
        timeout=5,
        interval=0.05,
        what=f"the VIP on the new leader {new}",
    )
    claimed = agents[new].events()
    claim_at = [t for t, what in claimed if what == "add"][-1]
    print(f"SIGKILL: dropped {dropped:.3f}s after the kill; claimed {claim_at - leader_seen:+.3f}s")
    # Local oned silent: dropped within a round (poll + timeout), not at lease expiry.
    assert dropped < AGENT_SETTINGS["poll_interval"] + AGENT_SETTINGS["timeout"] + 0.5
    assert claim_at - leader_seen < 1.5
    assert_never_two_holders(agents)
    zone.start(old)
    wait_until(
        lambda: zone._state(old) == 2,
        timeout=30,
        interval=0.05,
        what="the old leader back as a follower",
    )


def test_a_frozen_agent_drops_its_expired_lease_first_thing_on_waking(fenced):
    zone, agents = fenced
    leader = zone.wait_leader(timeout=30)
    wait_until(
        lambda: _single_holder(agents, leader),
        timeout=10,
        interval=0.05,
        what="the VIP on the leader",
    )
    agent = agents[leader]
    before = len(agent.events())
    agent.process.send_signal(signal.SIGSTOP)
    time.sleep(2 * LEASE_S)
    thawed_at = time.time()
    agent.process.send_signal(signal.SIGCONT)
    wait_until(
        lambda: any(w == "del" for _t, w in agent.events()[before:]),
        timeout=5,
        interval=0.05,
        what="the drop after thaw",
    )
    dropped_at = next(t for t, w in agent.events()[before:] if w == "del")
    print(f"whole-agent freeze: dropped {dropped_at - thawed_at:.3f}s after the thaw")
    assert dropped_at - thawed_at < 0.5
    # oned still leads and the majority still confirms: the lease and the VIP come back.
    wait_until(
        lambda: _single_holder(agents, leader),
        timeout=5,
        interval=0.05,
        what="the VIP back on the leader",
    )
    assert_never_two_holders(agents)


def test_a_leader_cut_from_its_peers_lets_go_before_the_new_leader_claims(fenced):
    if shutil.which("nft") is None or os.geteuid() != 0:
        pytest.skip("needs nftables and root for the partition")
    zone, agents = fenced
    old = zone.wait_leader(timeout=30)
    wait_until(
        lambda: _single_holder(agents, old), timeout=10, interval=0.05, what="the VIP on the leader"
    )
    cut_at = time.time()
    zone.partition(old)
    try:
        others = [i for i in range(3) if i != old]
        new = zone.wait_leader(timeout=30, among=others)
        wait_until(
            lambda: _single_holder(agents, new),
            timeout=10,
            interval=0.05,
            what=f"the VIP on the new leader {new}",
        )
        claimed = [t for t, w in agents[new].events() if w == "add" and t >= cut_at]
        # The old oned still says leader: only the lease's expiry can have dropped it, at
        # the latest one lease after the last round sent before the cut.
        assert zone._state(old) == 3
        bound = cut_at + LEASE_S + 0.3
        late = [(a, b) for a, b in holding_intervals(agents[old], time.time()) if b > bound]
        assert not late, f"the cut-off leader held the VIP until {late[-1][1] - cut_at:.3f}s"
        released = max((b for _a, b in holding_intervals(agents[old], time.time())), default=0)
        print(
            f"partition: old leader released {released - cut_at:+.3f}s after the cut, "
            f"new leader claimed {claimed[0] - cut_at:.3f}s after it"
        )
        assert_never_two_holders(agents)
    finally:
        zone.heal()
    wait_until(
        lambda: zone._state(old) == 2,
        timeout=30,
        interval=0.05,
        what="the old leader stepping down after the heal",
    )
    wait_until(
        lambda: sum(a.holds for a in agents) == 1,
        timeout=10,
        interval=0.05,
        what="a single holder after the heal",
    )
    assert_never_two_holders(agents)


def test_the_minion_module_reads_each_agents_view(fenced, repo_root):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "onenebula_fence_module", repo_root / "_modules" / "onenebula_fence.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.__salt__ = {"pillar.get": lambda key, default=None: {}}  # no pillar: arguments
    zone, agents = fenced
    leader = zone.wait_leader(timeout=30)
    wait_until(
        lambda: _single_holder(agents, leader),
        timeout=10,
        interval=0.05,
        what="the VIP on the leader",
    )
    views = {a.index: module.health(bind="127.0.0.1", port=a.port) for a in agents}
    assert all(view["reachable"] for view in views.values())
    assert [i for i, view in views.items() if view["leader"]] == [leader]
    assert views[leader]["health"]["lease"]["held"] is True
    closed = _free_port()
    down = module.health(bind="127.0.0.1", port=closed, timeout=1)
    assert down["reachable"] is False and "Connection" in down["error"]
