"""Helpers shared by the benchmarks: each module's ``python -m`` entry, loopback zones in a
scratch directory, summaries, RSS.

A leading underscore keeps this module out of ``python -m bench`` discovery.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from onesim.zone_local import LocalZone

#: RAFT timings of the shipped oned.conf (onesim/files/etc/oned.conf, as OpenNebula ships it).
SHIPPED_RAFT = {"election_ms": 5000, "broadcast_ms": 500, "xmlrpc_timeout_ms": 1000}

MB = 2**20


def main(name: str, run: Callable[[], dict], doc: str, argv: Sequence[str] | None = None) -> None:
    """``python -m bench.<name>``: run the benchmark and print its result as JSON.

    ``--help`` prints ``doc`` (the module's documentation) and starts nothing: a benchmark
    starts daemons (a lab, a loopback zone) and runs for minutes."""
    parser = argparse.ArgumentParser(
        prog=f"python -m bench.{name}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)
    print(json.dumps(run(), indent=2, sort_keys=True))


@contextlib.contextmanager
def local_zone(size: int, **options) -> Iterator[LocalZone]:
    """A bootstrapped ``size``-server loopback zone in a scratch directory, removed afterwards.

    ``LocalZone.down`` (run on every exit path) stops every oned it started and removes the
    nftables table, so nothing outlives the benchmark.
    """
    with (
        tempfile.TemporaryDirectory(prefix="onenebula-bench-") as scratch,
        LocalZone(size, Path(scratch) / "zone", **options) as zone,
    ):
        yield zone


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block and restore the previous ones after it."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = math.ceil(fraction * len(ordered))  # 1-based
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    """Median, 95th percentile and maximum of durations given in seconds, in milliseconds."""
    return {
        "median_ms": round(statistics.median(seconds) * 1000, 2),
        "p95_ms": round(percentile(seconds, 0.95) * 1000, 2),
        "max_ms": round(max(seconds) * 1000, 2),
    }


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of ``pid`` (default: this process) in bytes; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss_mb(pid: int | str = "self") -> float:
    return round(rss_bytes(pid) / MB, 1)
