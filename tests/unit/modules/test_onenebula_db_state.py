"""Unit tests for ``_states/onenebula_db.py`` (restored_from_leader, and database: its plan
as a plain function).

The dump is pulled from the leader by the real ``onenebula_transfer`` module; only the
commands it runs (``scp``, ``ssh ... rm``) are answered by :class:`FakeSsh`, whose leader is
a directory. The DB restore itself (``onenebula_db.restore``) is a recording stand-in."""

import hashlib
import inspect
import json
import os
import pwd
from pathlib import Path

import pytest
from onenebula_modules_helpers import FakeSsh, load
from salt.exceptions import CommandExecutionError
from support.formula_utils import utils_dunder

UTILS = utils_dunder()

db_state = load("states", "onenebula_db")
transfer = load("modules", "onenebula_transfer")
LEADER = "10.213.0.10"
DB_PASSWORD = "db-pass-Zq81"
ME = pwd.getpwuid(os.geteuid()).pw_name


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


@pytest.fixture
def dump_path(tmp_path):
    """The dump's path: the same on the leader (below its fake root) and here."""
    here = tmp_path / "here" / "backups"
    here.mkdir(parents=True)
    return str(here / "leader.sql")


@pytest.fixture
def leader_root(tmp_path, dump_path):
    root = tmp_path / "leader"
    dump = root / dump_path.lstrip("/")
    dump.parent.mkdir(parents=True)
    dump.write_text("-- leader dump\n")
    digest = hashlib.sha256(dump.read_bytes()).hexdigest()
    (dump.parent / "leader.sql.sha256").write_text(f"{digest}  leader.sql\n")
    return root


@pytest.fixture
def leader_dump(leader_root, dump_path):
    return leader_root / dump_path.lstrip("/")


@pytest.fixture
def ssh(leader_root, monkeypatch, tmp_path):
    return FakeSsh({LEADER: leader_root}).install(monkeypatch, tmp_path / "bin")


@pytest.fixture
def digest(leader_dump):
    return hashlib.sha256(leader_dump.read_bytes()).hexdigest()


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
def configure_loader_modules(ssh, restores, state, opts):
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

    def health(zone, max_lag=None, refresh=True, live=False):
        assert live  # read in process, never through an onezone process
        if isinstance(state["report"], Exception):
            raise state["report"]
        return state["report"]

    functions = {
        "onenebula_db.restore": restore,
        "onenebula_zone.health": health,
        **{
            f"onenebula_transfer.{name}": getattr(transfer, name)
            for name in ("fetch", "read", "remove")
        },
    }
    return {
        db_state: {
            "__salt__": functions,
            "__pillar__": {"onenebula_ha": {"database": {"password": DB_PASSWORD}}},
            "__opts__": opts,
            "__utils__": UTILS,
        },
        transfer: {
            "__salt__": {"cmd.run_all": ssh},
            "__opts__": {"onenebula_ha.ssh_user": ME},
            "__utils__": UTILS,
        },
    }


def restore_from_leader(dump_path, **kwargs):
    return db_state.restored_from_leader(dump_path, source=LEADER, **kwargs)


def test_restores_an_unhealthy_member_and_writes_the_marker(
    restores, digest, opts, ssh, dump_path, leader_dump
):
    ret = restore_from_leader(dump_path)
    assert ret["result"] is True, ret["comment"]
    origin = f"{dump_path} on {LEADER}"
    assert ret["changes"] == {
        "db": {
            "old": {"sha256": None, "kept_in": "/var/lib/one/backups/pre-restore-1.sql"},
            "new": {"source": origin, "sha256": digest},
        }
    }
    assert restores[0]["sha256"] == digest
    assert restores[0]["path"] == dump_path
    marker = json.loads(Path(opts["onenebula_ha.restore_marker"]).read_text())
    assert marker["sha256"] == digest
    assert marker["source"] == origin
    # Pulled over SSH (the sidecar to know the checksum, then the dump), never through a
    # master; then removed on the leader and here.
    scp, stream = ssh.commands()
    assert scp[0] == "scp" and scp[-2] == f"{ME}@{LEADER}:{dump_path}.sha256"
    assert stream[0] == "ssh" and stream[stream.index("--") + 2 :] == [
        "cat", "--", dump_path, "&&", "rm", "-f", "--", dump_path, f"{dump_path}.sha256",
    ]  # fmt: skip
    assert not leader_dump.exists()
    assert not os.path.exists(dump_path) and not os.path.exists(f"{dump_path}.sha256")
    assert "deleted here and there" in ret["comment"]


def test_a_salt_url_is_refused(restores, ssh):
    ret = db_state.restored_from_leader("salt://vmm01/var/lib/one/backups/leader.sql")
    assert ret["result"] is False
    assert "never pass through the Salt master" in ret["comment"]
    assert restores == [] and ssh.commands() == []


def test_reapply_of_the_same_dump_is_no_change(restores, dump_path, leader_root, digest):
    restore_from_leader(dump_path)
    # The leader's dump was removed after the pull; the same dump taken again.
    dump = leader_root / dump_path.lstrip("/")
    dump.write_text("-- leader dump\n")
    (dump.parent / "leader.sql.sha256").write_text(f"{digest}  leader.sql\n")
    again = restore_from_leader(dump_path)
    assert (again["result"], again["changes"]) == (True, {})
    assert "already restored" in again["comment"]
    assert len(restores) == 1


def test_caught_up_follower_needs_no_restore_and_drops_the_unused_dump(
    restores, state, ssh, dump_path, leader_dump, opts
):
    state["report"] = zone_report("follower", leader_index=130, my_index=125)
    opts["test"] = True
    predicted = restore_from_leader(dump_path)
    assert (predicted["result"], predicted["changes"]) == (True, {})
    assert ssh.commands() == [] and leader_dump.exists()  # a test run touches nothing
    opts["test"] = False
    ret = restore_from_leader(dump_path)
    assert (ret["result"], ret["changes"]) == (True, {})
    assert "already a caught-up follower of vmm01" in ret["comment"]
    assert restores == [] and [argv[0] for argv in ssh.commands()] == ["ssh"]
    assert not leader_dump.exists()
    assert "unused dump" in ret["comment"]


def test_lagging_follower_is_restored(restores, state, dump_path):
    state["report"] = zone_report("follower", leader_index=100000, my_index=5)
    assert restore_from_leader(dump_path, max_lag=100)["changes"]
    assert len(restores) == 1


def test_the_leader_is_never_restored(restores, state, opts, dump_path):
    opts["id"] = "vmm01"
    ret = restore_from_leader(dump_path)
    assert (ret["result"], ret["changes"]) == (True, {})
    assert "current leader" in ret["comment"]
    assert restores == []


def test_test_mode_predicts_and_touches_nothing(
    restores, opts, digest, dump_path, leader_dump, ssh
):
    opts["test"] = True
    ret = restore_from_leader(dump_path)
    assert ret["result"] is None
    assert ret["changes"] == {
        "db": {
            "old": {"sha256": None},
            "new": {"source": f"{dump_path} on {LEADER}", "sha256": digest},
        }
    }
    assert restores == []
    assert leader_dump.exists() and not os.path.exists(dump_path)
    assert ssh.commands("ssh") == []


def test_the_prereq_test_run_and_the_restore_read_the_sidecar_once(
    restores, opts, digest, dump_path, ssh
):
    """Salt's prereq runs the state in test mode, then for real, in one state run (one
    __context__): the checksum read by the first serves the second."""
    opts["test"] = True
    assert restore_from_leader(dump_path)["result"] is None
    opts["test"] = False
    ret = restore_from_leader(dump_path)
    assert ret["result"] is True, ret["comment"]
    assert restores[0]["sha256"] == digest
    assert [argv[0] for argv in ssh.commands()] == ["scp", "ssh"]


def test_oned_down_does_not_block_the_restore(restores, state, dump_path):
    state["report"] = CommandExecutionError("Failed to open TCP connection")
    assert restore_from_leader(dump_path)["result"] is True
    assert len(restores) == 1


def test_checksum_is_required(restores, leader_dump, dump_path):
    Path(f"{leader_dump}.sha256").unlink()
    ret = restore_from_leader(dump_path)
    assert ret["result"] is False
    assert "No checksum" in ret["comment"]
    assert restores == []
    # The failed restore leaves no dump on the leader (a dump is never reused).
    assert not leader_dump.exists() and "the failed dump on" in ret["comment"]


def test_a_caught_up_follower_whose_database_is_damaged_is_restored(
    restores, state, dump_path, leader_dump
):
    # oned still follows (nothing replicated since the DROP): the database decides.
    state["report"] = zone_report("follower", leader_index=130, my_index=125)
    damage = {"broken": True, "error": "the database opennebula does not exist"}
    db_state.__salt__["onenebula_db.health"] = lambda **_: damage
    ret = restore_from_leader(dump_path)
    assert ret["result"] is True and ret["changes"] and len(restores) == 1
    assert not leader_dump.exists()
    db_state.__salt__["onenebula_db.health"] = lambda **_: {"broken": False, "ok": True}
    state["report"] = zone_report("follower", leader_index=130, my_index=130)
    again = restore_from_leader(dump_path)
    assert again["changes"] == {} and "caught-up follower" in again["comment"]
    # A database that cannot be checked is no reason to restore a caught-up follower.
    db_state.__salt__["onenebula_db.health"] = lambda **_: {"broken": False, "exists": None}
    assert restore_from_leader(dump_path)["changes"] == {}
    assert len(restores) == 1


def test_test_mode_predicts_the_restore_before_the_dump_exists(
    restores, leader_dump, opts, dump_path
):
    # A test run of a join: the leader's fresh backup has not been taken, nothing to pull.
    Path(f"{leader_dump}.sha256").unlink()
    opts["test"] = True
    ret = restore_from_leader(dump_path)
    assert ret["result"] is None
    assert ret["changes"] == {"db": {"old": None, "new": {"source": f"{dump_path} on {LEADER}"}}}
    assert "would be restored" in ret["comment"] and "No checksum" in ret["comment"]
    assert restores == []


def test_corrupted_transfer_fails_and_leaves_no_copy(restores, leader_dump, dump_path, ssh):
    leader_dump.write_text("-- truncated")
    ret = restore_from_leader(dump_path)
    assert ret["result"] is False
    assert "checksum mismatch" in ret["comment"]
    assert restores == []
    assert not os.path.exists(dump_path)
    # Neither copy is kept: a dump is never reused, the next attempt takes a fresh one.
    assert not leader_dump.exists() and "the failed dump on" in ret["comment"]


def test_unreachable_leader_fails_clearly(restores, dump_path):
    ret = db_state.restored_from_leader(dump_path, source="vmm09", sha256="a" * 64)
    assert ret["result"] is False
    assert "Host key verification failed" in ret["comment"]
    assert restores == []


def test_hostile_source_never_reaches_scp(restores, dump_path, ssh):
    ret = db_state.restored_from_leader(dump_path, source="-oProxyCommand=id", sha256="a" * 64)
    assert ret["result"] is False
    assert "not a host name" in ret["comment"]
    assert ssh.commands() == [] and restores == []


def test_explicit_sha256_and_local_source(restores, tmp_path, ssh):
    dump = tmp_path / "local.sql"
    dump.write_text("-- local\n")
    digest = hashlib.sha256(dump.read_bytes()).hexdigest()
    ret = db_state.restored_from_leader(str(dump), sha256=digest.upper())
    assert ret["result"] is True
    assert restores[0]["path"] == str(dump)
    assert dump.exists() and ssh.commands() == []  # a local dump is the operator's: kept


def test_missing_local_dump_fails(restores):
    ret = db_state.restored_from_leader("/nonexistent/nope.sql", sha256="a" * 64)
    assert ret["result"] is False
    assert "does not exist" in ret["comment"]


def test_restore_refusal_is_reported_and_the_pulled_copy_removed(restores, state, dump_path):
    state["report"] = zone_report("error")

    def refuse(*args, **kwargs):
        raise CommandExecutionError("refusing to restore: oned lock file /var/lock/one/one exists")

    db_state.__salt__["onenebula_db.restore"] = refuse
    ret = restore_from_leader(dump_path)
    assert ret["result"] is False
    assert "lock file" in ret["comment"]
    assert ret["changes"] == {}
    assert not os.path.exists(dump_path)


def test_connection_settings_are_passed_through(restores, dump_path):
    restore_from_leader(dump_path, connection={"user": "oneadmin", "password": "pw"})
    assert restores[0]["connection"] == {"user": "oneadmin", "password": "pw"}


def test_unwritable_marker_is_reported_after_a_successful_restore(
    restores, opts, tmp_path, dump_path
):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    opts["onenebula_ha.restore_marker"] = str(blocker / "marker.json")
    ret = restore_from_leader(dump_path)
    assert ret["result"] is True
    assert ret["changes"]["db"]["new"]["source"] == f"{dump_path} on {LEADER}"
    assert "WARNING: could not write the marker" in ret["comment"]
    assert len(restores) == 1


def test_restore_without_the_onenebula_db_module_fails_cleanly(dump_path, monkeypatch):
    # The module always loads (its database state runs before onedb is installed).
    monkeypatch.delitem(db_state.__salt__, "onenebula_db.restore")
    ret = restore_from_leader(dump_path)
    assert (ret["result"], ret["changes"]) == (False, {})
    assert "the onenebula_db execution module is not available" in ret["comment"]


def test_only_states_are_public():
    public = {
        name
        for name, value in vars(db_state).items()
        if inspect.isfunction(value) and not name.startswith("_")
    }
    assert public == {"database", "restored_from_leader"}


# ------------------------------------------------------------------ database


NATIVE_HASH = "*" + hashlib.sha1(hashlib.sha1(DB_PASSWORD.encode()).digest()).hexdigest().upper()
HOSTS = ["localhost", "127.0.0.1"]
ALL_DB_PRIVILEGES = {"Select_priv": "Y", "Insert_priv": "Y", "Drop_priv": "Y", "Grant_priv": "N"}


def facts(version="10.11.6-MariaDB-0+deb12u1", database=True, users=None, grants=None):
    native = {"plugin": "mysql_native_password", "authentication_string": NATIVE_HASH}
    return {
        "version": version,
        "database": database,
        "users": {h: dict(native) for h in HOSTS} if users is None else users,
        "grants": {h: dict(ALL_DB_PRIVILEGES) for h in HOSTS} if grants is None else grants,
    }


def plan(found):
    return db_state._database_plan("opennebula", "oneadmin", HOSTS, NATIVE_HASH, found)


def test_database_plan_on_a_converged_server_runs_nothing():
    assert plan(facts()) == ([], {})


def test_database_plan_on_an_empty_server_creates_all_with_the_hash_as_an_argument():
    statements, changes = plan(facts(database=False, users={}, grants={}))
    assert statements == [
        ("CREATE DATABASE `opennebula`", ()),
        ("CREATE USER %s@%s IDENTIFIED BY PASSWORD %s", ("oneadmin", "localhost", NATIVE_HASH)),
        ("GRANT ALL PRIVILEGES ON `opennebula`.* TO %s@%s", ("oneadmin", "localhost")),
        ("CREATE USER %s@%s IDENTIFIED BY PASSWORD %s", ("oneadmin", "127.0.0.1", NATIVE_HASH)),
        ("GRANT ALL PRIVILEGES ON `opennebula`.* TO %s@%s", ("oneadmin", "127.0.0.1")),
    ]
    assert changes["database"] == {"old": None, "new": "opennebula"}
    assert changes["oneadmin@localhost"] == changes["oneadmin@127.0.0.1"] == "added"
    assert NATIVE_HASH not in repr(changes)


def test_database_plan_resets_another_password_or_plugin_and_a_partial_grant():
    found = facts()
    found["users"]["localhost"]["authentication_string"] = "*0000"
    found["users"]["127.0.0.1"]["plugin"] = "unix_socket"
    found["grants"]["127.0.0.1"]["Drop_priv"] = "N"
    statements, changes = plan(found)
    assert [sql.split(" %s")[0] for sql, _ in statements] == [
        "ALTER USER", "ALTER USER", "GRANT ALL PRIVILEGES ON `opennebula`.* TO",
    ]  # fmt: skip
    assert changes == {
        "oneadmin@localhost": "password updated",
        "oneadmin@127.0.0.1": "password updated",
        "granted": ["ALL PRIVILEGES ON opennebula.* TO oneadmin@127.0.0.1"],
    }


def test_database_plan_takes_the_hash_from_mariadbs_old_password_column():
    old = {"plugin": "", "authentication_string": "", "Password": NATIVE_HASH}
    assert plan(facts(users={h: dict(old) for h in HOSTS})) == ([], {})


def test_database_plan_uses_mysqls_syntax_on_mysql():
    statements, _ = plan(facts(version="8.0.36", users={}))
    assert statements[0][0] == "CREATE USER %s@%s IDENTIFIED WITH mysql_native_password AS %s"


def test_database_without_the_pillar_password_changes_nothing():
    ret = db_state.database("opennebula", "oneadmin", "onenebula_ha:database:missing")
    assert (ret["result"], ret["comment"]) == (
        False,
        "pillar onenebula_ha:database:missing is not set",
    )
