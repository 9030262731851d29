"""``onenebula_ha.salt.master`` / ``onenebula_ha.salt.minion`` through masterless
``salt-call --local`` with the repository as file root and pillar.example as pillar."""

import copy

import pytest
import yaml
from support.local_salt import LocalSalt


@pytest.fixture(scope="module")
def example_pillar(repo_root):
    return yaml.safe_load((repo_root / "pillar.example").read_text())


@pytest.fixture(scope="module")
def salt_call(tmp_path_factory, repo_root):
    """A front-end (vmm02 of pillar.example); the master's state does not look at the id."""
    call = LocalSalt(tmp_path_factory.mktemp("salt-call"), repo_root, "vmm02")
    rc, _, output = call("saltutil.sync_all")
    assert rc == 0, output
    return call


def master_pillar(example, conf_dir, **changes):
    pillar = copy.deepcopy(example)
    settings = pillar["onenebula_ha"]
    settings["lookup"] = {"paths": {"salt_conf_dir": str(conf_dir)}, "services": {}}
    settings["lookup"]["services"]["salt_master"] = None  # no salt-master service here
    for section, values in changes.items():
        settings[section].update(values)
    return pillar


def test_master_config_written_once_and_complete(salt_call, example_pillar, tmp_path):
    salt_call.set_pillar(master_pillar(example_pillar, tmp_path))
    rc, data, output = salt_call("state.apply", "onenebula_ha.salt.master")
    assert rc == 0, output
    # The serialize changed; no restart state; the pushed-copy cleanups found nothing.
    changed = sorted(key.split("_|-")[1] for key, r in data.items() if r["changes"])
    assert changed == ["onenebula_ha-salt-master-file-serialize"], data
    written = yaml.safe_load((tmp_path / "master.d" / "onenebula_ha.conf").read_text())
    # Nothing lets a minion push files to the master or read another minion's files.
    assert "fileserver_backend" not in written and "file_recv" not in written
    assert "minionfs" not in (tmp_path / "master.d" / "onenebula_ha.conf").read_text()
    assert written["reactor"] == [
        {"salt/beacon/*/onenebula_raft/role": ["salt://reactor/onenebula_ha/role.sls"]},
        {"salt/beacon/*/onenebula_raft/error": ["salt://reactor/onenebula_ha/error.sls"]},
        {"salt/beacon/*/onenebula_raft/database": ["salt://reactor/onenebula_ha/error.sls"]},
    ]
    reactor = written["onenebula_ha_reactor"]
    assert reactor["frontends"][2] == {"minion": "vmm03", "id": 2, "name": "vmm03"}
    assert len(reactor["frontends"]) == 5
    assert (reactor["move_vip"], reactor["repair"], reactor["zone"]) == (True, True, 0)
    assert reactor["repair_lock_ttl"] == 3600
    assert reactor["vip"] == {"address": "10.213.0.100/24", "interface": "eth0"}
    assert reactor["hook"] == {
        "command": "/var/lib/one/remotes/hooks/raft/failover.sh",
        "runas": "oneadmin",
    }
    # Nothing secret reaches the master's configuration.
    assert "change-me-db-password" not in (tmp_path / "master.d" / "onenebula_ha.conf").read_text()

    rc, data, output = salt_call("state.apply", "onenebula_ha.salt.master")
    assert rc == 0, output
    assert [r["changes"] for r in data.values() if r["changes"]] == []


def master_dataset(salt_call):
    """The configuration onenebula_ha.salt.master would write, and its restart state."""
    rc, data, output = salt_call("state.show_sls", "onenebula_ha.salt.master")
    assert rc == 0, output
    serialize = data["onenebula_ha-salt-master-file-serialize"]["file"]
    dataset = next(
        arg["dataset"] for arg in serialize if isinstance(arg, dict) and "dataset" in arg
    )
    restart = data.get("onenebula_ha-salt-master-module-run-restart", {}).get("module")
    return dataset, restart


def test_master_without_vip_or_reactor(salt_call, example_pillar, tmp_path):
    salt_call.set_pillar(master_pillar(example_pillar, tmp_path, vip={"enabled": False}))
    written, _ = master_dataset(salt_call)
    assert written["onenebula_ha_reactor"]["move_vip"] is False
    assert written["onenebula_ha_reactor"]["vip"] == {}

    salt_call.set_pillar(master_pillar(example_pillar, tmp_path, reactor={"enabled": False}))
    written, _ = master_dataset(salt_call)
    assert "reactor" not in written
    assert "onenebula_ha_reactor" not in written
    assert written == {}


def test_master_restarts_the_service_and_warns_of_minionfs_elsewhere(
    salt_call, example_pillar, tmp_path
):
    (tmp_path / "master").write_text("fileserver_backend:\n  - gitfs\n  - roots\n")
    (tmp_path / "master.d").mkdir()
    (tmp_path / "master.d" / "10-other.conf").write_text(
        "fileserver_backend: [git, roots, minionfs]\nfile_recv: true\n"
    )
    pillar = master_pillar(example_pillar, tmp_path)
    pillar["onenebula_ha"]["lookup"]["services"]["salt_master"] = "salt-master"
    salt_call.set_pillar(pillar)
    written, restart = master_dataset(salt_call)
    assert "fileserver_backend" not in written and "file_recv" not in written
    assert {"service.restart": [{"name": "salt-master"}]} in restart
    assert {"onchanges": [{"file": "onenebula_ha-salt-master-file-serialize"}]} in restart
    rc, data, output = salt_call("state.show_sls", "onenebula_ha.salt.master")
    assert rc == 0, output
    note = data["onenebula_ha-salt-master-test-show_notification"]["test"]
    text = next(arg["text"] for arg in note if isinstance(arg, dict) and "text" in arg)
    other = str(tmp_path / "master.d" / "10-other.conf")
    assert f"{other}: file_recv" in text and f"{other}: minionfs" in text
    assert str(tmp_path / "master") + ":" not in text  # gitfs + roots: nothing to say


def test_master_deletes_what_an_earlier_formula_pushed(salt_call, example_pillar, tmp_path):
    cache = tmp_path / "cache"
    (tmp_path / "master").write_text(f"cachedir: {cache}\n")
    pushed = cache / "minions" / "vmm01" / "files"
    dump = pushed / "var/lib/one/onenebula_ha/leader.sql"
    secret = pushed / "var/lib/one/.one/one_auth"
    other = pushed / "etc/motd"
    for path in (dump, secret, other):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")
    salt_call.set_pillar(master_pillar(example_pillar, tmp_path))
    rc, data, output = salt_call("state.apply", "onenebula_ha.salt.master")
    assert rc == 0, output
    assert not dump.exists() and not secret.exists()
    assert other.exists()  # not the formula's
    removed = sorted(r["changes"]["removed"] for r in data.values() if r["changes"].get("removed"))
    assert removed == sorted([str(secret.parent), str(dump.parent)])


def test_frontend_gets_the_beacon_from_the_pillar(salt_call, example_pillar):
    pillar = copy.deepcopy(example_pillar)
    pillar["onenebula_ha"]["beacon"].update(interval=3, error_after=90)
    pillar["onenebula_ha"]["zone"]["id"] = 0
    salt_call.set_pillar(pillar)
    rc, data, output = salt_call("state.show_sls", "onenebula_ha.salt.minion")
    assert rc == 0, output
    beacon = data["onenebula_ha-salt-minion-beacon-present"]["beacon"]
    assert "present" in beacon
    assert {"name": "onenebula_raft"} in beacon
    assert {"save": True} in beacon
    assert {"interval": 3} in beacon
    assert {"zone": 0} in beacon
    assert {"report_errors_every": 30} in beacon
    assert {"error_after": 90} in beacon
    assert "onenebula_ha-salt-minion-saltutil-sync_beacons" in data


def test_beacon_removed_when_disabled_or_not_a_frontend(salt_call, example_pillar):
    pillar = copy.deepcopy(example_pillar)
    pillar["onenebula_ha"]["beacon"]["enabled"] = False
    salt_call.set_pillar(pillar)
    rc, data, output = salt_call("state.show_sls", "onenebula_ha.salt.minion")
    assert rc == 0, output
    assert list(data) == ["onenebula_ha-salt-minion-beacon-absent"]

    pillar = copy.deepcopy(example_pillar)
    pillar["onenebula_ha"]["servers"][1]["minion"] = "elsewhere"
    salt_call.set_pillar(pillar)
    rc, data, output = salt_call("state.show_sls", "onenebula_ha.salt.minion")
    assert rc == 0, output
    assert list(data) == ["onenebula_ha-salt-minion-beacon-absent"]
