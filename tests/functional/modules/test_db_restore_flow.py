"""Backup on the leader, restore on a stopped follower through ``restored_from_leader``,
``follower_reset``, and convergence on re-apply, with the simulated ``onedb``."""

import pytest


@pytest.fixture
def own_zone(tmp_path):
    from onesim.zone_local import LocalZone

    with LocalZone(3, tmp_path / "zone") as local_zone:
        yield local_zone


def test_follower_restored_from_a_leader_backup(loaders, own_zone, as_server, tmp_path):
    zone = own_zone
    leader = zone.servers[zone.wait_leader()]
    follower = next(s for s in zone.servers if s.id != leader.id)
    db, states = loaders.modules.onenebula_db, loaders.states

    as_server(leader)
    assert db.version()["status"] == "ok"
    dump = db.backup(str(tmp_path / "leader.sql"))
    assert dump["size"] > 0
    assert (tmp_path / "leader.sql.sha256").read_text().split()[0] == dump["sha256"]

    # The follower, running and caught up, needs no restore: no change, nothing stopped.
    as_server(follower)
    converged = states.onenebula_db.restored_from_leader(name=dump["path"], server=follower.name)
    assert converged.result is True, converged.comment
    assert converged.changes == {}
    assert "caught-up follower" in converged.comment

    zone.stop(follower.id)
    predicted = states.onenebula_db.restored_from_leader(
        name=dump["path"], server=follower.name, test=True
    )
    assert predicted.result is None
    assert predicted.changes["db"]["new"] == {"source": dump["path"], "sha256": dump["sha256"]}

    restored = states.onenebula_db.restored_from_leader(name=dump["path"], server=follower.name)
    assert restored.result is True, restored.comment
    kept = restored.changes["db"]["old"]["kept_in"]
    assert kept and kept.startswith(loaders.opts["onenebula_ha.backup_dir"])
    again = states.onenebula_db.restored_from_leader(name=dump["path"], server=follower.name)
    assert (again.result, again.changes) == (True, {})
    assert "already restored" in again.comment

    zone.start(follower.id)
    as_server(leader)
    reset = states.onenebula_zone.follower_reset(name=follower.name, force=True, timeout=30)
    assert reset.result is True, reset.comment
    assert reset.changes["server"]["new"] == "reset"
    report = loaders.modules.onenebula_zone.wait_healthy(timeout=30, interval=0.5)
    assert {s["name"]: s["state"] for s in report["servers"]}[follower.name] == "follower"


def test_restore_refused_while_the_follower_runs(loaders, zone, as_server, tmp_path):
    leader = zone.servers[zone.wait_leader()]
    follower = next(s for s in zone.servers if s.id != leader.id)
    as_server(leader)
    dump = loaders.modules.onenebula_db.backup(str(tmp_path / "leader.sql"))
    as_server(follower)
    # not converged (another server name), so it tries, and the guard refuses
    ret = loaders.states.onenebula_db.restored_from_leader(name=dump["path"], server="not-a-member")
    assert ret.result is False
    assert "oned is running on this host" in ret.comment


def test_restore_checks_oneadmin_credentials_before_keeping_anything(
    loaders, own_zone, as_server, tmp_path, monkeypatch
):
    """issue 10 point 6: without oneadmin's credentials onedb restore cannot run; the module
    says so before it dumps the current DB (it used to take a pre-restore dump each time)."""
    from pathlib import Path

    from salt.exceptions import CommandExecutionError

    zone = own_zone
    leader = zone.servers[zone.wait_leader()]
    follower = next(s for s in zone.servers if s.id != leader.id)
    db = loaders.modules.onenebula_db
    as_server(leader)
    dump = db.backup(str(tmp_path / "leader.sql"))
    as_server(follower)
    zone.stop(follower.id)
    backups = Path(loaders.opts["onenebula_ha.backup_dir"])
    kept_before = sorted(backups.glob("pre-restore-*.sql"))

    monkeypatch.setenv("ONE_AUTH", str(tmp_path / "no-such-one_auth"))
    with pytest.raises(
        CommandExecutionError, match="refusing to restore: ONE_AUTH file not present"
    ):
        db.restore(dump["path"])
    assert sorted(backups.glob("pre-restore-*.sql")) == kept_before

    monkeypatch.setenv("ONE_AUTH", follower.env["ONE_AUTH"])
    result = db.restore(dump["path"])
    assert result["previous_backup"] is not None
    assert sorted(backups.glob("pre-restore-*.sql")) == sorted(
        [*kept_before, Path(result["previous_backup"])]
    )
