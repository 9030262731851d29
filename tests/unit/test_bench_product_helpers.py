"""The pure helpers of the product benchmarks (bench/deploy, follower_join, monitoring_cost,
converged_apply): profiles, generated data, CPU shares. The benchmarks themselves need a
lab and are run by ``make bench``, not here."""

import importlib
import re

import pytest


@pytest.fixture
def bench(repo_root, monkeypatch):
    monkeypatch.syspath_prepend(str(repo_root))
    return lambda name: importlib.import_module(f"bench.{name}")


def test_deploy_steps_are_grouped_by_kind(bench):
    deploy = bench("deploy")
    prefix = "onenebula_ha-orch-deploy-"
    results = {
        f"salt_|-{prefix}ssh-keys_|-SSH keys_|-state": {"duration": 2000.0},
        f"{prefix}join-vmm02-restore": {
            "duration": 3000.0,
            "changes": {
                "ret": {
                    "vmm02": {
                        "onenebula_db_|-x_|-y_|-restored_from_leader": {"duration": 2500.0},
                        "service_|-a_|-oned_|-dead": {"duration": 100.0},
                    }
                }
            },
        },
        f"{prefix}join-vmm03-restore": {"duration": 1500.0},
        f"{prefix}healthy": {"duration": 500.0},
    }
    prof = deploy.profile(results)
    assert prof["by_kind_s"] == {"ssh-keys": 2.0, "restore": 4.5, "healthy": 0.5}
    assert [step["step"] for step in prof["steps"]] == [
        "ssh-keys", "join-vmm02-restore", "join-vmm03-restore", "healthy"
    ]  # fmt: skip
    assert prof["steps"][1]["slowest"][0] == "2.5s vmm02 x"
    assert prof["steps"][1]["states"] == 2


def test_deploy_steps_start_after_the_first_step(bench):
    results = {
        "a": {"duration": 1000.0, "start_time": "23:59:58.500000"},
        "b": {"duration": 1000.0, "start_time": "23:59:59.750000"},
        "c": {"duration": 1000.0},
    }
    steps = bench("deploy").profile(results)["steps"]
    assert [step["started_s"] for step in steps] == [0.0, 1.25, None]


def test_the_noop_orchestration_targets_the_list(bench):
    text = bench("deploy").noop_orch_text("vmm01,vmm02")
    assert '- tgt: "vmm01,vmm02"' in text
    assert "- tgt_type: list" in text


def test_generated_rows_reach_the_size_asked(bench):
    join = bench("follower_join")
    chunks = list(join.generated_sql(2))
    total = sum(len(chunk) for chunk in chunks)
    assert 1.6 * 2**20 < total < 2.6 * 2**20
    text = "".join(chunks)
    for table in ("host_pool", "vm_pool", "history"):
        assert f"INSERT INTO {table} " in text
    ids = [int(i) for i in re.findall(r"^\((\d+), 'bench-", text, re.M)]
    assert ids and min(ids) >= join.FIRST_ID and len(ids) == len(set(ids))
    assert max(len(chunk) for chunk in chunks) < 16 * 2**20  # max_allowed_packet


def test_sql_text_quotes_what_would_end_the_literal(bench):
    assert bench("follower_join")._sql_text("a'b\\c") == "'a\\'b\\\\c'"


def test_join_steps_are_named_from_the_orchestration(bench):
    join = bench("follower_join")
    results = {
        "salt_|-onenebula_ha-orch-add-base_|-adding vmm05: base_|-state": {"duration": 4000},
        "onenebula_ha-orch-add-join-backup": {"duration": 1234},
    }
    assert join.step_seconds(results) == {"base": 4.0, "join-backup": 1.23}


def test_monitoring_shares_separate_beacon_and_agent(bench):
    mon = bench("monitoring_cost")

    def window(minion, agent, minion_started, agent_started, pids, programs):
        return {
            "seconds": 100.0,
            "hosts": {
                "vmm01": {
                    "minion_cpu_s": minion, "agent_cpu_s": agent, "oned_cpu_s": 1.0,
                    "agent_children_cpu_s": agent / 4, "minion_children_cpu_s": minion / 2,
                    "minion_started": minion_started, "agent_started": agent_started,
                    "pids": pids, "agent_rss_mb": 20.0, "minion_rss_mb": 80.0,
                    "minion_programs": programs,
                }
            },
        }  # fmt: skip

    # pids (threads included) rise with the agent's polls (oned's threads): not processes.
    windows = {
        "on": window(1.5, 0.4, 30, 200, 2600, {"ss": 20, "onezone": 10}),
        "agent": window(1.0, 0.4, 20, 200, 2500, {"ss": 19}),
        "off": window(1.0, 0, 20, 0, 500, {"ss": 20}),
    }
    row = mon.shares(windows, agent_poll_s=0.5)["vmm01"]
    assert row["agent_share"] == pytest.approx(0.004)
    assert row["beacon_share"] == pytest.approx(0.005)
    assert row["beacon_own_share"] == pytest.approx(0.0025)  # without the minion's children
    assert row["total_share"] == pytest.approx(0.009)
    assert row["agent_children_share"] == pytest.approx(0.001)
    assert row["spawned_per_agent_poll"] == pytest.approx(1.0)  # 2 per s x 0.5 s
    # The minion's own `ss` checks run in both windows; `onezone` only with the beacon:
    # 10 in 100 s of 5 s polls.
    assert row["beacon_programs"] == {"onezone": 10}
    assert row["spawned_per_beacon_poll"] == pytest.approx(0.5)
    assert row["pids_per_s_threads_included"] == {"on": 26.0, "agent": 25.0, "off": 5.0}


def test_spawned_counts_across_the_pid_wrap(bench):
    mon = bench("monitoring_cost")
    assert mon.spawned(100, 130) == 30
    with open("/proc/sys/kernel/pid_max") as handle:
        pid_max = int(handle.read())
    assert mon.spawned(pid_max - 5, 3) == 8


def test_a_process_sample_reads_this_process(bench):
    mon = bench("monitoring_cost")
    import os

    sample = mon.sample(os.getpid())
    assert sample.cpu_s > 0 and sample.rss > 0
    assert mon.sample(2**22 + 7) is None


def test_converged_series_reports_the_median_and_changes(bench):
    conv = bench("converged_apply")
    runs = [
        {"seconds": 3.0, "states": 10, "changed": [], "minions": 5},
        {"seconds": 1.0, "states": 10, "changed": [], "minions": 5},
        {"seconds": 2.0, "states": 10, "changed": ["vmm01: x"], "minions": 5},
    ]
    out = conv.series(runs)
    assert out["median_s"] == 2.0
    assert out["changed_last_run"] == ["vmm01: x"]


def test_state_failures_name_the_failed_state(bench):
    lab = bench("_lab")
    data = {
        "vmm01": {"a": {"result": True, "comment": ""}},
        "vmm02": {"b": {"result": False, "comment": "boom"}},
        "vmm03": ["Rendering SLS failed"],
    }
    failed = lab.state_failures(data)
    assert set(failed) == {"vmm02", "vmm03"}
    assert failed["vmm02"] == ["b: boom"]


def test_agent_poll_interval_is_read_from_the_agents_config_file(bench):
    """The pillar leaves fence:poll_interval null (derived at validation): the bench reads
    what the agent runs with."""
    mon = bench("monitoring_cost")
    reads = []

    class Host:
        def run(self, argv, timeout):
            reads.append(argv)
            return type("Done", (), {"stdout": '{"poll_interval": 0.15, "server_id": 0}'})()

    lab = type("Lab", (), {"frontends": [Host()]})()
    settings = {"fence": {"poll_interval": None, "config": "/etc/x/fence.json"}}
    assert mon.agent_poll_interval(lab, settings) == 0.15
    assert reads == [["cat", "/etc/x/fence.json"]]


def test_join_profile_splits_state_time_from_salt_time(bench):
    join = bench("follower_join")
    restore = {
        "duration": 19000,
        "changes": {
            "ret": {
                "vmm05": {
                    "onenebula_db_|-restore_|-/x.sql_|-restored_from_leader": {
                        "duration": 12000,
                        "comment": "Restored the DB from /x.sql on vmm01 (pulled in 1.0 s, ...)",
                    },
                    "service_|-dead_|-opennebula_|-dead": {"duration": 1500},
                }
            }
        },
    }
    results = {
        "salt_|-onenebula_ha-orch-add-base_|-base_|-state": {"duration": 4000},
        "salt_|-onenebula_ha-orch-add-join-restore_|-restore_|-state": restore,
    }
    profile = join.join_profile(results)
    assert list(profile) == ["join-restore"]
    assert profile["join-restore"]["seconds"] == 19.0
    assert profile["join-restore"]["states_s"] == 13.5
    assert profile["join-restore"]["slowest"][0] == "12.0s vmm05 restore"
    assert "(pulled in 1.0 s" in profile["join-restore"]["restore_comment"]
