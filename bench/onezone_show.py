"""Wall time of ``onezone show 0`` and ``onezone show 0 -j``, run as an operator runs them.

Each command is a fresh ``onezone`` process (from the venv's ``bin``, with a front-end's
``ONE_LOCATION``/``ONE_AUTH``/``ONE_XMLRPC``) against the leader of a healthy 3- and 5-server
loopback zone. Then one follower fails, two ways:

* ``follower_killed``: SIGKILL. On loopback its port is closed, so the CLI's
  ``one.zone.raftstatus`` is refused at once and costs nothing extra;
* ``follower_frozen``: SIGSTOP. The kernel still accepts the connection but nothing answers,
  as with a hung oned or a host gone from the network: the CLI waits out its 5 s per-server
  timeout (``Zone#info_extended``), so expect about 5 s more.

Medians over a few runs; the frozen case runs once per format to stay within a minute.
``show_extra_s`` is a fault's median minus the healthy median of ``onezone show 0``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time

from bench._support import local_zone, main

COMMANDS = {"show": ["onezone", "show", "0"], "show_json": ["onezone", "show", "0", "-j"]}
CLI_TIMEOUT = 30
#: Each frozen run waits out the CLI's 5 s timeout, so one per command and zone size.
FROZEN_REPEATS = 1


def _run_cli(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        argv,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")
    return elapsed, result.stdout


def _json_states(stdout: str) -> list[str]:
    """The STATE of each server in ``onezone show -j`` output ("-" where the CLI failed)."""
    servers = json.loads(stdout)["ZONE"]["SERVER_POOL"]["SERVER"]
    if isinstance(servers, dict):
        servers = [servers]
    return [server["STATE"] for server in servers]


def _medians(env: dict[str, str], repeats: int, errors_expected: int) -> dict[str, float]:
    """Median seconds of each command; checks the JSON shows ``errors_expected`` failed servers."""
    medians = {}
    for name, argv in COMMANDS.items():
        durations = []
        for _ in range(repeats):
            elapsed, stdout = _run_cli(argv, env)
            durations.append(elapsed)
            if name == "show_json" and _json_states(stdout).count("-") != errors_expected:
                raise RuntimeError(f"expected {errors_expected} unreachable server(s): {stdout}")
        medians[f"{name}_median_s"] = round(statistics.median(durations), 3)
    return medians


def _zone_case(size: int, repeats: int) -> dict:
    with local_zone(size) as zone:
        leader = zone.wait_leader()
        env = zone.servers[leader].env
        figures = {"healthy": _medians(env, repeats, errors_expected=0)}
        follower = (leader + 1) % size
        zone.freeze(follower)
        try:
            figures["follower_frozen"] = _medians(env, FROZEN_REPEATS, errors_expected=1)
        finally:
            zone.thaw(follower)
        zone.kill(follower)
        figures["follower_killed"] = _medians(env, repeats, errors_expected=1)
    return figures


def run(repeats: int = 5) -> dict:
    result = {}
    for size in (3, 5):
        figures = _zone_case(size, repeats)
        healthy = figures["healthy"]["show_median_s"]
        for fault in ("follower_killed", "follower_frozen"):
            extra = round(figures[fault]["show_median_s"] - healthy, 2)
            figures[fault]["show_extra_s"] = extra or 0.0  # no "-0.0"
        result[f"zone_{size}"] = figures
    return result


if __name__ == "__main__":
    main("onezone_show", run, __doc__)
