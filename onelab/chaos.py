"""``make chaos``: a randomized fault run on a deployed lab, with audits and a timeline picture.

Modelled on a Jepsen nemesis + checkers: on a 5-front-end lab deployed with the full wiring
(Raft hooks, beacon, reactor, the fencing agent), a nemesis draws faults from a seeded
random generator (the seed is printed; 1127 unless ``--seed N`` or ``--seed random``),
one trial at a time:

* the fault is injected on the leader, a follower or the zone, watched (the lab samplers:
  VIP every 100 ms, each oned's Raft state and term), then healed; the trial's mechanics are
  :func:`onelab.trials.run_trial` (watch, heal with :func:`onelab.trials.restore`, wait for
  a healthy zone) so the figures are the fault trials' own;
* a client on the client host writes continuously through the VIP with its own session
  (``one.vm.allocate`` of a uniquely named VM) and records every answer: acknowledged (with
  the id), failed (error reply, transport error, timeout);
* after each heal, an audit: no VIP sample with two holders during the trial (one allowed
  for a paused VM that resumes), one leader and every other server its follower in its term
  (the healthy zone, within the repair bound), COMMIT converged, the VIP on the leader only,
  the leader-only services running there only, every acknowledged write readable from the
  leader under its name, no id acknowledged twice. A failed write found in the pool is
  *ambiguous*: the call failed but the VM exists (OpenNebula issue #2038 class).

The output: the seed, per fault kind trials / time to new leader / VIP on the leader only
p50 and p95 / samples with two or more holders / time with no holder / writes acknowledged,
lost and ambiguous, repairs started and finished (the reactor's repair orchestrations, from
the master's event bus), the audit failures, ``chaos.json`` and ``chaos-timeline.svg`` (drawn by
:mod:`onelab.timeline_svg` with the standard library) in ``--out``. Exit status 1 on any
audit failure.

    python -m onelab.chaos [--seed N] [--duration 840] [--trials N] [--out DIR] [--attach]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import signal
import statistics
import sys
import threading
import time
import xml.etree.ElementTree as ET
import xmlrpc.client
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from onelab import netns, network, proc, topology
from onelab.lab import Lab
from onelab.sampling import (
    ONE_AUTH,
    Mark,
    RunnerEvents,
    Timeline,
    _read_session,
    _Sampler,
    _TimeoutTransport,
)
from onelab.trials import FAULT_KINDS, FaultKind, restore, run_trial

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "chaos"
#: A server may be out of the zone (error, rejoining, repaired) at most this long after a heal.
REPAIR_BOUND = 180
COMMIT_TIMEOUT = 30
#: ``make chaos`` replays this seed unless told otherwise (``SEED=n``, ``SEED=random``).
DEFAULT_SEED = 1127
#: The whole run's seconds (lab, deploy, trials): the teardown follows, within 15 minutes.
DEFAULT_DURATION = 840.0
#: The VIP is a lock: no sample with two holders, except one 100 ms sample when a paused VM
#: resumes (it answers ARP before any of its programs runs again).
TWO_HOLDER_SAMPLES_ALLOWED = {"host_freeze": 1}
PORT = 2633


# -- the nemesis ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A fault the nemesis can draw: ``inject(lab, leader, follower)`` does it, ``release``
    ends it after ``hold`` x ELECTION_TIMEOUT; ``observe`` (x ELECTION_TIMEOUT) bounds the
    watch before the heal. ``on`` names what it hits (``leader``, ``follower``: the drawn
    one, ``master``), for the trial's title."""

    name: str
    title: str
    inject: Callable[[Lab, str, str], object]
    release: Callable[[Lab, str, str], object] | None = None
    hold: float = 1.5
    observe: float = 6.0
    overlappable: bool = True
    on: str = "leader"
    #: Healed by the formula's automatic repair, not by the nemesis: the trial's release
    #: waits for it (:func:`await_repair`).
    repaired: bool = False


def _leader_kind(name: str) -> tuple[Callable, Callable | None]:
    kind = FAULT_KINDS[name]
    release = kind.release
    return (
        lambda lab, leader, _follower: kind.inject(lab, leader),
        None if release is None else (lambda lab, leader, _follower: release(lab, leader)),
    )


def _split(lab: Lab, leader: str, follower: str) -> None:
    """The leader and one follower on one side, the three others on the other."""
    minority = {leader, follower}
    specs = {host.name: host.spec for host in lab.frontends}
    for name, spec in specs.items():
        other_side = [s.ip for n, s in specs.items() if (n in minority) != (name in minority)]
        network.block(spec, other_side)


MYSQL = ["mariadb", "--defaults-file=/etc/mysql/debian.cnf"]


def _drop_database(lab: Lab, _leader: str, follower: str) -> None:
    lab.exec(follower, [*MYSQL, "-e", "DROP DATABASE opennebula"], check=False)


def _database_repaired(lab: Lab, follower: str) -> bool:
    """Whether the follower's database is back (its ``db_versioning`` table, which only a
    restore brings back: oned recreates an empty database when it reconnects) and its oned
    runs again."""
    done = lab.exec(
        follower,
        [*MYSQL, "-N", "-e", "SHOW TABLES FROM opennebula LIKE 'db_versioning'"],
        check=False,
    )
    return "db_versioning" in done.stdout and lab.running(follower, "opennebula")


def await_repair(
    lab: Lab, follower: str, repairs: RepairWatcher, since: float, bound: float = REPAIR_BOUND
) -> None:
    """The heal of a dropped database is the formula's automatic repair (the follower's
    beacon reports it, the master restores the leader's fresh dump, then waits until the
    follower is a caught-up follower): wait, at most the repair bound, until a repair
    orchestration finished since ``since`` has restored a server and succeeded, and the
    follower's database is back with its oned running. The database alone is not the end
    of the repair: it is back long before the restored follower has caught up with the
    log written meanwhile, which the repair's last step waits for (the zone looks healthy
    to Raft the whole time: oned does not notice a dropped database until it next
    writes)."""

    def repaired() -> bool:
        return repairs.restored(since) > 0 and _database_repaired(lab, follower)

    try:
        proc.wait_until(repaired, timeout=bound, interval=2, what="the repair")
    except TimeoutError:
        raise TimeoutError(
            f"{follower}'s dropped database not repaired within {bound:g}s"
        ) from None


def _faults() -> dict[str, Fault]:
    kill_leader, _ = _leader_kind("sigkill")
    freeze_host, thaw_host = _leader_kind("host_freeze")
    faults = [
        Fault("kill_leader", "SIGKILL of the leader's oned", kill_leader),
        Fault("kill_follower", "SIGKILL of a follower's oned", lambda lab, _l, f: lab.kill_oned(f),
              observe=2.0, on="follower"),
        Fault("stop_leader", "the leader's oned SIGSTOPped, then thawed",
              lambda lab, leader, _f: lab.freeze(leader),
              lambda lab, leader, _f: lab.thaw(leader)),
        Fault("stop_follower", "a follower's oned SIGSTOPped, then thawed",
              lambda lab, _l, f: lab.freeze(f), lambda lab, _l, f: lab.thaw(f), observe=2.0,
              on="follower"),
        Fault("host_freeze", "the leader host frozen (paused VM), then thawed",
              freeze_host, thaw_host),
        Fault("part_leader_peers", "the leader cut off from its peers",
              _leader_kind("partition_peers")[0]),
        Fault("part_leader_all", "the leader cut off from everything",
              _leader_kind("partition_all")[0]),
        Fault("part_follower", "a follower cut off from its peers",
              lambda lab, _l, f: lab.partition(f, "peers"), observe=2.0, on="follower"),
        Fault("split_2_3", "2/3 split: the leader and a follower against three", _split,
              on="leader+follower"),
        Fault("power_cycle", "power-cycle of the leader", _leader_kind("power_cycle")[0]),
        Fault("master_stopped", "the Salt master stopped, then SIGKILL of the leader's oned",
              lambda lab, leader, _f: (lab.master_stop(), lab.kill_oned(leader)),
              overlappable=False),
        Fault("mariadb_follower", "MariaDB stopped on a follower, then started",
              lambda lab, _l, f: lab.service(f, "mariadb", "stop"),
              lambda lab, _l, f: lab.service(f, "mariadb", "start"), hold=2.0, observe=3.0,
              on="follower"),
        Fault("db_dropped", "a follower's database dropped (the repair path)", _drop_database,
              hold=0.0, observe=3.0, overlappable=False, on="follower", repaired=True),
    ]  # fmt: skip
    return {fault.name: fault for fault in faults}


FAULTS = _faults()
OVERLAP = "overlap"


def draw(rng: random.Random, kinds: Sequence[str]) -> list[str]:
    """The next fault(s): one kind of ``kinds``, or for ``overlap`` two distinct
    overlappable kinds of ``kinds`` (both are injected together)."""
    name = rng.choice(list(kinds))
    if name != OVERLAP:
        return [name]
    pool = [k for k in kinds if k != OVERLAP and FAULTS[k].overlappable]
    if len(pool) < 2:  # overlap drawn alone: from every overlappable kind
        pool = [k for k, fault in FAULTS.items() if fault.overlappable]
    first = rng.choice(pool)
    second = rng.choice([k for k in pool if k != first])
    return [first, second]


def as_kind(
    names: Sequence[str],
    rng: random.Random,
    followers: Sequence[str],
    hit: list[str] | None = None,
    repairs: RepairWatcher | None = None,
) -> FaultKind:
    """One :class:`onelab.trials.FaultKind` doing ``names`` (each on its drawn follower);
    the hosts the faults hit are appended to ``hit`` when they are injected. A fault the
    formula repairs needs ``repairs``, the watcher of the master's repair orchestrations."""
    chosen = [(FAULTS[name], rng.choice(list(followers))) for name in names]
    label = "+".join(names) if len(names) == 1 else f"{OVERLAP}:{'+'.join(names)}"
    holds = [fault.hold for fault, _ in chosen if fault.release is not None or fault.repaired]
    if repairs is None and any(fault.repaired for fault, _ in chosen):
        raise ValueError(f"{label}: the formula repairs it, its heal needs the repair watcher")
    injected: list[float] = []

    def inject(lab: Lab, leader: str) -> None:
        injected.append(time.monotonic())  # before the faults: their repairs come after
        for fault, follower in chosen:
            if hit is not None:
                hosts = [leader] * ("leader" in fault.on) + [follower] * ("follower" in fault.on)
                hit.extend(h for h in hosts or [leader] if h not in hit)
            fault.inject(lab, leader, follower)

    def release(lab: Lab, leader: str) -> None:
        for fault, follower in chosen:
            if fault.repaired:
                assert repairs is not None
                await_repair(lab, follower, repairs, since=injected[0])
            elif fault.release is not None:
                fault.release(lab, leader, follower)

    targets = ", ".join(f"{fault.name}->{_target(fault, follower)}" for fault, follower in chosen)
    return FaultKind(
        label,
        f"{' and '.join(fault.title for fault, _ in chosen)} ({targets})",
        inject,
        release=release if holds else None,
        hold=max(holds) if holds else 1.5,
    )


def _target(fault: Fault, follower: str) -> str:
    """What a drawn fault hits, as its title shows it: the leader is known only at the
    trial's start, the follower is drawn now."""
    return fault.on.replace("follower", f"follower {follower}")


# -- the client ---------------------------------------------------------------------------------


@dataclass
class Write:
    t: float
    name: str
    #: ``acked`` (with ``oid``), ``failed`` (error reply or transport error)
    outcome: str
    oid: int | None = None
    error: str = ""
    latency: float = 0.0


class Writer(_Sampler):
    """A client on the client host allocating VMs through ``url`` as fast as it is answered
    (one call at a time, ``timeout`` seconds each), with its own session."""

    def __init__(self, url: str, auth: Path, *, timeout: float = 3.0, prefix: str = "chaos"):
        super().__init__(interval=0.05)
        self.url = url
        self.auth = auth
        self.timeout = timeout
        self.prefix = prefix
        self.samples: list[Write] = []

    def start(self) -> None:
        self._spawn(self._run, name="chaos-writer")

    def _run(self) -> None:
        try:
            netns.enter(topology.CLIENT_HOST.netns)
        except OSError as exc:
            self.errors.append(str(exc))
            return
        for number, _tick in enumerate(self._ticks(), start=1):
            session = _read_session(self.auth) or ""
            name = f"{self.prefix}-{number}"
            t = time.monotonic()
            write = Write(t, name, "failed")
            try:
                proxy = xmlrpc.client.ServerProxy(
                    self.url, transport=_TimeoutTransport(self.timeout), allow_none=True
                )
                reply = proxy.one.vm.allocate(session, f'NAME="{name}"\nCPU=0.1\nMEMORY=16', False)
                if reply and reply[0] is True:
                    write.outcome, write.oid = "acked", int(reply[1])
                else:
                    write.error = str(reply[1] if reply and len(reply) > 1 else reply)[:200]
            except (OSError, xmlrpc.client.Error, ValueError, TypeError, IndexError) as exc:
                write.error = f"{type(exc).__name__}: {exc}"[:200]
            write.latency = time.monotonic() - t
            with self._lock:
                self.samples.append(write)


def in_client(function: Callable[[], object], timeout: float = 120) -> object:
    """Run ``function`` in a thread inside the client host's network namespace."""
    result: dict = {}

    def target() -> None:
        try:
            netns.enter(topology.CLIENT_HOST.netns)
            result["value"] = function()
        except BaseException as exc:  # handed to the caller
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if "error" in result:
        raise result["error"]
    if thread.is_alive():
        raise TimeoutError(f"the client's call did not end within {timeout}s")
    return result.get("value")


def vm_pool(ip: str, session: str) -> dict[str, list[int]]:
    """Every VM in the pool of the oned at ``ip`` (from the client host): name -> ids."""

    def call():
        proxy = xmlrpc.client.ServerProxy(
            f"http://{ip}:{PORT}/RPC2", transport=_TimeoutTransport(60), allow_none=True
        )
        return proxy.one.vmpool.info(session, -2, -1, -1, -1)

    reply = in_client(call)
    if not reply or reply[0] is not True:
        raise RuntimeError(f"one.vmpool.info on {ip} failed: {reply}")
    pool: dict[str, list[int]] = {}
    for vm in ET.fromstring(reply[1]).iter("VM"):
        pool.setdefault(vm.findtext("NAME") or "", []).append(int(vm.findtext("ID") or -1))
    return pool


# -- repairs ----------------------------------------------------------------------------------


def repair_event(tag: str, data: dict) -> tuple[str, str, bool | None] | None:
    """``("started" | "finished", jid, success)`` for the master events of a repair
    orchestration (``runner.state.orchestrate onenebula_ha.orch.repair``, started by the
    error reaction); None for any other event."""
    parts = tag.split("/")
    if len(parts) != 4 or parts[:2] != ["salt", "run"] or parts[3] not in ("new", "ret"):
        return None
    if "state.orch" not in str(data.get("fun", "")):
        return None
    if "orch.repair" not in json.dumps(data.get("fun_args", []), default=str):
        return None
    if parts[3] == "new":
        return ("started", parts[2], None)
    return ("finished", parts[2], bool(data.get("success", True)) and not _failed(data))


def _failed(data: dict) -> bool:
    ret = data.get("return")
    if isinstance(ret, dict):
        return ret.get("retcode", 0) not in (0, None) or ret.get("result") is False
    return False


def repair_failure(data: dict, limit: int = 300) -> str:
    """Why a finished repair orchestration failed, from its return: each failed step's id
    and comment (the orchestration's ``data``: master id -> state id -> result), or the
    return itself when it is not a state result (a render error is a list of strings)."""
    ret = data.get("return")
    if not isinstance(ret, dict):
        return str(ret)[:limit]
    steps = ret.get("data")
    if not isinstance(steps, dict):
        return str(ret.get("return", ret))[:limit]
    failed = []
    for results in steps.values():
        if not isinstance(results, dict):
            failed.append(str(results))
            continue
        for state_id, result in results.items():
            if isinstance(result, dict) and result.get("result") is False:
                name = state_id.split("_|-")[1] if "_|-" in state_id else state_id
                failed.append(f"{name}: {' '.join(str(result.get('comment', '')).split())}")
    return "; ".join(failed)[:limit] if failed else str(ret)[:limit]


def repair_restored(data: dict) -> bool:
    """Whether a repair orchestration's return holds its restore step, succeeded (a repair
    that found nothing to do, or was refused, has no such step)."""
    ret = data.get("return")
    steps = ret.get("data") if isinstance(ret, dict) else None
    for results in (steps or {}).values() if isinstance(steps, dict) else ():
        for state_id, result in (results if isinstance(results, dict) else {}).items():
            name = state_id.split("_|-")[1] if "_|-" in state_id else state_id
            if name.endswith("orch-repair-restore") and isinstance(result, dict):
                return result.get("result") is True
    return False


def repair_notes(data: dict, limit: int = 300) -> str:
    """What a finished repair orchestration says it did: the planner's notes (the comment of
    its ``test.show_notification`` step) and how many steps ran, so a repair that did nothing
    (refused, or found nothing wrong) is told apart from one that restored the target."""
    ret = data.get("return")
    steps = ret.get("data") if isinstance(ret, dict) else None
    if not isinstance(steps, dict):
        return ""
    notes, ran = "", 0
    for results in steps.values():
        for state_id, result in (results if isinstance(results, dict) else {}).items():
            if "show_notification" in state_id and isinstance(result, dict):
                notes = " ".join(str(result.get("comment", "")).split())
            elif isinstance(result, dict):
                ran += 1
    return f"{ran} step(s); {notes}"[:limit]


class RepairWatcher(RunnerEvents):
    """Counts the repair orchestrations the reactor starts, from the master's event bus."""

    name = "repair-watcher"

    def __init__(self, salt):
        super().__init__(salt)
        #: (t, "started" | "finished", jid, success, what it did or why it failed, restored)
        self.samples: list[tuple[float, str, str, bool | None, str, bool]] = []

    def _on_event(self, tag: str, data: dict) -> None:
        found = repair_event(tag, data)
        if not found:
            return
        if found[0] == "started":
            why = ""
        elif found[2]:
            why = repair_notes(data)
        else:
            why = repair_failure(data)
        restored = found[0] == "finished" and bool(found[2]) and repair_restored(data)
        with self._lock:
            self.samples.append((time.monotonic(), *found, why, restored))

    def counts(self, since: float = float("-inf")) -> dict[str, int]:
        samples = [s for s in self.snapshot() if s[0] >= since]
        return {
            "started": sum(1 for s in samples if s[1] == "started"),
            "finished": sum(1 for s in samples if s[1] == "finished" and s[3]),
            "failed": sum(1 for s in samples if s[1] == "finished" and not s[3]),
        }

    def restored(self, since: float = float("-inf")) -> int:
        """How many repairs finished since ``since`` restored a server and succeeded."""
        return sum(1 for s in self.snapshot() if s[0] >= since and s[5])

    def failures(self, since: float = float("-inf")) -> list[str]:
        """Why the repairs finished since ``since`` failed (one line each, distinct)."""
        return self._said(since, success=False)

    def notes(self, since: float = float("-inf")) -> list[str]:
        """What the repairs that succeeded since ``since`` said they did (distinct)."""
        return self._said(since, success=True)

    def _said(self, since: float, *, success: bool) -> list[str]:
        found = [
            s[4]
            for s in self.snapshot()
            if s[0] >= since and s[1] == "finished" and bool(s[3]) is success
        ]
        return list(dict.fromkeys(line for line in found if line))


# -- the audit ----------------------------------------------------------------------------------


@dataclass
class Audit:
    trial: int
    kind: str
    leader: str | None = None
    failures: list[str] = field(default_factory=list)
    acked: int = 0
    lost: int = 0
    failed: int = 0
    ambiguous: int = 0


def audit_writes(writes: Sequence[Write], pool: dict[str, list[int]], audit: Audit) -> None:
    """Every acknowledged write readable under its name and id, no id acknowledged twice;
    failed writes found in the pool counted as ambiguous."""
    acked = [w for w in writes if w.outcome == "acked"]
    audit.acked = len(acked)
    audit.failed = len(writes) - len(acked)
    for oid, count in Counter(w.oid for w in acked).items():
        if count > 1:
            audit.failures.append(f"id {oid} acknowledged to {count} writes")
    for write in acked:
        if write.oid not in pool.get(write.name, []):
            audit.lost += 1
            audit.failures.append(f"acknowledged write {write.name} (id {write.oid}) not readable")
    for name, ids in pool.items():
        if len(ids) > 1 and name.startswith("chaos-"):
            audit.failures.append(f"{name} exists {len(ids)} times: {ids}")
    audit.ambiguous = sum(1 for w in writes if w.outcome == "failed" and w.name in pool)


def commit_caught_up(samples, target: int | None) -> bool:
    """Whether every server's COMMIT reached ``target`` (the leader's when the audit began).
    With the client writing all along, COMMIT keeps moving: equal values sampled at different
    instants are not the test; every server getting to the leader's earlier index is."""
    commits = [s.commit for s in samples]
    return (
        target is not None and bool(commits) and all(c is not None and c >= target for c in commits)
    )


def commit_converged(timeline: Timeline, timeout: float = COMMIT_TIMEOUT) -> bool:
    latest = timeline.raft.latest()
    leaders = [s for s in latest.values() if s.state == "leader"]
    target = leaders[0].commit if len(leaders) == 1 else None

    def caught_up() -> bool:
        now = timeline.raft.latest()
        return len(now) == len(timeline.raft.specs) and commit_caught_up(now.values(), target)

    try:
        proc.wait_until(caught_up, timeout=timeout, interval=0.2, what="COMMIT to converge")
    except TimeoutError:
        return False
    return True


def leader_services_elsewhere(lab: Lab, leader: str, services: Sequence[str]) -> list[str]:
    """``host:service`` pairs wrong for the leader-only services (running off the leader,
    or not running on it)."""
    wrong = []
    for host in lab.frontends:
        for service in services:
            running = lab.service(host.name, service, "status").returncode == 0
            if running != (host.name == leader):
                wrong.append(f"{host.name}:{service}={'running' if running else 'stopped'}")
    return wrong


# -- the run ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 2)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 2)


def summary(rows: Sequence[dict]) -> list[dict]:
    """Per fault kind: trials and the figures the issue asks for."""
    kinds: dict[str, list[dict]] = {}
    for row in rows:
        kinds.setdefault(row["kind"].split(":")[0], []).append(row)
    out = []
    for kind, group in sorted(kinds.items()):
        only = [r["vip_new_leader_only_s"] for r in group if r.get("new_leader")]
        out.append(
            {
                "kind": kind,
                "trials": len(group),
                "new_leader_p50_s": percentile([r["new_leader_s"] for r in group], 50),
                "new_leader_p95_s": percentile([r["new_leader_s"] for r in group], 95),
                "vip_only_p50_s": percentile(only, 50),
                "vip_only_p95_s": percentile(only, 95),
                "two_holder_samples": sum(r["two_holder_samples"] for r in group),
                "no_holder_s": round(sum(r["no_holder_s"] for r in group), 2),
                "acked": sum(r["writes"]["acked"] for r in group),
                "lost": sum(r["writes"]["lost"] for r in group),
                "failed": sum(r["writes"]["failed"] for r in group),
                "ambiguous": sum(r["writes"]["ambiguous"] for r in group),
                "repairs_started": sum(r.get("repairs", {}).get("started", 0) for r in group),
                "repairs_finished": sum(r.get("repairs", {}).get("finished", 0) for r in group),
                "audit_failures": sum(len(r["audit_failures"]) for r in group),
            }
        )
    return out


SUMMARY_COLUMNS = (
    ("kind", "fault kind"),
    ("trials", "trials"),
    ("new_leader_p50_s", "new leader p50 s"),
    ("new_leader_p95_s", "p95 s"),
    ("vip_only_p50_s", "VIP leader-only p50 s"),
    ("vip_only_p95_s", "p95 s"),
    ("two_holder_samples", "samples >=2 holders"),
    ("no_holder_s", "no holder s"),
    ("acked", "writes acked"),
    ("lost", "lost"),
    ("failed", "failed"),
    ("ambiguous", "ambiguous"),
    ("repairs_started", "repairs started"),
    ("repairs_finished", "finished"),
    ("audit_failures", "audit failures"),
)


def summary_table(rows: Sequence[dict]) -> str:
    lines = [
        "| " + " | ".join(title for _k, title in SUMMARY_COLUMNS) + " |",
        "|" + "---|" * len(SUMMARY_COLUMNS),
    ]
    for row in rows:
        cells = ["-" if row.get(k) is None else str(row[k]) for k, _t in SUMMARY_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def chaos_pillar(size: int) -> dict:
    from onelab.demo import lab_pillar

    pillar = lab_pillar(size, topology.state_dir() / "shared")
    pillar["onenebula_ha"].setdefault("fence", {})["enabled"] = True
    return pillar


#: What a trial is expected to take before one was measured (a leader kill, healed, ~30 s).
TRIAL_ESTIMATE = 45.0


def another_trial(
    done: int, trials: int | None, until: float | None, lengths: Sequence[float]
) -> bool:
    """Whether the run starts another trial: ``trials`` of them, or (without a count) while
    the longest trial so far would still end before ``until``."""
    if trials is not None:
        return done < trials
    assert until is not None
    return time.monotonic() + max([TRIAL_ESTIMATE, *lengths]) <= until


def run(
    lab: Lab,
    pillar: dict,
    *,
    seed: int,
    kinds: Sequence[str],
    trials: int | None,
    out_dir: Path,
    until: float | None = None,
    log: Callable[[str], None] = print,
) -> int:
    """The nemesis loop on a deployed ``lab``; returns the exit status.

    ``trials`` trials, or (``trials`` None) as many as fit before ``until`` (monotonic): a
    trial starts only when the longest one so far (at least :data:`TRIAL_ESTIMATE` s) still
    ends in time."""
    if trials is None and until is None:
        raise ValueError("run() needs trials or until")
    from onelab.timeline_svg import write_svg
    from onelab.trials import election_timeout_s

    settings = pillar["onenebula_ha"]
    election = election_timeout_s(pillar)
    services = list(settings.get("leader_services") or [])
    rng = random.Random(seed)
    log(f"chaos: seed {seed} (replay with --seed {seed}); kinds {', '.join(kinds)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    auth = lab.frontends[0].tree.path(ONE_AUTH)
    session = _read_session(auth) or ""
    rows: list[dict] = []
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        timeline = stack.enter_context(Timeline(lab))
        writer = Writer(f"http://{topology.VIP}:{PORT}/RPC2", auth)
        writer.start()
        stack.callback(writer.stop)
        repairs = RepairWatcher(lab.salt)
        repairs.start()
        stack.callback(repairs.stop)
        try:
            number = 0
            lengths: list[float] = []
            while another_trial(number, trials, until, lengths):
                number += 1
                leader = timeline.wait_healthy(REPAIR_BOUND)
                followers = [h.name for h in lab.frontends if h.name != leader]
                names = draw(rng, kinds)
                hit: list[str] = []
                kind = as_kind(names, rng, followers, hit, repairs)
                observe = max(FAULTS[n].observe for n in names) * election
                first_write = len(writer.snapshot())
                trial_start = time.monotonic()
                audit = Audit(number, kind.name)
                log(f"[{number}] {kind.title}")
                try:
                    row = run_trial(
                        lab,
                        timeline,
                        kind,
                        election_timeout=election,
                        observe=observe,
                        healthy_timeout=REPAIR_BOUND,
                        log=log,
                    )
                except TimeoutError as exc:
                    row = {"kind": kind.name, "title": kind.title, "new_leader": None,
                           "new_leader_s": None, "vip_new_leader_only_s": None,
                           "two_holder_samples": 0, "no_holder_s": 0.0}  # fmt: skip
                    audit.failures.append(f"not healthy within {REPAIR_BOUND}s: {exc}")
                    restore(lab)
                _name_the_hosts_hit(timeline, trial_start, kind.name, hit)
                allowed = sum(TWO_HOLDER_SAMPLES_ALLOWED.get(n, 0) for n in names)
                if row["two_holder_samples"] > allowed:
                    audit.failures.append(
                        f"{row['two_holder_samples']} VIP samples with two or more holders"
                    )
                audit.leader = timeline.healthy(within=2.0)
                if audit.leader is None:
                    audit.failures.append(f"no healthy zone at the audit: {timeline.describe()}")
                else:
                    if not commit_converged(timeline):
                        audit.failures.append(f"COMMIT not converged: {timeline.describe()}")
                    wrong = leader_services_elsewhere(lab, audit.leader, services)
                    if wrong:
                        audit.failures.append(f"leader-only services wrong: {', '.join(wrong)}")
                    writes = writer.snapshot()
                    leader_ip = lab.host(audit.leader).spec.ip
                    pool = vm_pool(leader_ip, session)
                    everything = Audit(number, kind.name)
                    audit_writes(writes, pool, everything)
                    audit.failures += everything.failures
                    mine = Audit(number, kind.name)
                    audit_writes(writes[first_write:], pool, mine)
                    audit.acked, audit.failed = mine.acked, mine.failed
                    audit.lost, audit.ambiguous = mine.lost, mine.ambiguous
                row["trial"] = number
                row["writes"] = {
                    "acked": audit.acked, "lost": audit.lost,
                    "failed": audit.failed, "ambiguous": audit.ambiguous,
                }  # fmt: skip
                row["repairs"] = repairs.counts(trial_start)
                why = repairs.failures(trial_start)
                if why:
                    row["repair_failures"] = why
                    log(f"[{number}] failed repairs: {' | '.join(why)}")
                said = repairs.notes(trial_start)
                if said:
                    row["repair_notes"] = said
                    log(f"[{number}] repairs done: {' | '.join(said)}")
                row["audit_failures"] = audit.failures
                rows.append(row)
                lengths.append(time.monotonic() - trial_start)
                verdict = "audit ok" if not audit.failures else "AUDIT FAILED"
                log(f"[{number}] {verdict}: writes {row['writes']} {'; '.join(audit.failures)}")
                if audit.failures and audit.leader is None:
                    break  # the zone did not come back: later trials would prove nothing
        finally:
            writer.stop()
            repairs.stop()
            timeline.stop()
            figures = summary(rows)
            data = {
                "seed": seed,
                "kinds": list(kinds),
                "election_timeout_s": election,
                "wall_s": round(time.monotonic() - started, 1),
                "load_avg": list(_loadavg()),
                "summary": figures,
                "rows": rows,
                "writer_errors": writer.errors,
                "repair_watcher_errors": repairs.errors[-20:],
                "timeline": timeline.to_dict(),
            }
            (out_dir / "chaos.json").write_text(json.dumps(data, indent=1) + "\n")
            svg = write_svg(
                out_dir / "chaos-timeline.svg", data["timeline"], [h.name for h in lab.frontends]
            )
            log(f"\nseed {seed}; {len(rows)} trials in {data['wall_s']}s; load {data['load_avg']}")
            log(summary_table(figures))
            log(f"results: {out_dir / 'chaos.json'}; timeline picture: {svg}")
    failed = [r for r in rows if r["audit_failures"]]
    if failed or not rows:
        log(f"chaos: {len(failed)} trial(s) failed the audit (seed {seed})")
        return 1
    log(f"chaos: every audit passed (seed {seed})")
    return 0


def _name_the_hosts_hit(timeline: Timeline, since: float, kind: str, hit: Sequence[str]) -> None:
    """The trial's fault mark names the hosts the faults hit (the trial mechanics name the
    leader, which a follower's fault leaves alone), for the timeline picture."""
    prefix = f"{kind}: fault on "
    for index, mark in enumerate(timeline.marks):
        if mark.t >= since and mark.label.startswith(prefix) and hit:
            timeline.marks[index] = Mark(mark.t, prefix + ", ".join(hit))


def _loadavg() -> tuple[float, ...]:
    with contextlib.suppress(OSError):
        return tuple(float(x) for x in Path("/proc/loadavg").read_text().split()[:3])
    return ()


def _interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    from onelab.trials import deployed_lab

    parser = argparse.ArgumentParser(
        prog="python -m onelab.chaos", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--seed",
        default=str(DEFAULT_SEED),
        help=f"the nemesis' seed (default {DEFAULT_SEED}; 'random': drawn, and printed)",
    )
    parser.add_argument("--kinds", default=",".join([*FAULTS, OVERLAP]))
    parser.add_argument("--trials", type=int, default=None, help="a fixed number of trials")
    parser.add_argument(
        "--duration",
        type=float,
        default=DEFAULT_DURATION,
        help="seconds for the whole run without --trials: the lab, its deploy and the trials"
        f" (a wait for the lab lock excluded; with --attach the trials only); {DEFAULT_DURATION:.0f}"
        " by default, so make chaos ends within 15 minutes",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--attach", action="store_true",
        help="use the lab deployed by `onelab up 5 --deploy --fence` and leave it up",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.seed == "random":
        seed = random.SystemRandom().randrange(1, 10**6)
    elif args.seed.isdigit():
        seed = int(args.seed)
    else:
        parser.error("--seed takes a number or 'random'")
    kinds = args.kinds.split(",")
    unknown = [k for k in kinds if k not in FAULTS and k != OVERLAP]
    if unknown:
        parser.error(f"unknown kinds {unknown}; known: {', '.join([*FAULTS, OVERLAP])}")
    print(f"chaos: seed {seed}", flush=True)
    # SIGTERM (and SIGINT, ignored in background jobs) end the run with the lab torn down.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _interrupt)
    pillar = chaos_pillar(5)

    def log(line: str) -> None:
        print(line, flush=True)

    with contextlib.ExitStack() as stack:
        if args.attach:
            from onelab.salt_plain import PlainSalt

            lab = Lab.attach(PlainSalt())
            since = time.monotonic()
        else:
            lab = stack.enter_context(deployed_lab(5, pillar=pillar, out=log)).lab
            since = lab.locked_at or time.monotonic()
        return run(
            lab, pillar, seed=seed, kinds=kinds, trials=args.trials, out_dir=args.out,
            until=since + args.duration, log=log,
        )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
