"""Salt master and minion configuration of the lab: one generator for tests and for the CLI.

:func:`master_settings` and :func:`minion_settings` give what the lab needs (addresses, file
server, timeouts, the service fix for hosts without systemd). Tests hand them to
pytest-salt-factories as ``overrides`` (plus :func:`factories_overrides`, which points
factories' test engine at the bridge address); the CLI completes them with
:func:`standalone_master_config` / :func:`standalone_minion_config` (paths below the state
directory) and runs plain ``salt-master`` / ``salt-minion`` daemons.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from onelab import topology
from onelab.topology import HostSpec

PUBLISH_PORT = 4505
RET_PORT = 4506


def _merge(base: dict, extra: dict | None) -> dict:
    """Deep-merge ``extra`` into a copy of ``base`` (dicts merge, lists append)."""
    merged = copy.deepcopy(base)
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        elif isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = merged[key] + [item for item in value if item not in merged[key]]
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def formula_dirs(repo_root: Path) -> list[Path]:
    """The repository's Salt trees: ``onenebula_ha/``, ``reactor/`` and ``_modules/`` & co."""
    return sorted(
        path
        for path in repo_root.iterdir()
        if path.is_dir()
        and (path.name in ("onenebula_ha", "reactor") or re.fullmatch(r"_[a-z]+", path.name))
    )


def build_state_tree(repo_root: Path, target: Path) -> Path:
    """A state tree of symlinks to the repository's Salt trees, at ``target``.

    Same ``salt://`` paths as the repository root (``salt://onenebula_ha/…``,
    ``salt://_modules/…``, ``salt://reactor/…``) without the 14 000 files of ``.venv`` and
    ``.git`` that the file server would otherwise walk at every listing.
    """
    target.mkdir(parents=True, exist_ok=True)
    for source in formula_dirs(repo_root):
        link = target / source.name
        if not link.is_symlink():
            link.symlink_to(source, target_is_directory=True)
    return target


def master_settings(
    *, repo_root: Path, pillar_dir: Path, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Settings of the lab's master (``extra`` carries e.g. ``reactor``), deep-merged.

    ``repo_root`` is the state tree the master serves: the repository itself or (faster) the
    tree :func:`build_state_tree` made of it.
    """
    settings = {
        "interface": topology.MASTER_HOST.ip,
        # The master has a network namespace of its own: the standard ports are free there.
        "publish_port": PUBLISH_PORT,
        "ret_port": RET_PORT,
        # The repository root is a state tree: salt://onenebula_ha/…, salt://_modules/…,
        # salt://reactor/…. Nothing else: no minionfs and no file_recv (the formula moves
        # DB dumps and secrets between front-ends over SSH, never through the master).
        "file_roots": {"base": [str(repo_root)]},
        "pillar_roots": {"base": [str(pillar_dir)]},
        "fileserver_backend": ["roots"],
        "file_recv": False,
        # Two cores are shared by everything: few workers.
        "worker_threads": 3,
        # A silent (partitioned) minion is given up after timeout + gather_job_timeout; the
        # second must still cover a busy minion answering find_job on a loaded machine.
        "timeout": 5,
        "gather_job_timeout": 8,
        "enable_fqdns_grains": False,
        # A function no module has (e.g. a runner's optional hook) loads only the modules
        # whose file name holds the name asked for, not every module (see minion_settings).
        "lazy_loader_strict_matching": True,
    }
    return _merge(settings, extra)


def minion_settings(spec: HostSpec, *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Settings of the minion of host ``spec``, a front-end or the client (``extra``
    carries e.g. ``beacons``)."""
    settings = {
        "id": spec.name,
        "master": topology.MASTER_HOST.ip,
        "master_port": RET_PORT,
        # Without systemd as PID 1 Salt still mixes systemd_service's offline functions into
        # the debian_service module, and service.running silently does nothing; disabling it
        # leaves the SysV init scripts in charge, as on a sysvinit Debian host.
        "disable_modules": ["systemd_service"],
        "loop_interval": 1,
        "acceptance_wait_time": 1,
        "acceptance_wait_time_max": 5,
        "random_reauth_delay": 2,
        # Notice a restarted or unreachable master quickly and reconnect.
        "master_alive_interval": 5,
        "enable_fqdns_grains": False,
        # Salt's loader answers a lookup of a function no module has by loading every
        # module (every state module, then through their __virtual__ every execution
        # module): seconds of CPU, once in each state run that has one. On these hosts
        # without systemd every service state has one (service.offline, which only
        # systemd_service defines): 3-5 s per oned start or stop in the deploy. With strict
        # matching only the modules whose file name holds the name are tried (every Salt
        # module's file name holds its virtual name; Salt runs its own tests so).
        "lazy_loader_strict_matching": True,
    }
    return _merge(settings, extra)


def factories_overrides(role: str) -> dict[str, Any]:
    """pytest-salt-factories settings for daemons running in a lab namespace.

    Inside a namespace 127.0.0.1 is the namespace's own loopback, so the test engine and the
    log forwarder must reach the test process through the bridge address.
    """
    key = f"pytest-{role}"
    bridge = topology.BRIDGE_IP
    return {key: {"returner_address": {"host": bridge}, "log": {"host": bridge}}}


def _paths(root: Path, role: str) -> dict[str, Any]:
    return {
        "root_dir": str(root),
        "pki_dir": str(root / "pki"),
        "cachedir": str(root / "cache"),
        "sock_dir": str(root / "run"),
        "pidfile": str(root / f"{role}.pid"),
        "log_file": str(root / f"{role}.log"),
        "log_level_logfile": "info",
        "user": "root",
    }


def standalone_master_config(root: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """A complete master configuration for a plain ``salt-master`` (CLI lab)."""
    return _merge(settings, _paths(root, "master"))


def standalone_minion_config(root: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """A complete minion configuration for a plain ``salt-minion`` (CLI lab)."""
    return _merge(settings, _paths(root, "minion"))


def preseed_minion_key(master_pki: Path, minion_pki: Path, minion_id: str) -> None:
    """Give a minion its key pair and have the master accept it before either starts.

    As a provisioning system would: the minion is accepted at its first authentication,
    with no pending key to accept and no retry delay.
    """
    import salt.crypt  # deferred: loading Salt costs ~1 s and most callers do not need it

    if (minion_pki / "minion.pem").exists():
        return
    private, public = salt.crypt.gen_keys(2048)
    minion_pki.mkdir(parents=True, exist_ok=True)
    minion_pki.chmod(0o700)
    (minion_pki / "minion.pub").write_text(public)
    private_file = minion_pki / "minion.pem"
    private_file.write_text(private)
    private_file.chmod(0o400)
    accepted = master_pki / "minions"
    accepted.mkdir(parents=True, exist_ok=True)
    (accepted / minion_id).write_text(public)
