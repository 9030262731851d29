"""oned.conf states through Salt's real loader and state machinery (no daemons)."""

import shutil
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[2] / "unit" / "modules" / "files" / "oned.conf"


@pytest.fixture
def oned_conf(tmp_path):
    path = tmp_path / "oned.conf"
    shutil.copy(FIXTURE, path)
    return path


def test_modules_and_states_are_loaded(loaders):
    for function in ("show", "raft_status", "health", "wait_healthy", "server_add"):
        assert f"onenebula_zone.{function}" in loaders.modules
    for function in ("backup", "restore", "version"):
        assert f"onenebula_db.{function}" in loaders.modules
    for function in ("server_present", "server_absent", "follower_reset"):
        assert f"onenebula_zone.{function}" in loaders.states
    assert "onenebula_db.restored_from_leader" in loaders.states
    assert "onenebula_db.database" in loaders.states
    for function in ("published", "pulled"):
        assert f"onenebula_secrets.{function}" in loaders.states
    assert "onenebula_ha.secrets_pulled" not in loaders.states
    assert "onenebula_conf.raft" in loaders.states


def test_raft_state_test_mode_apply_and_reapply(loaders, oned_conf):
    before = oned_conf.read_text()
    predicted = loaders.states.onenebula_conf.raft(
        name="oned-raft", path=str(oned_conf), election_timeout_ms=1500, test=True
    )
    assert predicted.result is None
    assert predicted.changes == {
        "RAFT": {"old": {"ELECTION_TIMEOUT_MS": "5000"}, "new": {"ELECTION_TIMEOUT_MS": "1500"}}
    }
    assert oned_conf.read_text() == before

    applied = loaders.states.onenebula_conf.raft(
        name="oned-raft", path=str(oned_conf), election_timeout_ms=1500
    )
    assert applied.result is True
    assert applied.changes == predicted.changes
    assert loaders.modules.onenebula_conf.get("RAFT/ELECTION_TIMEOUT_MS", path=str(oned_conf)) == (
        "1500"
    )

    again = loaders.states.onenebula_conf.raft(
        name="oned-raft", path=str(oned_conf), election_timeout_ms=1500
    )
    assert again.result is True
    assert again.changes == {}


def test_server_id_state(loaders, oned_conf):
    # Salt wants state names as strings; the state accepts "3" as well as 3.
    ret = loaders.states.onenebula_conf.server_id(name="3", path=str(oned_conf))
    assert ret.result is True
    assert ret.changes == {"server_id": {"old": -1, "new": 3}}
    assert loaders.states.onenebula_conf.server_id(name="3", path=str(oned_conf)).changes == {}


def test_server_id_from_an_sls_with_value(loaders, oned_conf):
    sls = f"""
oned-server-id:
  onenebula_conf.server_id:
    - value: 2
    - path: {oned_conf}
"""
    ret = loaders.modules.state.template_str(sls)
    (result,) = ret.raw.values()
    assert result["result"] is True, result
    assert result["changes"] == {"server_id": {"old": -1, "new": 2}}
    assert loaders.modules.onenebula_conf.get("FEDERATION/SERVER_ID", path=str(oned_conf)) == "2"


def test_server_id_integer_name_is_dropped_by_salt_and_the_state_says_so(loaders, oned_conf):
    sls = f"""
oned-server-id:
  onenebula_conf.server_id:
    - name: 2
    - path: {oned_conf}
"""
    (result,) = loaders.modules.state.template_str(sls).raw.values()
    assert result["result"] is False
    assert "SERVER_ID must be an integer, not 'oned-server-id'" in result["comment"]
