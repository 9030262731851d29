"""Every module ``python -m bench`` discovers can be imported and exposes a callable ``run``.

Only imports: running a benchmark takes up to a minute and starts daemons.
"""

import importlib

import pytest


@pytest.fixture
def bench_modules(repo_root, monkeypatch):
    monkeypatch.syspath_prepend(str(repo_root))
    runner = importlib.import_module("bench.__main__")
    return runner.discover()


def test_the_benchmarks_are_discovered(bench_modules, repo_root):
    on_disk = {
        path.stem for path in (repo_root / "bench").glob("*.py") if not path.stem.startswith("_")
    }
    assert set(bench_modules) == on_disk
    assert {"raft_status", "onezone_show", "zone_failover", "oned_memory"} <= on_disk


def test_every_benchmark_exposes_a_callable_run(bench_modules):
    without_run = [
        name
        for name in bench_modules
        if not callable(getattr(importlib.import_module(f"bench.{name}"), "run", None))
    ]
    assert without_run == []
