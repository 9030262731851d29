"""Deploying 5 bare front-ends to a healthy zone, and where the time goes.

A lab of 5 bare front-ends (``make demo``'s wiring: plain Salt, reactor, beacon, the
fencing agent; OpenNebula's real timings: 15 s Raft warm-up, 5 s election timeout) is
deployed with ``salt-run state.orchestrate onenebula_ha.orch.deploy``; the figure is that
command's wall time. The profile: each orchestration step's seconds (from its
``duration``), the steps grouped by kind (``join-*-restore`` → ``restore``), and inside each
step the slowest states the minions ran.

The baseline, measured in the same run on the same lab just before the deploy: an
orchestration with one ``salt.state`` step (an SLS whose only state changes nothing) on
the 5 front-ends, i.e. what one step of an orchestration costs here before it does any
work; ``floor_s`` is OpenNebula's own wait in a bootstrap (warm-up + one election
timeout), which no orchestration can avoid. Goal (issue 11): <= 60 s.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict

from bench import _lab
from bench._support import main
from onelab.demo import orchestration_results

GOAL_S = 60.0
NOOP_SLS = "bench_noop"
NOOP_TEXT = "bench-noop:\n  test.succeed_without_changes: []\n"
NOOP_ORCH = "bench_noop_orch"
WARMUP_S = 15.0  # OpenNebula's Raft warm-up (the simulator's default, as oned ships)
TOP_STATES = 3


def noop_orch_text(targets: str) -> str:
    return (
        "bench-noop-step:\n  salt.state:\n"
        f"    - tgt: {json.dumps(targets)}\n    - tgt_type: list\n"
        f"    - sls: {NOOP_SLS}\n    - expect_minions: true\n"
    )


def step_kind(state_id: str) -> str:
    """``…-orch-deploy-join-vmm03-restore…`` → ``restore``; other steps their own name."""
    name = _lab.step_name(state_id)
    if name.startswith("join-"):
        return name.rsplit("-", 1)[-1]
    return name


def _minion_states(result: dict) -> list[tuple[float, str]]:
    """(seconds, "minion state") of the states a ``salt.state`` step ran."""
    changes = result.get("changes") or {}
    out = []
    for minion, ret in (changes.get("ret") or {}).items():
        if not isinstance(ret, dict):
            continue
        for state_id, state in ret.items():
            if isinstance(state, dict):
                label = state_id.split("_|-")[1] if "_|-" in state_id else state_id
                out.append(((state.get("duration") or 0) / 1000, f"{minion} {label}"))
    return sorted(out, reverse=True)


def _clock_s(start_time: str | None) -> float | None:
    """A state's ``start_time`` (``HH:MM:SS.ffffff``, the master's clock) in seconds."""
    try:
        hours, minutes, seconds = (start_time or "").split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def profile(results: dict) -> dict:
    """Per step (run order) when it started (seconds after the first step), its seconds
    and slowest states; seconds per kind of step. A chain step that starts well after the
    one it requires ended shows the orchestration's own cost between steps."""
    steps, kinds = [], defaultdict(float)
    starts = [_clock_s(r.get("start_time")) for r in results.values()]
    first = min((s for s in starts if s is not None), default=None)
    for (state_id, result), start in zip(results.items(), starts, strict=True):
        seconds = (result.get("duration") or 0) / 1000
        name = _lab.step_name(state_id)
        states = _minion_states(result)
        steps.append(
            {
                "step": name,
                "started_s": None if start is None or first is None else round(start - first, 2),
                "seconds": round(seconds, 2),
                "states": len(states),
                "slowest": [f"{s:.1f}s {label}" for s, label in states[:TOP_STATES]],
            }
        )
        kinds[step_kind(state_id)] += seconds
    return {"steps": steps, "by_kind_s": {k: round(v, 2) for k, v in kinds.items()}}


def measure(demo) -> dict:
    targets = demo.frontends()
    tree = demo.lab.state_tree
    (tree / f"{NOOP_SLS}.sls").write_text(NOOP_TEXT)
    (tree / f"{NOOP_ORCH}.sls").write_text(noop_orch_text(targets))
    machine_before = _lab.machine()
    try:
        baseline_s, _ = _lab.timed(lambda: demo.runner("state.orchestrate", NOOP_ORCH))
        started = time.monotonic()
        rc, data, output = demo.cli.run("state.orchestrate", "onenebula_ha.orch.deploy")
        deploy_s = time.monotonic() - started
    finally:
        for name in (NOOP_SLS, NOOP_ORCH):
            (tree / f"{name}.sls").unlink(missing_ok=True)
    try:
        results = orchestration_results(data)
    except ValueError:  # the orchestration did not render: say what salt-run printed
        raise RuntimeError(f"the deploy gave no result (rc {rc}): {output[-3000:]}") from None
    failed = [r.get("name") for r in results.values() if r.get("result") is not True]
    if rc != 0 or failed:
        raise RuntimeError(f"the deploy failed (rc {rc}) at {failed}: {output[-3000:]}")
    settings = demo.pillar["onenebula_ha"]
    floor = WARMUP_S + settings["raft"]["election_timeout_ms"] / 1000
    prof = profile(results)
    return {
        "figure": "salt-run state.orchestrate onenebula_ha.orch.deploy, 5 bare front-ends",
        "deploy_s": round(deploy_s, 1),
        "step_count": len(results),
        "sum_of_steps_s": round(sum(s["seconds"] for s in prof["steps"]), 1),
        "baseline": "an orchestration of one no-op salt.state step on the same 5 minions",
        "baseline_one_step_s": round(baseline_s, 2),
        "floor_s": floor,
        "goal": f"<= {GOAL_S:.0f} s",
        "goal_met": deploy_s <= GOAL_S,
        "fence": bool(settings.get("fence", {}).get("enabled")),
        **prof,
        "machine_before": machine_before,
        "machine_after": _lab.machine(),
    }


def run() -> dict:
    from onelab.demo import Demo

    started = time.monotonic()
    demo = Demo(_lab.SIZE, out=_lab.log, pillar=_lab.demo_pillar(), warmup_ms=None)
    try:
        demo.bring_up()
        result = measure(demo)
    finally:
        if demo.lab is not None:
            demo.lab.down(force=True)
    result["wall_s"] = round(time.monotonic() - started, 1)
    _lab.write_result("deploy", result)
    for step in result["steps"]:
        _lab.log(f"  +{step['started_s'] or 0:6.1f}s {step['seconds']:6.1f}s  {step['step']}")
    _lab.log(
        f"deploy: {result['deploy_s']} s for 5 bare front-ends ({result['step_count']} steps; by "
        f"kind {result['by_kind_s']}); baseline one no-op step {result['baseline_one_step_s']} s, "
        f"OpenNebula floor {result['floor_s']} s; goal <= {GOAL_S:.0f} s; load "
        f"{result['machine_after']['load_avg']}"
    )
    return result


if __name__ == "__main__":
    main("deploy", run, __doc__)
