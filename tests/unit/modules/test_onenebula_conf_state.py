"""Unit tests for ``_states/onenebula_conf.py`` on a realistic oned.conf."""

import shutil

import pytest
from onenebula_modules_helpers import FILES, load
from support.formula_utils import utils_dunder

UTILS = utils_dunder()

conf_mod = load("modules", "onenebula_conf")
conf_state = load("states", "onenebula_conf")
DB_PASSWORD = "db-pass-Qx9"


@pytest.fixture
def opts():
    return {"test": False}


@pytest.fixture
def oned_conf(tmp_path):
    path = tmp_path / "oned.conf"
    shutil.copy(FILES / "oned.conf", path)
    return path


@pytest.fixture
def configure_loader_modules(opts, oned_conf):
    opts["onenebula_ha.oned_conf"] = str(oned_conf)
    functions = {
        "onenebula_conf.get": conf_mod.get,
        "onenebula_conf.set": conf_mod.set_,
        "onenebula_conf.set_section": conf_mod.set_section,
        "onenebula_conf.unset": conf_mod.unset,
        "onenebula_conf.differences": conf_mod.differences,
        "onenebula_conf.default_path": conf_mod.default_path,
    }
    return {
        conf_mod: {"__opts__": opts, "__utils__": UTILS},
        conf_state: {
            "__salt__": functions,
            "__opts__": opts,
            "__utils__": UTILS,
            "__pillar__": {"onenebula_ha": {"database": {"password": DB_PASSWORD}}},
        },
    }


# ------------------------------------------------------------------------ server_id


def test_server_id_sets_then_is_idempotent(oned_conf):
    ret = conf_state.server_id(2)
    assert ret["result"] is True
    assert ret["changes"] == {"server_id": {"old": -1, "new": 2}}
    assert conf_mod.get("FEDERATION/SERVER_ID") == "2"
    again = conf_state.server_id("2")
    assert (again["result"], again["changes"]) == (True, {})


def test_server_id_test_mode_writes_nothing(oned_conf, opts):
    opts["test"] = True
    before = oned_conf.read_text()
    ret = conf_state.server_id(1)
    assert ret["result"] is None
    assert ret["changes"] == {"server_id": {"old": -1, "new": 1}}
    assert oned_conf.read_text() == before
    assert conf_state.server_id(-1)["result"] is True


def test_server_id_rejects_non_integers(oned_conf):
    ret = conf_state.server_id("vmm02")
    assert ret["result"] is False
    assert "integer" in ret["comment"]


def test_server_id_explicit_path_and_missing_file(tmp_path, opts):
    missing = str(tmp_path / "nope" / "oned.conf")
    assert conf_state.server_id(1, path=missing)["result"] is False
    opts["test"] = True
    ret = conf_state.server_id(1, path=missing)
    assert ret["result"] is None
    assert "does not exist yet" in ret["comment"]


# ----------------------------------------------------------------------------- raft


def test_raft_defaults_equal_the_shipped_block(oned_conf):
    before = oned_conf.read_text()
    ret = conf_state.raft("oned-raft")
    assert (ret["result"], ret["changes"]) == (True, {})
    assert oned_conf.read_text() == before


def test_raft_changes_only_the_given_keys(oned_conf):
    ret = conf_state.raft("oned-raft", election_timeout_ms=1500, broadcast_timeout_ms=250)
    assert ret["result"] is True
    assert ret["changes"] == {
        "RAFT": {
            "old": {"BROADCAST_TIMEOUT_MS": "500", "ELECTION_TIMEOUT_MS": "5000"},
            "new": {"BROADCAST_TIMEOUT_MS": "250", "ELECTION_TIMEOUT_MS": "1500"},
        }
    }
    assert conf_mod.get("RAFT/ELECTION_TIMEOUT_MS") == "1500"
    again = conf_state.raft("oned-raft", election_timeout_ms=1500, broadcast_timeout_ms=250)
    assert again["changes"] == {}


def test_raft_writes_all_six_keys_into_a_partial_block(tmp_path):
    path = tmp_path / "oned.conf"
    path.write_text("RAFT = [\n    ELECTION_TIMEOUT_MS = 2000,\n    EXTRA = 1\n]\n")
    ret = conf_state.raft("oned-raft", path=str(path), election_timeout_ms=2000)
    assert ret["result"] is True
    assert set(conf_mod.get("RAFT", path=str(path))) == {
        "LIMIT_PURGE",
        "LOG_RETENTION",
        "LOG_PURGE_TIMEOUT",
        "ELECTION_TIMEOUT_MS",
        "BROADCAST_TIMEOUT_MS",
        "XMLRPC_TIMEOUT_MS",
    }
    assert ret["changes"]["RAFT"]["old"] == {"EXTRA": "1"}


def test_raft_name_as_path(tmp_path):
    path = tmp_path / "other.conf"
    path.write_text("PORT = 2633\n")
    assert conf_state.raft(str(path))["result"] is True
    assert conf_mod.get("RAFT/LOG_RETENTION", path=str(path)) == "250000"


def test_raft_test_mode(oned_conf, opts):
    opts["test"] = True
    before = oned_conf.read_text()
    ret = conf_state.raft("oned-raft", xmlrpc_timeout_ms=500)
    assert ret["result"] is None
    assert ret["changes"] == {
        "RAFT": {"old": {"XMLRPC_TIMEOUT_MS": "1000"}, "new": {"XMLRPC_TIMEOUT_MS": "500"}}
    }
    assert oned_conf.read_text() == before


@pytest.mark.parametrize("bad", ["fast", -5, None])
def test_raft_rejects_bad_values(oned_conf, bad):
    ret = conf_state.raft("oned-raft", election_timeout_ms=bad)
    assert ret["result"] is False
    assert "ELECTION_TIMEOUT_MS" in ret["comment"]


# ------------------------------------------------------------------- section / value


def test_section_db_masks_the_password(oned_conf):
    db = {"BACKEND": "mysql", "SERVER": "localhost", "USER": "oneadmin", "PASSWD": "Sup3r-s3cret"}
    ret = conf_state.section("DB", db)
    assert ret["result"] is True
    assert ret["changes"]["DB"]["new"]["PASSWD"] == "********"
    assert "Sup3r-s3cret" not in repr(ret)
    assert conf_mod.get("DB/PASSWD", reveal=True) == "Sup3r-s3cret"
    db["PASSWD"] = "Other-s3cret"
    ret = conf_state.section("DB", db)
    assert ret["changes"] == {"DB": {"old": {"PASSWD": "********"}, "new": {"PASSWD": "********"}}}
    assert "s3cret" not in repr(ret)


def test_section_hook_added_and_idempotent(oned_conf):
    hook = {"COMMAND": "raft/vip.sh", "ARGUMENTS": "leader eth0 10.213.0.100/24"}
    assert conf_state.section("raft_leader_hook", hook)["result"] is True
    again = conf_state.section("RAFT_LEADER_HOOK", hook)
    assert (again["result"], again["changes"]) == (True, {})


def test_section_requires_values(oned_conf):
    assert conf_state.section("DB", {})["result"] is False


def test_value_state_and_masking(oned_conf, opts):
    ret = conf_state.value("LISTEN_ADDRESS", "10.213.0.10")
    assert ret["changes"] == {"LISTEN_ADDRESS": {"old": "0.0.0.0", "new": "10.213.0.10"}}
    assert conf_state.value("LISTEN_ADDRESS", "10.213.0.10")["changes"] == {}
    secret = conf_state.value("DB/PASSWD", "Pw-s3cret")
    assert secret["changes"] == {"DB/PASSWD": {"old": None, "new": "********"}}
    opts["test"] = True
    predicted = conf_state.value("PORT", 2700)
    assert predicted["result"] is None
    assert conf_mod.get("PORT") == "2633"


def test_absent_state(oned_conf, opts):
    conf_state.section("RAFT_FOLLOWER_HOOK", {"COMMAND": "raft/vip.sh"})
    opts["test"] = True
    assert conf_state.absent("RAFT_FOLLOWER_HOOK")["result"] is None
    opts["test"] = False
    ret = conf_state.absent("RAFT_FOLLOWER_HOOK")
    assert ret["result"] is True
    assert ret["changes"] == {"RAFT_FOLLOWER_HOOK": {"old": "present", "new": None}}
    assert conf_state.absent("RAFT_FOLLOWER_HOOK")["changes"] == {}


def test_syntax_error_fails_cleanly(tmp_path):
    path = tmp_path / "broken.conf"
    path.write_text("RAFT = [ A = 1\n")
    ret = conf_state.server_id(1, path=str(path))
    assert ret["result"] is False
    assert "broken.conf" in ret["comment"]


def test_server_id_value_argument_wins_over_name(oned_conf):
    ret = conf_state.server_id("oned-server-id", value=4)
    assert ret["result"] is True
    assert ret["changes"] == {"server_id": {"old": -1, "new": 4}}
    assert conf_mod.get("FEDERATION/SERVER_ID") == "4"


# ------------------------------------------------------------------- database


def test_database_section_takes_the_password_from_the_pillar_at_run_time(oned_conf):
    values = {"backend": "mysql", "server": "localhost", "user": "oneadmin", "db_name": "one"}
    ret = conf_state.database("DB", "onenebula_ha:database:password", **values)
    assert ret["result"] is True
    assert DB_PASSWORD in oned_conf.read_text()
    assert DB_PASSWORD not in repr(ret)
    again = conf_state.database("DB", "onenebula_ha:database:password", **values)
    assert (again["result"], again["changes"]) == (True, {})


def test_database_section_without_the_pillar_password_names_the_key(oned_conf):
    before = oned_conf.read_text()
    ret = conf_state.database("DB", "onenebula_ha:database:nope", backend="mysql")
    assert ret["result"] is False
    assert ret["comment"] == "pillar onenebula_ha:database:nope is not set"
    assert oned_conf.read_text() == before


def test_every_copy_of_the_edit_body_reports_a_missing_file_alike(opts, tmp_path):
    missing = str(tmp_path / "nope.conf")
    opts["test"] = True
    predicted = [
        conf_state.server_id("2", path=missing),
        conf_state.raft("raft", path=missing),
        conf_state.section("RAFT_LEADER_HOOK", {"COMMAND": "x"}, path=missing),
        conf_state.value("PORT", 2634, path=missing),
    ]
    assert [r["result"] for r in predicted] == [None] * 4
    assert all(r["changes"] and "does not exist yet" in r["comment"] for r in predicted)
    assert conf_state.absent("RAFT", path=missing)["result"] is True
    opts["test"] = False
    assert conf_state.value("PORT", 2634, path=missing)["result"] is False
