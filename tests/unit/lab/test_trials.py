"""The trial harness's plain functions: does the formula have the agent, the figures table."""

from __future__ import annotations

from onelab.trials import FAULT_KINDS, REPO_ROOT, fence_missing, table


def _formula(root, defaults: str, with_state: bool):
    (root / "onenebula_ha" / "fence").mkdir(parents=True)
    (root / "onenebula_ha" / "defaults.yaml").write_text(defaults)
    if with_state:
        (root / "onenebula_ha" / "fence" / "init.sls").write_text("{}\n")
    return root


def test_fence_missing_names_what_the_formula_lacks(tmp_path):
    with_key = "onenebula_ha:\n  fence:\n    enabled: false\n"
    assert fence_missing(_formula(tmp_path / "a", with_key, True)) is None
    assert "init.sls" in fence_missing(_formula(tmp_path / "b", with_key, False))
    without = "onenebula_ha:\n  vip: {}\n"
    assert "onenebula_ha:fence" in fence_missing(_formula(tmp_path / "c", without, True))
    assert fence_missing(REPO_ROOT) is None  # this checkout has the agent


def test_the_table_has_one_line_per_trial_and_says_when_the_vip_waited_for_the_heal():
    rows = [
        {"kind": "sigkill", "new_leader_s": 4.7, "vip_new_leader_only_s": 5.2,
         "vip_after_election_s": 0.5, "two_holder_samples": 0, "two_holder_s": 0.0,
         "no_holder_s": 0.4, "healed_s": 6.0, "vip_only_after_heal": False},
        {"kind": "partition_all", "new_leader_s": 6.2, "vip_new_leader_only_s": 31.6,
         "vip_after_election_s": 25.4, "two_holder_samples": 208, "two_holder_s": 20.8,
         "no_holder_s": 0.0, "healed_s": 30.0, "vip_only_after_heal": True},
    ]  # fmt: skip
    lines = table(rows).splitlines()
    assert len(lines) == 2 + len(rows)
    assert lines[2].startswith("| sigkill | 4.7 | 5.2 | 0.5 | 0 |")
    assert "31.6 (after heal at 30.0)" in lines[3]
    assert {"sigkill", "host_freeze", "partition_peers", "master_stopped"} <= set(FAULT_KINDS)
