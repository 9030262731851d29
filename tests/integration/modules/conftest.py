"""A real Salt master and minion on loopback whose file roots carry the formula's modules.

The master's ``file_roots`` holds links to the repository's ``_modules`` and ``_states``,
so ``saltutil.sync_all`` on the minion installs them as in production. The venv's
``bin`` goes first on the daemons' PATH: ``onezone``/``onedb`` must be found there for
the modules to load, as on a host with OpenNebula installed.
"""

import os
import sys
import tempfile
from pathlib import Path

import pytest
import salt._logging.impl

VENV_BIN = str(Path(sys.executable).parent)


@pytest.fixture(scope="session")
def salt_factories_config():
    # Short root: unix socket paths must stay short. No slow stop: it costs ~30 s.
    root = tempfile.mkdtemp(prefix="onha-mod-", dir="/tmp")
    return {"root_dir": root, "slow_stop": False}


@pytest.fixture(scope="package")
def module_tree(tmp_path_factory, repo_root):
    tree = tmp_path_factory.mktemp("file-roots")
    # onenebula_ha/: the formula's defaults.yaml and osfamilymap.yaml (onenebula_pillar.check)
    for directory in ("_modules", "_states", "_utils", "onenebula_ha"):
        (tree / directory).symlink_to(repo_root / directory)
    return tree


@pytest.fixture(scope="package")
def pillar_tree(tmp_path_factory, repo_root):
    """The master's pillar: pillar.example for every minion (tests may rewrite
    onenebula_ha.sls and refresh the pillar; they put it back)."""
    tree = tmp_path_factory.mktemp("pillar-roots")
    (tree / "top.sls").write_text("base:\n  '*':\n    - onenebula_ha\n")
    (tree / "onenebula_ha.sls").write_text((repo_root / "pillar.example").read_text())
    return tree


@pytest.fixture(scope="package")
def master(salt_factories, module_tree, pillar_tree):
    # As the formula wants a master: no file_recv, no minionfs (dumps and secrets move
    # between front-ends over SSH, never through the master).
    overrides = {
        "file_roots": {"base": [str(module_tree)]},
        "pillar_roots": {"base": [str(pillar_tree)]},
    }
    factory = salt_factories.salt_master_daemon("onha-mod-master", overrides=overrides)
    with factory.started(start_timeout=120):
        yield factory
    # Salt's deferred log handler would flush at exit into pytest's closed stderr.
    salt._logging.impl.shutdown_temp_handler()


@pytest.fixture(scope="package")
def minion_root(tmp_path_factory):
    return tmp_path_factory.mktemp("minion-data")


@pytest.fixture(scope="package")
def minion(master, minion_root, zone_for_minion, zone_environment):
    overrides = {
        "onenebula_ha.lock_file": str(minion_root / "membership.lock"),
        "onenebula_ha.backup_dir": str(minion_root / "backups"),
        "onenebula_ha.restore_marker": str(minion_root / "restored.json"),
        **zone_for_minion,
    }
    factory = master.salt_minion_daemon("onha-mod-vmm01", overrides=overrides)
    # This minion's own environment (the factories' one is shared by the whole session):
    # OpenNebula's commands on PATH, and ONE_LOCATION of the zone server it stands for.
    factory.environ = {
        **factory.environ,
        "PATH": VENV_BIN + os.pathsep + factory.environ.get("PATH", ""),
        **zone_environment,
    }
    with factory.started(start_timeout=120):
        # salt-call does not inherit the daemon's environment unless given
        ret = factory.salt_call_cli(timeout=120, environ=factory.environ.copy()).run(
            "saltutil.sync_all"
        )
        assert ret.returncode == 0, ret
        yield factory


@pytest.fixture(scope="package")
def salt_call_cli(minion):
    return minion.salt_call_cli(timeout=180, environ=minion.environ.copy())


@pytest.fixture(scope="package")
def zone(tmp_path_factory):
    from onesim.zone_local import LocalZone

    with LocalZone(3, tmp_path_factory.mktemp("zone")) as local_zone:
        yield local_zone


@pytest.fixture(scope="package")
def zone_for_minion(zone):
    """Minion config pointing the modules at the zone's first server, through the
    documented ``onenebula_ha.endpoint`` / ``onenebula_ha.one_auth_file`` keys."""
    server = zone.servers[0]
    return {
        "onenebula_ha.endpoint": server.endpoint,
        "onenebula_ha.one_auth_file": server.env["ONE_AUTH"],
    }


@pytest.fixture(scope="package")
def zone_environment(zone):
    return {"ONE_LOCATION": zone.servers[0].env["ONE_LOCATION"]}
