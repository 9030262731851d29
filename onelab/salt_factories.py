"""pytest-salt-factories daemons placed in the lab's namespaces (used by the tests).

:class:`LabSaltMaster` runs the master in the ``salt`` namespace and :class:`LabSaltMinion`
runs a minion inside its front-end (``nsenter`` into the host's namespaces, so the minion sees
the host's private ``/etc``, ``/var/lib/one``, processes and hostname). Factories keeps
tracking the processes as usual: ``ip netns exec`` execs in place, and ``nsenter`` waits for
the minion it forks (it has to fork to enter the host's PID namespace).
"""

from __future__ import annotations

import concurrent.futures
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attr
from saltfactories.cli.call import SaltCall
from saltfactories.cli.salt import Salt
from saltfactories.daemons.master import SaltMaster
from saltfactories.daemons.minion import SaltMinion

from onelab import proc, saltconfig, topology
from onelab.host import HOST_ENV

if TYPE_CHECKING:
    from collections.abc import Callable

    from onelab.host import Host
    from onelab.salt_backend import LabPaths

START_TIMEOUT = 90


@attr.s(kw_only=True, slots=True)
class LabSaltMaster(SaltMaster):
    """A factories master whose process runs in a network namespace."""

    netns: str = attr.ib()

    def cmdline(self, *args):
        return ["ip", "netns", "exec", self.netns, *super().cmdline(*args)]

    def salt_cli(self, factory_class=None, **factory_class_kwargs):
        """``salt`` CLI that keeps the master's short job timeouts (see :class:`LabSalt`)."""
        return super().salt_cli(factory_class=factory_class or LabSalt, **factory_class_kwargs)


@attr.s(kw_only=True, slots=True)
class LabSalt(Salt):
    """``salt`` CLI that does not turn its process timeout into Salt's ``--timeout``.

    Factories passes ``--timeout=<process timeout>``, so a partitioned minion would hold every
    call for minutes. Without the flag Salt uses the master's ``timeout``/
    ``gather_job_timeout`` (a few seconds): running jobs are still waited for (Salt polls
    them), silent minions are given up quickly. An explicit ``--timeout`` is kept.
    """

    def cmdline(self, *args, **kwargs):
        argv = super().cmdline(*args, **kwargs)
        if any(str(arg).startswith("--timeout") or arg == "-t" for arg in args):
            return argv
        return [arg for arg in argv if not str(arg).startswith("--timeout=")]


@attr.s(kw_only=True, slots=True)
class LabSaltMinion(SaltMinion):
    """A factories minion whose process runs inside a lab front-end."""

    lab_host: Any = attr.ib(repr=False)

    def cmdline(self, *args):
        # Resolved at every start: a power-cycled host has a new init process.
        return [*self.lab_host.enter_argv(), *super().cmdline(*args)]

    def salt_call_cli(self, factory_class=None, **factory_class_kwargs):
        """``salt-call`` run inside the host, like an administrator logged in there."""
        cli = super().salt_call_cli(
            factory_class=factory_class or LabSaltCall,
            lab_host=self.lab_host,
            **factory_class_kwargs,
        )
        cli.environ = _daemon_environ()
        return cli


@attr.s(kw_only=True, slots=True)
class LabSaltCall(SaltCall):
    """``salt-call`` whose process runs inside a lab front-end."""

    lab_host: Any = attr.ib(repr=False)

    def cmdline(self, *args, **kwargs):
        return [*self.lab_host.enter_argv(), *super().cmdline(*args, **kwargs)]


def _daemon_environ() -> dict[str, str]:
    """The caller's environment with a host's PATH and HOME (no venv scripts on PATH)."""
    environ = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    environ.update(PATH=HOST_ENV["PATH"], HOME=HOST_ENV["HOME"])
    return environ


class FactoriesSalt:
    """The lab's Salt daemons as pytest-salt-factories daemons.

    ``master_extra`` and ``minion_extra`` are passed to :mod:`onelab.saltconfig` (e.g.
    ``{"reactor": [...]}`` and ``{"beacons": {...}}``); ``minion_extra`` may also be a callable
    taking the host name, for per-minion settings.
    """

    mode = "factories"
    # Factories confirms a start through the master's event bus.
    starts_minions_without_master = False

    def __init__(
        self,
        salt_factories,
        *,
        master_extra: dict | None = None,
        minion_extra: dict | Callable[[str], dict] | None = None,
    ):
        self.salt_factories = salt_factories
        self.master_extra = master_extra
        self.minion_extra = minion_extra
        self.lab: LabPaths | None = None
        self.master: LabSaltMaster | None = None
        self.minions: dict[str, LabSaltMinion] = {}

    def attach(self, lab: LabPaths) -> None:
        self.lab = lab

    def _root(self, daemon_id: str) -> str:
        assert self.lab is not None, "attach() the backend to a lab first"
        return str(self.lab.state_dir / "salt" / daemon_id)

    # -- master -------------------------------------------------------------------------------

    def start_master(self) -> None:
        lab = self.lab
        assert lab is not None
        if self.master is None:
            overrides = saltconfig.master_settings(
                repo_root=lab.state_tree,
                pillar_dir=lab.pillar_dir,
                extra=saltconfig._merge(
                    saltconfig.factories_overrides("master"), self.master_extra
                ),
            )
            self.master = self.salt_factories.salt_master_daemon(
                topology.MASTER,
                defaults={"root_dir": self._root(topology.MASTER)},
                overrides=overrides,
                factory_class=LabSaltMaster,
                netns=topology.MASTER_HOST.netns,
                start_timeout=START_TIMEOUT,
            )
            self.master.environ = _daemon_environ()
        self.master.start()

    def stop_master(self) -> None:
        if self.master is not None and self.master.is_running():
            self.master.terminate()

    def master_running(self) -> bool:
        return self.master is not None and self.master.is_running()

    # -- minions ------------------------------------------------------------------------------

    def _minion_extra(self, name: str) -> dict:
        extra = self.minion_extra(name) if callable(self.minion_extra) else self.minion_extra
        return saltconfig._merge(saltconfig.factories_overrides("minion"), extra)

    def minion(self, host: Host) -> LabSaltMinion:
        """The factories daemon of ``host``'s minion (configured on first use)."""
        if host.name not in self.minions:
            assert self.master is not None, "start the master first"
            self.minions[host.name] = self.master.salt_minion_daemon(
                host.name,
                defaults={"root_dir": self._root(host.name)},
                overrides=saltconfig.minion_settings(
                    host.spec, extra=self._minion_extra(host.name)
                ),
                factory_class=LabSaltMinion,
                lab_host=host,
                start_timeout=START_TIMEOUT,
            )
            self.minions[host.name].environ = _daemon_environ()
        return self.minions[host.name]

    def start_minions(self, hosts: list[Host], *, wait: bool = True) -> None:
        if not wait:
            raise ValueError("factories minions are started only with a reachable master")
        daemons = [self.minion(host) for host in hosts]
        assert self.master is not None
        for daemon in daemons:
            saltconfig.preseed_minion_key(
                Path(self.master.config["pki_dir"]), Path(daemon.config["pki_dir"]), daemon.id
            )
        for daemon in daemons:
            if not daemon.is_running():
                # Collect a minion that died with its host (power cycle) before restarting it.
                daemon.terminate()
        # Each start waits ~3 s for the minion's start event: overlap them.
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(daemons) or 1) as pool:
            for future in [pool.submit(daemon.start) for daemon in daemons]:
                future.result()

    def stop_minion(self, host: Host) -> None:
        daemon = self.minions.get(host.name)
        if daemon is not None and daemon.is_running():
            daemon.terminate()
        proc.kill_and_wait(host.find_pids("salt-minion"))

    def minion_running(self, host: Host) -> bool:
        daemon = self.minions.get(host.name)
        return daemon is not None and daemon.is_running()

    def stop_all(self) -> None:
        for daemon in self.minions.values():
            if daemon.is_running():
                daemon.terminate()
        self.stop_master()
