"""Unit tests for ``_states/onenebula_db.py`` (restored_from_leader)."""

import hashlib
import json
from pathlib import Path

import pytest
from onenebula_modules_helpers import load
from salt.exceptions import CommandExecutionError
from support.formula_utils import utils_dunder

UTILS = utils_dunder()

db_state = load("states", "onenebula_db")

SOURCE = "salt://vmm01/var/lib/one/backups/leader.sql"


def zone_report(rows_state, leader_index=120, my_index=120):
    """A health report where vmm02 is in ``rows_state`` (as the zone module returns)."""
    leader = {
        "id": 0,
        "name": "vmm01",
        "state": "leader",
        "log_index": leader_index,
        "endpoint": "http://10.213.0.10:2633/RPC2",
    }
    me = {
        "id": 1,
        "name": "vmm02",
        "state": rows_state,
        "log_index": my_index if rows_state != "error" else None,
        "endpoint": "http://10.213.0.20:2633/RPC2",
    }
    return {
        "healthy": rows_state == "follower",
        "leader": leader,
        "problems": [],
        "servers": [leader, me],
    }


class Master:
    """cp.cache_file over a directory standing in for the master's minionfs."""

    def __init__(self, root):
        self.root = root
        self.fetched = []

    def cache_file(self, source):
        self.fetched.append(source)
        path = self.root / source.removeprefix("salt://")
        return str(path) if path.exists() else ""


@pytest.fixture
def master(tmp_path):
    root = tmp_path / "master"
    dump = root / "vmm01/var/lib/one/backups/leader.sql"
    dump.parent.mkdir(parents=True)
    dump.write_text("-- leader dump\n")
    digest = hashlib.sha256(dump.read_bytes()).hexdigest()
    (dump.parent / "leader.sql.sha256").write_text(f"{digest}  leader.sql\n")
    return Master(root)


@pytest.fixture
def digest(master):
    dump = master.root / "vmm01/var/lib/one/backups/leader.sql"
    return hashlib.sha256(dump.read_bytes()).hexdigest()


@pytest.fixture
def restores():
    return []


@pytest.fixture
def state(tmp_path):
    return {"report": zone_report("error")}


@pytest.fixture
def opts(tmp_path):
    return {
        "test": False,
        "id": "vmm02",
        "onenebula_ha.restore_marker": str(tmp_path / "marker.json"),
    }


@pytest.fixture
def configure_loader_modules(master, restores, state, opts):
    def restore(path, sha256=None, keep_current=True, **connection):
        actual = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if sha256 != actual:
            raise CommandExecutionError("checksum mismatch")
        restores.append({"path": path, "sha256": sha256, "connection": connection})
        return {
            "path": path,
            "sha256": actual,
            "previous_backup": "/var/lib/one/backups/pre-restore-1.sql",
            "message": "MySQL DB opennebula at localhost restored.",
        }

    def health(zone, max_lag=None, refresh=True):
        if isinstance(state["report"], Exception):
            raise state["report"]
        return state["report"]

    functions = {
        "cp.cache_file": master.cache_file,
        "onenebula_db.restore": restore,
        "onenebula_zone.health": health,
    }
    return {db_state: {"__salt__": functions, "__opts__": opts, "__utils__": UTILS}}


def test_restores_an_unhealthy_member_and_writes_the_marker(restores, digest, opts, master):
    ret = db_state.restored_from_leader(SOURCE)
    assert ret["result"] is True, ret["comment"]
    assert ret["changes"] == {
        "db": {
            "old": {"sha256": None, "kept_in": "/var/lib/one/backups/pre-restore-1.sql"},
            "new": {"source": SOURCE, "sha256": digest},
        }
    }
    assert restores[0]["sha256"] == digest
    assert restores[0]["path"].endswith("vmm01/var/lib/one/backups/leader.sql")
    marker = json.loads(Path(opts["onenebula_ha.restore_marker"]).read_text())
    assert marker["sha256"] == digest
    assert marker["source"] == SOURCE
    assert master.fetched == [SOURCE + ".sha256", SOURCE]


def test_reapply_of_the_same_dump_is_no_change(restores):
    db_state.restored_from_leader(SOURCE)
    again = db_state.restored_from_leader(SOURCE)
    assert (again["result"], again["changes"]) == (True, {})
    assert "already restored" in again["comment"]
    assert len(restores) == 1


def test_caught_up_follower_needs_no_restore(restores, state, master):
    state["report"] = zone_report("follower", leader_index=130, my_index=125)
    ret = db_state.restored_from_leader(SOURCE)
    assert (ret["result"], ret["changes"]) == (True, {})
    assert "already a caught-up follower of vmm01" in ret["comment"]
    assert restores == [] and master.fetched == []


def test_lagging_follower_is_restored(restores, state):
    state["report"] = zone_report("follower", leader_index=100000, my_index=5)
    assert db_state.restored_from_leader(SOURCE, max_lag=100)["changes"]
    assert len(restores) == 1


def test_the_leader_is_never_restored(restores, state, opts):
    opts["id"] = "vmm01"
    ret = db_state.restored_from_leader(SOURCE)
    assert (ret["result"], ret["changes"]) == (True, {})
    assert "current leader" in ret["comment"]
    assert restores == []


def test_test_mode_predicts_and_touches_nothing(restores, opts, digest):
    opts["test"] = True
    ret = db_state.restored_from_leader(SOURCE)
    assert ret["result"] is None
    assert ret["changes"] == {
        "db": {"old": {"sha256": None}, "new": {"source": SOURCE, "sha256": digest}}
    }
    assert restores == []


def test_oned_down_does_not_block_the_restore(restores, state):
    state["report"] = CommandExecutionError("Failed to open TCP connection")
    assert db_state.restored_from_leader(SOURCE)["result"] is True
    assert len(restores) == 1


def test_checksum_is_required(restores, master):
    (master.root / "vmm01/var/lib/one/backups/leader.sql.sha256").unlink()
    ret = db_state.restored_from_leader(SOURCE)
    assert ret["result"] is False
    assert "No checksum" in ret["comment"]
    assert restores == []


def test_test_mode_predicts_the_restore_before_the_dump_exists(restores, master, opts):
    # A test run of a join: the leader's fresh backup has not been taken, nothing to fetch.
    (master.root / "vmm01/var/lib/one/backups/leader.sql.sha256").unlink()
    opts["test"] = True
    ret = db_state.restored_from_leader(SOURCE)
    assert ret["result"] is None
    assert ret["changes"] == {"db": {"old": None, "new": {"source": SOURCE}}}
    assert "would be restored" in ret["comment"] and "No checksum" in ret["comment"]
    assert restores == []


def test_corrupted_transfer_fails(restores, master):
    (master.root / "vmm01/var/lib/one/backups/leader.sql").write_text("-- truncated")
    ret = db_state.restored_from_leader(SOURCE)
    assert ret["result"] is False
    assert "checksum mismatch" in ret["comment"]
    assert restores == []


def test_explicit_sha256_and_local_source(restores, tmp_path):
    dump = tmp_path / "local.sql"
    dump.write_text("-- local\n")
    digest = hashlib.sha256(dump.read_bytes()).hexdigest()
    ret = db_state.restored_from_leader(str(dump), sha256=digest.upper())
    assert ret["result"] is True
    assert restores[0]["path"] == str(dump)


def test_missing_source_fails(restores):
    ret = db_state.restored_from_leader("salt://vmm01/nope.sql", sha256="a" * 64)
    assert ret["result"] is False
    assert "could not fetch" in ret["comment"]


def test_restore_refusal_is_reported(restores, state, master):
    state["report"] = zone_report("error")

    def refuse(*args, **kwargs):
        raise CommandExecutionError("refusing to restore: oned lock file /var/lock/one/one exists")

    db_state.__salt__["onenebula_db.restore"] = refuse
    ret = db_state.restored_from_leader(SOURCE)
    assert ret["result"] is False
    assert "lock file" in ret["comment"]
    assert ret["changes"] == {}


def test_connection_settings_are_passed_through(restores):
    db_state.restored_from_leader(SOURCE, connection={"user": "oneadmin", "password": "pw"})
    assert restores[0]["connection"] == {"user": "oneadmin", "password": "pw"}


def test_unwritable_marker_is_reported_after_a_successful_restore(restores, opts, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    opts["onenebula_ha.restore_marker"] = str(blocker / "marker.json")
    ret = db_state.restored_from_leader(SOURCE)
    assert ret["result"] is True
    assert ret["changes"]["db"]["new"]["source"] == SOURCE
    assert "WARNING: could not write the marker" in ret["comment"]
    assert len(restores) == 1
