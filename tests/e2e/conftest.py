"""Lab fixtures shared by every e2e test (the lab's own and the formula's).

One lab per test module (``lab``), with pytest-salt-factories daemons: the master in the
``salt`` namespace, one minion inside each front-end. A module tunes its lab by overriding the
module-scoped fixtures below:

* ``lab_size`` — 3 (default) or 5 front-ends;
* ``lab_warmup_ms`` — ``ONESIM_WARMUP_MS`` written to ``/etc/default/opennebula`` (2000 by
  default; ``None`` keeps the simulator's real 15 s);
* ``lab_master_config`` — extra master settings, e.g. ``{"reactor": [{"salt/beacon/*": [...]}]}``;
* ``lab_minion_config`` — extra minion settings, e.g. ``{"beacons": {...}}``, or a callable
  taking the minion id and returning them.

Pillar: write files into ``lab.pillar_dir`` (a pillar root of the master; add a ``top.sls``)
or use ``lab_master.pillar_tree.base.temp_file(...)``, then ``saltutil.refresh_pillar``.
The shared "datastore" directory is ``lab.shared_dir``.

Only one lab runs on the machine at a time: a module whose lab is busy elsewhere waits up to
``LAB_LOCK_WAIT`` seconds for it. The lab is always torn down, even when a test fails.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from onelab.lab import Lab, missing_prerequisites
from onelab.salt_factories import FactoriesSalt

# Factories' own files (generated scripts) must be visible inside the hosts, whose /tmp is
# private, and paths must stay short for Salt's unix sockets. One per session: several test
# sessions may wait for the lab at the same time.
FACTORIES_ROOT = Path(f"/run/onelab-pytest-{os.getpid()}")
LAB_LOCK_WAIT = 600


def pytest_configure(config):
    config.addinivalue_line("markers", "long: takes more than ~30 s on its own (lab e2e)")


@pytest.fixture(scope="session")
def salt_factories_config():
    """Short root, and no slow stop (it costs ~30 s per teardown)."""
    FACTORIES_ROOT.mkdir(parents=True, exist_ok=True)
    return {"root_dir": FACTORIES_ROOT, "slow_stop": False}


@pytest.fixture(scope="session", autouse=True)
def _remove_factories_root():
    yield
    shutil.rmtree(FACTORIES_ROOT, ignore_errors=True)


@pytest.fixture(scope="module")
def lab_size() -> int:
    return 3


@pytest.fixture(scope="module")
def lab_warmup_ms() -> int | None:
    return 2000


@pytest.fixture(scope="module")
def lab_master_config() -> dict:
    return {}


@pytest.fixture(scope="module")
def lab_minion_config():
    return {}


@pytest.fixture(scope="session")
def lab_prerequisites():
    """Skip (with the reason) where the lab cannot run: not root, tools missing."""
    reason = missing_prerequisites()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def lab(
    salt_factories, lab_prerequisites, lab_size, lab_warmup_ms, lab_master_config, lab_minion_config
):
    """A lab that is up, with every minion accepted; torn down after the module."""
    backend = FactoriesSalt(
        salt_factories, master_extra=lab_master_config, minion_extra=lab_minion_config
    )
    the_lab = Lab(lab_size, salt=backend, warmup_ms=lab_warmup_ms)
    # Only a lab that came up is this module's to tear down: while up() waits for the lock
    # the lab is another session's, and a failed up() has cleaned after itself.
    timings = the_lab.up(wait=LAB_LOCK_WAIT)
    try:
        sys.stderr.write(f"\nlab up ({lab_size} front-ends): {timings}\n")
        yield the_lab
    finally:
        the_lab.down()


@pytest.fixture(scope="module")
def lab_master(lab):
    """The factories master (``salt_cli()``, ``salt_run_cli()``, ``salt_key_cli()`` …)."""
    return lab.salt.master


@pytest.fixture(scope="module")
def lab_minions(lab):
    """Factories minions by id (``salt_call_cli()`` runs inside the host)."""
    return {host.name: lab.salt.minion(host) for host in lab.frontends}


@pytest.fixture(scope="module")
def salt_cli(lab_master):
    return lab_master.salt_cli(timeout=180)


@pytest.fixture(scope="module")
def salt_run_cli(lab_master):
    return lab_master.salt_run_cli(timeout=180)
