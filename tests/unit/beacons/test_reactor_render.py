"""The reactor SLS files rendered through Salt's jinja|yaml renderers with sample beacon
events (``tag`` and ``data`` as the reactor passes them: the beacon's dict plus ``id``)."""

import pytest
from beacon_helpers import SaltFunctions, react

ROLE = "reactor/onenebula_ha/role.sls"
ERROR = "reactor/onenebula_ha/error.sls"
LOCK = "onenebula_ha_repair_lock"

FRONTENDS = [{"minion": f"vmm0{i + 1}", "id": i, "name": f"vmm0{i + 1}"} for i in range(5)]
SETTINGS = {"move_vip": True, "repair": True, "frontends": FRONTENDS, "repair_lock_ttl": 3600}


def role_event(minion="vmm02", **changes):
    data = {
        "state": "leader",
        "previous": "follower",
        "term": 7,
        "server_id": int(minion[-1]) - 1,
        "leader": int(minion[-1]) - 1,
        "votedfor": int(minion[-1]) - 1,
        "zone": 0,
        "startup": False,
        "id": minion,
        "_stamp": "2026-11-26T16:00:00.000000",
    }
    data.update(changes)
    return f"salt/beacon/{minion}/onenebula_raft/role", data


def error_event(server_id=2, reporter="vmm01", in_error=None, **changes):
    data = {
        "server_id": server_id,
        "name": f"vmm0{server_id + 1}",
        "endpoint": f"http://10.213.0.{(server_id + 1) * 10}:2633/RPC2",
        "since": 1_799_999_900,
        "seconds": 100,
        "in_error": [server_id] if in_error is None else in_error,
        "leader_id": 0,
        "term": 7,
        "zone": 0,
        "id": reporter,
        "_stamp": "2026-11-26T16:00:00.000000",
    }
    data.update(changes)
    return f"salt/beacon/{reporter}/onenebula_raft/error", data


def changed(event, **changes):
    tag, data = event
    return tag, dict(data, **changes)


@pytest.fixture
def render(tmp_path):
    def _render(path, event, functions):
        tag, data = event
        return react(path, functions, tmp_path, tag, data)

    return _render


# ------------------------------------------------------------------ role


def test_new_leader_starts_the_vip_orchestration(render):
    salt = SaltFunctions(SETTINGS)
    high = render(ROLE, role_event("vmm02"), salt)
    assert high == [
        {
            "__id__": "onenebula_ha-reactor-remediate_vip-vmm02-term-7",
            "state": "runner",
            "fun": "state.orchestrate",
            "args": [
                {"mods": "onenebula_ha.orch.remediate_vip"},
                {"pillar": {"onenebula_ha_vip": {"leader": "vmm02", "term": 7}}},
            ],
        }
    ]
    assert salt.messages("warning") == []


@pytest.mark.parametrize("state", ["follower", "candidate", "solo", None])
def test_other_roles_need_nothing(render, state):
    salt = SaltFunctions(SETTINGS)
    assert render(ROLE, role_event(state=state), salt) == []
    assert salt.logs == []


def test_move_vip_off(render):
    salt = SaltFunctions(dict(SETTINGS, move_vip=False))
    assert render(ROLE, role_event(), salt) == []
    assert salt.messages("warning") == []


def test_without_reactor_settings_nothing_happens(render):
    assert render(ROLE, role_event(), SaltFunctions(None)) == []


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (role_event("vmm09", server_id=0), "vmm09 is not a known front-end"),
        (role_event(id=None), "None is not a known front-end"),
        (role_event(term="7"), "malformed event data"),
        (role_event(term=None), "malformed event data"),
        (role_event(server_id=True), "malformed event data"),
        (role_event("vmm02", server_id=3), "vmm02 reports server id 3, the pillar says 1"),
    ],
    ids=["unknown-minion", "no-id", "term-string", "no-term", "id-bool", "id-mismatch"],
)
def test_invalid_role_events_are_logged_and_ignored(render, event, message):
    salt = SaltFunctions(SETTINGS)
    assert render(ROLE, event, salt) == []
    warnings = salt.messages("warning")
    assert len(warnings) == 1
    assert message in warnings[0]
    assert "salt/beacon/" in warnings[0]


def test_nested_beacon_data_is_not_mistaken_for_an_event(render):
    # The shape the Salt docs describe (data['data']) is not what the reactor gets.
    salt = SaltFunctions(SETTINGS)
    tag, data = role_event()
    assert render(ROLE, (tag, {"id": "vmm02", "data": data}), salt) == []


# ------------------------------------------------------------------ error


def repair_reaction(target):
    return [
        {
            "__id__": f"onenebula_ha-reactor-repair-{target}",
            "state": "runner",
            "fun": "state.orchestrate",
            "args": [{"mods": "onenebula_ha.orch.repair"}, {"pillar": {"target": target}}],
        }
    ]


def test_error_starts_the_repair_orchestration_and_takes_no_lock(render):
    # The event is a trigger: the orchestration decides (and locks) from its own queries.
    salt = SaltFunctions(SETTINGS)
    assert render(ERROR, error_event(2), salt) == repair_reaction("vmm03")
    assert salt.store[LOCK] == {"looked": {"vmm03": salt.now}}  # no holder
    assert any("checks the zone itself" in m for m in salt.messages("warning"))


def test_one_look_per_target_per_cooldown_however_many_events(render):
    salt = SaltFunctions(SETTINGS)
    assert render(ERROR, error_event(2), salt) == repair_reaction("vmm03")
    for _ in range(10):
        salt.now += 2
        assert render(ERROR, error_event(2), salt) == []
    assert render(ERROR, error_event(4), salt) == repair_reaction("vmm05")
    salt.now += 10
    assert render(ERROR, error_event(2), salt) == repair_reaction("vmm03")


def held(target="vmm03", started=None):
    return {"holder": {"target": target, "leader": "vmm01", "started": started, "token": "t"}}


def test_no_second_repair_while_the_lock_is_held_whatever_in_error_says(render):
    salt = SaltFunctions(SETTINGS)
    salt.store[LOCK] = held(started=salt.now - 60)
    # in_error leaving the locked server out, or naming it: the lock is not the event's.
    assert render(ERROR, error_event(4, in_error=[4]), salt) == []
    assert render(ERROR, error_event(2, in_error=[2, 4]), salt) == []
    assert salt.store[LOCK] == held(started=salt.now - 60)
    assert any("repair of vmm03" in m for m in salt.messages("info"))


def test_expired_lock_no_longer_holds_repairs_back(render):
    salt = SaltFunctions(dict(SETTINGS, repair_lock_ttl=600))
    salt.store[LOCK] = held(started=salt.now - 599)
    assert render(ERROR, error_event(2), salt) == []
    salt.now += 1
    assert render(ERROR, error_event(2), salt) == repair_reaction("vmm03")
    assert salt.store[LOCK]["holder"] == held(started=salt.now - 600)["holder"]


def test_a_target_backing_off_after_a_failed_repair_waits(render):
    salt = SaltFunctions(SETTINGS)
    salt.store[LOCK] = {
        "holder": None,
        "failures": {
            "vmm03": {"count": 2, "reason": "restore failed", "retry_after": salt.now + 30}
        },
    }
    assert render(ERROR, error_event(2), salt) == []
    assert any("restore failed" in m for m in salt.messages("info"))
    assert render(ERROR, error_event(4), salt) == repair_reaction("vmm05")
    salt.now += 30
    assert render(ERROR, error_event(2), salt) == repair_reaction("vmm03")
    assert salt.store[LOCK]["failures"]["vmm03"]["count"] == 2


def test_malformed_lock_does_not_block(render):
    salt = SaltFunctions(SETTINGS)
    salt.store[LOCK] = "garbage"
    assert render(ERROR, error_event(2), salt) == repair_reaction("vmm03")


def test_repair_off(render):
    salt = SaltFunctions(dict(SETTINGS, repair=False))
    assert render(ERROR, error_event(2), salt) == []
    assert LOCK not in salt.store


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (error_event(2, reporter="intruder"), "intruder is not a known front-end"),
        (error_event(2, name="vmm04"), "no front-end is server 2 named vmm04"),
        (error_event(7), "no front-end is server 7 named vmm08"),
        (error_event(0), "vmm01 reports itself in error"),
        (changed(error_event(2, in_error=["2"]), server_id="2"), "malformed event data"),
        (error_event(2, name=None), "malformed event data"),
    ],
    ids=["unknown-reporter", "name-mismatch", "unknown-server", "self", "id-string", "no-name"],
)
def test_invalid_error_events_are_logged_and_ignored(render, event, message):
    salt = SaltFunctions(SETTINGS)
    assert render(ERROR, event, salt) == []
    warnings = salt.messages("warning")
    assert len(warnings) == 1
    assert message in warnings[0]
    assert LOCK not in salt.store
