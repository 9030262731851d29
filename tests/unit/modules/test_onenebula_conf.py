"""Unit tests for ``_modules/onenebula_conf.py``: oned.conf reading and in-place editing."""

import difflib
import os
import shutil

import pytest
from onenebula_modules_helpers import FILES, load
from salt.exceptions import CommandExecutionError
from support.formula_utils import load_utils_module, utils_dunder

UTILS = utils_dunder()

conf = load("modules", "onenebula_conf")

SHIPPED_RAFT = load_utils_module().shipped_raft()


@pytest.fixture
def configure_loader_modules():
    return {conf: {"__opts__": {}, "__utils__": UTILS}}


@pytest.fixture
def oned_conf(tmp_path):
    path = tmp_path / "oned.conf"
    shutil.copy(FILES / "oned.conf", path)
    return path


def changed_lines(before, after):
    """The lines removed (-) and added (+) between two texts, without diff headers."""
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("---", "+++")]


# ------------------------------------------------------------------------------ get


def test_get_single_values_unquoted(oned_conf):
    assert conf.get("PORT", path=str(oned_conf)) == "2633"
    assert conf.get("LISTEN_ADDRESS", path=str(oned_conf)) == "0.0.0.0"
    assert conf.get("ONEGATE_ENDPOINT", path=str(oned_conf)) == 'http://a "quoted" host:5030'


def test_get_vector_and_sub_key(oned_conf):
    assert conf.get("FEDERATION", path=str(oned_conf)) == {
        "MODE": "STANDALONE",
        "ZONE_ID": "0",
        "SERVER_ID": "-1",
        "MASTER_ONED": "",
    }
    assert conf.get("federation/server_id", path=str(oned_conf)) == "-1"
    assert conf.get("RAFT/ELECTION_TIMEOUT_MS", path=str(oned_conf)) == "5000"


def test_get_ignores_commented_out_attributes(oned_conf):
    # "#MANAGER_TIMER = 15" and the "# RAFT_LEADER_HOOK = [...]" sample are comments.
    assert conf.get("MANAGER_TIMER", path=str(oned_conf)) is None
    assert conf.get("RAFT_LEADER_HOOK", path=str(oned_conf), default="absent") == "absent"
    assert conf.get("DB/BACKEND", path=str(oned_conf)) == "sqlite"


def test_get_multiline_string_and_first_duplicate(oned_conf):
    actions = conf.get("VM_MAD/IMPORTED_VMS_ACTIONS", path=str(oned_conf))
    assert actions.startswith("terminate, terminate-hard")
    assert "\n        resume, delete" in actions
    assert actions.endswith("snapshot-delete")
    # TM_MAD_CONF appears twice; oned (and this module) use the first.
    assert conf.get("TM_MAD_CONF/NAME", path=str(oned_conf)) == "shared"


def test_get_masks_db_password_unless_revealed(tmp_path):
    path = tmp_path / "oned.conf"
    path.write_text('DB = [ BACKEND = "mysql", USER = "oneadmin", PASSWD = "s3cr3t" ]\n')
    assert conf.get("DB", path=str(path))["PASSWD"] == conf.MASK
    assert conf.get("DB/PASSWD", path=str(path)) == conf.MASK
    assert conf.get("DB/PASSWD", path=str(path), reveal=True) == "s3cr3t"


def test_default_path_follows_one_location(monkeypatch, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "oned.conf").write_text("PORT = 2700\n")
    monkeypatch.setenv("ONE_LOCATION", str(tmp_path))
    assert conf.get("PORT") == "2700"


def test_default_path_minion_option_wins(monkeypatch, tmp_path):
    path = tmp_path / "custom.conf"
    path.write_text("PORT = 2701\n")
    monkeypatch.setitem(conf.__opts__, "onenebula_ha.oned_conf", str(path))
    monkeypatch.setenv("ONE_LOCATION", str(tmp_path / "nowhere"))
    assert conf.get("PORT") == "2701"


@pytest.mark.parametrize(
    "text, message",
    [
        ('FEDERATION = [ MODE = "STANDALONE"\n', "expected"),
        ('PORT = "2633\n', "unterminated string"),
        ("= 5\n", "expected word"),
    ],
)
def test_syntax_errors_raise_with_the_line(tmp_path, text, message):
    path = tmp_path / "oned.conf"
    path.write_text(text)
    with pytest.raises(CommandExecutionError, match=message):
        conf.get("PORT", path=str(path))


def test_missing_file_raises(tmp_path):
    with pytest.raises(CommandExecutionError, match="cannot read"):
        conf.get("PORT", path=str(tmp_path / "absent.conf"))


def test_invalid_key_raises(oned_conf):
    with pytest.raises(CommandExecutionError, match="invalid key"):
        conf.get("A/B/C", path=str(oned_conf))


# ------------------------------------------------------------------------------ set


def test_set_sub_key_changes_one_value_and_keeps_the_comment(oned_conf):
    before = oned_conf.read_text()
    assert conf.set_("FEDERATION/SERVER_ID", 2, path=str(oned_conf)) is True
    after = oned_conf.read_text()
    assert changed_lines(before, after) == [
        "-    SERVER_ID     = -1, # changed by the HA set-up",
        "+    SERVER_ID     = 2, # changed by the HA set-up",
    ]
    assert conf.get("FEDERATION/SERVER_ID", path=str(oned_conf)) == "2"


def test_set_is_idempotent(oned_conf):
    assert conf.set_("FEDERATION/SERVER_ID", 2, path=str(oned_conf)) is True
    text = oned_conf.read_text()
    assert conf.set_("FEDERATION/SERVER_ID", 2, path=str(oned_conf)) is False
    # The same value given as a string is the same value for oned.
    assert conf.set_("FEDERATION/SERVER_ID", "2", path=str(oned_conf)) is False
    assert conf.set_("PORT", "2633", path=str(oned_conf)) is False
    assert oned_conf.read_text() == text


def test_set_test_mode_predicts_without_writing(oned_conf):
    before = oned_conf.read_text()
    assert conf.set_("FEDERATION/SERVER_ID", 4, path=str(oned_conf), test=True) is True
    assert conf.set_("FEDERATION/SERVER_ID", -1, path=str(oned_conf), test=True) is False
    assert oned_conf.read_text() == before


def test_set_top_level_quotes_strings(oned_conf):
    before = oned_conf.read_text()
    assert conf.set_("LISTEN_ADDRESS", "10.213.0.10", path=str(oned_conf)) is True
    assert changed_lines(before, oned_conf.read_text()) == [
        '-LISTEN_ADDRESS = "0.0.0.0"',
        '+LISTEN_ADDRESS = "10.213.0.10"',
    ]


def test_set_adds_a_missing_key_in_the_sections_layout(oned_conf):
    before = oned_conf.read_text()
    assert conf.set_("FEDERATION/MASTER_ONED_GRPC", "", path=str(oned_conf)) is True
    assert changed_lines(before, oned_conf.read_text()) == [
        '-    MASTER_ONED   = ""',
        '+    MASTER_ONED   = "",',
        '+    MASTER_ONED_GRPC = ""',
    ]
    assert conf.set_("VNC_PORTS/X", 1, path=str(oned_conf)) is True
    assert '    RESERVED = "32768:65536",\n    X        = 1\n]' in oned_conf.read_text()


def test_set_adds_into_a_one_line_vector(tmp_path):
    path = tmp_path / "oned.conf"
    path.write_text('LOG = [ SYSTEM = "file", DEBUG_LEVEL = 3 ]\n')
    assert conf.set_("LOG/USE_VMS_LOCATION", "NO", path=str(path)) is True
    assert path.read_text() == (
        'LOG = [ SYSTEM = "file", DEBUG_LEVEL = 3, USE_VMS_LOCATION = "NO" ]\n'
    )


def test_set_creates_missing_key_and_section_at_the_end(oned_conf):
    before = oned_conf.read_text()
    assert conf.set_("MANAGER_TIMER", 15, path=str(oned_conf)) is True
    assert conf.set_("RAFT_LEADER_HOOK/COMMAND", "raft/vip.sh", path=str(oned_conf)) is True
    after = oned_conf.read_text()
    assert after.startswith(before)
    assert after[len(before) :] == (
        'MANAGER_TIMER = 15\n\nRAFT_LEADER_HOOK = [\n    COMMAND = "raft/vip.sh"\n]\n'
    )


def test_set_preserves_mode(oned_conf):
    os.chmod(oned_conf, 0o640)
    conf.set_("PORT", 2634, path=str(oned_conf))
    assert oned_conf.stat().st_mode & 0o777 == 0o640
    assert not [p for p in oned_conf.parent.iterdir() if p.name.startswith(".oned.conf.")]


def test_set_refuses_scalar_on_vector_and_vice_versa(oned_conf):
    with pytest.raises(CommandExecutionError, match="vector attribute"):
        conf.set_("RAFT", 1, path=str(oned_conf))
    with pytest.raises(CommandExecutionError, match="single value"):
        conf.set_("PORT/X", 1, path=str(oned_conf))


def test_set_escapes_quotes_and_round_trips(oned_conf):
    value = 'leader eth0 "x" 10.0.0.1/24'
    conf.set_("ONEGATE_ENDPOINT", value, path=str(oned_conf))
    assert conf.get("ONEGATE_ENDPOINT", path=str(oned_conf)) == value


# ---------------------------------------------------------------------- set_section


def test_set_section_identical_is_no_change(oned_conf):
    before = oned_conf.read_text()
    assert conf.set_section("RAFT", SHIPPED_RAFT, path=str(oned_conf)) is False
    assert oned_conf.read_text() == before


def test_set_section_updates_in_place(oned_conf):
    before = oned_conf.read_text()
    wanted = dict(SHIPPED_RAFT, ELECTION_TIMEOUT_MS=1500, BROADCAST_TIMEOUT_MS=250)
    assert conf.set_section("RAFT", wanted, path=str(oned_conf)) is True
    assert changed_lines(before, oned_conf.read_text()) == [
        "-    ELECTION_TIMEOUT_MS  = 5000,",
        "-    BROADCAST_TIMEOUT_MS = 500,",
        "+    ELECTION_TIMEOUT_MS  = 1500,",
        "+    BROADCAST_TIMEOUT_MS = 250,",
    ]


def test_set_section_removes_extra_keys_keeping_syntax_valid(oned_conf):
    wanted = {k: v for k, v in SHIPPED_RAFT.items() if k != "XMLRPC_TIMEOUT_MS"}
    assert conf.set_section("RAFT", wanted, path=str(oned_conf)) is True
    text = oned_conf.read_text()
    assert "    BROADCAST_TIMEOUT_MS = 500\n]" in text
    assert conf.get("RAFT", path=str(oned_conf)) == {k: str(v) for k, v in wanted.items()}
    wanted.pop("LIMIT_PURGE")
    assert conf.set_section("RAFT", wanted, path=str(oned_conf)) is True
    assert "RAFT = [\n    LOG_RETENTION        = 250000," in oned_conf.read_text()
    assert conf.get("RAFT", path=str(oned_conf)) == {k: str(v) for k, v in wanted.items()}


def test_set_section_on_one_line_vector_replaces_db_block(oned_conf):
    db = {
        "BACKEND": "mysql",
        "SERVER": "localhost",
        "PORT": 0,
        "USER": "oneadmin",
        "PASSWD": "pw",
        "DB_NAME": "opennebula",
    }
    assert conf.set_section("DB", db, path=str(oned_conf)) is True
    assert conf.get("DB", path=str(oned_conf), reveal=True) == {k: str(v) for k, v in db.items()}
    assert (
        'DB = [ BACKEND = "mysql",\n'
        '       SERVER  = "localhost",\n'
        "       PORT    = 0,\n"
        '       USER    = "oneadmin",\n'
        '       PASSWD  = "pw",\n'
        '       DB_NAME = "opennebula" ]\n'
    ) in oned_conf.read_text()
    # The commented MySQL sample below stays a comment.
    assert '# DB = [ BACKEND = "mysql",' in oned_conf.read_text()
    assert conf.set_section("DB", db, path=str(oned_conf)) is False


def test_set_section_appends_new_hook(oned_conf):
    hook = {"COMMAND": "raft/vip.sh", "ARGUMENTS": "leader eth0 10.213.0.100/24"}
    before = oned_conf.read_text()
    assert conf.set_section("RAFT_LEADER_HOOK", hook, path=str(oned_conf)) is True
    after = oned_conf.read_text()
    assert after[len(before) :] == (
        "\nRAFT_LEADER_HOOK = [\n"
        '    COMMAND   = "raft/vip.sh",\n'
        '    ARGUMENTS = "leader eth0 10.213.0.100/24"\n'
        "]\n"
    )
    assert conf.get("RAFT_LEADER_HOOK", path=str(oned_conf)) == hook
    assert conf.set_section("RAFT_LEADER_HOOK", hook, path=str(oned_conf)) is False


def test_set_section_rejects_non_dict(oned_conf):
    with pytest.raises(CommandExecutionError, match="dict"):
        conf.set_section("RAFT", "x", path=str(oned_conf))


# ----------------------------------------------------------------- unset/differences


def test_unset_top_level_vector_and_sub_key(oned_conf):
    conf.set_section("RAFT_FOLLOWER_HOOK", {"COMMAND": "raft/vip.sh"}, path=str(oned_conf))
    assert conf.unset("RAFT_FOLLOWER_HOOK", path=str(oned_conf)) is True
    assert conf.get("RAFT_FOLLOWER_HOOK", path=str(oned_conf)) is None
    assert conf.unset("RAFT_FOLLOWER_HOOK", path=str(oned_conf)) is False
    assert conf.unset("FEDERATION/MASTER_ONED", path=str(oned_conf)) is True
    assert "    SERVER_ID     = -1 # changed by the HA set-up\n]" in oned_conf.read_text()
    assert conf.unset("DEFAULT_UMASK", path=str(oned_conf)) is True
    assert "DEFAULT_UMASK" not in oned_conf.read_text()


def test_differences_lists_only_changed_keys_and_masks_secrets(tmp_path):
    path = tmp_path / "oned.conf"
    path.write_text('DB = [ BACKEND = "mysql", PASSWD = "old-secret", USER = "oneadmin" ]\n')
    diff = conf.differences("DB", {"BACKEND": "mysql", "PASSWD": "new-secret"}, path=str(path))
    assert diff == {
        "old": {"PASSWD": conf.MASK, "USER": "oneadmin"},
        "new": {"PASSWD": conf.MASK},
    }
    assert "secret" not in repr(diff)
