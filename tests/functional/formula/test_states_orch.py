"""The orchestrations render on a master-like configuration into the steps the zone needs.

They run the steps of the runner's planner ``onenebula_ha.plan``, which decides from the
runner's ``onenebula_ha.view`` (what the front-ends report). Here ``salt.runner.RunnerClient``
is replaced by a double that runs the formula's real runner with ``view`` returning a canned
view, so each scenario (bare cluster, converged, interrupted, unhealthy follower …) is
rendered through the real planner without a master or a zone. Rendering runs in-process on
the ``local_salt`` fixture's configuration, as the master's own minion.
"""

import copy
import json
from pathlib import Path

import pytest
import salt._logging.impl
import salt.client
import salt.config
import salt.runner
from support.formula_utils import utils_dunder
from support.load import load_file
from support.platform_grains import GRAINS

FORMULA = "onenebula_ha"
REPO_ROOT = Path(__file__).resolve().parents[3]
MINIONS = ["vmm01", "vmm02", "vmm03", "vmm04", "vmm05"]
DEBIAN_12 = GRAINS["debian-12"]


def _zone(states):
    return {
        "servers": [
            {
                "id": index,
                "name": minion,
                "state": state,
                "endpoint": f"http://10.213.0.{(index + 1) * 10}:2633/RPC2",
            }
            for index, (minion, state) in enumerate(states.items())
        ]
    }


def make_view(leader=None, states=None, healthy=None, bare=False, problems=()):
    """A view as the runner returns it; ``states`` maps member minions to zone states."""
    states = states or {}
    healthy = set(states if healthy is None else healthy)
    return {
        "leader": leader,
        "bare": bare,
        "configured": list(states),
        "zone": _zone(states) if states else None,
        "problems": list(problems),
        "servers": {
            minion: {
                "healthy": minion in healthy,
                "member": minion in states,
                "answered": True,
                "problems": [] if minion in healthy else ["Raft state error"],
                # What the front-end reports about itself (term 5, index 100).
                "oned": states.get(minion, "error") != "error",
                "state": states.get(minion, "down"),
                "term": 5,
                "server_id": MINIONS.index(minion),
                "log_index": 100,
                "configured_id": MINIONS.index(minion) if minion in states else -1,
            }
            for minion in MINIONS
        },
    }


BARE = make_view(bare=True)
CONVERGED = make_view("vmm02", {m: "leader" if m == "vmm02" else "follower" for m in MINIONS})


def _load_runner():
    path = REPO_ROOT / "_runners" / "onenebula_ha.py"
    module = load_file(path, "onenebula_ha_runner_orch_test")
    module.__utils__ = utils_dunder()
    return module


class FakeRunnerClient:
    """Stands in for salt.runner.RunnerClient inside saltutil.runner: the real runner module,
    whose ``view`` returns the canned view; the other minion queries (the databases) find
    every front-end's database as ``databases`` says (default: all fine)."""

    view = BARE
    calls = []
    cachedir = None
    databases = {}
    grains = {}

    def __init__(self, opts):
        self.functions = {}

    def cmd(self, name, arg=None, kwarg=None, **kwargs):
        FakeRunnerClient.calls.append((name, kwarg))
        runner = _load_runner()
        runner.__opts__ = {"id": "salt_master", "cachedir": FakeRunnerClient.cachedir}

        def view(**view_kwargs):
            FakeRunnerClient.calls.append(("onenebula_ha.view", view_kwargs))
            return copy.deepcopy(FakeRunnerClient.view)

        def call(minions, fun, arg=(), kwarg=None, timeout=10):
            if fun == "grains.items":
                FakeRunnerClient.calls.append((fun, list(minions)))
                return {m: {"ok": True, "ret": FakeRunnerClient.grains.get(m, DEBIAN_12)}
                        for m in minions}  # fmt: skip
            assert fun == "onenebula_db.health", fun
            FakeRunnerClient.calls.append((fun, list(minions)))
            fine = {"exists": True, "ok": True, "broken": False, "missing": [], "tables": []}
            return {
                m: {"ok": True, "ret": FakeRunnerClient.databases.get(m, fine)} for m in minions
            }

        runner.view = view
        runner._call = call
        return getattr(runner, name.split(".", 1)[1])(*(arg or []), **(kwarg or {}))


@pytest.fixture(scope="module")
def master_minion(local_salt, example_pillar_data):
    local_salt.set_pillar(example_pillar_data)
    opts = salt.config.minion_config(str(local_salt.conf_dir / "minion"))
    opts["id"] = "salt_master"
    yield salt.client.Caller(mopts=opts)
    salt._logging.impl.shutdown_temp_handler()


@pytest.fixture
def render(master_minion, monkeypatch, tmp_path):
    monkeypatch.setattr(salt.runner, "RunnerClient", FakeRunnerClient)
    FakeRunnerClient.calls = []
    FakeRunnerClient.cachedir = str(tmp_path)
    FakeRunnerClient.databases = {}
    FakeRunnerClient.grains = {}

    def _render(name, view, pillar=None):
        FakeRunnerClient.view = view
        data = master_minion.cmd("state.show_sls", f"{FORMULA}.orch.{name}", pillar=pillar or {})
        if isinstance(data, list):  # render error
            return "\n".join(data)
        return sorted(data.items(), key=lambda item: _args(item[1])["order"])

    return _render


def _args(body):
    for module, args in body.items():
        if not module.startswith("__"):
            kwargs = {k: v for a in args if isinstance(a, dict) for k, v in a.items()}
            kwargs["fun"] = f"{module}.{next(a for a in args if isinstance(a, str))}"
            return kwargs
    raise AssertionError(body)


def _runner_steps(rendered):
    """``[(id, runner function, kwargs, required ids, onfail ids)]`` of the salt.runner steps."""
    found = []
    for state_id, body in rendered:
        args = _args(body)
        if args["fun"] == "salt.runner":
            found.append(
                (
                    state_id,
                    args["name"],
                    args.get("kwarg", {}),
                    [r["salt"] for r in args.get("require", [])],
                    [r["salt"] for r in args.get("onfail", [])],
                )
            )
    return found


def _steps(rendered):
    """``[(id, tgt, sls, run pillar, required ids)]`` of the salt.state steps, in order."""
    steps = []
    for state_id, body in rendered:
        args = _args(body)
        if args["fun"] != "salt.state":
            continue
        required = [r["salt"] for r in args.get("require", [])]
        steps.append(
            (state_id, args["tgt"], args["sls"], args["pillar"]["onenebula_ha_run"], required)
        )
    return steps


def _assert_chained(steps):
    """Strictly one step after the other: each requires the one before it."""
    for previous, current in zip(steps, steps[1:], strict=False):
        assert current[4] == [previous[0]], f"{current[0]} does not require {previous[0]}"


def _flags(rendered):
    """``{id: (failhard, parallel)}`` of the salt.state steps."""
    found = {}
    for state_id, body in rendered:
        args = _args(body)
        if args["fun"] == "salt.state":
            found[state_id] = (args.get("failhard"), args.get("parallel"))
    return found


def test_deploy_on_a_bare_cluster_bootstraps_the_first_server_then_joins_one_at_a_time(render):
    rendered = render("deploy", BARE)
    steps = _steps(rendered)
    # Beside the chain (parallel steps): the other front-ends' base states, then each
    # joiner's restore (required by its server-add); everything else is one chain.
    prefix = "onenebula_ha-orch-deploy-"
    flags = _flags(rendered)
    aside = {s[0] for s in steps if flags[s[0]][1]}
    base = prefix + "base-others"
    restores = [s for s in steps if s[0] in aside and s[0] != base]
    chain = [s for s in steps if s[0] not in aside]
    _assert_chained([(*s[:4], [r for r in s[4] if r not in aside]) for s in chain])
    assert flags[base] == (False, True) and len(restores) == 4
    by_id = {s[0]: s for s in steps}
    assert by_id[base][4] == [prefix + "bootstrap"]
    # The first joiner restores behind the base states; each later one the backup the
    # previous server-add's run took.
    assert [s[4] for s in restores] == [
        [base],
        [prefix + "join-vmm02-member"],
        [prefix + "join-vmm03-member"],
        [prefix + "join-vmm04-member"],
    ]
    # The bootstrap, the publication of the secrets and the first backup: one state run
    # that stops at the first failure.
    assert [(s[1], s[2]) for s in steps[:5]] == [
        ("vmm01,vmm02,vmm03,vmm04,vmm05", "onenebula_ha.ssh.keys"),
        ("vmm01", "onenebula_ha"),
        ("vmm01", "onenebula_ha.ha.bootstrap,onenebula_ha.ha.publish,onenebula_ha.ha.backup"),
        ("vmm02,vmm03,vmm04,vmm05", "onenebula_ha"),
        ("vmm02", "onenebula_ha.ha.restore"),
    ]
    assert flags[prefix + "bootstrap"] == (True, False)
    joins = [s for s in chain if "-join-" in s[0]]
    assert len(joins) == 4 * 2
    assert [(s[1], s[2]) for s in joins[:4]] == [
        ("vmm01", "onenebula_ha.ha.healthy,onenebula_ha.ha.member,onenebula_ha.ha.backup"),
        ("vmm02", "onenebula_ha.ha.start"),
        ("vmm01", "onenebula_ha.ha.healthy,onenebula_ha.ha.member,onenebula_ha.ha.backup"),
        ("vmm03", "onenebula_ha.ha.start"),
    ]
    assert prefix + "join-vmm02-restore" in joins[0][4]
    # The server-add's state run first waits for a healthy zone of the members joined so
    # far, and stops there if it is not (failhard).
    assert flags[joins[0][0]] == (True, False)
    assert joins[0][3]["wait_members"] == [{"name": "vmm01", "id": 0}]
    order = [s[3]["server"] for s in joins[::2]]
    assert order == ["vmm02", "vmm03", "vmm04", "vmm05"]
    vmm03 = [s for s in joins if s[3]["server"] == "vmm03"]
    assert vmm03[0][3]["step"] == "joining vmm03 (3 of 5)"
    assert vmm03[0][3]["wait_members"] == [{"name": "vmm01", "id": 0}, {"name": "vmm02", "id": 1}]
    assert vmm03[-1][3]["members"] == [
        {"name": "vmm01", "id": 0},
        {"name": "vmm02", "id": 1},
        {"name": "vmm03", "id": 2},
    ]
    assert all(s[3]["leader"] == "vmm01" for s in joins)
    # The final wait for all five, on the leader (vmm05's own copy of the zone lacks its
    # server-add until the leader writes again).
    assert steps[-1][:3] == (prefix + "healthy", "vmm01", "onenebula_ha.ha.healthy")
    assert len(steps[-1][3]["members"]) == 5 and base in steps[-1][4]
    assert [call[0] for call in FakeRunnerClient.calls] == [
        "onenebula_ha.plan",
        "grains.items",
        "onenebula_ha.view",
    ]
    assert FakeRunnerClient.calls[0][1]["action"] == "deploy"
    # What the render itself requires (pillar.example: packages from OpenNebula's 7.0
    # community repositories), checked on every front-end before the first step.
    requirement = FakeRunnerClient.calls[0][1]["platform"]
    assert (requirement["version"], requirement["edition"]) == ("7.0", "community")
    assert FakeRunnerClient.calls[1][1] == MINIONS


def test_deploy_on_a_converged_cluster_joins_nobody(render):
    steps = _steps(render("deploy", CONVERGED))
    assert not [s for s in steps if "-join-" in s[0] or "bootstrap" in s[0]]
    # The current leader (not the first server) is the source of secrets and backups.
    assert [(s[1], s[2]) for s in steps[1:3]] == [
        ("vmm02", "onenebula_ha,onenebula_ha.ha.publish"),
        ("vmm01,vmm03,vmm04,vmm05", "onenebula_ha"),
    ]
    assert steps[-1][1] == "vmm02"


def test_deploy_resumes_an_interrupted_join_and_continues_with_the_rest(render):
    view = make_view(
        "vmm01",
        {"vmm01": "leader", "vmm02": "follower", "vmm03": "follower", "vmm04": "error"},
        healthy=["vmm01", "vmm02", "vmm03"],
    )
    steps = _steps(render("deploy", view))
    joined = [s[3]["server"] for s in steps if s[0].endswith("-member")]
    assert joined == ["vmm04", "vmm05"]
    assert [s[1] for s in steps if s[0].endswith("-restore")] == ["vmm04", "vmm05"]
    assert not [s for s in steps if "bootstrap" in s[0]]


def test_deploy_refuses_a_zone_without_a_leader(render):
    view = make_view(None, {"vmm01": "candidate", "vmm02": "candidate"}, healthy=[])
    view["problems"] = ["no leader: the zone has configured members (vmm01, vmm02)"]
    output = render("deploy", view)
    assert isinstance(output, str)
    assert "no usable leader" in output and "vmm01, vmm02" in output


@pytest.mark.parametrize("name", ["deploy", "add"])
def test_an_unsupported_or_unreadable_front_end_stops_the_plan_before_any_step(render, name):
    FakeRunnerClient.grains = {"vmm04": GRAINS["ubuntu-20.04"], "vmm05": {}}
    view = make_view("vmm01", {"vmm01": "leader", "vmm02": "follower", "vmm03": "follower"})
    output = render(name, view)
    assert isinstance(output, str), output
    assert "unsupported platform, nothing changed" in output
    assert "vmm04 runs 'Ubuntu 20.04'" in output and "no front-end packages" in output
    assert "vmm05 has unreadable grains (no os grain)" in output
    assert "onenebula_ha:packages:manage: false" in output
    assert "onenebula_ha.view" not in [call[0] for call in FakeRunnerClient.calls]
    # Packages of the user's own source: no platform is refused, as the render refuses none.
    own = {"onenebula_ha": {"packages": {"manage": False}}}
    assert _steps(render(name, view, own))


def test_add_joins_the_first_server_that_is_not_a_member(render):
    view = make_view("vmm01", {"vmm01": "leader", "vmm02": "follower", "vmm03": "follower"})
    steps = _steps(render("add", view))
    _assert_chained(steps)
    assert [(s[1], s[2]) for s in steps[:5]] == [
        ("vmm04", "onenebula_ha.ssh.keys"),
        ("vmm01,vmm02,vmm03,vmm05", "onenebula_ha.ssh"),
        ("vmm01", "onenebula_ha.ha.publish"),
        ("vmm04", "onenebula_ha"),
        ("vmm01,vmm02,vmm03", "onenebula_ha.fence"),
    ]
    assert {s[3].get("server") for s in steps[5:]} == {"vmm04"}
    assert steps[5][3]["step"] == "joining vmm04 (4 of 5)"


def test_add_of_a_member_changes_nothing(render):
    rendered = render("add", CONVERGED, {"target": "vmm03"})
    assert not _steps(rendered)
    assert _args(rendered[0][1])["text"] == (
        "Nothing to add: vmm03 is already a healthy member of the zone (leader vmm02)"
    )


@pytest.mark.parametrize("name", ["add", "remove", "repair"])
def test_an_unknown_target_stops_before_anything_changes(render, name):
    output = render(name, CONVERGED, {"target": "vmm09"})
    assert isinstance(output, str)
    assert "vmm09" in output and ("unknown server" in output or "not a server" in output)


def test_remove_stops_the_server_first_then_deletes_it_on_the_leader(render):
    steps = _steps(render("remove", CONVERGED, {"target": "vmm05"}))
    _assert_chained(steps)
    assert [(s[1], s[2].rsplit(".", 1)[1]) for s in steps] == [
        ("vmm05", "stop"),
        ("vmm01", "healthy"),
        ("vmm01,vmm02,vmm03,vmm04", "absent"),
        ("vmm01", "healthy"),
    ]
    assert steps[1][3]["ignore"] == ["vmm05"]
    assert steps[3][3]["ignore"] == []
    assert [m["name"] for m in steps[3][3]["members"]] == ["vmm01", "vmm02", "vmm03", "vmm04"]


def test_remove_finds_a_server_already_dropped_from_the_pillar_in_the_zone(render):
    view = copy.deepcopy(CONVERGED)
    view["zone"]["servers"].append(
        {"id": 7, "name": "old-fe", "state": "error", "endpoint": "http://10.0.0.7:2633/RPC2"}
    )
    output = render("remove", view, {"target": "old-fe"})
    assert "no minion in onenebula_ha:servers" in output
    steps = _steps(render("remove", view, {"target": "old-fe", "force": True}))
    assert [s[2].rsplit(".", 1)[1] for s in steps] == ["healthy", "absent", "healthy"]
    assert steps[1][3]["name"] == "old-fe"


def test_repair_restores_the_follower_and_resets_it_on_the_leader(render, tmp_path):
    view = make_view(
        "vmm02",
        {"vmm01": "follower", "vmm02": "leader", "vmm03": "error", "vmm04": "follower",
         "vmm05": "follower"},
        healthy=["vmm01", "vmm02", "vmm04", "vmm05"],
    )  # fmt: skip
    rendered = render("repair", view, {"target": "vmm03"})
    assert not isinstance(rendered, str), rendered
    steps = _steps(rendered)
    assert [(s[1], s[2].rsplit(".", 1)[1]) for s in steps] == [
        ("vmm02", "backup"),
        ("vmm03", "restore"),
        ("vmm02", "discard"),
        ("vmm03", "start"),
        ("vmm02", "reset"),
        ("vmm02", "healthy"),
    ]
    prefix = "onenebula_ha-orch-repair-"
    # The steps that wait for the zone are awaited longer than their own wait.
    for name in ("reset", "healthy"):
        args = _args(dict(rendered)[f"{prefix}{name}"])
        assert args["timeout"] > args["pillar"]["onenebula_ha_run"]["timeout"] > 0
    assert _args(dict(rendered)[f"{prefix}restore"])["timeout"] is None  # Salt's default
    # The dump is deleted on the leader only when the repair stops before the restore.
    discard = _args(dict(rendered)[f"{prefix}discard"])
    assert "require" not in discard or discard["require"] == []
    assert [r["salt"] for r in discard["onfail"]] == [
        f"{prefix}backup",
        f"{prefix}check-restore",
        f"{prefix}restore",
    ]
    steps = [s for s in steps if not s[0].endswith("-discard")]
    # A fresh check on the master before each destructive step, then the lock's release.
    runners = _runner_steps(rendered)
    assert [(r[0].removeprefix(prefix), r[1]) for r in runners] == [
        ("check-restore", "onenebula_ha.repair_check"),
        ("check-reset", "onenebula_ha.repair_check"),
        ("done", "onenebula_ha.repair_release"),
        ("failed", "onenebula_ha.repair_release"),
    ]
    assert steps[1][4] == [f"{prefix}check-restore"] and runners[0][3] == [f"{prefix}backup"]
    releases = {runners[-2][0], runners[-1][0]}
    assert set(runners[-1][4]) == {s[0] for s in rendered[1:]} - releases  # every other step
    # Rendering it took the repair lock, with the token the release steps carry.
    lock = json.loads((tmp_path / "onenebula_ha" / "repair_lock.json").read_text())
    assert lock["holder"]["target"] == "vmm03" and lock["holder"]["leader"] == "vmm02"
    assert runners[2][2] == {"token": lock["holder"]["token"], "ok": True}


def test_repair_restores_a_caught_up_follower_whose_database_the_master_finds_dropped(
    render, tmp_path
):
    FakeRunnerClient.databases = {"vmm03": {"exists": False, "database": "opennebula",
                                            "broken": True, "ok": False}}  # fmt: skip
    rendered = render("repair", CONVERGED, {"target": "vmm03"})
    assert not isinstance(rendered, str), rendered
    assert [(s[1], s[2].rsplit(".", 1)[1]) for s in _steps(rendered)][:2] == [
        ("vmm02", "backup"),
        ("vmm03", "restore"),
    ]
    assert "its database opennebula does not exist" in _args(rendered[0][1])["text"]
    lock = json.loads((tmp_path / "onenebula_ha" / "repair_lock.json").read_text())
    assert lock["holder"]["target"] == "vmm03"


def test_repair_leaves_a_healthy_follower_and_never_touches_the_leader(render, tmp_path):
    rendered = render("repair", CONVERGED, {"target": "vmm03"})
    assert not _steps(rendered) and "caught-up follower" in _args(rendered[0][1])["text"]
    rendered = render("repair", CONVERGED, {"target": "vmm02", "force": True})
    assert not _steps(rendered) and "never repaired" in _args(rendered[0][1])["text"]
    assert not (tmp_path / "onenebula_ha" / "repair_lock.json").exists()


def test_rolling_restart_restarts_followers_first_and_the_leader_last(render):
    steps = _steps(render("rolling_restart", CONVERGED))
    _assert_chained(steps)
    restarted = [s[1] for s in steps if s[2].endswith(".ha.restart")]
    assert restarted == ["vmm01", "vmm03", "vmm04", "vmm05", "vmm02"]
    watchers = [s[1] for s in steps if s[2].endswith(".ha.healthy")]
    # The leader watches while followers restart; a follower watches the leader's restart.
    assert watchers == ["vmm02"] * 4 + ["vmm01"]


def test_rolling_restart_refuses_an_unhealthy_zone(render):
    view = make_view(
        "vmm02",
        {"vmm01": "error", "vmm02": "leader", "vmm03": "follower"},
        healthy=["vmm02", "vmm03"],
    )
    output = render("rolling_restart", view)
    assert isinstance(output, str) and "not healthy" in output and "vmm01" in output


@pytest.mark.parametrize("name", ["deploy", "add", "remove", "repair", "rolling_restart"])
def test_a_failed_planner_call_is_reported_with_the_runner_answer(render, monkeypatch, name):
    # saltutil.runner answers a string when the runner raised (or is not synced): the
    # orchestration must stop and say what came back, not fail on reading its "error".
    answer = "Exception occurred in runner onenebula_ha.plan: TimeoutError: vmm03 did not answer"
    monkeypatch.setattr(FakeRunnerClient, "cmd", lambda self, *args, **kwargs: answer)
    output = render(name, CONVERGED, {"target": "vmm03"})
    assert isinstance(output, str)
    assert f"onenebula_ha {name}: runner onenebula_ha.plan failed (synced?): {answer}" in output
    assert "has no attribute 'error'" not in output
