"""A real Salt master with the formula's reactor and a minion running the onenebula_raft
beacon against a simulated 3-server OpenNebula zone on loopback.

* The master's configuration is the one ``onenebula_ha.salt.master`` writes: the state is
  applied (``salt-call --local``) with a test pillar describing the zone, and the file it
  produces becomes the master's config overrides. Its reactor therefore runs the real
  ``reactor/onenebula_ha/*.sls`` and ``onenebula_ha.orch.remediate_vip``.
* The master's file roots: a test tree first (a stand-in ``onenebula_ha/orch/repair.sls``
  that only records its target, and an ``echo`` reaction that reports what the reactor saw
  as ``data``), then links to the repository's ``_modules``, ``_beacons``, ``_runners``,
  ``_utils``, ``reactor`` and ``onenebula_ha``. The master syncs the formula's runner (the reactions
  and the VIP safety net are decided by its planners), as ``salt-run saltutil.sync_all``
  does in production.
* One minion, ``ohr-fe1``, stands for the front-end of the zone's leader: its
  ``onenebula_zone`` module talks to that server (``onenebula_ha.endpoint``); the pillar's
  other front-ends (``ohr-fe2``, ``ohr-fe3``) have no minion.
* The VIP is on ``lo`` (a loopback address, never reported as held by
  ``network.ip_addrs``), and the hook is a script that records its arguments, so the VIP
  safety net's leader action is observable without touching the machine's network.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import salt._logging.impl
import yaml

from onelab.saltconfig import build_state_tree

VENV_BIN = str(Path(sys.executable).parent)
SALT_CALL = str(Path(sys.executable).with_name("salt-call"))
FRONTEND_MINIONS = ("ohr-fe1", "ohr-fe2", "ohr-fe3")

ECHO_REACTION = """\
# Test reaction: reports the shape of the data the reactor got for a beacon event.
onenebula_ha-test-echo-{{ data.get('id') }}:
  runner.event.send:
    - args:
        - tag: onenebula_ha/test/reactor-data
        - data:
            tag: {{ tag | json }}
            keys: {{ data.keys() | list | sort | json }}
            id: {{ data.get('id') | json }}
            state: {{ data.get('state') | json }}
            nested: {{ ('data' in data) | json }}
"""


@pytest.fixture(scope="session")
def salt_factories_config():
    # Short root: unix socket paths must stay short. No slow stop: it costs ~30 s.
    root = tempfile.mkdtemp(prefix="onha-rea-", dir="/tmp")
    return {"root_dir": root, "slow_stop": False}


@pytest.fixture(scope="package")
def zone(tmp_path_factory):
    from onesim.zone_local import LocalZone

    with LocalZone(3, tmp_path_factory.mktemp("zone")) as local_zone:
        leader = local_zone.wait_leader()
        # The server added last lags one record until the next write; catch it up so a
        # later failover does not depend on it.
        local_zone.call(leader, "one.vm.allocate", 'NAME="catch-up"', False)
        yield local_zone


@pytest.fixture(scope="package")
def leader_index(zone):
    return zone.wait_leader()


@pytest.fixture(scope="package")
def frontend_of(zone, leader_index):
    """Zone server index -> minion id (the leader is ohr-fe1)."""
    others = [i for i in range(len(zone.servers)) if i != leader_index]
    return dict(zip([leader_index, *others], FRONTEND_MINIONS, strict=True))


@pytest.fixture(scope="package")
def hook_log(tmp_path_factory):
    return tmp_path_factory.mktemp("hook") / "calls.log"


@pytest.fixture(scope="package")
def hook_script(hook_log):
    script = hook_log.parent / "failover.sh"
    script.write_text(f'#!/bin/sh\necho "$*" >> {hook_log}\n')
    script.chmod(0o755)
    return script


@pytest.fixture(scope="package")
def vip(zone):
    base = zone.servers[0].address.rsplit(".", 1)[0]
    return f"{base}.100/24"


@pytest.fixture(scope="package")
def test_pillar(repo_root, zone, frontend_of, hook_script, vip, tmp_path_factory):
    pillar = yaml.safe_load((repo_root / "pillar.example").read_text())
    settings = pillar["onenebula_ha"]
    settings["servers"] = [
        {
            "minion": frontend_of[index],
            "id": server.id,
            "name": server.name,
            "address": server.address,
            "endpoint": server.endpoint,
        }
        for index, server in sorted(enumerate(zone.servers), key=lambda item: item[1].id)
    ]
    settings["vip"] = {"enabled": True, "address": vip, "interface": "lo"}
    settings["hooks"]["command"] = str(hook_script)
    settings["user"] = "root"
    settings["lookup"] = {
        "paths": {"salt_conf_dir": str(tmp_path_factory.mktemp("master-conf"))},
        "services": {"salt_master": None},
    }
    return pillar


@pytest.fixture(scope="package")
def master_config_from_state(tmp_path_factory, repo_root, test_pillar):
    """Apply onenebula_ha.salt.master masterless and return the config it wrote."""
    root = tmp_path_factory.mktemp("state-run")
    (root / "conf").mkdir()
    (root / "pillar").mkdir()
    (root / "conf" / "minion").write_text(
        yaml.safe_dump(
            {
                "id": "ohr-saltmaster",
                "file_client": "local",
                "root_dir": str(root / "root"),
                "file_roots": {"base": [str(build_state_tree(repo_root, root / "tree"))]},
                "pillar_roots": {"base": [str(root / "pillar")]},
                "log_level_logfile": "quiet",
            }
        )
    )
    (root / "pillar" / "top.sls").write_text("base:\n  '*':\n    - onenebula_ha\n")
    (root / "pillar" / "onenebula_ha.sls").write_text(yaml.safe_dump(test_pillar))
    argv = [SALT_CALL, "--local", "-l", "quiet", "-c", str(root / "conf"), "--out=json"]
    for call in (["saltutil.sync_all"], ["state.apply", "onenebula_ha.salt.master"]):
        proc = subprocess.run(argv + call, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(r["result"] for r in json.loads(proc.stdout)["local"].values()), proc.stdout
    conf_dir = Path(test_pillar["onenebula_ha"]["lookup"]["paths"]["salt_conf_dir"])
    return yaml.safe_load((conf_dir / "master.d" / "onenebula_ha.conf").read_text())


@pytest.fixture(scope="package")
def file_tree(tmp_path_factory, repo_root):
    """Links to the formula (not the whole checkout: its venv would slow every file walk)."""
    tree = tmp_path_factory.mktemp("file-roots")
    for name in ("_modules", "_beacons", "_runners", "_utils", "reactor", "onenebula_ha"):
        (tree / name).symlink_to(repo_root / name)
    return tree


@pytest.fixture(scope="package")
def master(salt_factories, file_tree, master_config_from_state, test_pillar):
    path = salt_factories.environ.get("PATH", "")
    if not path.startswith(VENV_BIN + os.pathsep):
        salt_factories.environ["PATH"] = VENV_BIN + os.pathsep + path
    overrides = dict(master_config_from_state)
    # The file server: the roots of this test only.
    overrides["fileserver_backend"] = ["roots"]
    overrides["file_roots"] = {"base": [str(file_tree)]}
    # The echo reaction runs beside the real one for role events.
    overrides["reactor"] = [
        {
            "salt/beacon/*/onenebula_raft/role": [
                "salt://reactor/onenebula_ha/role.sls",
                "salt://test_reactor/echo.sls",
            ]
        },
        *[entry for entry in overrides["reactor"] if "role" not in next(iter(entry))],
    ]
    overrides["onenebula_ha_reactor"]["query_timeout"] = 5
    factory = salt_factories.salt_master_daemon("ohr-master", overrides=overrides)
    # The orchestrations render as the master's own minion (<id>_master), which needs the
    # onenebula_ha pillar, as on a real master (README, step 2).
    with (
        factory.state_tree.base.temp_file("test_reactor/echo.sls", ECHO_REACTION),
        factory.pillar_tree.base.temp_file("top.sls", "base:\n  '*':\n    - onenebula_ha\n"),
        factory.pillar_tree.base.temp_file("onenebula_ha.sls", yaml.safe_dump(test_pillar)),
        factory.started(start_timeout=120),
    ):
        ret = factory.salt_run_cli(timeout=180).run("saltutil.sync_all")
        assert ret.returncode == 0, ret
        assert "runners.onenebula_ha" in ret.data["runners"], ret
        yield factory
    # Salt's deferred log handler would flush at exit into pytest's closed stderr.
    salt._logging.impl.shutdown_temp_handler()


@pytest.fixture(scope="package")
def beacon_config():
    return [{"interval": 1}, {"zone": 0}, {"report_errors_every": 1}, {"error_after": 2}]


@pytest.fixture(scope="package")
def minion(master, zone, leader_index, beacon_config):
    server = zone.servers[leader_index]
    overrides = {
        "loop_interval": 1,
        "beacons": {"onenebula_raft": beacon_config},
        "onenebula_ha.endpoint": server.endpoint,
        "onenebula_ha.one_auth_file": server.env["ONE_AUTH"],
    }
    factory = master.salt_minion_daemon(FRONTEND_MINIONS[0], overrides=overrides)
    with factory.started(start_timeout=120):
        yield factory


@pytest.fixture(scope="package")
def synced_at(minion):
    """Sync the formula's modules and beacon (beacons start after this); return when."""
    import time

    started = time.time()
    ret = minion.salt_call_cli(timeout=180, environ=minion.environ.copy()).run("saltutil.sync_all")
    assert ret.returncode == 0, ret
    return started
