"""The ``onenebula_raft`` beacon run through Salt's own beacon machinery (no daemons).

The repository's ``_modules`` and ``_beacons`` files are linked into a private
``extension_modules`` directory (where ``saltutil.sync_all`` puts them on a real minion);
Salt's loader loads them, and ``salt.beacons.Beacon`` processes the beacon configuration
exactly as a minion's beacon loop does (validation, ``interval``, tag composition, ``id``).
The beacon talks to a 3-server loopback zone of the simulated OpenNebula (``LocalZone``)
through the minion config keys ``onenebula_ha.endpoint`` / ``onenebula_ha.one_auth_file``.
"""

import copy
import itertools
import logging
import os
import sys
from pathlib import Path

import pytest
import salt.beacons
import salt.config
import salt.loader

VENV_BIN = str(Path(sys.executable).parent)


@pytest.fixture(scope="module")
def venv_on_path():
    # onezone must be on PATH for onenebula_zone to load, as on an OpenNebula host.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
        yield


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    from onesim.zone_local import LocalZone

    with LocalZone(3, tmp_path_factory.mktemp("zone")) as local_zone:
        yield local_zone


@pytest.fixture(scope="module")
def base_opts(tmp_path_factory, repo_root, venv_on_path):
    root = tmp_path_factory.mktemp("minion")
    extmods = root / "extmods"
    for kind, directory, name in (
        ("modules", "_modules", "onenebula_zone.py"),
        ("modules", "_modules", "onenebula_conf.py"),
        ("utils", "_utils", "onenebula_ha.py"),
        ("beacons", "_beacons", "onenebula_raft.py"),
    ):
        (extmods / kind).mkdir(parents=True, exist_ok=True)
        (extmods / kind / name).symlink_to(repo_root / directory / name)
    opts = salt.config.minion_config(None)
    opts.update(
        {
            "id": "fe1",
            "root_dir": str(root),
            "extension_modules": str(extmods),
            "pki_dir": str(root / "pki"),
            "sock_dir": str(root / "sock"),
            "log_file": str(root / "minion.log"),
            "file_client": "local",
            "grains": {},
        }
    )
    return opts


@pytest.fixture
def minion_of(base_opts, tmp_path):
    """Return ``become(index, zone, auth_file=None) -> salt.beacons.Beacon``: a freshly
    started minion of zone server ``index`` (its own cache dir, loaders and beacon memory),
    using the zone's one_auth unless another file is given."""

    counter = itertools.count()

    def become(index, zone, auth_file=None):
        opts = copy.deepcopy(base_opts)
        opts["cachedir"] = str(tmp_path / f"cache-{index}")
        opts["onenebula_ha.endpoint"] = zone.servers[index].endpoint
        opts["onenebula_ha.one_auth_file"] = auth_file or zone.servers[index].env["ONE_AUTH"]
        # Each simulated minion gets loaders of its own module namespace: in one process,
        # loaders sharing a namespace would share the loaded modules' configuration.
        namespace = f"onenebula_test_minion_{next(counter)}"
        # As a minion does: the utils loader (the formula's _utils) handed to the modules.
        utils = salt.loader.utils(opts, loaded_base_name=namespace)
        functions = salt.loader.minion_mods(
            opts, context={}, utils=utils, loaded_base_name=namespace
        )
        beacon = salt.beacons.Beacon(opts, functions)
        beacon.beacons = salt.loader.beacons(opts, functions, loaded_base_name=namespace)
        return beacon

    return become


@pytest.fixture
def salt_log(caplog):
    """Records of the ``salt.beacons`` logger, kept from Salt's deferred root handler."""
    logger = logging.getLogger("salt.beacons")
    logger.addHandler(caplog.handler)
    logger.propagate = False
    yield lambda: [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    logger.removeHandler(caplog.handler)
    logger.propagate = True
