"""The runner's planners as plain Python: the facts (pillar servers, the runner's view of the
front-ends, the event, the lock) go in, the decision comes out. Nothing is rendered and no
minion is asked; the SLS files that run these decisions are tested in
tests/functional/formula/test_states_orch.py and tests/unit/beacons/test_*_render.py."""

from pathlib import Path

import pytest
from support.formula_utils import utils_dunder
from support.load import load_file

REPO_ROOT = Path(__file__).resolve().parents[3]
MINIONS = ["vmm01", "vmm02", "vmm03", "vmm04", "vmm05"]
SERVERS = [
    {"minion": m, "name": m, "id": i, "endpoint": f"http://10.213.0.{(i + 1) * 10}:2633/RPC2"}
    for i, m in enumerate(MINIONS)
]


@pytest.fixture(scope="module")
def runner():
    path = REPO_ROOT / "_runners" / "onenebula_ha.py"
    module = load_file(path, "onenebula_ha_runner_planners")
    module.__utils__ = utils_dunder()
    return module


def make_view(leader=None, states=None, healthy=None, bare=False, problems=(), answered=None):
    """A view as the runner returns it; ``states`` maps member minions to zone states."""
    states = states or {}
    healthy = set(states if healthy is None else healthy)
    zone = [
        {
            "id": MINIONS.index(m),
            "name": m,
            "state": s,
            "endpoint": SERVERS[MINIONS.index(m)]["endpoint"],
        }
        for m, s in states.items()
    ]
    return {
        "leader": leader,
        "bare": bare,
        "zone": {"servers": zone} if states else None,
        "problems": list(problems),
        "servers": {
            m: {
                "healthy": m in healthy,
                "member": m in states,
                "answered": True if answered is None else m in answered,
                "problems": [] if m in healthy else ["Raft state error"],
                # What the front-end reports about itself (term 5, index 100).
                "oned": states.get(m, "error") != "error",
                "state": states.get(m, "down"),
                "term": 5,
                "server_id": MINIONS.index(m),
                "log_index": 100,
                "configured_id": MINIONS.index(m) if m in states else -1,
            }
            for m in MINIONS
        },
    }


CONVERGED_STATES = {m: "leader" if m == "vmm02" else "follower" for m in MINIONS}
CONVERGED = make_view("vmm02", CONVERGED_STATES)


def decide(runner, action, view, **facts):
    return runner._PLANNERS[action](runner._Facts(view, SERVERS, wait_timeout=300, **facts))


def shape(plan):
    """``[(step suffix, targets, sls)]``; a runner step: ``(suffix, "master", function)``."""
    prefix = f"onenebula_ha-orch-{plan['action']}-"
    return [
        (s["id"].removeprefix(prefix), "master", s["fun"])
        if s.get("kind") == "runner"
        else (s["id"].removeprefix(prefix), ",".join(s["tgt"]), s["sls"])
        for s in plan["steps"]
    ]


def assert_chained(plan):
    """Each step requires the one before it (steps run on failure, ``onfail``, aside)."""
    steps = [s for s in plan["steps"] if not s.get("onfail")]
    assert steps[0]["require"] == []
    for before, after in zip(steps, steps[1:], strict=False):
        assert after["require"] == [{"salt": before["id"]}]


# ------------------------------------------------------------------ deploy


def assert_deploy_chained(plan):
    """The deploy's chain: each step requires the one before it, except the parallel steps
    beside it (the other front-ends' base states, each joiner's restore). The base states
    require the leader's state run that publishes its secrets; the first restore requires
    the base states, each later one the leader's run that took its backup (the previous
    server-add's); each server-add requires its server's restore, the last step the base
    states."""
    steps = plan["steps"]
    prefix = "onenebula_ha-orch-deploy-"
    parallel = [s for s in steps if s["parallel"]]
    assert parallel[0]["id"] == prefix + "base-others"
    chain = [s for s in steps if not s["parallel"]]
    ids = {str({"salt": s["id"]}) for s in parallel}
    assert chain[0]["require"] == []
    for before, after in zip(chain, chain[1:], strict=False):
        assert after["require"][0] == {"salt": before["id"]}
        assert set(map(str, after["require"][1:])) <= ids
    publish = [s for s in chain if "onenebula_ha.ha.publish" in s["sls"].split(",")]
    assert len(publish) == 1 and publish[0]["failhard"]
    base = parallel[0]
    assert base["require"] == [{"salt": publish[0]["id"]}]
    assert {"salt": base["id"]} in steps[-1]["require"]
    restores, members = parallel[1:], [s for s in chain if s["id"].endswith("-member")]
    assert [s["id"].removesuffix("-restore") for s in restores] == [
        s["id"].removesuffix("-member") for s in members
    ]
    takers = publish + members[:-1] if members else []
    for restore, member, taker in zip(restores, members, takers, strict=True):
        # Each restore: a fresh backup of the leader's run before it (the first: behind
        # the base states), listed right after the step it requires.
        assert taker["sls"].split(",")[-1] == "onenebula_ha.ha.backup"
        after = base if taker is publish[0] else taker
        assert restore["require"] == [{"salt": after["id"]}]
        assert steps.index(restore) == steps.index(after) + 1
        assert {"salt": restore["id"]} in member["require"]
        assert restore["tgt"] == [member["run"]["server"]]
    if members:
        assert "ha.backup" not in members[-1]["sls"]
    else:
        assert "onenebula_ha.ha.backup" not in publish[0]["sls"]


def test_deploy_bare_bootstraps_the_first_server_then_joins_the_rest(runner):
    plan = decide(runner, "deploy", make_view(bare=True))
    assert plan["error"] is None
    assert_deploy_chained(plan)
    assert shape(plan)[:5] == [
        ("ssh-keys", "vmm01,vmm02,vmm03,vmm04,vmm05", "onenebula_ha.ssh.keys"),
        # The base state alone (it installs what the bootstrap's states need), then one
        # state run that stops at the first failure.
        ("base-leader", "vmm01", "onenebula_ha"),
        (
            "bootstrap",
            "vmm01",
            "onenebula_ha.ha.bootstrap,onenebula_ha.ha.publish,onenebula_ha.ha.backup",
        ),
        # Beside the chain, during the bootstrap server's warm-up and election: the
        # others' base states, then the first joiner's restore.
        ("base-others", "vmm02,vmm03,vmm04,vmm05", "onenebula_ha"),
        ("join-vmm02-restore", "vmm02", "onenebula_ha.ha.restore"),
    ]
    # One join at a time: the wait for the members joined so far, the server-add and the
    # next joiner's backup in one state run on the leader (failhard), then the start,
    # beside which the next joiner restores.
    assert shape(plan)[5:11] == [
        (
            "join-vmm02-member",
            "vmm01",
            "onenebula_ha.ha.healthy,onenebula_ha.ha.member,onenebula_ha.ha.backup",
        ),
        ("join-vmm03-restore", "vmm03", "onenebula_ha.ha.restore"),
        ("join-vmm02-start", "vmm02", "onenebula_ha.ha.start"),
        (
            "join-vmm03-member",
            "vmm01",
            "onenebula_ha.ha.healthy,onenebula_ha.ha.member,onenebula_ha.ha.backup",
        ),
        ("join-vmm04-restore", "vmm04", "onenebula_ha.ha.restore"),
        ("join-vmm03-start", "vmm03", "onenebula_ha.ha.start"),
    ]
    members = [s for s in plan["steps"] if s["id"].endswith("-member")]
    last = plan["steps"][-1]
    assert all(s["failhard"] for s in members) and plan["steps"][2]["failhard"]
    assert not any(s["failhard"] for s in plan["steps"][3:-1] if s not in members)
    # The first wait is for the bootstrap server to lead, the next ones for each follower.
    assert [[m["name"] for m in s["run"]["wait_members"]] for s in members] == [
        ["vmm01"],
        ["vmm01", "vmm02"],
        ["vmm01", "vmm02", "vmm03"],
        ["vmm01", "vmm02", "vmm03", "vmm04"],
    ]
    bootstrap = plan["steps"][2]
    assert bootstrap["label"] == (
        "bootstrapping vmm01 (1 of 5), publishing its secrets, taking the DB backup vmm02 restores"
    )
    assert bootstrap["run"] == {
        "leader": "vmm01",
        "server": "vmm01",
        "step": "bootstrapping vmm01 (1 of 5)",
        "timeout": 300,
    }
    assert [s["run"]["server"] for s in members] == ["vmm02", "vmm03", "vmm04", "vmm05"]
    # Each join's members: the members joined so far, itself included.
    vmm03 = next(s for s in plan["steps"] if s["id"].endswith("join-vmm03-start"))
    assert [m["name"] for m in vmm03["run"]["members"]] == ["vmm01", "vmm02", "vmm03"]
    # The final wait, on the leader: vmm05's own copy of the zone lacks its server-add
    # until the leader writes again.
    assert (last["id"], last["tgt"], last["sls"], last["failhard"]) == (
        "onenebula_ha-orch-deploy-healthy",
        ["vmm01"],
        "onenebula_ha.ha.healthy",
        False,
    )
    assert [m["name"] for m in last["run"]["members"]] == MINIONS
    assert plan["steps"][-2]["id"] == "onenebula_ha-orch-deploy-join-vmm05-start"
    assert len(plan["steps"]) == 4 + 3 * 4 + 1
    assert plan["notes"] and "steps" in plan["notes"][0]


def test_deploy_converged_joins_nobody_and_works_from_the_current_leader(runner):
    plan = decide(runner, "deploy", CONVERGED)
    assert [s[0] for s in shape(plan)] == [
        "ssh-keys", "base-leader", "base-others", "healthy",
    ]  # fmt: skip
    assert {s["run"]["leader"] for s in plan["steps"]} == {"vmm02"}
    # Nobody joins: no backup is taken.
    assert plan["steps"][1]["label"] == "base state on the leader vmm02, publishing its secrets"
    assert plan["steps"][1]["sls"] == "onenebula_ha,onenebula_ha.ha.publish"
    assert_deploy_chained(plan)


def test_deploy_resumes_with_the_servers_that_are_not_healthy(runner):
    view = make_view(
        "vmm01",
        {"vmm01": "leader", "vmm02": "follower", "vmm03": "follower", "vmm04": "error"},
        healthy=["vmm01", "vmm02", "vmm03"],
    )
    plan = decide(runner, "deploy", view)
    assert_deploy_chained(plan)
    assert plan["steps"][1]["sls"] == "onenebula_ha,onenebula_ha.ha.publish,onenebula_ha.ha.backup"
    # Only the servers that are not healthy restore; the others' base states run all the same.
    restores = [s["tgt"] for s in plan["steps"] if s["id"].endswith("-restore")]
    assert restores == [["vmm04"], ["vmm05"]]
    base = next(s for s in plan["steps"] if s["id"].endswith("-base-others"))
    assert base["tgt"] == ["vmm02", "vmm03", "vmm04", "vmm05"]
    members = [s for s in plan["steps"] if s["id"].endswith("-member")]
    assert [s["run"]["server"] for s in members] == ["vmm04", "vmm05"]
    # vmm04 joins only once the three healthy members are (still) healthy.
    assert [m["name"] for m in members[0]["run"]["wait_members"]] == ["vmm01", "vmm02", "vmm03"]
    last = plan["steps"][-1]
    assert (last["tgt"], last["sls"]) == (["vmm01"], "onenebula_ha.ha.healthy")
    assert {"salt": base["id"]} in last["require"] and len(last["run"]["members"]) == 5


@pytest.mark.parametrize(
    ("view", "message"),
    [
        (
            make_view(None, {"vmm01": "candidate"}, healthy=[], problems=["no leader: x"]),
            "onenebula_ha deploy: cannot continue, no usable leader: no leader: x",
        ),
        (
            make_view("other", {"vmm01": "follower"}),
            "onenebula_ha deploy: cannot continue, no usable leader: leader other is not in "
            "onenebula_ha:servers",
        ),
    ],
    ids=["no-leader", "leader-outside-pillar"],
)
def test_deploy_refuses_without_a_usable_leader(runner, view, message):
    plan = decide(runner, "deploy", view)
    assert plan["error"] == message
    assert plan["steps"] == [] and plan["notes"] == []


# ------------------------------------------------------------------ add


def test_add_picks_the_first_pillar_server_that_is_not_healthy(runner):
    view = make_view("vmm01", {"vmm01": "leader", "vmm02": "follower", "vmm03": "follower"})
    plan = decide(runner, "add", view)
    assert_chained(plan)
    assert shape(plan)[:5] == [
        ("ssh-keys", "vmm04", "onenebula_ha.ssh.keys"),
        ("ssh-others", "vmm01,vmm02,vmm03,vmm05", "onenebula_ha.ssh"),
        ("publish", "vmm01", "onenebula_ha.ha.publish"),
        ("base", "vmm04", "onenebula_ha"),
        ("fence", "vmm01,vmm02,vmm03", "onenebula_ha.fence"),
    ]
    # The members' agents learn the grown server list before the new server can vote.
    ids = [step["id"].rsplit("-orch-add-", 1)[1] for step in plan["steps"]]
    assert ids.index("fence") < ids.index("join-member")
    # Five join steps; the wait for a caught-up follower on the leader (the new server's
    # own copy of the zone lacks its server-add until the leader writes again).
    assert shape(plan)[5:] == [
        ("join-backup", "vmm01", "onenebula_ha.ha.backup"),
        ("join-restore", "vmm04", "onenebula_ha.ha.restore"),
        ("join-member", "vmm01", "onenebula_ha.ha.member"),
        ("join-start", "vmm04", "onenebula_ha.ha.start"),
        ("join-healthy", "vmm01", "onenebula_ha.ha.healthy"),
    ]
    members = plan["steps"][-1]["run"]["members"]
    assert [m["name"] for m in members] == ["vmm01", "vmm02", "vmm03", "vmm04"]


def test_add_of_a_healthy_member_or_of_nobody_is_a_note(runner):
    plan = decide(runner, "add", CONVERGED, target="vmm03")
    assert plan["steps"] == []
    assert plan["notes"] == [
        "Nothing to add: vmm03 is already a healthy member of the zone (leader vmm02)"
    ]
    plan = decide(runner, "add", CONVERGED)
    assert plan["notes"][0].startswith("Nothing to add: all servers of onenebula_ha:servers are")


def test_add_refuses_a_bare_cluster_and_an_unknown_target(runner):
    assert decide(runner, "add", make_view(bare=True))["error"] == (
        "onenebula_ha add: there is no running zone with a leader to join (bare cluster): "
        "use onenebula_ha.orch.deploy"
    )
    assert "vmm09 is not a server" in decide(runner, "add", CONVERGED, target="vmm09")["error"]


# ------------------------------------------------------------------ remove


def test_remove_stops_first_then_deletes_on_the_remaining_members(runner):
    plan = decide(runner, "remove", CONVERGED, target=" vmm05 ")
    assert_chained(plan)
    assert [(s[0], s[1]) for s in shape(plan)] == [
        ("stop", "vmm05"),
        ("leader", "vmm01"),
        ("absent", "vmm01,vmm02,vmm03,vmm04"),
        ("healthy", "vmm01"),
    ]
    runs = [s["run"] for s in plan["steps"]]
    assert [r["ignore"] for r in runs] == [["vmm05"], ["vmm05"], ["vmm05"], []]
    assert runs[0]["name"] == "vmm05" and runs[0]["id"] == 4


def test_remove_of_a_server_only_the_zone_knows_needs_force(runner):
    view = make_view("vmm02", {m: "leader" if m == "vmm02" else "follower" for m in MINIONS})
    view["zone"]["servers"].append({"id": 7, "name": "old-fe", "state": "error", "endpoint": "x"})
    plan = decide(runner, "remove", view, target="old-fe")
    assert "no minion in onenebula_ha:servers to stop it with" in plan["error"]
    plan = decide(runner, "remove", view, target="old-fe", force=True)
    assert [s[0] for s in shape(plan)] == ["leader", "absent", "healthy"]
    assert plan["steps"][0]["run"]["server"] is None


def test_remove_force_skips_stopping_an_unreachable_target(runner):
    view = make_view(
        "vmm02",
        {m: "leader" if m == "vmm02" else "follower" for m in MINIONS},
        answered=["vmm01", "vmm02", "vmm03", "vmm04"],
    )
    assert shape(decide(runner, "remove", view, target="vmm05"))[0][0] == "stop"
    assert shape(decide(runner, "remove", view, target="vmm05", force=True))[0][0] == "leader"


@pytest.mark.parametrize(
    ("target", "view", "expected"),
    [
        ("", CONVERGED, "name the server"),
        ("vmm09", CONVERGED, "unknown server vmm09"),
        ("vmm05", make_view(bare=True), "no zone leader to remove vmm05 with (bare cluster)"),
    ],
)
def test_remove_refusals(runner, target, view, expected):
    assert expected in decide(runner, "remove", view, target=target)["error"]


def test_remove_of_a_non_member_is_a_note(runner):
    view = make_view("vmm01", {"vmm01": "leader", "vmm02": "follower", "vmm03": "follower"})
    plan = decide(runner, "remove", view, target="vmm05")
    assert plan["notes"] == ["vmm05 is not a member of the zone (leader vmm01): nothing to remove"]
    assert plan["steps"] == []


def _liar(view, minion, term=99):
    """``view`` where ``minion``'s oned reports itself leader of ``term``."""
    view["servers"][minion].update(state="leader", term=term)
    view["leader"] = minion  # view() takes the highest self-reported term
    return view


@pytest.mark.parametrize(
    ("view", "reason"),
    [
        # a follower whose oned says "leader, term 99" beside the real leader
        (_liar(make_view("vmm02", dict(CONVERGED_STATES)), "vmm04"),
         "2 front-ends claim leadership: vmm02 (term 5), vmm04 (term 99)"),
        # a lone claimant whose term nobody follows
        (_liar(make_view("vmm02", {"vmm02": "leader", "vmm03": "follower"}), "vmm02", term=6),
         "vmm02 reports state leader in term 6, but only 1 of 5 front-ends are in that term"),
        # a leader followed by a minority (2 of 5)
        (make_view("vmm02", {"vmm02": "leader", "vmm03": "follower"}),
         "only 2 of 5 front-ends are in that term (a majority is 3)"),
    ],
)  # fmt: skip
def test_remove_needs_a_leader_a_majority_agrees_on(runner, view, reason):
    """issue 10 point 2: remove took "the leader" from view(), i.e. the highest
    self-reported term; now neither the stop nor the server-del is planned without a
    majority-agreed leader."""
    plan = decide(runner, "remove", view, target="vmm05")
    assert plan["steps"] == []
    assert "no leader a majority of the front-ends agrees on to remove vmm05" in plan["error"]
    assert reason in plan["error"]


def test_remove_runs_with_the_agreed_leader_not_the_highest_term(runner):
    view = make_view("vmm02", dict(CONVERGED_STATES))
    view["servers"]["vmm04"]["term"] = 99  # a follower with a lying term: not a claimant
    plan = decide(runner, "remove", view, target="vmm05")
    assert plan["error"] is None
    assert {s["run"]["leader"] for s in plan["steps"]} == {"vmm02"}


# ------------------------------------------------------------------ repair


BROKEN_VMM03 = make_view(
    "vmm02",
    {"vmm01": "follower", "vmm02": "leader", "vmm03": "error", "vmm04": "follower",
     "vmm05": "follower"},
    healthy=["vmm01", "vmm02", "vmm04", "vmm05"],
)  # fmt: skip


def test_repair_of_a_broken_follower(runner):
    """The order of OpenNebula's "Recovering servers" procedure (Front-end HA guide): a
    fresh backup on the leader, the follower stopped and restored, started, and only
    then reset on the leader; each destructive step after a fresh check on the master."""
    plan = decide(runner, "repair", BROKEN_VMM03, target="vmm03")
    assert_chained(plan)
    # Without a lock token (nothing claimed) there is no release step.
    assert [(s[0], s[1]) for s in shape(plan)] == [
        ("backup", "vmm02"),
        ("check-restore", "master"),
        ("restore", "vmm03"),
        ("discard", "vmm02"),
        ("start", "vmm03"),
        ("check-reset", "master"),
        ("reset", "vmm02"),
        ("healthy", "vmm02"),
    ]
    # The fresh dump is deleted on the leader when the repair stops before the restore.
    discard = next(s for s in plan["steps"] if s["id"].endswith("-discard"))
    assert discard["sls"] == "onenebula_ha.ha.discard" and discard["require"] == []
    prefix = "onenebula_ha-orch-repair-"
    assert discard["onfail"] == [
        {"salt": prefix + name} for name in ("backup", "check-restore", "restore")
    ]
    assert plan["steps"][0]["run"]["members"] == [
        {"name": m, "id": i} for i, m in enumerate(MINIONS)
    ]
    checks = [s["kwarg"] for s in plan["steps"] if s.get("kind") == "runner"]
    assert [(c["target"], c["leader"], c["stage"]) for c in checks] == [
        ("vmm03", "vmm02", "restore"),
        ("vmm03", "vmm02", "reset"),
    ]


def test_repair_steps_that_wait_for_the_zone_are_awaited_as_long_as_they_wait(runner):
    """The reset and the final health check wait up to the run's timeout on the leader:
    the master must wait at least that long for their return (salt.state's ``timeout``),
    not give a step that still runs up after one late find_job answer."""
    plan = decide(runner, "repair", BROKEN_VMM03, target="vmm03")
    waits = {
        s["id"].rsplit("-", 1)[1]: (s.get("job_timeout"), s["run"]["timeout"])
        for s in plan["steps"]
        if s.get("kind") != "runner"
    }
    for name in ("reset", "healthy"):
        job_timeout, wait = waits.pop(name)
        assert job_timeout == wait + runner.STEP_JOB_MARGIN and wait > 0
    # The other steps keep the master's own timeout (a silent minion is given up quickly).
    assert {name: job for name, (job, _) in waits.items()} == dict.fromkeys(waits)


def test_a_claimed_repair_releases_its_lock_whatever_happens(runner):
    decision = {"repair": True, "leader": "vmm02", "term": 5, "reason": "x", "token": "t0k"}
    plan = decide(runner, "repair", BROKEN_VMM03, target="vmm03", decision=decision)
    done, failed = plan["steps"][-2:]
    assert (done["fun"], done["kwarg"], done["require"][0]["salt"]) == (
        "onenebula_ha.repair_release",
        {"token": "t0k", "ok": True},
        plan["steps"][-3]["id"],
    )
    assert (failed["fun"], failed["kwarg"], failed["require"]) == (
        "onenebula_ha.repair_release",
        {"token": "t0k", "ok": False},
        [],
    )
    assert failed["onfail"] == [{"salt": s["id"]} for s in plan["steps"][:-2]]


def test_repair_leaves_a_healthy_follower_unless_forced(runner):
    plan = decide(runner, "repair", CONVERGED, target="vmm03")
    assert plan["steps"] == [] and "caught-up follower of vmm02" in plan["notes"][0]
    forced = decide(runner, "repair", CONVERGED, target="vmm03", force=True)
    assert [s[0] for s in shape(forced)][0] == "backup"


@pytest.mark.parametrize(
    ("target", "view", "expected"),
    [
        ("", CONVERGED, "name the server"),
        ("vmm09", CONVERGED, "unknown server vmm09"),
    ],
)
def test_repair_refusals(runner, target, view, expected):
    plan = decide(runner, "repair", view, target=target)
    assert expected in plan["error"] and plan["steps"] == []


@pytest.mark.parametrize(
    ("target", "view", "expected"),
    [
        ("vmm02", CONVERGED, "vmm02 is the leader (term 5): never repaired"),
        ("vmm05", make_view("vmm01", {m: "follower" if m != "vmm01" else "leader"
                                      for m in MINIONS[:4]}), "vmm05 is not a member of the zone"),
        ("vmm03", make_view(None, {"vmm03": "error"}, healthy=[]), "no front-end reports state leader"),
    ],
)  # fmt: skip
def test_repair_does_nothing_and_says_why(runner, target, view, expected):
    plan = decide(runner, "repair", view, target=target, force=target == "vmm02")
    assert plan["steps"] == [] and plan["error"] is None
    assert expected in plan["notes"][0]


# ------------------------------------------------------------------ rolling restart


def test_rolling_restart_followers_first_leader_last_with_watchers(runner):
    plan = decide(runner, "rolling_restart", CONVERGED)
    assert_chained(plan)
    restarts = [s for s in plan["steps"] if s["sls"].endswith(".restart")]
    assert [s["tgt"][0] for s in restarts] == ["vmm01", "vmm03", "vmm04", "vmm05", "vmm02"]
    assert restarts[-1]["label"] == "restarting vmm02 (5 of 5, the leader)"
    watchers = [s["tgt"][0] for s in plan["steps"] if s["sls"].endswith(".healthy")]
    assert watchers == ["vmm02"] * 4 + ["vmm01"]


def test_rolling_restart_refuses_an_unhealthy_zone_unless_forced(runner):
    view = make_view(
        "vmm02",
        {"vmm01": "error", "vmm02": "leader", "vmm03": "follower"},
        healthy=["vmm02", "vmm03"],
    )
    plan = decide(runner, "rolling_restart", view)
    assert plan["error"] == (
        "onenebula_ha rolling_restart: the zone is not healthy, not restarting anything: "
        "vmm01: Raft state error"
    )
    assert decide(runner, "rolling_restart", view, force=True)["error"] is None


def test_plan_rejects_an_unknown_action(runner):
    with pytest.raises(runner.SaltInvocationError, match="unknown action"):
        runner.plan("explode", servers=SERVERS)


# ------------------------------------------------------------------ VIP safety net

VIP = {"address": "10.213.0.100/24", "interface": "eth0"}
HOOK = {"command": "/hook.sh", "runas": "oneadmin"}


def raft(state, term, minion):
    return {"state_name": state, "term": term, "server_id": MINIONS.index(minion)}


def zone_raft(leader, term=5, **others):
    """Every front-end's own status: ``leader`` leads ``term``, the rest follow it unless
    given in ``others`` as (state, term) or None (no answer)."""
    found = {}
    for minion in MINIONS:
        state, their_term = ("leader", term) if minion == leader else ("follower", term)
        if minion in others:
            if others[minion] is None:
                continue
            state, their_term = others[minion]
        found[minion] = raft(state, their_term, minion)
    return found


def test_vip_released_elsewhere_and_claimed_by_the_leader(runner):
    decision = runner._vip_decision(SERVERS, "vmm02", 5, VIP, HOOK, zone_raft("vmm02"), ["vmm01"])
    # Each step names the term the plan was made for: onenebula_vip.hook checks the
    # minion's own oned against it right before it runs the hook.
    hook = {
        "term": 5,
        "interface": "eth0",
        "address": "10.213.0.100/24",
        "script": "/hook.sh",
        "runas": "oneadmin",
    }
    assert decision["actions"] == [
        {"action": "release", "minion": "vmm01", "hook": hook | {"action": "follower"}},
        {"action": "claim", "minion": "vmm02", "hook": hook | {"action": "leader"}},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("raft_status", "note"),
    [
        (zone_raft("vmm02", vmm01=("leader", 99)), "2 front-ends claim leadership"),
        (zone_raft("vmm02", vmm01=("follower", 4), vmm03=None, vmm04=None), "only 2 of 5"),
        ({}, "no front-end reports state leader"),
        (zone_raft("vmm02", vmm02=("leader", 5)) | {"vmm02": {"state_name": "leader", "term": 5,
                                                              "server_id": 3}}, "the pillar says 1"),
    ],
    ids=["liar-term-99", "no-majority", "unreachable", "wrong-server-id"],
)  # fmt: skip
def test_vip_untouched_without_a_leader_a_majority_agrees_on(runner, raft_status, note):
    decision = runner._vip_decision(SERVERS, "vmm02", 5, VIP, HOOK, raft_status, ["vmm01"])
    assert decision["actions"] == []
    assert note in decision["notes"][0]


def test_vip_follows_the_agreed_leader_not_the_event(runner):
    # The role event named vmm02 term 5; the front-ends agree vmm03 leads term 6.
    decision = runner._vip_decision(
        SERVERS, "vmm02", 5, VIP, HOOK, zone_raft("vmm03", term=6), ["vmm02"]
    )
    assert [(a["action"], a["minion"]) for a in decision["actions"]] == [
        ("release", "vmm02"),
        ("claim", "vmm03"),
    ]
    assert "the front-ends agree on vmm03 (term 6)" in decision["notes"][0]


@pytest.mark.parametrize(
    "request_",
    [None, {}, {"leader": "vmm09", "term": 5}, {"leader": "vmm02", "term": "5"},
     {"leader": "vmm02", "term": True}],
)  # fmt: skip
def test_vip_request_checked_before_anyone_is_asked(runner, request_):
    settings = {"frontends": [{"minion": "vmm02"}], "vip": VIP, "hook": HOOK}
    *_, note = runner._vip_request(request_, settings)
    assert note.startswith("ignored: pillar onenebula_ha_vip needs leader")


# ------------------------------------------------------------------ reactions

FRONTENDS = [{"minion": m, "id": i, "name": m} for i, m in enumerate(MINIONS)]
REACTOR = {"move_vip": True, "repair": True, "frontends": FRONTENDS, "repair_lock_ttl": 600}
ROLE_TAG = "salt/beacon/vmm02/onenebula_raft/role"
ERROR_TAG = "salt/beacon/vmm01/onenebula_raft/error"


def test_role_of_a_new_leader_starts_the_vip_safety_net(runner):
    event = {"id": "vmm02", "state": "leader", "term": 7, "server_id": 1}
    reactions, logged = runner._role_decision(ROLE_TAG, event, REACTOR)
    assert reactions == [
        {
            "id": "onenebula_ha-reactor-remediate_vip-vmm02-term-7",
            "mods": "onenebula_ha.orch.remediate_vip",
            "pillar": {"onenebula_ha_vip": {"leader": "vmm02", "term": 7}},
        }
    ]
    assert logged is None


@pytest.mark.parametrize(
    ("event", "level", "message"),
    [
        ({"id": "vmm02", "state": "follower", "term": 7, "server_id": 1}, None, None),
        ({"id": "vmm09", "state": "leader", "term": 7, "server_id": 1}, "warning", "not a known front-end"),
        ({"id": "vmm02", "state": "leader", "term": "7", "server_id": 1}, "warning", "malformed"),
        ({"id": "vmm02", "state": "leader", "term": 7, "server_id": 3}, "warning", "reports server id 3"),
        ("not a mapping", None, None),
    ],
)  # fmt: skip
def test_role_events_that_start_nothing(runner, event, level, message):
    reactions, logged = runner._role_decision(ROLE_TAG, event, REACTOR)
    assert reactions == []
    if level is None:
        assert logged is None
    else:
        assert logged[0] == level and message in logged[1]


def error_event(server_id=2, in_error=None, reporter="vmm01"):
    return {
        "id": reporter,
        "server_id": server_id,
        "name": MINIONS[server_id] if server_id < len(MINIONS) else "x",
        "in_error": [server_id] if in_error is None else in_error,
        "since": 1,
    }


def test_error_starts_the_repair_orchestration_and_takes_no_lock(runner):
    reactions, logged = runner._error_decision(ERROR_TAG, error_event(2), REACTOR, None, 1000)
    assert reactions == [
        {
            "id": "onenebula_ha-reactor-repair-vmm03",
            "mods": "onenebula_ha.orch.repair",
            "pillar": {"target": "vmm03"},
        }
    ]
    assert logged[0] == "warning" and "starting onenebula_ha.orch.repair for vmm03" in logged[1]


def test_only_the_stored_lock_holds_a_repair_back_whatever_the_event_says(runner):
    held = {"holder": {"target": "vmm03", "leader": "vmm01", "started": 1000, "token": "t"}}
    backing_off = {"failures": {"vmm03": {"count": 1, "reason": "x", "retry_after": 1030}}}
    for event, lock, now, started in [
        (error_event(4, in_error=[4]), held, 1100, False),  # in_error leaves vmm03 out
        (error_event(4, in_error=[2, 4]), held, 1100, False),
        (error_event(2), held, 1600, True),  # lock expired (ttl 600)
        (error_event(2), backing_off, 1020, False),
        (error_event(4), backing_off, 1020, True),  # another target is not backing off
        (error_event(2), backing_off, 1030, True),
    ]:
        reactions, _ = runner._error_decision(ERROR_TAG, event, REACTOR, lock, now)
        assert bool(reactions) is started, (event, lock, now)


@pytest.mark.parametrize(
    ("event", "settings", "message"),
    [
        (error_event(2, reporter="intruder"), REACTOR, "intruder is not a known front-end"),
        (error_event(0), REACTOR, "vmm01 reports itself in error"),
        (dict(error_event(2), server_id="2"), REACTOR, "malformed event data"),
        (error_event(7), REACTOR, "no front-end is server 7"),
        (error_event(2), dict(REACTOR, repair=False), "repair is off"),
    ],
)
def test_error_events_that_start_nothing(runner, event, settings, message):
    reactions, logged = runner._error_decision(ERROR_TAG, event, settings, None, 1000)
    assert reactions == []
    assert message in logged[1]


# ------------------------------------------------------------------ a changed SERVER_ID


@pytest.mark.parametrize("action", ["deploy", "add", "repair", "rolling_restart"])
def test_a_changed_server_id_is_refused_before_any_step(runner, action):
    """issue 10 point 7: the refusal used to come after a DB backup had run."""
    servers = [dict(s) for s in SERVERS]
    servers[2]["id"] = 7
    facts = runner._Facts(CONVERGED, servers, wait_timeout=300, target=servers[2]["minion"])
    plan = runner._PLANNERS[action](facts)
    assert plan["steps"] == []
    assert plan["error"] == (
        f"onenebula_ha {action}: {servers[2]['name']} is server 2 in the zone but has id 7 in "
        "onenebula_ha:servers: a deployed server keeps its SERVER_ID; put the zone's id back "
        "in the pillar, or remove the server (onenebula_ha.orch.remove) and add it again"
    )


def test_remove_stays_possible_with_a_changed_server_id(runner):
    servers = [dict(s) for s in SERVERS]
    servers[2]["id"] = 7
    assert runner._id_conflicts(runner._Facts(CONVERGED, servers, wait_timeout=300)) != []
    plan = runner._PLANNERS["remove"](
        runner._Facts(CONVERGED, servers, wait_timeout=300, target=servers[2]["minion"])
    )
    assert plan["error"] is None or "SERVER_ID" not in plan["error"]
