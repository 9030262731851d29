"""The ``onenebula_ha`` runner (what orchestrations decide on, and ``status``), driven with
canned minion answers in place of the master's LocalClient."""

import pytest
from support.formula_utils import utils_dunder
from support.load import load_file

MINIONS = ["vmm01", "vmm02", "vmm03"]
SERVERS = [
    {"minion": m, "name": m, "id": i, "address": f"10.213.0.{(i + 1) * 10}"}
    for i, m in enumerate(MINIONS)
]


def _raft(state, term=3, index=120, server_id=0):
    return {"ok": True, "ret": {"state": state, "term": term, "log_index": index,
                                "commit": index, "server_id": server_id}}  # fmt: skip


def _zone(states):
    return {
        "servers": [
            {
                "id": i,
                "name": m,
                "state": s,
                "endpoint": f"http://10.213.0.{(i + 1) * 10}:2633/RPC2",
            }
            for i, (m, s) in enumerate(states.items())
        ]
    }


class FakeMinions:
    """Answers of the front-ends' minions by function."""

    def __init__(self, raft, conf_ids, zone=None, vip_on=(), databases=None):
        self.raft, self.conf_ids, self.zone, self.vip_on = raft, conf_ids, zone, set(vip_on)
        self.databases = databases or {}

    def __call__(self, minions, fun, arg=(), kwarg=None, timeout=10):
        if fun == "onenebula_zone.raft_status":
            return {m: self.raft[m] for m in minions}
        if fun == "onenebula_conf.get":
            return {m: {"ok": True, "ret": str(self.conf_ids[m])} for m in minions}
        if fun == "onenebula_zone.show":
            return {m: {"ok": True, "ret": self.zone} for m in minions}
        if fun == "network.ip_addrs":
            return {
                m: {"ok": True, "ret": ["10.213.0.100"] if m in self.vip_on else []}
                for m in minions
            }
        if fun == "onenebula_db.health":
            fine = {"database": "opennebula", "exists": True, "ok": True, "broken": False,
                    "missing": [], "tables": ["db_versioning", "logdb"]}  # fmt: skip
            return {m: {"ok": True, "ret": self.databases.get(m, fine)} for m in minions}
        raise AssertionError(fun)


@pytest.fixture
def runner(repo_root, monkeypatch):
    module = load_file(repo_root / "_runners" / "onenebula_ha.py", "onenebula_ha_runner")
    module.__utils__ = utils_dunder()
    module.__opts__ = {"id": "salt_master"}
    settings = {"servers": SERVERS, "vip": {"address": "10.213.0.100/24", "interface": "eth0"}}
    monkeypatch.setattr(module, "_master_pillar", lambda: {"onenebula_ha": settings})
    return module


def test_a_bare_cluster_is_bootstrapped_from_the_first_server(runner, monkeypatch):
    down = {"ok": False, "error": "cannot reach oned at http://localhost:2633/RPC2"}
    monkeypatch.setattr(
        runner, "_call", FakeMinions({m: down for m in MINIONS}, {m: -1 for m in MINIONS})
    )
    view = runner.view()
    assert view["bare"] is True and view["leader"] is None
    assert runner.leader(wait=0) == "vmm01"


def test_an_interrupted_bootstrap_is_still_bare_but_a_configured_zone_is_not(runner, monkeypatch):
    solo = _raft(0, term=0, index=-1, server_id=-1)
    down = {"ok": False, "error": "cannot reach oned"}
    fake = FakeMinions(
        {"vmm01": solo, "vmm02": down, "vmm03": down}, {"vmm01": 0, "vmm02": -1, "vmm03": -1}
    )
    monkeypatch.setattr(runner, "_call", fake)
    assert runner.view()["bare"] is True
    fake.conf_ids["vmm02"] = 1
    view = runner.view()
    assert view["bare"] is False
    assert any("no leader" in p for p in view["problems"])
    with pytest.raises(runner.CommandExecutionError, match="no leader"):
        runner.leader(wait=0)


def test_status_reports_a_follower_whose_database_is_damaged(runner, monkeypatch):
    raft = {"vmm01": _raft(2, server_id=0), "vmm02": _raft(3, server_id=1),
            "vmm03": _raft(2, server_id=2)}  # fmt: skip
    dropped = {"database": "opennebula", "exists": False, "ok": False, "broken": True}
    unknown = {"exists": None, "ok": False, "broken": False, "error": "cannot connect"}
    fake = FakeMinions(
        raft,
        {"vmm01": 0, "vmm02": 1, "vmm03": 2},
        zone=_zone({"vmm01": "follower", "vmm02": "leader", "vmm03": "follower"}),
        vip_on=["vmm02"],
        databases={"vmm03": dropped, "vmm01": unknown},
    )
    monkeypatch.setattr(runner, "_call", fake)
    # Raft alone sees a healthy zone: the master's check of the databases tells.
    assert all(entry["healthy"] for entry in runner.view()["servers"].values())
    status = runner.status()
    assert status["healthy"] is False
    assert status["problems"] == ["vmm03: its database opennebula does not exist"]
    assert status["servers"]["vmm01"]["healthy"] is True  # not checkable is no damage


def test_view_and_status_of_a_zone_with_a_broken_follower(runner, monkeypatch):
    raft = {
        "vmm01": _raft(2, server_id=0),
        "vmm02": _raft(3, server_id=1),
        "vmm03": {"ok": False, "error": "minion did not answer"},
    }
    fake = FakeMinions(
        raft,
        {"vmm01": 0, "vmm02": 1, "vmm03": 2},
        zone=_zone({"vmm01": "follower", "vmm02": "leader", "vmm03": "error"}),
        vip_on=["vmm02", "vmm01"],
    )
    monkeypatch.setattr(runner, "_call", fake)
    view = runner.view()
    assert view["leader"] == "vmm02" and view["bare"] is False
    assert view["servers"]["vmm01"]["healthy"] and view["servers"]["vmm02"]["healthy"]
    assert not view["servers"]["vmm03"]["healthy"]

    status = runner.status()
    assert status["healthy"] is False
    assert status["vip"]["holders"] == ["vmm01", "vmm02"]
    assert "vmm01: holds the VIP 10.213.0.100 but is not the leader" in status["problems"]
    assert "vmm03: its Salt minion does not answer" in status["problems"]
    lines = status["table"].splitlines()
    assert lines[0] == "zone 0: leader vmm02, VIP 10.213.0.100 on vmm01, vmm02"
    assert lines[1].split() == [
        "MINION",
        "NAME",
        "ID",
        "ROLE",
        "TERM",
        "INDEX",
        "COMMIT",
        "VIP",
        "HEALTH",
    ]
    assert lines[3].split()[:8] == ["vmm02", "vmm02", "1", "leader", "3", "120", "120", "yes"]
    assert lines[3].endswith("ok")
    assert runner.status(fmt="table") == status["table"]


def test_a_lagging_follower_and_a_wrong_server_id_are_named(runner, monkeypatch):
    raft = {
        "vmm01": _raft(3, index=500, server_id=0),
        "vmm02": _raft(2, index=100, server_id=1),
        "vmm03": _raft(2, index=500, server_id=5),
    }
    fake = FakeMinions(
        raft,
        {"vmm01": 0, "vmm02": 1, "vmm03": 5},
        zone=_zone({"vmm01": "leader", "vmm02": "follower", "vmm03": "follower"}),
        vip_on=["vmm01"],
    )
    monkeypatch.setattr(runner, "_call", fake)
    servers = runner.view()["servers"]
    assert servers["vmm02"]["problems"] == ["400 log records behind the leader (limit 100)"]
    assert servers["vmm03"]["problems"] == ["oned.conf SERVER_ID 5 differs from its zone ID 2"]
    assert servers["vmm01"]["healthy"]


def test_servers_come_from_the_master_minion_pillar_or_the_caller(runner, monkeypatch):
    monkeypatch.setattr(runner, "_master_pillar", lambda: {})
    with pytest.raises(runner.SaltInvocationError, match="salt_master"):
        runner.view()
    servers, _ = runner._settings([{"minion": "a", "name": "a", "id": 0, "address": "192.0.2.1"}])
    assert servers[0]["endpoint"] == "http://192.0.2.1:2633/RPC2"
