"""bench/vip_failover.py's plain parts: each variant's pillar is one the formula renders (a
30-minute run must not fail at its second deploy), and the summary's percentiles."""

import importlib

import pytest
import yaml
from support.load import load_file
from support.merge import deep_merge


@pytest.fixture(scope="module")
def bench(repo_root):
    return importlib.import_module("bench.vip_failover")


@pytest.fixture(scope="module")
def pillar_module(repo_root):
    return load_file(repo_root / "_modules" / "onenebula_pillar.py", "onenebula_pillar_for_bench")


@pytest.mark.parametrize(
    ("fence", "tuned", "poll", "timeout"),
    [(False, False, 0.5, 1.0), (True, False, 0.5, 1.0), (True, True, 0.15, 0.6)],
    ids=["hooks_reactor", "fence", "fence_election_1500ms"],
)
def test_each_variant_has_a_valid_pillar_with_the_expected_agent_timings(
    bench, pillar_module, repo_root, fence, tuned, poll, timeout
):
    defaults = yaml.safe_load((repo_root / "onenebula_ha" / "defaults.yaml").read_text())
    pillar = bench._pillar(fence=fence, raft=bench.TUNED_RAFT if tuned else None)
    config = deep_merge(defaults["onenebula_ha"], pillar["onenebula_ha"])
    assert pillar_module.find_errors(config) == []
    settings = pillar_module.validate(config)
    assert settings["fence"]["enabled"] is fence
    assert (settings["fence"]["poll_interval"], settings["fence"]["timeout"]) == (poll, timeout)
    expected = 1500 if tuned else 5000
    assert settings["raft"]["election_timeout_ms"] == expected


def _row(failover, election, two=0):
    return {
        "vip_failover_s": failover,
        "election_s": election,
        "vip_failover_after_election_s": None if failover is None else failover - election,
        "vip_new_leader_only_s": failover,
        "two_holder_samples": two,
    }


def test_summary_percentiles_count_only_trials_that_reached_the_new_leader(bench):
    rows = [_row(float(n), 5.0) for n in range(6, 26)] + [_row(None, 5.0, two=3)]
    summary = bench._summary(rows)
    assert (summary["trials"], summary["reached"]) == (21, 20)
    assert (summary["p50_s"], summary["p95_s"], summary["max_s"]) == (15.0, 24.0, 25.0)
    assert summary["failover_after_election"]["p50"] == 10.0
    assert (summary["two_holder_samples"], summary["trials_with_two_holders"]) == (3, 1)
