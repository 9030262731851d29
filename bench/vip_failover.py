"""VIP failover as a client sees it: leader SIGKILL until a call through the VIP answers on
the new leader; with the fencing agent, beside the same trials with hooks + reactor only, and
with the agent under a tuned ELECTION_TIMEOUT.

Three variants in one run, each ``BENCH_VIP_TRIALS`` (default 20) SIGKILL trials:

* ``hooks_reactor`` (the baseline): a 5-front-end lab deployed as ``make demo`` does (plain
  Salt, Raft hooks, beacon, reactor; shipped Raft timings, ELECTION_TIMEOUT 5 s) with the
  agent disabled (``fence.enabled: false``): the Raft hooks and the reactor's VIP reaction
  only;
* ``fence``: the same zone, the same hosts, after ``fence.enabled: true`` and ``state.apply
  onenebula_ha.fence`` (the formula's default; poll and timeout derived from the Raft
  section: 0.5 s and 1.0 s);
* ``fence_election_1500ms`` (skip with ``BENCH_VIP_TUNED=0``): a second deploy with
  ELECTION_TIMEOUT 1500 ms and BROADCAST_TIMEOUT 250 ms (the formula's e2e timings), the
  agent on (derived poll 0.15 s, lease 0.75 s): what an operator gets by tuning.

After the agent's SIGKILL trials, the same lab runs ``BENCH_VIP_OTHER_TRIALS`` (3) trials of
each fault kind in ``BENCH_VIP_OTHER_KINDS`` (``partition_all``: the leader cut off from
everything; empty: none) with ``onelab.trials.run_trial``: the VIP's lag after the election
and the samples with two holders for those faults.

Nothing is deployed between the trials of a variant. Each trial waits for a healthy zone (one
leader, the others its followers, the VIP on the leader only), SIGKILLs the leader's oned
and measures, from the kill, the time until another server reports state leader
(``election_s``), until the VIP is on the new leader only (``vip_new_leader_only_s``) and
until every call of a client on the client host (``one.zone.raftstatus`` through the VIP
every 100 ms, answered by whichever oned receives it) is answered by the new leader
(``vip_failover_s``, the figure); then it restarts the killed oned and waits for a healthy
zone again. The VIP samples of the trial give the samples with two holders. p50/p95 per
variant; the figures, the machine's load and its CPU count go to
``bench/results/vip_failover.json``. Long: ~20 s per trial, ~30 min in all.
"""

from __future__ import annotations

import json
import os
import time

from bench import _lab
from bench._support import main, percentile
from onelab import topology
from onelab.demo import lab_pillar, write_pillar
from onelab.sampling import ONE_AUTH, RpcProbe, Timeline, figures_of, first_steady
from onelab.trials import FAULT_KINDS, deployed_lab, election_timeout_s, restore, run_trial

TRIALS = int(os.environ.get("BENCH_VIP_TRIALS", "20"))
#: Other fault kinds run with the agent on the first lab after its SIGKILL trials (their
#: VIP lag after the election), ``BENCH_VIP_OTHER_TRIALS`` trials each.
OTHER_KINDS = [k for k in os.environ.get("BENCH_VIP_OTHER_KINDS", "partition_all").split(",") if k]
OTHER_TRIALS = int(os.environ.get("BENCH_VIP_OTHER_TRIALS", "3"))
#: The tuned Raft timings (the formula's e2e tests use the same).
TUNED_RAFT = {"election_timeout_ms": 1500, "broadcast_timeout_ms": 250, "xmlrpc_timeout_ms": 500}
#: A trial gives up on the client reaching the new leader after this long (it is reported).
OBSERVE_S = 45
#: The client must see only the new leader for this long before a trial ends.
STEADY_S = 1.0
HEALTHY_TIMEOUT_S = 180
NAME = "vip_failover"


def _pillar(*, fence: bool, raft: dict | None = None) -> dict:
    pillar = lab_pillar(5, topology.state_dir() / "shared", raft=raft)
    pillar["onenebula_ha"]["fence"]["enabled"] = fence
    return pillar


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _trial(lab, timeline: Timeline, probe: RpcProbe, ids: dict) -> dict:
    leader = timeline.wait_healthy(HEALTHY_TIMEOUT_S)
    start = timeline.mark(f"SIGKILL oned on {leader}")
    FAULT_KINDS["sigkill"].inject(lab, leader)
    deadline = start + OBSERVE_S
    reached = None
    while time.monotonic() < deadline:
        figures = figures_of(timeline, start=start, old_leader=leader)
        if figures.new_leader is not None:
            reached = first_steady(probe.since(start), start, ids[figures.new_leader])
            # Steady: every call since ``reached`` answered by the new leader.
            if reached is not None and time.monotonic() - reached >= STEADY_S:
                break
        time.sleep(probe.interval / 2)
    else:
        reached = None
    restore(lab)
    timeline.wait_healthy(HEALTHY_TIMEOUT_S)
    end = time.monotonic()
    figures = figures_of(timeline, start=start, end=end, old_leader=leader)
    failover = None if reached is None else reached - start
    return {
        "old_leader": leader,
        "new_leader": figures.new_leader,
        "election_s": _rounded(figures.new_leader_s),
        "vip_failover_s": _rounded(failover),
        "vip_failover_after_election_s": _rounded(
            None
            if failover is None or figures.new_leader_s is None
            else failover - figures.new_leader_s
        ),
        "vip_new_leader_only_s": _rounded(figures.vip_new_leader_only_s),
        "vip_after_election_s": _rounded(figures.vip_after_election_s),
        "two_holder_samples": figures.two_holder_samples,
        "two_holder_s": _rounded(figures.two_holder_s),
        "trial_s": round(end - start, 1),
    }


def _percentiles(rows: list[dict], key: str) -> dict:
    values = [row[key] for row in rows if row[key] is not None]
    return {
        "p50": percentile(values, 0.5) if values else None,
        "p95": percentile(values, 0.95) if values else None,
        "max": max(values) if values else None,
        "n": len(values),
    }


def _summary(rows: list[dict]) -> dict:
    failover = _percentiles(rows, "vip_failover_s")
    return {
        "trials": len(rows),
        "reached": failover["n"],
        "p50_s": failover["p50"],
        "p95_s": failover["p95"],
        "max_s": failover["max"],
        "election": _percentiles(rows, "election_s"),
        "failover_after_election": _percentiles(rows, "vip_failover_after_election_s"),
        "vip_new_leader_only": _percentiles(rows, "vip_new_leader_only_s"),
        "two_holder_samples": sum(row["two_holder_samples"] for row in rows),
        "trials_with_two_holders": sum(1 for row in rows if row["two_holder_samples"]),
    }


def _apply_fence(demo, pillar: dict, enabled: bool) -> None:
    """Turn the agent on or off on every front-end (pillar, then ``onenebula_ha.fence``,
    which also re-renders the hooks to match)."""
    pillar["onenebula_ha"]["fence"]["enabled"] = enabled
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


def _fence_timings(demo) -> dict:
    """The timings the agents run with (vmm01's rendered configuration)."""
    text = demo.lab.exec("vmm01", ["cat", "/etc/onenebula-ha/fence.json"]).stdout
    try:
        config = json.loads(text)
    except ValueError:
        return {}
    return {key: config.get(key) for key in ("poll_interval", "timeout", "lease_fraction")}


def _other_kinds(lab, timeline: Timeline, pillar: dict, log) -> dict:
    """``OTHER_KINDS`` trials (``onelab.trials.run_trial``) on the lab as it is."""
    election = election_timeout_s(pillar)
    results = {}
    for name in OTHER_KINDS:
        rows = [
            run_trial(lab, timeline, FAULT_KINDS[name], election_timeout=election, log=log)
            for _ in range(OTHER_TRIALS)
        ]
        results[name] = {
            "trials": rows,
            "new_leader": _percentiles(rows, "new_leader_s"),
            "vip_after_election": _percentiles(rows, "vip_after_election_s"),
            "vip_new_leader_only": _percentiles(rows, "vip_new_leader_only_s"),
            "two_holder_samples": sum(row["two_holder_samples"] for row in rows),
        }
        log(f"{name}: {json.dumps({k: v for k, v in results[name].items() if k != 'trials'})}")
    return results


def _variants(
    demo, pillar: dict, variants: list[tuple[str, bool]], trials: int, log, other=False
) -> dict:
    lab = demo.lab
    ids = {server["minion"]: server["id"] for server in pillar["onenebula_ha"]["servers"]}
    auth = lab.frontends[0].tree.path(ONE_AUTH)
    results = {}
    with (
        Timeline(lab) as timeline,
        RpcProbe(f"http://{topology.VIP}:2633/RPC2", auth) as probe,
    ):
        for name, fence in variants:
            if fence != pillar["onenebula_ha"]["fence"]["enabled"]:
                _apply_fence(demo, pillar, fence)
            rows = []
            for index in range(trials):
                row = _trial(lab, timeline, probe, ids)
                log(f"{name} trial {index + 1}/{trials}: {json.dumps(row)}")
                rows.append(row)
            results[name] = {
                "summary": _summary(rows),
                "trials": rows,
                "raft": {
                    key: pillar["onenebula_ha"]["raft"][key]
                    for key in ("election_timeout_ms", "broadcast_timeout_ms")
                },
                "fence": _fence_timings(demo) if fence else None,
            }
            log(f"{name}: {json.dumps(results[name]['summary'])}")
        if other and pillar["onenebula_ha"]["fence"]["enabled"]:
            results["other_faults"] = _other_kinds(lab, timeline, pillar, log)
    return results


def _result(results: dict, other: dict, load_before, loads, started: float) -> dict:
    return {
        "figure": "leader SIGKILL -> XML-RPC call through the VIP answered by the new leader",
        "variants": {
            name: {"raft": variant["raft"], "fence": variant["fence"]}
            for name, variant in results.items()
        },
        "summary": {name: variant["summary"] for name, variant in results.items()},
        "other_faults_with_fence": other,
        "trials": {name: variant["trials"] for name, variant in results.items()},
        "load_avg_before": [round(value, 2) for value in load_before],
        "load_avg_during": [[round(value, 2) for value in load] for load in loads],
        "load_avg_after": [round(value, 2) for value in os.getloadavg()],
        "cpus": os.cpu_count(),
        "wall_s": round(time.monotonic() - started, 1),
    }


def summary(result: dict) -> list[str]:
    lines = []
    for name, variant in result["summary"].items():
        role = "baseline" if name == "hooks_reactor" else "figure"
        lines.append(
            f"vip_failover {role} {name}: p50 {variant['p50_s']} s, p95 {variant['p95_s']} s "
            f"(election p50 {variant['election']['p50']} s; {variant['reached']}/"
            f"{variant['trials']} reached; samples with two holders "
            f"{variant['two_holder_samples']})"
        )
    return lines


def run(trials: int = TRIALS, tuned: bool | None = None) -> dict:
    if tuned is None:
        tuned = os.environ.get("BENCH_VIP_TUNED", "1") != "0"
    log = _lab.log
    started = time.monotonic()
    load_before = os.getloadavg()
    loads = []
    pillar = _pillar(fence=False)
    with deployed_lab(5, pillar=pillar, warmup_ms=2000, out=log) as demo:
        loads.append(os.getloadavg())
        results = _variants(
            demo, pillar, [("hooks_reactor", False), ("fence", True)], trials, log, other=True
        )
        loads.append(os.getloadavg())
    other = results.pop("other_faults", {})
    # The first lab's figures are kept whatever happens to the second deploy.
    _lab.write_result(NAME, _result(results, other, load_before, loads, started))
    if tuned:
        tuned_pillar = _pillar(fence=True, raft=TUNED_RAFT)
        with deployed_lab(5, pillar=tuned_pillar, warmup_ms=2000, out=log) as demo:
            tuned_results = _variants(demo, tuned_pillar, [("fence", True)], trials, log)
            loads.append(os.getloadavg())
        results["fence_election_1500ms"] = tuned_results["fence"]
    return _lab.report(NAME, _result(results, other, load_before, loads, started), summary)


if __name__ == "__main__":
    main("vip_failover", run, __doc__)
