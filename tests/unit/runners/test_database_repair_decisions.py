"""A follower's damaged database as a reason to repair it: decided from the master's own
query of every front-end's database (``onenebula_db.health`` answers), compared with the
agreed leader's; a database that cannot be checked is never a reason. And the reactor's
``database`` event: a trigger naming only its sender."""

from pathlib import Path

from support.formula_utils import utils_dunder
from support.load import load_file

REPO_ROOT = Path(__file__).resolve().parents[3]
runner = load_file(REPO_ROOT / "_runners" / "onenebula_ha.py", "onenebula_test_runner_database")
runner.__utils__ = utils_dunder()

SERVERS = [
    {"minion": "vmm01", "id": 0, "name": "vmm01"},
    {"minion": "vmm02", "id": 1, "name": "vmm02"},
    {"minion": "vmm03", "id": 2, "name": "vmm03"},
]
NAMES = {2: "follower", 3: "leader"}
TABLES = [
    "db_versioning", "local_db_versioning", "logdb", "pool_control", "system_attributes",
    "user_pool", "vm_pool", "zone_pool",
]  # fmt: skip


def answer(state, term, server_id):
    status = {"server_id": server_id, "state": state, "state_name": NAMES[state], "term": term,
              "log_index": 100, "commit": 100}  # fmt: skip
    return {"ok": True, "ret": status}


def raft(leader_state=3, liar=False):
    found = {"vmm01": answer(leader_state, 5, 0), "vmm02": answer(2, 5, 1),
             "vmm03": answer(2, 5, 2)}  # fmt: skip
    if liar:
        found["vmm02"] = answer(3, 99, 1)
    return found


ZONE = {
    "servers": [
        {"id": s["id"], "name": s["name"], "state": "leader" if s["id"] == 0 else "follower",
         "log_index": 100}
        for s in SERVERS
    ]
}  # fmt: skip


def health(tables=TABLES, exists=True):
    if exists is None:
        return {"ok": True, "ret": {"exists": None, "ok": False, "broken": False,
                                    "error": "cannot connect to the database server"}}  # fmt: skip
    missing = sorted(set(TABLES) - set(tables)) if exists else []
    return {
        "ok": True,
        "ret": {"database": "opennebula", "exists": exists, "tables": list(tables) if exists else None,
                "missing": missing, "broken": not exists or bool(missing),
                "ok": bool(exists) and not missing},
    }  # fmt: skip


def databases(**target):
    found = {"vmm01": health(), "vmm02": health(), "vmm03": health()}
    found.update(target)
    return found


def decide(dbs, raft_answers=None, target="vmm03"):
    return runner._repair_decision(SERVERS, target, raft_answers or raft(), ZONE, databases=dbs)


def test_a_follower_whose_database_was_dropped_is_repaired_from_the_agreed_leader():
    decision = decide(databases(vmm03=health(exists=False)))
    assert decision["repair"] is True and decision["leader"] == "vmm01"
    assert "its database opennebula does not exist" in decision["reason"]


def test_a_follower_missing_one_table_is_repaired():
    tables = [t for t in TABLES if t != "db_versioning"]
    decision = decide(databases(vmm03=health(tables)))
    assert decision["repair"] is True
    assert "lacks the table(s) db_versioning" in decision["reason"]


def test_a_table_the_leader_has_and_the_follower_lacks_counts():
    # Not one of the tables every database has, but the leader's database has it.
    leader = health([*TABLES, "hook_pool"])
    decision = decide(databases(vmm01=leader))
    assert decision["repair"] is True and "lacks the table(s) hook_pool" in decision["reason"]


def test_a_database_that_cannot_be_checked_is_no_reason():
    decision = decide(databases(vmm03=health(exists=None)))
    assert decision["repair"] is False and "caught-up follower" in decision["reason"]
    no_answer = decide(databases(vmm03={"ok": False, "error": "minion did not answer"}))
    assert no_answer["repair"] is False


def test_healthy_databases_repair_nothing():
    decision = decide(databases())
    assert decision["repair"] is False and "caught-up follower" in decision["reason"]


def test_a_damaged_database_under_a_liar_claiming_leadership_repairs_nothing():
    decision = decide(databases(vmm03=health(exists=False)), raft(liar=True))
    assert decision["repair"] is False and "claim leadership" in decision["reason"]


def test_the_leader_is_never_repaired_for_its_database():
    decision = decide(databases(vmm01=health(exists=False)), target="vmm01")
    assert decision["repair"] is False and "is the leader" in decision["reason"]


def test_a_leader_with_a_damaged_database_is_no_reference_for_tables():
    leader = health([*TABLES[:-1], "hook_pool"])  # lacks zone_pool itself
    decision = decide(databases(vmm01=leader))
    assert decision["repair"] is False


# ------------------------------------------------------------------ the reactor


SETTINGS = {"repair": True, "frontends": SERVERS, "repair_lock_ttl": 3600}
NOW = 1_800_000_000


def react(reporter, data, tag_minion=None, lock=None):
    tag = f"salt/beacon/{tag_minion or reporter}/onenebula_raft/database"
    event = dict({"id": reporter, "zone": 0, "problem": "x"}, **data)
    return runner._error_decision(tag, event, SETTINGS, lock or {}, NOW)


def test_a_database_event_starts_a_repair_look_at_its_sender():
    reactions, logged = react("vmm03", {"server_id": 2})
    assert reactions == [
        {"id": "onenebula_ha-reactor-repair-vmm03", "mods": "onenebula_ha.orch.repair",
         "pillar": {"target": "vmm03"}}
    ]  # fmt: skip
    assert logged[0] == "warning" and "its own database damaged" in logged[1]


def test_a_database_event_naming_another_server_is_ignored():
    reactions, logged = react("vmm03", {"server_id": 0, "name": "vmm01"})
    assert reactions == [] and "vmm03 is server 2, it reports the database of server 0" in logged[1]


def test_a_database_event_from_an_unknown_minion_is_ignored():
    reactions, logged = react("hv07", {"server_id": 2})
    assert reactions == [] and "not a known front-end" in logged[1]


def test_a_database_event_respects_the_lock_and_the_look_cooldown():
    held = {"holder": {"target": "vmm02", "leader": "vmm01", "started": NOW - 10, "token": "t"}}
    assert react("vmm03", {"server_id": 2}, lock=held)[0] == []
    looked = {"looked": {"vmm03": NOW - 5}}
    assert react("vmm03", {"server_id": 2}, lock=looked)[0] == []
