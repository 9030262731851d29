"""Helpers shared by the benchmarks of the formula itself (a deployed 5-front-end lab).

A leading underscore keeps this module out of ``python -m bench`` discovery.

:func:`deployed` gives a :class:`onelab.demo.Demo` driver on a lab deployed as ``make
demo`` does (plain Salt, Raft hooks, beacon, reactor, the fencing agent), torn down after.
With ``BENCH_ATTACH=1`` it uses the deployed lab already up instead (``python -m
onelab.cli up 5 --deploy --fence``) and leaves it up, so several benchmarks can share one
lab: ``BENCH_ATTACH=1 python -m bench converged_apply monitoring_cost follower_join``.

:func:`report` ends every product benchmark the same way: its JSON file, then its figure
beside its baseline and the machine's load.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from onelab import topology

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SIZE = 5


def log(line: str) -> None:
    print(line, flush=True)


def demo_pillar(size: int = SIZE, *, fence: bool = True) -> dict:
    """The pillar ``make demo`` deploys (``pillar.example`` for the lab, the agent on)."""
    from onelab.demo import lab_pillar

    pillar = lab_pillar(size, topology.state_dir() / "shared")
    pillar["onenebula_ha"].setdefault("fence", {})["enabled"] = fence
    return pillar


def attach_requested() -> bool:
    return os.environ.get("BENCH_ATTACH") == "1"


def _attached(pillar: dict, out: Callable[[str], None]):
    """A Demo driver on the lab already up (deployed by ``onelab up N --deploy``)."""
    from onelab.demo import Demo, PlainSaltCLI
    from onelab.lab import Lab
    from onelab.salt_plain import PlainSalt

    salt = PlainSalt()  # only to reach the running master (nothing is restarted)
    lab = Lab.attach(salt)
    demo = Demo(lab.size, out=out, pillar=pillar)
    demo.lab = lab
    demo.cli = PlainSaltCLI(salt)
    return demo


@contextlib.contextmanager
def deployed(size: int = SIZE, *, pillar: dict | None = None, out=log) -> Iterator:
    """The Demo driver of a deployed lab (see the module documentation)."""
    pillar = pillar or demo_pillar(size)
    if attach_requested():
        yield _attached(pillar, out)
        return
    from onelab.trials import deployed_lab

    # Real OpenNebula timings (15 s Raft warm-up) as in ``make demo``.
    with deployed_lab(size, pillar=pillar, warmup_ms=None, out=out) as demo:
        yield demo


def machine() -> dict:
    """The machine's load now: load averages and core count."""
    return {"load_avg": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count()}


def write_result(name: str, result: dict) -> Path:
    """``bench/results/<name>.json`` (the figure, its baseline, the machine's load)."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return path


def report(
    name: str,
    result: dict,
    summary: Callable[[dict], str | list[str]],
    *,
    started: float | None = None,
) -> dict:
    """End a benchmark: ``wall_s`` since ``started`` (monotonic; if given), the result in
    ``bench/results/<name>.json``, then the ``summary`` lines of the result (the figure
    beside its baseline and the goal). A result carrying the machine's load after the run
    (``machine_after``, from :func:`machine`) has that load added to its last line."""
    if started is not None:
        result["wall_s"] = round(time.monotonic() - started, 1)
    write_result(name, result)
    lines = summary(result)
    lines = [lines] if isinstance(lines, str) else list(lines)
    if lines and "machine_after" in result:
        lines[-1] += f"; load {result['machine_after']['load_avg']}"
    for line in lines:
        log(line)
    return result


def state_failures(data: dict) -> dict:
    """Minion -> failure messages of a ``salt --out=json state.apply`` return ({} if none)."""
    failed: dict = {}
    for minion, ret in data.items():
        if not isinstance(ret, dict):  # a render error comes back as a list of messages
            failed[minion] = str(ret)[:1000]
            continue
        bad = [
            f"{state_id}: {str(result.get('comment'))[:300]}"
            for state_id, result in ret.items()
            if isinstance(result, dict) and result.get("result") is False
        ]
        if bad:
            failed[minion] = bad
    return failed


def step_name(key: str) -> str:
    """``salt_|-onenebula_ha-orch-deploy-join-vmm03-restore_|-…`` → ``join-vmm03-restore``
    (an orchestration result's key, or the bare state id)."""
    state_id = key.split("_|-")[1] if "_|-" in key else key
    for action in ("deploy", "add", "remove", "repair", "rolling_restart"):
        marker = f"-orch-{action}-"
        if marker in state_id:
            return state_id.split(marker, 1)[1]
    return state_id


def timed(function: Callable[[], object]) -> tuple[float, object]:
    started = time.monotonic()
    value = function()
    return time.monotonic() - started, value
