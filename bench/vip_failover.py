"""VIP failover as a client sees it: leader SIGKILL until a call through the VIP answers on
the new leader; with the fencing agent, beside the same trials with hooks + reactor only.

One 5-front-end lab deployed as ``make demo`` does (plain Salt, Raft hooks, beacon, reactor;
shipped Raft timings, ELECTION_TIMEOUT 5 s) runs two variants in one run, on the same hosts:

* ``hooks_reactor`` (the baseline): the agent disabled (``fence.enabled: false``), the Raft
  hooks and the reactor's VIP reaction only;
* ``fence``: the same zone after ``fence.enabled: true`` and ``state.apply
  onenebula_ha.fence`` (skipped, and said so, while the formula has no fencing agent).

Each trial waits for a healthy zone (one leader, the others its followers, the VIP on the
leader only), SIGKILLs the leader's oned and measures, from the kill, the time until another
server reports state leader (``election_s``) and until every call of a client on the client
host (``one.zone.raftstatus`` through the VIP every 100 ms, answered by whichever oned
receives it) is answered by the new leader (``vip_failover_s``), then restarts the killed
oned and waits for a healthy zone again. The VIP samples of the trial give the samples with
two holders. p50/p95 per variant; the figures and the machine's load go to
``bench/results/vip_failover.json``.

``run(tuned=True)`` (or ``BENCH_VIP_TUNED=1``) adds a second deploy with ELECTION_TIMEOUT
1500 ms and the agent, to show what an operator can get by tuning. Long: ~20 s per trial.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from bench._support import percentile
from onelab import topology
from onelab.demo import lab_pillar, write_pillar
from onelab.sampling import ONE_AUTH, RpcProbe, Timeline, figures_of, first_steady
from onelab.trials import FAULT_KINDS, deployed_lab, election_timeout_s, fence_missing, restore

TRIALS = 20
#: A trial gives up on the client reaching the new leader after this long (it is reported).
OBSERVE_S = 45
HEALTHY_TIMEOUT_S = 180
RESULTS = Path(__file__).resolve().parent / "results" / "vip_failover.json"


def _pillar(*, fence: bool, election_ms: int | None = None) -> dict:
    pillar = lab_pillar(5, topology.state_dir() / "shared")
    if fence_missing() is None:
        pillar["onenebula_ha"].setdefault("fence", {})["enabled"] = fence
    if election_ms:
        pillar["onenebula_ha"]["raft"]["election_timeout_ms"] = election_ms
    return pillar


def _trial(demo, timeline: Timeline, probe: RpcProbe, ids: dict, election: float) -> dict:
    lab = demo.lab
    leader = timeline.wait_healthy(HEALTHY_TIMEOUT_S)
    start = timeline.mark(f"SIGKILL oned on {leader}")
    FAULT_KINDS["sigkill"].inject(lab, leader)
    deadline = start + OBSERVE_S
    reached = None
    figures = None
    while time.monotonic() < deadline:
        figures = figures_of(timeline, start=start, old_leader=leader)
        if figures.new_leader is not None:
            reached = first_steady(probe.since(start), start, ids[figures.new_leader])
            # Steady for a second: every call since ``reached`` answered by the new leader.
            if reached is not None and time.monotonic() - reached >= 1.0:
                break
        time.sleep(0.1)
    else:
        reached = None
    restore(lab)
    timeline.wait_healthy(HEALTHY_TIMEOUT_S)
    end = time.monotonic()
    figures = figures_of(timeline, start=start, end=end, old_leader=leader)
    return {
        "old_leader": leader,
        "new_leader": figures.new_leader,
        "election_s": None if figures.new_leader_s is None else round(figures.new_leader_s, 2),
        "vip_failover_s": None if reached is None else round(reached - start, 2),
        "vip_new_leader_only_s": None
        if figures.vip_new_leader_only_s is None
        else round(figures.vip_new_leader_only_s, 2),
        "two_holder_samples": figures.two_holder_samples,
        "election_timeout_s": election,
    }


def _summary(rows: list[dict]) -> dict:
    done = [row["vip_failover_s"] for row in rows if row["vip_failover_s"] is not None]
    elections = [row["election_s"] for row in rows if row["election_s"] is not None]
    return {
        "trials": len(rows),
        "reached": len(done),
        "p50_s": percentile(done, 0.5) if done else None,
        "p95_s": percentile(done, 0.95) if done else None,
        "max_s": max(done) if done else None,
        "election_p50_s": percentile(elections, 0.5) if elections else None,
        "two_holder_samples": sum(row["two_holder_samples"] for row in rows),
        "trials_with_two_holders": sum(1 for row in rows if row["two_holder_samples"]),
    }


def _enable_fence(demo, pillar: dict) -> None:
    pillar["onenebula_ha"]["fence"]["enabled"] = True
    write_pillar(demo.lab.pillar_dir, pillar)
    targets = ",".join(host.name for host in demo.lab.frontends)
    demo.salt(targets, "saltutil.refresh_pillar", list_target=True)
    result = demo.salt(targets, "state.apply", "onenebula_ha.fence", list_target=True, timeout=300)
    failed = {}
    for minion, states in result.items():
        if not isinstance(states, dict):  # a render error comes back as a list of messages
            failed[minion] = states
            continue
        comments = [st.get("comment") for st in states.values() if st.get("result") is False]
        if comments:
            failed[minion] = comments
    if failed:
        raise RuntimeError(f"state.apply onenebula_ha.fence failed: {failed}")


def _variants(demo, pillar: dict, variants: list[tuple[str, bool]], trials: int, log) -> dict:
    lab = demo.lab
    ids = {server["minion"]: server["id"] for server in pillar["onenebula_ha"]["servers"]}
    election = election_timeout_s(pillar)
    auth = lab.frontends[0].tree.path(ONE_AUTH)
    results = {}
    with (
        Timeline(lab) as timeline,
        RpcProbe(f"http://{topology.VIP}:2633/RPC2", auth) as probe,
    ):
        for name, enable_fence in variants:
            if enable_fence:
                _enable_fence(demo, pillar)
            rows = []
            for index in range(trials):
                row = _trial(demo, timeline, probe, ids, election)
                log(f"{name} trial {index + 1}/{trials}: {json.dumps(row)}")
                rows.append(row)
            results[name] = {"summary": _summary(rows), "trials": rows}
            log(f"{name}: {json.dumps(results[name]['summary'])}")
    return results


def run(trials: int = TRIALS, tuned: bool | None = None) -> dict:
    if tuned is None:
        tuned = os.environ.get("BENCH_VIP_TUNED") == "1"

    def log(line: str) -> None:
        print(line, flush=True)

    started = time.monotonic()
    load_before = os.getloadavg()
    fence = fence_missing() is None
    pillar = _pillar(fence=False)
    variants = [("hooks_reactor", False)] + ([("fence", True)] if fence else [])
    with deployed_lab(5, pillar=pillar, warmup_ms=2000, out=log) as demo:
        results = _variants(demo, pillar, variants, trials, log)
    if tuned and fence:
        tuned_pillar = _pillar(fence=True, election_ms=1500)
        with deployed_lab(5, pillar=tuned_pillar, warmup_ms=2000, out=log) as demo:
            tuned_results = _variants(demo, tuned_pillar, [("fence", False)], trials, log)
        results["fence_election_1500ms"] = tuned_results["fence"]
    result = {
        "figure": "leader SIGKILL -> XML-RPC call through the VIP answered by the new leader",
        "election_timeout_ms": pillar["onenebula_ha"]["raft"]["election_timeout_ms"],
        "fence_agent": "measured" if fence else "not in the formula yet (issue 9): baseline only",
        "summary": {name: variant["summary"] for name, variant in results.items()},
        "trials": {name: variant["trials"] for name, variant in results.items()},
        "load_avg_before": [round(value, 2) for value in load_before],
        "load_avg_after": [round(value, 2) for value in os.getloadavg()],
        "cpus": os.cpu_count(),
        "wall_s": round(time.monotonic() - started, 1),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    for name, summary in result["summary"].items():
        role = "baseline" if name == "hooks_reactor" else "figure"
        log(
            f"vip_failover {role} {name}: p50 {summary['p50_s']} s, p95 {summary['p95_s']} s "
            f"({summary['reached']}/{summary['trials']} reached; samples with two holders "
            f"{summary['two_holder_samples']})"
        )
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, sort_keys=True))
