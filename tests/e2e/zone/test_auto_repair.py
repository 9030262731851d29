"""Automatic repair on the package's zone, end to end with nothing stubbed: a follower's
onenebula_raft beacon (its own database) or the leader's (a follower stuck out of its log
window) reports, the master's reactor starts the real ``onenebula_ha.orch.repair``, which
checks the zone and the databases itself and repairs, and the follower comes back healthy.
Forged events and a lying oned change nothing.

Two tests, in this order, each leaving a healthy zone behind (the package's next modules
run on it):

* (a) a follower's database dropped and (b) another follower's table dropped, both under a
  running oned (which notices nothing until it next writes) and at once, so their
  detection waits overlap; the repairs run one after the other (one repair lock);
* (c) a follower purged out of the leader's log window (OpenNebula #2810; the other
  servers' applied records below the last five deleted as a purge with LOG_RETENTION 5
  does, the package's zone keeping the shipped retention), while a lying oned beside the leader
  answers "leader, term 99": forged events (from a follower, posing as the leader, with a
  lying term or ``in_error``, a database event about a healthy database, role events)
  make the master look and change nothing; once the liar is gone the leader's report
  starts the repair, and the leader is SIGKILLed as soon as the repair holds the lock:
  nothing is restored over a leader and the repair completes.

The times from failure to healthy follower and the forged events' tallies are rows of the
package's figures (printed at the end of the session).
"""

from __future__ import annotations

import base64
import json
import sys
import time
import xmlrpc.client

import pytest

from onelab import topology
from onelab.chaos import in_client
from onelab.sampling import ONE_AUTH, RunnerEvents, _read_session
from onelab.trials import restore

pytestmark = pytest.mark.long

MARKER = "/var/lib/one/.onenebula_ha_restored.json"
DUMP = "/var/lib/one/onenebula_ha/leader.sql"
MYSQL = ["mariadb", "--defaults-file=/etc/mysql/debian.cnf", "-N", "-e"]
# Two repairs one after the other on two shared cores, detection included.
REPAIR_TIMEOUT = 480
WRITES = 150  # more than the beacon's max_lag (100) behind the leader
# An oned that lies: answers one.zone.raftstatus as "leader, term 99".
LIAR = """
from xmlrpc.server import SimpleXMLRPCServer
RAFT = ("<RAFT><SERVER_ID>@ID@</SERVER_ID><STATE>3</STATE><TERM>99</TERM><VOTEDFOR>@ID@</VOTEDFOR>"
        "<COMMIT>5000</COMMIT><LOG_INDEX>5000</LOG_INDEX><LOG_TERM>99</LOG_TERM>"
        "<FEDLOG_INDEX>-1</FEDLOG_INDEX></RAFT>")
server = SimpleXMLRPCServer(("0.0.0.0", 2633), logRequests=False, allow_none=True)
server.register_function(lambda *a: [True, RAFT, 0], "one.zone.raftstatus")
server.register_function(lambda *a: [True, "7.0.0", 0], "one.system.version")
server.serve_forever()
"""


class Orchestrations(RunnerEvents):
    """The returns of the repair and VIP orchestrations on the master's event bus."""

    name = "orchestration-watcher"

    def _on_event(self, tag: str, data: dict) -> None:
        parts = tag.split("/")
        if len(parts) != 4 or parts[3] != "ret" or "state.orch" not in str(data.get("fun", "")):
            return
        args = json.dumps(data.get("fun_args", []), default=str)
        kind = (
            "repair" if "orch.repair" in args else "vip" if "orch.remediate_vip" in args else None
        )
        if kind:
            with self._lock:
                self.samples.append((time.time(), kind, data))

    def returns(self, t: float, kind: str) -> list[dict]:
        """The returns of ``kind`` (``repair``, ``vip``) seen since ``t`` (epoch seconds)."""
        return [data for at, k, data in self.snapshot() if at >= t and k == kind]


def _states(data: dict) -> dict:
    """``{state id: result}`` of an orchestration's return (a render error: one entry)."""
    ret = data.get("return")
    steps = ret.get("data") if isinstance(ret, dict) else None
    if not isinstance(steps, dict):
        return {"render": {"result": False, "comment": str(ret)[:1000]}}
    found = {}
    for results in steps.values():
        if not isinstance(results, dict):
            return {"render": {"result": False, "comment": str(results)[:1000]}}
        for key, result in results.items():
            name = key.split("_|-")[1] if "_|-" in key else key
            found[name] = result if isinstance(result, dict) else {"result": False}
    return found


def executed(data: dict) -> list[str]:
    """The steps of an orchestration other than its notification (its planner's notes)."""
    return [name for name in _states(data) if "show_notification" not in name]


def ran(data: dict) -> list[str]:
    """The steps that did something (not skipped as an onfail whose requisites held)."""
    return [
        name
        for name, result in _states(data).items()
        if "show_notification" not in name
        and "onfail req did not change" not in str(result.get("comment", ""))
    ]


def failed(data: dict) -> dict[str, str]:
    return {
        name: " ".join(str(result.get("comment", "")).split())[:300]
        for name, result in _states(data).items()
        if result.get("result") is False
    }


def notes(data: dict) -> str:
    return " ".join(
        " ".join(str(result.get("comment", "")).split())
        for name, result in _states(data).items()
        if "show_notification" in name
    )


class Zone:
    """The package's zone as these tests look at it."""

    def __init__(self, demo, pillar, orchestrations):
        self.demo, self.lab, self.orch = demo, demo.lab, orchestrations
        self.ids = {s["minion"]: s["id"] for s in pillar["onenebula_ha"]["servers"]}
        self.minions = sorted(self.ids)
        self.lock_file = (
            self.lab.salt.root / topology.MASTER / "cache" / "onenebula_ha" / "repair_lock.json"
        )

    def status(self) -> dict:
        try:
            found = self.demo.runner("onenebula_ha.status", timeout=120)
        except RuntimeError:
            return {}
        return found if isinstance(found, dict) else {}

    def leader(self) -> str:
        def healthy():
            status = self.status()
            return status if status.get("healthy") else None

        status = self.demo.wait("a healthy zone", healthy, 300)
        assert status, self.status().get("table")
        return status["leader"]

    def lock(self) -> dict:
        try:
            record = json.loads(self.lock_file.read_text())
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def holder(self) -> dict | None:
        return self.lock().get("holder")

    def marker(self, minion: str) -> dict | None:
        done = self.lab.exec(minion, ["cat", MARKER], check=False)
        return json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else None

    def markers(self) -> dict:
        return {m: self.marker(m) for m in self.minions}

    def sql(self, minion: str, statement: str) -> str:
        return self.lab.exec(minion, [*MYSQL, statement], check=True).stdout.strip()

    def dumps_left(self) -> list[str]:
        return [
            m
            for m in self.minions
            if self.lab.exec(m, ["test", "-e", DUMP], check=False).returncode == 0
        ]

    def restored_from(self, record: dict | None, leader: str) -> bool:
        source = str((record or {}).get("source") or "")
        return self.lab.host(leader).spec.ip in source or leader in source

    def forge(self, sender: str, tag: str, data: dict) -> None:
        """An event that reaches the master's bus as a beacon's would, sent by ``sender``'s
        minion (``event.send`` with the load a beacon batch has)."""
        load = json.dumps({"events": [{"tag": tag, "data": data}]})
        self.demo.salt(sender, "event.send", tag, f"preload={load}", timeout=60)

    def wait_repaired(self, targets: dict[str, dict | None], started: float, what: str) -> dict:
        """Wait until each of ``targets`` (minion -> its restore marker before) is restored
        (a new marker) and a follower of a healthy zone; return minion -> seconds from
        ``started`` (monotonic) to then."""
        done: dict[str, float] = {}

        def check():
            status = self.status()
            for minion, before in targets.items():
                entry = (status.get("servers") or {}).get(minion) or {}
                if minion not in done and status.get("healthy") and entry.get("state") == (
                    "follower"
                ) and self.marker(minion) != before:  # fmt: skip
                    done[minion] = time.monotonic() - started
            return len(done) == len(targets)

        if not self.demo.wait(what, check, REPAIR_TIMEOUT, interval=2):
            raise AssertionError(f"{what}: repaired {done}\n{self.diagnosis(started)}")
        return done

    def diagnosis(self, started: float) -> str:
        lines = [f"lock: {json.dumps(self.lock())}", str(self.status().get("table"))]
        t0 = time.time() - (time.monotonic() - started)
        for data in self.orch.returns(t0, "repair"):
            lines.append(f"repair: {notes(data)[:300]} | failed {failed(data)}")
        lines.extend(self.orch.errors[-5:])
        return "\n".join(lines)

    def wait_unlocked(self) -> None:
        assert self.demo.wait("the repair lock to be free", lambda: self.holder() is None, 180, 1)


@pytest.fixture(scope="module")
def zone(deployed, fence_pillar):
    with Orchestrations(deployed.lab.salt) as orchestrations:
        found = Zone(deployed, fence_pillar, orchestrations)
        yield found
        # Leave a healthy zone for the package's next modules: every oned running, every
        # database repaired (an operator's repair, if a test stopped half-way).
        restore(deployed.lab)
        status = found.status()
        for minion, entry in (status.get("servers") or {}).items():
            if not entry.get("healthy") and entry.get("state") != "leader":
                try:
                    deployed.runner("state.orchestrate", "onenebula_ha.orch.repair",
                                    f"pillar={json.dumps({'target': minion, 'force': True})}",
                                    timeout=600)  # fmt: skip
                except RuntimeError as exc:
                    sys.stderr.write(f"repair of {minion} after the module failed: {exc}\n")
        assert found.leader()


def test_a_dropped_database_and_b_a_dropped_table_are_repaired(zone, fault_figures):
    leader = zone.leader()
    a, b = [m for m in zone.minions if m != leader][:2]
    before = {a: zone.marker(a), b: zone.marker(b)}
    started, since = time.monotonic(), time.time()
    zone.sql(a, "DROP DATABASE opennebula")
    zone.sql(b, "DROP TABLE opennebula.db_versioning")
    times = zone.wait_repaired(before, started, "(a) and (b) repaired automatically")
    zone.wait_unlocked()
    repairs = zone.orch.returns(since, "repair")
    restored = [d for d in repairs if any(s.endswith("-restore") for s in ran(d)) and not failed(d)]
    for minion in (a, b):
        assert zone.restored_from(zone.marker(minion), leader), zone.marker(minion)
    # Dumps are removed after use: none is left on any front-end.
    assert zone.dumps_left() == []
    assert len(restored) >= 2, [failed(d) or notes(d) for d in repairs]
    for case, minion in (("a database dropped", a), ("b table dropped", b)):
        fault_figures.append(
            {"kind": "auto_repair", "case": case, "target": minion,
             "healthy_follower_s": round(times[minion], 1),
             "repair_orchestrations": len(repairs), "failed": sum(1 for d in repairs if failed(d))}
        )  # fmt: skip


def start_liar(zone: Zone, minion: str) -> int:
    """Stop ``minion``'s oned and answer its XML-RPC port as "leader, term 99"; return the
    liar's pid."""
    zone.lab.service(minion, "opennebula", "stop")
    script = LIAR.replace("@ID@", str(zone.ids[minion]))
    code = base64.b64encode(script.encode()).decode()
    command = (
        f"setsid {sys.executable} -c \"import base64; exec(base64.b64decode('{code}'))\" "
        "</dev/null >/dev/null 2>&1 & echo $!"
    )
    return int(zone.lab.exec(minion, ["sh", "-c", command], check=True).stdout.strip())


def write_records(zone: Zone, leader: str, count: int) -> None:
    """``count`` VMs allocated on the leader (each one record of its Raft log), from the
    client host."""
    session = _read_session(zone.lab.frontend(leader).tree.path(ONE_AUTH))
    url = f"http://{zone.lab.host(leader).spec.ip}:2633/RPC2"

    def allocate():
        proxy = xmlrpc.client.ServerProxy(url, allow_none=True)
        for index in range(count):
            reply = proxy.one.vm.allocate(session, f'NAME="repair-c-{index}"', False)
            assert reply[0] is True, reply
        return True

    assert in_client(allocate, timeout=300)


def test_c_out_of_the_log_window_a_liar_restores_nothing_a_leader_killed_mid_repair(
    zone, fault_figures
):
    leader = zone.leader()
    helper, other, target, liar = [m for m in zone.minions if m != leader]
    markers = zone.markers()
    holders = zone.lab.vip_holders()
    # (c) out of the log window: stopped while 150 records are written, then the others
    # purge all but the last five (what LOG_RETENTION 5 makes their purge do).
    zone.lab.service(target, "opennebula", "stop")
    started = time.monotonic()
    write_records(zone, leader, WRITES)
    last = int(zone.sql(leader, "SELECT MAX(log_index) FROM opennebula.logdb"))
    for minion in zone.minions:  # every server purges (the next leader too)
        if minion != target:
            zone.sql(minion, "DELETE FROM opennebula.logdb WHERE applied = 1 AND "
                             f"log_index < {last - 5}")  # fmt: skip
    zone.lab.service(target, "opennebula", "start")

    # A lying oned beside the leader: the leader's beacon reports nothing (a newer term is
    # claimed), forged events make the master look, and nothing is done.
    pid = start_liar(zone, liar)
    try:

        def lying():
            found = zone.demo.salt(liar, "onenebula_zone.raft_status", timeout=30).get(liar)
            return isinstance(found, dict) and found.get("term") == 99

        assert zone.demo.wait("the liar to answer", lying, 60, 1)
        since = time.time()
        error = {"zone": 0, "since": 1, "seconds": 100, "reason": "error", "leader_id": 0}
        ids = zone.ids
        forged = [
            # from a follower, as itself, about a healthy server, lying term
            (helper, f"salt/beacon/{helper}/onenebula_raft/error",
             dict(error, id=helper, server_id=ids[other], name=other, in_error=[ids[other]],
                  term=99)),
            # posing as the leader, about the broken target, lying term and in_error
            (helper, f"salt/beacon/{leader}/onenebula_raft/error",
             dict(error, id=leader, server_id=ids[target], name=target,
                  in_error=sorted(ids.values()), term=99)),
            # a database event about a database that is fine
            (helper, f"salt/beacon/{other}/onenebula_raft/database",
             {"id": other, "server_id": ids[other], "term": 99, "zone": 0, "exists": False,
              "missing": [], "problem": "the database opennebula does not exist"}),
            # role: the liar says what its oned says; another claims a newer term
            (liar, f"salt/beacon/{liar}/onenebula_raft/role",
             {"id": liar, "state": "leader", "term": 99, "server_id": ids[liar],
              "leader": ids[liar], "previous": "follower", "votedfor": ids[liar], "zone": 0,
              "startup": False}),
            (helper, f"salt/beacon/{other}/onenebula_raft/role",
             {"id": other, "state": "leader", "term": 100, "server_id": ids[other],
              "leader": ids[other], "previous": "follower", "votedfor": ids[other], "zone": 0,
              "startup": False}),
        ]  # fmt: skip
        for sender, tag, data in forged:
            zone.forge(sender, tag, data)
        # One look per target named (at most one per 30 s each), one VIP check per role.
        looks = len({d["name"] if "name" in d else d["id"] for _, t, d in forged
                     if not t.endswith("/role")})  # fmt: skip

        def settled():
            repairs, vips = zone.orch.returns(since, "repair"), zone.orch.returns(since, "vip")
            return (repairs, vips) if len(repairs) >= looks and len(vips) >= 2 else None

        found = zone.demo.wait("the forged events' orchestrations", settled, 240, 2)
        assert found, zone.diagnosis(started)
        repairs, vips = found
        vip_moves = sum(len(executed(d)) for d in vips)
        repair_steps = sum(len(executed(d)) for d in repairs)
        locks = 0 if zone.holder() is None else 1
        fault_figures.append(
            {"kind": "auto_repair", "case": "forged events with a lying oned (term 99)",
             "events": len(forged), "repair_looks": len(repairs), "vip_looks": len(vips),
             "vip_moves": vip_moves, "repair_steps": repair_steps, "locks": locks,
             "notes": sorted({notes(d)[:160] for d in repairs + vips})}
        )  # fmt: skip
        assert (vip_moves, repair_steps, locks) == (0, 0, 0), [notes(d) for d in repairs + vips]
        assert all("claim leadership" in notes(d) for d in repairs + vips)
        # The master moved nothing; the fencing agents, seeing a newer term claimed, may
        # have dropped the VIP (docs/fence.md): it is on no other host.
        assert holders == [leader] and set(zone.lab.vip_holders()) <= {leader}
        assert zone.markers() == markers
    finally:
        zone.lab.exec(liar, ["kill", str(pid)], check=False)
        zone.lab.service(liar, "opennebula", "start")

    # The liar is gone: the leader's report starts the repair. SIGKILL the leader as soon
    # as the repair holds the lock (its host restarts oned: a follower, or re-elected).
    assert zone.demo.wait(
        "the automatic repair of the target to take the lock",
        lambda: (zone.holder() or {}).get("target") == target,
        240,
        0.5,
    ), zone.diagnosis(started)
    killed = time.monotonic()
    zone.lab.kill_oned(leader)
    zone.lab.service(leader, "opennebula", "start")
    times = zone.wait_repaired({target: markers[target]}, started, "(c) repaired")
    zone.wait_unlocked()
    new_leader = zone.leader()
    restored = zone.marker(target)
    repairs = zone.orch.returns(since, "repair")
    fault_figures.append(
        {"kind": "auto_repair", "case": "c out of the log window, leader SIGKILLed mid-repair",
         "target": target, "healthy_follower_s": round(times[target], 1),
         "after_kill_s": round(time.monotonic() - killed, 1), "old_leader": leader,
         "new_leader": new_leader, "restored_from": (restored or {}).get("source"),
         "repair_orchestrations": [failed(d) or "ok" for d in repairs if executed(d)]}
    )  # fmt: skip
    # Nothing was restored over a leader (old or new) nor anywhere but the target.
    assert {m: zone.marker(m) for m in zone.minions if m != target} == {
        m: markers[m] for m in zone.minions if m != target
    }
    assert zone.restored_from(restored, leader) or zone.restored_from(restored, new_leader)
    assert zone.dumps_left() == []
