"""The onenebula_ha.orch.remediate_vip orchestration rendered with scripted answers from
the front-ends (``saltutil.cmd`` of ``onenebula_zone.raft_status`` / ``network.ip_addrs``)."""

import pytest
from beacon_helpers import SaltFunctions, raft, render_sls

ORCH = "onenebula_ha/orch/remediate_vip.sls"
HOOK = "/var/lib/one/remotes/hooks/raft/failover.sh"
FRONTENDS = [{"minion": f"vmm0{i + 1}", "id": i, "name": f"vmm0{i + 1}"} for i in range(3)]
SETTINGS = {
    "move_vip": True,
    "frontends": FRONTENDS,
    "vip": {"address": "10.213.0.100/24", "interface": "eth0"},
    "hook": {"command": HOOK, "runas": "oneadmin"},
}
NOTE = "onenebula_ha-orch-remediate_vip-test-show_notification"


def answers(states, holders, unreachable=()):
    """``states``: minion -> (state, term); ``holders``: minions with the VIP on eth0."""
    status, addresses = {}, {}
    for index, (minion, (state, term)) in enumerate(sorted(states.items())):
        if minion in unreachable:
            continue
        code = {"solo": 0, "candidate": 1, "follower": 2, "leader": 3}[state]
        status[minion] = {"ret": raft(code, server_id=index, term=term), "retcode": 0}
        ips = ["10.213.0.100"] if minion in holders else []
        addresses[minion] = {"ret": [f"10.213.0.{(index + 1) * 10}", *ips], "retcode": 0}
    return {"onenebula_zone.raft_status": status, "network.ip_addrs": addresses}


@pytest.fixture
def orchestrate(tmp_path):
    def _render(pillar, settings=SETTINGS, **answer_args):
        salt = SaltFunctions(
            settings,
            pillar={"onenebula_ha_vip": pillar},
            answers=answers(**answer_args) if answer_args else {},
        )
        return render_sls(ORCH, salt, tmp_path), salt

    return _render


def hook_step(action, minion, term=5):
    # onenebula_vip.hook on the minion: it asks its own oned again before it runs the hook
    # (as oneadmin, as oned would).
    hook = {
        "action": action,
        "term": term,
        "interface": "eth0",
        "address": "10.213.0.100/24",
        "script": HOOK,
        "runas": "oneadmin",
    }
    return {
        "salt": [
            {"name": "onenebula_vip.hook"},
            {"tgt": minion},
            {"tgt_type": "list"},
            {"kwarg": hook},
            "function",
        ]
    }  # fmt: skip


def note(high):
    return high[NOTE]["test"][0]["text"]


def steps(high):
    return [key for key in high if key != NOTE]


def test_vip_released_on_the_old_leader_and_claimed_on_the_new(orchestrate):
    high, salt = orchestrate(
        {"leader": "vmm02", "term": 5},
        states={"vmm01": ("follower", 5), "vmm02": ("leader", 5), "vmm03": ("follower", 5)},
        holders={"vmm01"},
    )
    assert steps(high) == [
        "onenebula_ha-orch-remediate_vip-salt-function-release-vmm01",
        "onenebula_ha-orch-remediate_vip-salt-function-claim-vmm02",
    ]
    assert high["onenebula_ha-orch-remediate_vip-salt-function-release-vmm01"] == hook_step(
        "follower", "vmm01"
    )
    assert high["onenebula_ha-orch-remediate_vip-salt-function-claim-vmm02"] == hook_step(
        "leader", "vmm02"
    )
    assert "release on vmm01" in note(high)
    assert "claim on vmm02" in note(high)
    # Plain execution-module calls to the configured front-ends, no state runs.
    assert salt.calls == [
        (("vmm01", "vmm02", "vmm03"), "onenebula_zone.raft_status", None),
        (("vmm01", "vmm02", "vmm03"), "network.ip_addrs", {"interface": "eth0"}),
    ]


def test_nothing_to_do_when_only_the_leader_holds_the_vip(orchestrate):
    high, _ = orchestrate(
        {"leader": "vmm02", "term": 5},
        states={"vmm01": ("follower", 5), "vmm02": ("leader", 5), "vmm03": ("follower", 5)},
        holders={"vmm02"},
    )
    assert steps(high) == []
    assert "nothing to release, leader holds it" in note(high)


def test_a_second_server_claiming_leadership_stops_every_vip_move(orchestrate):
    # vmm01 was cut off from the peers and still says leader (term 4): with two servers
    # claiming leadership the master moves nothing (the stale leader's own fencing agent
    # drops its VIP); a liar's "leader, term 99" is the same case.
    for states in (
        {"vmm01": ("leader", 4), "vmm02": ("leader", 5), "vmm03": ("follower", 5)},
        {"vmm01": ("leader", 99), "vmm02": ("leader", 5), "vmm03": ("follower", 5)},
    ):
        high, _ = orchestrate(
            {"leader": "vmm02", "term": 5}, states=states, holders={"vmm01", "vmm02"}
        )
        assert steps(high) == []
        assert "2 front-ends claim leadership" in note(high)


def test_the_vip_goes_to_the_leader_the_front_ends_agree_on_not_the_events(orchestrate):
    # The event names vmm02 (term 5); vmm02 stepped down, vmm01 leads term 6.
    high, _ = orchestrate(
        {"leader": "vmm02", "term": 5},
        states={"vmm01": ("leader", 6), "vmm02": ("follower", 6), "vmm03": ("follower", 6)},
        holders={"vmm02"},
    )
    assert steps(high) == [
        "onenebula_ha-orch-remediate_vip-salt-function-release-vmm02",
        "onenebula_ha-orch-remediate_vip-salt-function-claim-vmm01",
    ]
    assert "the front-ends agree on vmm01 (term 6)" in note(high)


def test_a_leader_no_majority_follows_gets_nothing(orchestrate):
    # A forged role event for vmm02, whose oned says "leader, term 9": nobody follows it.
    high, _ = orchestrate(
        {"leader": "vmm02", "term": 9},
        states={"vmm01": ("follower", 5), "vmm02": ("leader", 9), "vmm03": ("follower", 5)},
        holders={"vmm01"},
    )
    assert steps(high) == []
    assert "only 1 of 3 front-ends are in that term" in note(high)


def test_unreachable_leader_changes_nothing(orchestrate):
    high, _ = orchestrate(
        {"leader": "vmm02", "term": 5},
        states={"vmm01": ("follower", 5), "vmm02": ("leader", 5), "vmm03": ("follower", 5)},
        holders={"vmm01"},
        unreachable={"vmm02"},
    )
    assert steps(high) == []
    assert "no front-end reports state leader" in note(high)


def test_unreachable_follower_is_left_alone(orchestrate):
    high, _ = orchestrate(
        {"leader": "vmm02", "term": 5},
        states={"vmm01": ("follower", 5), "vmm02": ("leader", 5), "vmm03": ("follower", 5)},
        holders={"vmm02"},
        unreachable={"vmm03"},
    )
    assert steps(high) == []


@pytest.mark.parametrize(
    "pillar",
    [{}, {"leader": "vmm09", "term": 5}, {"leader": "vmm02"}, {"leader": "vmm02", "term": "5"}],
    ids=["empty", "unknown-minion", "no-term", "term-string"],
)
def test_bad_request_is_refused_before_asking_anyone(orchestrate, pillar):
    high, salt = orchestrate(pillar)
    assert steps(high) == []
    assert note(high).startswith("ignored: pillar onenebula_ha_vip needs leader")
    assert salt.calls == []


def test_without_a_vip_nothing_is_asked(orchestrate):
    settings = dict(SETTINGS, vip={})
    high, salt = orchestrate({"leader": "vmm02", "term": 5}, settings=settings)
    assert steps(high) == []
    assert "no VIP configured" in note(high)
    assert salt.calls == []
