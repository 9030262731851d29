"""``state.apply onenebula_ha`` on 5 converged front-ends, beside a Salt baseline.

The figure: wall time of ``salt -L vmm01,…,vmm05 state.apply onenebula_ha`` through the
lab's master once the zone is deployed and nothing is left to change, ``RUNS`` times
(median). The baseline, in the same run on the same minions, interleaved with the figure's
runs so both see the same machine load: ``state.apply`` of an SLS whose only state changes
nothing (the cost of a state run itself: the master round trip, pillar, renderer). Also
``test=True`` of the formula. Goal (issue 11): figure <= 2 x baseline.

Every run of the formula must change nothing (a converged zone): a change is reported in
``changed_last_run`` and ``changed``; a failed state fails the benchmark.
"""

from __future__ import annotations

import statistics
import time

from bench import _lab
from bench._support import main

RUNS = 3
NOOP_SLS = "bench_noop"
NOOP_TEXT = "bench-noop:\n  test.succeed_without_changes: []\n"
GOAL_RATIO = 2.0
TOP = 8  # slowest states reported (seconds summed over the minions)


def timed_apply(demo, targets: str, *args: str) -> dict:
    """Seconds, states and changed states of one ``state.apply`` on ``targets``."""
    started = time.monotonic()
    data = demo.salt(targets, "state.apply", *args, list_target=True, timeout=900)
    seconds = time.monotonic() - started
    failed = _lab.state_failures(data)
    if failed:
        raise RuntimeError(f"state.apply {' '.join(args)} failed: {failed}")
    states = sum(len(ret) for ret in data.values())
    per_minion = {
        m: sum((r.get("duration") or 0) for r in ret.values()) / 1000 for m, ret in data.items()
    }
    by_state: dict[str, float] = {}
    for ret in data.values():
        for state_id, result in ret.items():
            parts = state_id.split("_|-")
            key = f"{parts[0]}.{parts[-1]} {parts[1]}" if len(parts) == 4 else state_id
            by_state[key] = by_state.get(key, 0.0) + (result.get("duration") or 0) / 1000
    changed = sorted(
        f"{minion}: {state_id}"
        for minion, ret in data.items()
        for state_id, result in ret.items()
        if result.get("changes")
    )
    return {
        "seconds": seconds,
        "states": states,
        "changed": changed,
        "minions": len(data),
        # Seconds inside the states (the rest of the wall time: job, pillar, rendering).
        "in_states_s": round(max(per_minion.values(), default=0.0), 2),
        "slowest_states_s": {
            k: round(v, 2) for k, v in sorted(by_state.items(), key=lambda kv: -kv[1])[:TOP]
        },
    }


def series(runs: list[dict]) -> dict:
    seconds = [run["seconds"] for run in runs]
    return {
        "runs_s": [round(s, 2) for s in seconds],
        "median_s": round(statistics.median(seconds), 2),
        "states": runs[-1]["states"],
        "minions": runs[-1]["minions"],
        "changed_last_run": runs[-1]["changed"],
        "in_states_s_last_run": runs[-1].get("in_states_s"),
        "slowest_states_s_last_run": runs[-1].get("slowest_states_s"),
    }


def measure(demo, runs: int = RUNS) -> dict:
    """The figures on a deployed lab (``demo``: a :class:`onelab.demo.Demo` driver)."""
    targets = demo.frontends()
    noop = demo.lab.state_tree / f"{NOOP_SLS}.sls"
    noop.write_text(NOOP_TEXT)
    load_before = _lab.machine()
    try:
        timed_apply(demo, targets, "onenebula_ha")  # converge whatever the deploy left
        baseline, figure, dry = [], [], []
        for _ in range(runs):  # interleaved: each kind sees the same load
            baseline.append(timed_apply(demo, targets, NOOP_SLS))
            figure.append(timed_apply(demo, targets, "onenebula_ha"))
            dry.append(timed_apply(demo, targets, "onenebula_ha", "test=True"))
    finally:
        noop.unlink(missing_ok=True)
    base, fig = series(baseline), series(figure)
    ratio = round(fig["median_s"] / base["median_s"], 2)
    return {
        "figure": "state.apply onenebula_ha on 5 converged front-ends (wall time, median)",
        "converged_apply": fig,
        "converged_apply_test_true": series(dry),
        "baseline": "state.apply of an SLS with one state that changes nothing, same minions",
        "baseline_noop_sls": base,
        "ratio_to_baseline": ratio,
        "goal": f"<= {GOAL_RATIO} x baseline",
        "goal_met": ratio <= GOAL_RATIO,
        "changed": sorted({c for run in figure for c in run["changed"]}),
        "machine_before": load_before,
        "machine_after": _lab.machine(),
    }


def summary(result: dict) -> str:
    fig, base = result["converged_apply"], result["baseline_noop_sls"]
    return (
        f"converged_apply: figure {fig['median_s']} s ({len(result['changed'])} changed of "
        f"{fig['states']} states), test=True {result['converged_apply_test_true']['median_s']} s; "
        f"baseline no-op SLS {base['median_s']} s; ratio {result['ratio_to_baseline']} "
        f"(goal <= {GOAL_RATIO})"
    )


def run(runs: int = RUNS) -> dict:
    started = time.monotonic()
    with _lab.deployed() as demo:
        result = measure(demo, runs)
    return _lab.report("converged_apply", result, summary, started=started)


if __name__ == "__main__":
    main("converged_apply", run, __doc__)
