"""Salt loaders (no daemons) with the repository's ``_modules``/``_states``/``_utils`` synced.

The minion's ``file_roots`` holds links to the repository's ``_modules``, ``_states`` and
``_utils`` (not the whole checkout, whose venv would make every file-server walk slow), so
``saltutil.sync_all`` (run by ``Loaders``) installs them exactly as on a real minion. The venv's
``bin`` is put on PATH first: ``onezone``/``onedb`` must be found there for the modules'
``__virtual__`` to load them, as on a host with OpenNebula installed.
"""

import os
import sys
from pathlib import Path

import pytest
import salt._logging.impl
import salt.config
from saltfactories.utils.functional import Loaders

VENV_BIN = str(Path(sys.executable).parent)


@pytest.fixture(scope="package")
def venv_on_path():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
        yield


@pytest.fixture(scope="package")
def minion_opts(tmp_path_factory, repo_root, venv_on_path):
    root = tmp_path_factory.mktemp("minion")
    tree = root / "state-tree"
    tree.mkdir()
    for directory in ("_modules", "_states", "_utils"):
        (tree / directory).symlink_to(repo_root / directory)
    # Private extension_modules dir holding the repository's modules, where sync_all puts
    # them on a real minion; never the machine's own /var/cache/salt/minion/extmods.
    extmods = root / "extmods"
    for kind, directory in (("modules", "_modules"), ("states", "_states"), ("utils", "_utils")):
        (extmods / kind).mkdir(parents=True)
        for source in sorted((repo_root / directory).glob("*.py")):
            (extmods / kind / source.name).symlink_to(source)
    opts = salt.config.minion_config(None)
    opts.update(
        {
            "id": "vmm01",
            "extension_modules": str(extmods),
            "root_dir": str(root),
            "cachedir": str(root / "cache"),
            "pki_dir": str(root / "pki"),
            "sock_dir": str(root / "sock"),
            "log_file": str(root / "minion.log"),
            "file_client": "local",
            "file_roots": {"base": [str(tree)]},
            "pillar_roots": {"base": [str(root / "pillar")]},
            "onenebula_ha.lock_file": str(root / "membership.lock"),
            "onenebula_ha.backup_dir": str(root / "backups"),
            "onenebula_ha.restore_marker": str(root / "restored.json"),
        }
    )
    return opts


@pytest.fixture(scope="package")
def loaders(minion_opts):
    yield Loaders(minion_opts)
    # Salt buffers WARNING+ records (e.g. failed states) in a deferred handler that it
    # flushes at exit into the stderr pytest has closed by then ("--- Logging error ---").
    # Hand the buffer to the live handlers now instead.
    salt._logging.impl.shutdown_temp_handler()


@pytest.fixture(autouse=True)
def reset_loaders_state(request):
    yield
    if "loaders" in request.fixturenames:
        request.getfixturevalue("loaders").reset_state()


@pytest.fixture(scope="package")
def zone(tmp_path_factory):
    """A 3-server loopback zone (server 0 leader) shared by the read-mostly tests."""
    from onesim.zone_local import LocalZone

    with LocalZone(3, tmp_path_factory.mktemp("zone")) as local_zone:
        yield local_zone


@pytest.fixture
def as_server(monkeypatch, loaders):
    """Make the loaders act as the minion of zone server ``i``: its ONE_LOCATION,
    ONE_AUTH, ONE_XMLRPC and PATH, as the server's ``env`` file gives them."""

    def become(server):
        for key, value in server.env.items():
            monkeypatch.setenv(key, value)
        loaders.context.clear()  # nothing cached from another server
        return server

    return become
