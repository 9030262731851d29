"""The formula's shared utils (``_utils/onenebula_ha.py``): each judgement and default said
once, and the formula's other modules using it instead of their own copies."""

import re
from pathlib import Path

import pytest
import salt.utils.path
import yaml
from salt.exceptions import CommandExecutionError
from support.formula_utils import load_utils_module

REPO_ROOT = Path(__file__).resolve().parents[3]
utils = load_utils_module()
FORMULA_PYTHON = sorted(
    path
    for directory in ("_modules", "_states", "_runners", "_beacons")
    for path in (REPO_ROOT / directory).glob("*.py")
)


def test_state_names_and_healthy_states():
    assert [utils.state_name(code) for code in (0, 1, 2, 3)] == [
        "solo",
        "candidate",
        "follower",
        "leader",
    ]
    assert utils.state_name(7) == utils.state_name(None) == "error"
    assert utils.healthy_states() == ("leader", "follower")


@pytest.mark.parametrize(
    ("state", "index", "leader_index", "limit", "expected"),
    [
        ("follower", 400, 500, 100, True),
        ("follower", 399, 500, 100, False),
        ("leader", 500, 500, 100, False),
        ("error", 500, 500, 100, False),
        ("follower", None, 500, 100, False),
        ("follower", 500, None, 100, False),
    ],
)
def test_caught_up(state, index, leader_index, limit, expected):
    assert utils.caught_up(state, index, leader_index, limit) is expected


def test_lag_problem_names_the_distance_and_the_limit():
    assert utils.lag_problem(100, 500, 100) == "400 log records behind the leader (limit 100)"
    assert utils.lag_problem(400, 500, 100) is None
    assert utils.lag_problem(None, 500, 100) is None


def test_max_lag_argument_then_minion_option_then_default():
    assert utils.max_lag() == utils.DEFAULT_MAX_LAG == 100
    assert utils.max_lag(None, "7") == 7
    assert utils.max_lag(3, 7) == 3
    assert utils.max_lag(0, 7) == 0


@pytest.mark.parametrize("kind", sorted(utils.PATHS))
def test_one_path_option_then_one_location_then_system(kind, monkeypatch, tmp_path):
    system, relative = utils.PATHS[kind]
    monkeypatch.delenv("ONE_LOCATION", raising=False)
    assert utils.one_path(kind) == system
    monkeypatch.setenv("ONE_LOCATION", str(tmp_path))
    assert utils.one_path(kind) == str(tmp_path.joinpath(*relative))
    assert utils.one_path(kind, "/elsewhere") == "/elsewhere"


def test_shipped_raft_is_what_defaults_yaml_gives_the_pillar():
    defaults = yaml.safe_load((REPO_ROOT / "onenebula_ha" / "defaults.yaml").read_text())
    raft = {key.upper(): value for key, value in defaults["onenebula_ha"]["raft"].items()}
    assert raft == utils.shipped_raft()
    shipped = utils.shipped_raft()
    shipped["LIMIT_PURGE"] = 1
    assert utils.shipped_raft()["LIMIT_PURGE"] == 100000  # a copy each time


def test_error_keeps_the_message_and_carries_details():
    exc = utils.error("[one.zone.info] Error", reachable=True, code=0x400)
    assert isinstance(exc, CommandExecutionError)
    assert str(exc) == "[one.zone.info] Error"
    assert exc.info == {"reachable": True, "code": 0x400}


def test_virtual_helpers_give_a_reason(monkeypatch):
    monkeypatch.setattr(salt.utils.path, "which", lambda name: None)
    assert utils.needs_command("onenebula_db", "onedb") == (
        False,
        "onenebula_db: the OpenNebula 'onedb' command is not on PATH",
    )
    monkeypatch.setattr(salt.utils.path, "which", lambda name: f"/usr/bin/{name}")
    assert utils.needs_command("onenebula_db", "onedb") == "onenebula_db"
    assert utils.not_loaded("x", "onenebula_zone", " (sync it)") == (
        False,
        "x: the onenebula_zone execution module is not available (sync it)",
    )


def test_pymysql_ssl_disabled_is_asked_of_the_connect_signature():
    class New:
        def __init__(self, host=None, ssl_disabled=None):
            pass

    class Old:
        def __init__(self, host=None):
            pass

    def pymysql(connection):
        return type("pymysql", (), {"connections": type("c", (), {"Connection": connection})})

    assert utils.pymysql_accepts_ssl_disabled(pymysql(New)) is True
    assert utils.pymysql_accepts_ssl_disabled(pymysql(Old)) is False
    assert utils.pymysql_accepts_ssl_disabled(object()) is False


# ------------------------------------------------------------------ one place

REPEATS = {
    "ONE_LOCATION path resolution": re.compile(r"environ\.get\(\s*[\"']ONE_LOCATION"),
    "the Raft state names": re.compile(r"[\"']candidate[\"']"),
    "the max-lag default": re.compile(r"max_lag[\"']\s*[:,]\s*100\b|DEFAULT_MAX_LAG\s*="),
    "the shipped RAFT values": re.compile(r"250000"),
    "a CommandExecutionError with .info": re.compile(r"\.info\s*=\s*info"),
}


@pytest.mark.parametrize("what", sorted(REPEATS))
def test_the_modules_use_the_utils_instead_of_repeating(what):
    found = [
        str(path.relative_to(REPO_ROOT))
        for path in FORMULA_PYTHON
        if REPEATS[what].search(path.read_text())
    ]
    assert found == [], f"{what} repeated outside _utils/onenebula_ha.py"
    assert REPEATS[what].search((REPO_ROOT / "_utils" / "onenebula_ha.py").read_text())


def test_a_json_record_reads_as_its_object_and_anything_else_as_empty(tmp_path):
    # The repair lock, the restore marker and the secrets' pull records all start empty
    # from a file that is missing, unreadable, not JSON or not an object.
    record = tmp_path / "record.json"
    assert utils.read_json_object(str(record)) == {}
    for text in ("", "{not json", "[1, 2]", '"text"'):
        record.write_text(text)
        assert utils.read_json_object(str(record)) == {}
    record.write_text('{"holder": {"target": "vmm02"}}')
    assert utils.read_json_object(str(record)) == {"holder": {"target": "vmm02"}}
