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


def test_the_runner_lists_the_product_benchmarks_and_runs_none(bench_modules, capsys):
    runner = importlib.import_module("bench.__main__")
    assert runner.main(["--list"]) == 0
    listed = capsys.readouterr().out.split()
    assert listed == bench_modules
    product = {"vip_failover", "follower_join", "converged_apply", "monitoring_cost", "deploy"}
    assert product <= set(listed)


def test_the_runner_refuses_an_unknown_benchmark(bench_modules):
    runner = importlib.import_module("bench.__main__")
    with pytest.raises(SystemExit) as exit_:
        runner.main(["no_such_bench"])
    assert exit_.value.code == 2
