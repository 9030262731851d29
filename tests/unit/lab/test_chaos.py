"""The chaos run's plain functions: the seeded nemesis, the write audit, the summary and the
timeline picture (the run itself needs the lab: tests/e2e/zone/test_chaos_short.py)."""

from __future__ import annotations

import contextlib
import random
import time
import xml.etree.ElementTree as ET

import pytest

from onelab import chaos, proc
from onelab.timeline_svg import BEHIND, render, roles, runs, trials

ALL = [*chaos.FAULTS, chaos.OVERLAP]


def _draws(seed: int, count: int = 40) -> list[list[str]]:
    rng = random.Random(seed)
    return [chaos.draw(rng, ALL) for _ in range(count)]


def test_a_seed_replays_the_same_faults():
    assert _draws(1234) == _draws(1234)
    assert _draws(1234) != _draws(4321)


def test_an_overlap_is_two_distinct_overlappable_faults():
    rng = random.Random(7)
    for _ in range(200):
        names = chaos.draw(rng, [chaos.OVERLAP])
        assert len(names) == 2 and names[0] != names[1]
        assert all(chaos.FAULTS[n].overlappable for n in names)


def test_the_kinds_the_issue_names_are_all_there():
    assert {
        "kill_leader", "kill_follower", "stop_leader", "stop_follower", "host_freeze",
        "part_leader_peers", "part_leader_all", "part_follower", "split_2_3", "power_cycle",
        "master_stopped", "mariadb_follower", "db_dropped",
    } <= set(chaos.FAULTS)  # fmt: skip


def test_a_drawn_fault_becomes_one_trial_kind_with_its_release():
    kind = chaos.as_kind(["stop_follower", "kill_leader"], random.Random(1), ["vmm02", "vmm03"])
    assert kind.name == "overlap:stop_follower+kill_leader"
    assert kind.release is not None
    assert "->follower vmm0" in kind.title
    single = chaos.as_kind(["kill_leader"], random.Random(1), ["vmm02"])
    assert single.name == "kill_leader" and single.release is None


def _write(n: int, outcome: str, oid: int | None = None) -> chaos.Write:
    return chaos.Write(float(n), f"chaos-{n}", outcome, oid)


def test_the_write_audit_finds_lost_duplicate_and_ambiguous_writes():
    writes = [
        _write(1, "acked", 10),
        _write(2, "acked", 11),  # lost: not in the pool
        _write(3, "failed"),  # ambiguous: failed, yet in the pool
        _write(4, "failed"),  # refused: not in the pool
        _write(5, "acked", 10),  # id acknowledged twice
    ]
    pool = {"chaos-1": [10], "chaos-3": [12], "chaos-5": [10]}
    audit = chaos.Audit(1, "kill_leader")
    chaos.audit_writes(writes, pool, audit)
    assert (audit.acked, audit.lost, audit.failed, audit.ambiguous) == (3, 1, 2, 1)
    assert any("id 10 acknowledged to 2 writes" in f for f in audit.failures)
    assert any("chaos-2" in f for f in audit.failures)


def test_a_clean_history_passes_the_write_audit():
    writes = [_write(1, "acked", 1), _write(2, "acked", 2), _write(3, "failed")]
    audit = chaos.Audit(1, "kill_leader")
    chaos.audit_writes(writes, {"chaos-1": [1], "chaos-2": [2]}, audit)
    assert audit.failures == [] and audit.ambiguous == 0 and audit.lost == 0


def _row(kind: str, new_leader_s, only_s, two: int = 0) -> dict:
    return {
        "kind": kind, "new_leader": "vmm02" if new_leader_s is not None else None,
        "new_leader_s": new_leader_s, "vip_new_leader_only_s": only_s,
        "two_holder_samples": two, "no_holder_s": 1.0, "audit_failures": [],
        "writes": {"acked": 5, "lost": 0, "failed": 1, "ambiguous": 1},
    }  # fmt: skip


def test_the_summary_groups_by_kind_with_percentiles():
    rows = [_row("kill_leader", 5.0, 6.0), _row("kill_leader", 7.0, 9.0, two=1),
            _row("kill_follower", None, None), _row("overlap:a+b", 4.0, 5.0)]  # fmt: skip
    by_kind = {row["kind"]: row for row in chaos.summary(rows)}
    assert set(by_kind) == {"kill_leader", "kill_follower", "overlap"}
    kill = by_kind["kill_leader"]
    assert kill["trials"] == 2 and kill["two_holder_samples"] == 1
    assert kill["vip_only_p50_s"] == 7.5 and 8.5 < kill["vip_only_p95_s"] <= 9.0
    assert kill["new_leader_p50_s"] == 6.0 and 6.5 < kill["new_leader_p95_s"] <= 7.0
    assert kill["acked"] == 10 and kill["ambiguous"] == 2
    assert by_kind["kill_follower"]["vip_only_p50_s"] is None
    assert "| kill_leader | 2 |" in chaos.summary_table(chaos.summary(rows))


def test_the_timeline_picture_is_svg_with_roles_holders_and_marks():
    timeline = {
        "marks": [{"t": 1.0, "label": "kill_leader: fault on vmm01"}],
        "vip": [
            {"t": 0.0, "holders": ["vmm01"], "parked": []},
            {"t": 1.0, "holders": ["vmm01", "vmm02"], "parked": []},
            {"t": 2.0, "holders": [], "parked": []},
            {"t": 3.0, "holders": ["vmm02"], "parked": []},
        ],
        "raft": [
            {"t": 0.0, "host": "vmm01", "state": "leader"},
            {"t": 0.0, "host": "vmm02", "state": "follower"},
            {"t": 2.0, "host": "vmm01", "state": None},
            {"t": 2.5, "host": "vmm02", "state": "leader"},
        ],
    }
    svg = render(timeline, ["vmm01", "vmm02"])
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    fills = [el.get("fill") for el in root.iter() if el.tag.endswith("rect")]
    assert "#d32f2f" in fills  # the two-holder sample
    assert "#2e7d32" in fills and "#90caf9" in fills
    texts = "".join(el.text or "" for el in root.iter() if el.tag.endswith("text"))
    assert "vmm01" in texts and "kill_leader: fault on vmm01" in texts


def test_the_picture_draws_a_steady_role_as_one_shape():
    raft = [{"t": t / 10, "host": "vmm01", "state": "follower"} for t in range(100)]
    raft.append({"t": 10.0, "host": "vmm01", "state": "leader"})
    assert runs(raft, lambda s: s["state"]) == [(0.0, 10.0, "follower"), (10.0, 10.0, "leader")]
    root = ET.fromstring(render({"raft": raft, "vip": [], "marks": []}, ["vmm01"]))
    followers = [el for el in root.findall("{*}rect") if el.get("fill") == "#90caf9"]
    assert len(followers) == 2  # the one band, and its legend swatch


def test_a_follower_far_behind_the_leaders_commit_is_drawn_behind():
    raft = [
        {"t": 0.0, "host": "vmm01", "state": "leader", "commit": 500},
        {"t": 0.0, "host": "vmm02", "state": "follower", "commit": 500 - BEHIND},
        {"t": 0.0, "host": "vmm03", "state": "follower", "commit": 499 - BEHIND},
        {"t": 0.1, "host": "vmm03", "state": None, "commit": None},
    ]
    assert [s["role"] for s in roles(raft)] == ["leader", "follower", "behind", None]
    root = ET.fromstring(
        render({"raft": raft, "vip": [], "marks": []}, ["vmm01", "vmm02", "vmm03"])
    )
    assert any(el.get("fill") == "url(#behind)" for el in root.iter())


def test_trial_windows_run_from_the_fault_to_healthy_and_are_keyed_by_number():
    marks = [
        {"t": 1.0, "label": "kill_leader: fault on vmm01"},
        {"t": 3.0, "label": "kill_leader: heal"},
        {"t": 6.0, "label": "kill_leader: healthy, leader vmm02"},
        {"t": 9.0, "label": "db_dropped: fault on vmm03"},  # never healthy: to the end
    ]
    found = trials(marks, end=20.0)
    assert [(t.number, t.start, t.end) for t in found] == [(1, 1.0, 6.0), (2, 9.0, 20.0)]
    vip = [{"t": 0.0, "holders": ["vmm01"]}, {"t": 20.0, "holders": ["vmm01"]}]
    root = ET.fromstring(render({"raft": [], "vip": vip, "marks": marks}, ["vmm01"]))
    texts = [el.text for el in root.iter() if el.tag.endswith("text")]
    first = texts.index("kill_leader: fault on vmm01 (at 1s, 5s to healthy)")
    second = texts.index("db_dropped: fault on vmm03 (at 9s, 11s to healthy)")
    assert texts[first - 1] == "1" and texts[second - 1] == "2"


def test_repair_orchestrations_are_recognised_on_the_master_bus():
    new = {"fun": "runner.state.orchestrate", "fun_args": [{"mods": "onenebula_ha.orch.repair"}]}
    assert chaos.repair_event("salt/run/20261127/new", new) == ("started", "20261127", None)
    done = {**new, "success": True, "return": {"retcode": 0}}
    assert chaos.repair_event("salt/run/20261127/ret", done) == ("finished", "20261127", True)
    failed = {**new, "success": True, "return": {"retcode": 1}}
    assert chaos.repair_event("salt/run/20261127/ret", failed)[2] is False
    deploy = {"fun": "runner.state.orchestrate", "fun_args": ["onenebula_ha.orch.deploy"]}
    assert chaos.repair_event("salt/run/1/new", deploy) is None
    assert chaos.repair_event("salt/job/1/new", new) is None
    assert chaos.repair_event("salt/run/1/new", {"fun": "runner.onenebula_ha.status"}) is None


def test_commit_converges_when_every_server_reaches_the_leaders_index():
    from onelab.sampling import RaftSample

    def samples(*commits):
        return [RaftSample(0.0, f"vmm0{i}", "follower", 5, c) for i, c in enumerate(commits)]

    assert chaos.commit_caught_up(samples(120, 121, 125), 120)  # moving on under writes
    assert not chaos.commit_caught_up(samples(120, 119, 125), 120)  # one lagging
    assert not chaos.commit_caught_up(samples(120, None), 120)  # one not answering
    assert not chaos.commit_caught_up(samples(120, 120), None)  # no leader to compare with


def test_a_failed_repair_says_which_steps_failed_and_why():
    data = {
        "return": {
            "retcode": 1,
            "data": {
                "master": {
                    "salt_|-repair-backup_|-fresh backup_|-state": {"result": True, "comment": ""},
                    "salt_|-repair-restore_|-restore_|-state": {
                        "result": False,
                        "comment": "Run failed on minions: vmm02\n  mysql: no such table",
                    },
                }
            },
        }
    }
    assert (
        chaos.repair_failure(data)
        == "repair-restore: Run failed on minions: vmm02 mysql: no such table"
    )
    rendered = {"return": ["Rendering SLS 'base:onenebula_ha.orch.repair' failed: lock held"]}
    assert "lock held" in chaos.repair_failure(rendered)


def test_a_trial_title_names_what_the_fault_hits():
    kind = chaos.as_kind(["kill_leader", "stop_follower"], random.Random(3), ["vmm04"])
    assert "kill_leader->leader" in kind.title
    assert "stop_follower->follower vmm04" in kind.title
    assert (
        "->leader+follower vmm04" in chaos.as_kind(["split_2_3"], random.Random(3), ["vmm04"]).title
    )


class _RecordingLab:
    def __init__(self):
        self.calls: list[tuple[str, str]] = []

    def kill_oned(self, name):
        self.calls.append(("kill_oned", name))

    def freeze(self, name):
        self.calls.append(("freeze", name))


def test_the_fault_mark_names_the_hosts_the_faults_hit():
    from onelab.sampling import Mark

    hit: list[str] = []
    kind = chaos.as_kind(["kill_leader", "stop_follower"], random.Random(3), ["vmm04"], hit)
    lab = _RecordingLab()
    kind.inject(lab, "vmm01")
    assert lab.calls == [("kill_oned", "vmm01"), ("freeze", "vmm04")]
    assert hit == ["vmm01", "vmm04"]

    class _Timeline:
        marks = [Mark(1.0, f"{kind.name}: fault on vmm01"), Mark(2.0, f"{kind.name}: heal")]

    chaos._name_the_hosts_hit(_Timeline, 0.5, kind.name, hit)
    assert [m.label for m in _Timeline.marks] == [
        f"{kind.name}: fault on vmm01, vmm04",
        f"{kind.name}: heal",
    ]


def test_a_timed_run_starts_a_trial_only_when_the_longest_so_far_still_fits():
    import time

    now = time.monotonic()
    assert chaos.another_trial(0, None, now + 600, [])
    assert not chaos.another_trial(0, None, now + chaos.TRIAL_ESTIMATE / 2, [])
    assert chaos.another_trial(3, None, now + 100, [20.0, 30.0])
    assert not chaos.another_trial(3, None, now + 100, [20.0, 190.0])  # a repair took 190 s
    assert chaos.another_trial(3, 4, None, [500.0]) and not chaos.another_trial(4, 4, None, [])


def test_a_finished_repair_says_what_it_did():
    data = {
        "return": {
            "retcode": 0,
            "data": {
                "master": {
                    "test_|-onenebula_ha-orch-repair-test-show_notification_|-x_|-show_notification": {
                        "result": True,
                        "comment": "vmm02 is a caught-up follower:\n nothing to repair",
                    },
                }
            },
        }
    }
    assert chaos.repair_notes(data) == "0 step(s); vmm02 is a caught-up follower: nothing to repair"
    steps = data["return"]["data"]["master"]
    steps["salt_|-repair-restore_|-restore_|-state"] = {"result": True, "comment": "ok"}
    assert chaos.repair_notes(data).startswith("1 step(s); vmm02")
    assert chaos.repair_notes({"return": ["render error"]}) == ""
    assert not chaos.repair_restored(data)  # a step named restore, not the repair's own
    restore = "salt_|-onenebula_ha-orch-repair-restore_|-repairing vmm02: restoring_|-state"
    steps[restore] = {"result": False, "comment": "failed"}
    assert not chaos.repair_restored(data)
    steps[restore] = {"result": True, "comment": "ok"}
    assert chaos.repair_restored(data)
    assert not chaos.repair_restored({"return": ["render error"]})


class _RepairingLab:
    """A lab whose follower's database comes back after ``after`` looks (the repair)."""

    def __init__(self, after: int):
        self.after, self.looks = after, 0

    def exec(self, name, argv, *, check=False, timeout=60):
        import subprocess

        self.looks += 1
        found = "db_versioning\n" if self.looks > self.after else ""
        return subprocess.CompletedProcess(argv, 0, stdout=found, stderr="")

    def running(self, name, service):
        return True


REPAIR = {"fun": "runner.state.orchestrate", "fun_args": [{"mods": "onenebula_ha.orch.repair"}]}


def _repair_return(jid: str, *, restored: bool) -> tuple[str, dict]:
    notes = "test_|-onenebula_ha-orch-repair-test-show_notification_|-x_|-show_notification"
    steps = {notes: {"result": True, "comment": "nothing to repair" if not restored else "x"}}
    if restored:
        steps["salt_|-onenebula_ha-orch-repair-restore_|-r_|-state"] = {"result": True}
        steps["salt_|-onenebula_ha-orch-repair-healthy_|-h_|-state"] = {"result": True}
    data = {**REPAIR, "success": True, "return": {"retcode": 0, "data": {"master": steps}}}
    return f"salt/run/{jid}/ret", data


def test_db_dropped_heals_when_a_repair_has_restored_and_finished(monkeypatch):
    """The database is back as soon as the restore ran; the heal waits for the repair's end
    (its last step waits for a caught-up follower), not for a repair that did nothing."""
    watcher = chaos.RepairWatcher(salt=None)  # fed by hand, not started
    bus = [
        ("salt/run/1/new", REPAIR),
        _repair_return("1", restored=False),  # e.g. a repair that found nothing to do
        ("salt/run/2/new", REPAIR),
        _repair_return("2", restored=True),
    ]
    polls = []

    def next_event(seconds):
        polls.append(seconds)
        if bus:
            watcher._on_event(*bus.pop(0))

    monkeypatch.setattr(proc.time, "sleep", next_event)
    lab = _RepairingLab(after=1)  # the DROP, then the database is back at the first look
    kind = chaos.as_kind(["db_dropped"], random.Random(1), ["vmm03"], repairs=watcher)
    assert kind.release is not None and kind.hold == 0.0
    kind.inject(lab, "vmm01")
    kind.release(lab, "vmm01")
    assert bus == [] and len(polls) == 4
    assert watcher.restored() == 1 and watcher.counts()["finished"] == 2


def test_db_dropped_not_repaired_within_the_bound_fails_the_trial(monkeypatch):
    clock = iter(range(0, 10_000, 50))
    monkeypatch.setattr(chaos.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(chaos.time, "sleep", lambda seconds: None)
    watcher = chaos.RepairWatcher(salt=None)
    with pytest.raises(TimeoutError, match="vmm03's dropped database not repaired within 180s"):
        chaos.await_repair(_RepairingLab(after=0), "vmm03", watcher, since=0.0)


def test_a_fault_the_formula_repairs_needs_the_repair_watcher():
    with pytest.raises(ValueError, match="repair watcher"):
        chaos.as_kind(["db_dropped"], random.Random(1), ["vmm03"])


class FakeBus:
    """``Lab.salt._master_events()``: the first connection fails (master down), the second
    delivers ``events`` then nothing."""

    def __init__(self, events):
        self.events = list(events)
        self.connections = 0

    @contextlib.contextmanager
    def _master_events(self):
        self.connections += 1
        if self.connections == 1:
            raise ConnectionRefusedError("master down")
        yield self

    def get_event(self, wait, tag, full):
        assert tag == "salt/run/" and full
        if self.events:
            return self.events.pop(0)
        time.sleep(0.01)  # the bus's own wait for an event, shortened
        return None


def test_the_repair_watcher_reconnects_and_counts_repairs_from_the_event_bus():
    repair = {"fun": "runner.state.orchestrate", "fun_args": [{"mods": "onenebula_ha.orch.repair"}]}
    bus = FakeBus(
        [
            {"tag": "salt/run/1/new", "data": repair},
            {"tag": "salt/run/2/new", "data": {"fun": "runner.onenebula_ha.status"}},
            {
                "tag": "salt/run/1/ret",
                "data": {**repair, "success": True, "return": {"retcode": 0}},
            },
        ]
    )
    watcher = chaos.RepairWatcher(bus)
    watcher.start()
    try:
        proc.wait_until(
            lambda: watcher.counts()["finished"] == 1, timeout=10, what="the repair's return"
        )
    finally:
        watcher.stop()
    assert watcher.counts() == {"started": 1, "finished": 1, "failed": 0}
    assert bus.connections == 2 and watcher.errors == ["ConnectionRefusedError: master down"]
