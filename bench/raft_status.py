"""Latency of ``onenebula_zone.raft_status()``: what the Raft beacon calls every interval.

The execution module is loaded through Salt's own loaders (``saltutil.sync_all`` from a
private ``file_roots``/``extension_modules`` under a scratch directory, never the machine's
``/var/cache/salt``), exactly as the functional tests do, and asked for the status of the
leader and of a follower of a 3-server loopback zone. Goals: a few milliseconds per call, and
no memory growth of the calling process (the minion) beyond a few MB over the run.
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from pathlib import Path

from bench._support import environment, local_zone, main, rss_mb, summary_ms

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = str(Path(sys.executable).parent)
WARM_UP_CALLS = 20


def _minion_opts(root: Path) -> dict:
    """Minion options whose file_roots and extension_modules hold this repository's modules."""
    import salt.config

    tree = root / "state-tree"
    tree.mkdir()
    for directory in ("_modules", "_states"):
        (tree / directory).symlink_to(REPO / directory)
    opts = salt.config.minion_config(None)
    opts.update(
        {
            "id": "bench-minion",
            "extension_modules": str(root / "extmods"),
            "root_dir": str(root),
            "cachedir": str(root / "cache"),
            "pki_dir": str(root / "pki"),
            "sock_dir": str(root / "sock"),
            "log_file": str(root / "minion.log"),
            "file_client": "local",
            "file_roots": {"base": [str(tree)]},
            "pillar_roots": {"base": [str(root / "pillar")]},
        }
    )
    return opts


def _time_calls(raft_status, calls: int) -> tuple[list[float], str]:
    durations = []
    state = ""
    for _ in range(calls):
        started = time.perf_counter()
        state = raft_status()["state_name"]
        durations.append(time.perf_counter() - started)
    return durations, state


def run(calls: int = 300) -> dict:
    import salt._logging.impl
    from saltfactories.utils.functional import Loaders

    result: dict = {"calls_per_server": calls, "zone_size": 3}
    with (
        tempfile.TemporaryDirectory(prefix="onenebula-bench-minion-") as scratch,
        local_zone(3) as zone,
    ):
        leader = zone.wait_leader()
        follower = (leader + 1) % zone.size
        # onezone must be on PATH for the module's __virtual__, as on a front-end.
        with environment({"PATH": f"{VENV_BIN}:{zone.servers[leader].env['PATH']}"}):
            loaders = Loaders(_minion_opts(Path(scratch)))
        try:
            rss_start = None
            for role, index in (("leader", leader), ("follower", follower)):
                with environment(zone.servers[index].env):
                    loaders.context.clear()  # nothing cached from the other server
                    raft_status = loaders.modules.onenebula_zone.raft_status
                    _time_calls(raft_status, WARM_UP_CALLS)
                    if rss_start is None:
                        gc.collect()
                        rss_start = rss_mb()
                    durations, state = _time_calls(raft_status, calls)
                if state != role:
                    raise RuntimeError(f"server {index} answered {state!r}, expected {role!r}")
                result[role] = summary_ms(durations)
            gc.collect()
            rss_end = rss_mb()
        finally:
            loaders.reset_state()
            # Hand Salt's buffered warnings to the live handlers now, not at interpreter exit.
            salt._logging.impl.shutdown_temp_handler()
    result["rss_start_mb"] = rss_start
    result["rss_end_mb"] = rss_end
    result["rss_growth_mb"] = round(rss_end - rss_start, 1)
    result["goals_met"] = result["rss_growth_mb"] < 5 and result["leader"]["p95_ms"] < 50
    return result


if __name__ == "__main__":
    main("raft_status", run, __doc__)
