"""How a product benchmark ends (``bench._lab.report``: the result in
``bench/results/<name>.json``, the figure beside its baseline with the machine's load) and
how every benchmark starts (``bench._support.main``: ``--help`` starts nothing)."""

import importlib
import json

import pytest


@pytest.fixture
def lab(repo_root, monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(repo_root))
    module = importlib.import_module("bench._lab")
    monkeypatch.setattr(module, "RESULTS_DIR", tmp_path / "results")
    return module


def test_report_writes_the_result_then_prints_its_lines_with_the_load(lab, capsys):
    result = {"figure_s": 12.5, "baseline_s": 6.0, "machine_after": {"load_avg": [1.5, 2.0, 2.5]}}
    lines = ["first: figure 12.5 s", "second: baseline 6.0 s"]
    returned = lab.report("example", result, lambda r: lines, started=0.0)
    assert returned is result
    assert result["wall_s"] > 0
    written = json.loads((lab.RESULTS_DIR / "example.json").read_text())
    assert written == result
    assert capsys.readouterr().out.splitlines() == [
        "first: figure 12.5 s",
        "second: baseline 6.0 s; load [1.5, 2.0, 2.5]",
    ]


def test_report_without_a_load_or_start_keeps_the_line_and_the_wall_time(lab, capsys):
    result = {"figure_s": 3.0, "wall_s": 99.0}
    lab.report("other", result, lambda r: f"other: figure {r['figure_s']} s")
    assert capsys.readouterr().out == "other: figure 3.0 s\n"
    assert json.loads((lab.RESULTS_DIR / "other.json").read_text())["wall_s"] == 99.0


@pytest.fixture
def support(repo_root, monkeypatch):
    monkeypatch.syspath_prepend(str(repo_root))
    return importlib.import_module("bench._support")


def test_main_prints_the_result_as_json(support, capsys):
    support.main("example", lambda: {"b": 2, "a": 1}, "What it measures.", argv=[])
    assert capsys.readouterr().out == '{\n  "a": 1,\n  "b": 2\n}\n'


def test_main_help_describes_the_benchmark_and_runs_nothing(support, capsys):
    def run():
        raise AssertionError("--help must not start the benchmark")

    with pytest.raises(SystemExit) as exit_:
        support.main("example", run, "Leader SIGKILL until the VIP answers.", argv=["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "python -m bench.example" in out
    assert "Leader SIGKILL until the VIP answers." in out


def test_every_benchmark_answers_help_without_starting_anything(
    repo_root, lab, support, monkeypatch, capsys
):
    import runpy
    import sys

    import onelab.demo
    import onelab.lab
    import onelab.trials

    def nothing_started(*args, **kwargs):
        raise AssertionError("--help must start nothing")

    # What the benchmarks start, in case one of them ran instead of answering --help.
    monkeypatch.setattr(lab, "deployed", nothing_started)
    monkeypatch.setattr(support, "local_zone", nothing_started)
    monkeypatch.setattr(onelab.trials, "deployed_lab", nothing_started)
    monkeypatch.setattr(onelab.lab.Lab, "up", nothing_started)
    monkeypatch.setattr(onelab.demo.Demo, "bring_up", nothing_started)
    names = importlib.import_module("bench.__main__").discover()
    assert {"vip_failover", "follower_join", "converged_apply", "monitoring_cost", "deploy"} <= set(
        names
    )
    for name in names:
        monkeypatch.setattr(sys, "argv", [name, "--help"])
        with pytest.raises(SystemExit) as exit_:
            runpy.run_module(f"bench.{name}", run_name="__main__")
        assert exit_.value.code == 0, name
        out = capsys.readouterr().out
        assert out.startswith(f"usage: python -m bench.{name} [-h]"), out
