"""Fault trials on a deployed lab: one fault on the Raft leader, watched, then healed.

A trial (:func:`run_trial`) starts from a healthy zone (one leader, every other server its
follower in the same term, the VIP on the leader only), injects one fault of
:data:`FAULT_KINDS` on the leader, keeps watching (the :class:`onelab.sampling.Timeline`
samples the VIP every 100 ms and each oned's Raft state) until a new leader holds the VIP
alone for ``settle`` seconds or ``observe`` seconds have passed, then heals everything and
waits for a healthy zone again. The figures cover the whole trial, heal included: a second
VIP holder while the old leader comes back counts as much as one during the fault.

``python -m onelab.trials`` brings up a 5-front-end lab deployed with the full wiring (what
``make demo`` installs: Raft hooks, beacon, reactor, the fencing agent unless ``--no-fence``),
runs one trial per kind (or the kinds and count given) and prints the figures table; the
e2e fault tests and ``bench/vip_failover.py`` use the same functions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from onelab import network, proc, topology
from onelab.lab import Lab
from onelab.sampling import Timeline, figures_of

REPO_ROOT = Path(__file__).resolve().parent.parent
#: How long a zone may take to be healthy again after a heal (a restarted oned rejoins).
HEALTHY_TIMEOUT = 180


@dataclass(frozen=True)
class FaultKind:
    """One kind of fault: what is done to the leader, and what undoes it.

    ``inject(lab, leader)`` is the fault (its start is the trial's t = 0). ``release`` (if
    any) ends it after ``hold`` × ELECTION_TIMEOUT (a frozen oned thawed); ``heal`` runs
    after the observation, before the lab-wide restore of :func:`restore`.
    """

    name: str
    title: str
    inject: Callable[[Lab, str], object]
    release: Callable[[Lab, str], object] | None = None
    hold: float = 1.5
    prepare: Callable[[Lab, str], object] | None = None


def _kill(lab: Lab, leader: str) -> None:
    lab.kill_oned(leader)


def _stop_minion(lab: Lab, leader: str) -> None:
    lab.salt.stop_minion(lab.host(leader))


def _stop_master(lab: Lab, _leader: str) -> None:
    lab.master_stop()


def _power_cycle(lab: Lab, leader: str) -> None:
    # The minion comes back by itself only where the master is reachable (see restore).
    lab.power_cycle(leader, minion=lab.salt.master_running())


FAULT_KINDS: dict[str, FaultKind] = {
    kind.name: kind
    for kind in (
        FaultKind("sigkill", "SIGKILL of oned", _kill),
        FaultKind(
            "oned_stop",
            "oned SIGSTOPped 1.5 x ELECTION_TIMEOUT, then thawed",
            lambda lab, leader: lab.freeze(leader),
            release=lambda lab, leader: lab.thaw(leader),
        ),
        FaultKind(
            "host_freeze",
            "whole host frozen 1.5 x ELECTION_TIMEOUT, then thawed",
            lambda lab, leader: lab.freeze_host(leader),
            release=lambda lab, leader: lab.thaw_host(leader),
        ),
        FaultKind(
            "partition_peers",
            "cut off from its peers (still reaches the master)",
            lambda lab, leader: lab.partition(leader, "peers"),
        ),
        FaultKind(
            "partition_all",
            "cut off from everything",
            lambda lab, leader: lab.partition(leader, "all"),
        ),
        FaultKind("power_cycle", "power-cycle", _power_cycle),
        FaultKind(
            "minion_stopped",
            "salt-minion stopped before a SIGKILL of oned",
            _kill,
            prepare=_stop_minion,
        ),
        FaultKind(
            "master_stopped",
            "Salt master stopped, then SIGKILL of oned",
            _kill,
            prepare=_stop_master,
        ),
    )
}


def restore(lab: Lab) -> None:
    """Undo every fault the trials make, on every front-end, whatever the kind was."""
    for host in lab.frontends:
        if host.anchor_pid is None:
            lab.boot(host.name, minion=False)
        elif lab.frozen(host.name):
            lab.thaw_host(host.name)
        if not network.link_up(host.spec):
            network.set_link(host.spec, up=True)
        if lab.running(host.name, "opennebula"):
            lab.thaw(host.name)  # SIGCONT: harmless where oned was not stopped
    lab.heal()
    salt_restarted = not lab.salt.master_running()
    if salt_restarted:
        lab.master_start()
    for host in lab.frontends:
        if not lab.running(host.name, "opennebula"):
            lab.service(host.name, "opennebula", "start")
    stopped = [host for host in lab.frontends if not lab.salt.minion_running(host)]
    if stopped:
        lab.salt.start_minions(stopped)
        salt_restarted = True
    # Minions of a restarted master reconnect on their own schedule: the next trial's
    # reactor needs every one of them (the beacon's events, the VIP remediation).
    responding = getattr(lab.salt, "responding", None)
    if salt_restarted and responding is not None:
        names = [host.name for host in lab.frontends]
        proc.wait_until(
            lambda: responding(names) == set(names),
            timeout=HEALTHY_TIMEOUT,
            interval=1,
            what="every minion to answer the master",
        )


def run_trial(
    lab: Lab,
    timeline: Timeline,
    kind: FaultKind,
    *,
    election_timeout: float,
    observe: float = 30.0,
    settle: float = 1.0,
    healthy_timeout: float = HEALTHY_TIMEOUT,
    log: Callable[[str], None] = lambda line: None,
) -> dict:
    """One trial of ``kind`` on the current leader; returns its row of figures."""
    leader = timeline.wait_healthy(healthy_timeout)
    if kind.prepare is not None:
        kind.prepare(lab, leader)
    log(f"{kind.name}: fault on the leader {leader}")
    start = timeline.mark(f"{kind.name}: fault on {leader}")
    kind.inject(lab, leader)
    release_at = start + kind.hold * election_timeout if kind.release else None
    released = None
    deadline = start + observe
    stable_since = None
    while True:
        now = time.monotonic()
        if release_at is not None and released is None and now >= release_at:
            kind.release(lab, leader)
            released = timeline.mark(f"{kind.name}: released on {leader}")
            deadline = max(deadline, released + observe / 2)
            stable_since = None
            continue
        figures = figures_of(timeline, start=start, old_leader=leader)
        last = timeline.vip.last()
        if figures.new_leader and last is not None and last.holders == (figures.new_leader,):
            stable_since = stable_since or now
        else:
            stable_since = None
        done = stable_since is not None and now - stable_since >= settle
        if done and (release_at is None or released is not None):
            break
        if now >= deadline:
            break
        time.sleep(timeline.vip.interval / 2)
    healed = timeline.mark(f"{kind.name}: heal")
    restore(lab)
    new_leader = timeline.wait_healthy(healthy_timeout)
    end = timeline.mark(f"{kind.name}: healthy, leader {new_leader}")
    figures = figures_of(timeline, start=start, end=end, old_leader=leader)
    row = {"kind": kind.name, "title": kind.title, **figures.as_row()}
    row["healed_s"] = round(healed - start, 2)
    row["healthy_s"] = round(end - start, 2)
    if released is not None:
        row["released_s"] = round(released - start, 2)
    only = row["vip_new_leader_only_s"]
    row["vip_only_after_heal"] = only is not None and only > row["healed_s"]
    row["leader_after"] = new_leader
    log(f"{kind.name}: {format_row(row)}")
    return row


# -- tables -----------------------------------------------------------------------------------

COLUMNS = (
    ("kind", "fault on the leader"),
    ("new_leader_s", "new leader s"),
    ("vip_new_leader_only_s", "VIP on new leader only s"),
    ("vip_after_election_s", "VIP after election s"),
    ("two_holder_samples", "samples w/ 2 holders"),
    ("two_holder_s", "2 holders s"),
    ("no_holder_s", "no holder s"),
)


def _cell(row: dict, key: str) -> str:
    value = row.get(key)
    if key == "vip_new_leader_only_s" and row.get("vip_only_after_heal"):
        return f"{value} (after heal at {row['healed_s']})"
    return "-" if value is None else str(value)


def format_row(row: dict) -> str:
    return ", ".join(f"{title}: {_cell(row, key)}" for key, title in COLUMNS[1:])


def table(rows: Sequence[dict]) -> str:
    """A Markdown table of trial rows (one line per trial)."""
    lines = [
        "| " + " | ".join(title for _key, title in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row, key) for key, _title in COLUMNS) + " |")
    return "\n".join(lines)


# -- a deployed lab -----------------------------------------------------------------------------


@contextlib.contextmanager
def deployed_lab(
    size: int = 5,
    *,
    pillar: dict | None = None,
    warmup_ms: int | None = 2000,
    out: Callable[[str], None] = print,
) -> Iterator:
    """A lab deployed as ``make demo`` does (plain Salt, reactor, beacon), torn down after.

    Yields the :class:`onelab.demo.Demo` driver (``.lab``, ``.salt(...)``, ``.runner(...)``).
    """
    from onelab.demo import Demo

    demo = Demo(size, out=out, pillar=pillar, warmup_ms=warmup_ms)
    try:
        demo.bring_up()
        if not demo.deploy():
            raise RuntimeError("the deploy orchestration failed")
        yield demo
    finally:
        if demo.lab is not None:
            demo.lab.down(force=True)


def fence_missing(repo_root: Path = REPO_ROOT) -> str | None:
    """Why the formula at ``repo_root`` cannot deploy the fencing agent (None: it can)."""
    defaults = yaml.safe_load((repo_root / "onenebula_ha" / "defaults.yaml").read_text())
    if "fence" not in (defaults.get("onenebula_ha") or defaults):
        return "the formula has no fencing agent (no onenebula_ha:fence in defaults.yaml)"
    if not (repo_root / "onenebula_ha" / "fence" / "init.sls").exists():
        return "the formula has no fencing agent (no onenebula_ha/fence/init.sls)"
    return None


def election_timeout_s(pillar: dict) -> float:
    return pillar["onenebula_ha"]["raft"]["election_timeout_ms"] / 1000


def main(argv: Sequence[str] | None = None) -> int:
    from onelab.demo import lab_pillar

    parser = argparse.ArgumentParser(
        prog="python -m onelab.trials", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--kinds", default=",".join(FAULT_KINDS), help="comma-separated kinds")
    parser.add_argument("--trials", type=int, default=1, help="trials per kind")
    parser.add_argument("--observe", type=float, default=30.0)
    parser.add_argument("--election-timeout-ms", type=int, default=None)
    parser.add_argument(
        "--no-fence",
        dest="fence",
        action="store_false",
        help="deploy without the fencing agent (hooks + reactor alone hold the VIP)",
    )
    parser.add_argument("--json", type=Path, help="write rows and timelines here")
    parser.add_argument(
        "--attach",
        action="store_true",
        help="use the deployed lab already up (plain Salt, deployed with the same pillar) "
        "and leave it up",
    )
    args = parser.parse_args(argv)
    kinds = [FAULT_KINDS[name] for name in args.kinds.split(",")]
    pillar = lab_pillar(5, topology.state_dir() / "shared")
    pillar["onenebula_ha"]["fence"]["enabled"] = args.fence
    if args.election_timeout_ms:
        pillar["onenebula_ha"]["raft"]["election_timeout_ms"] = args.election_timeout_ms
    election = election_timeout_s(pillar)
    rows, timelines = [], []
    with contextlib.ExitStack() as stack:
        if args.attach:
            from onelab.demo import reactor_master_config
            from onelab.salt_plain import PlainSalt

            lab = Lab.attach(PlainSalt(master_extra=reactor_master_config(pillar)))
        else:
            demo = stack.enter_context(
                deployed_lab(5, pillar=pillar, out=lambda line: print(line, flush=True))
            )
            lab = demo.lab
        timeline = stack.enter_context(Timeline(lab))
        try:
            for kind in kinds:
                for _ in range(args.trials):
                    rows.append(
                        run_trial(
                            lab,
                            timeline,
                            kind,
                            election_timeout=election,
                            observe=args.observe,
                            log=lambda line: print(line, flush=True),
                        )
                    )
        finally:
            timelines.append(timeline.to_dict())
            print(table(rows))
            if args.json:
                args.json.write_text(json.dumps({"rows": rows, "timelines": timelines}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
