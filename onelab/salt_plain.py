"""Plain ``salt-master`` / ``salt-minion`` daemons for the CLI lab (``onelab up``, the demo).

The daemons outlive the ``onelab`` command that starts them (own session, logs in files), so
they are found again through the namespace they run in, never through a parent process.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from onelab import proc, saltconfig, topology
from onelab.host import HOST_ENV

if TYPE_CHECKING:
    from onelab.host import Host
    from onelab.salt_backend import LabPaths

START_TIMEOUT = 90


def salt_script(name: str) -> str:
    """Path of a Salt console script of this Python environment."""
    return str(Path(sys.prefix) / "bin" / name)


class PlainSalt:
    """Salt daemons as plain processes, configured by :mod:`onelab.saltconfig`."""

    mode = "plain"
    starts_minions_without_master = True

    def __init__(self, *, master_extra: dict | None = None, minion_extra: dict | None = None):
        self.master_extra = master_extra
        self.minion_extra = minion_extra
        self.lab: LabPaths | None = None

    def attach(self, lab: LabPaths) -> None:
        self.lab = lab

    # -- paths and configuration ------------------------------------------------------------

    @property
    def root(self) -> Path:
        assert self.lab is not None, "attach() the backend to a lab first"
        return self.lab.state_dir / "salt"

    def _config_dir(self, daemon_id: str) -> Path:
        return self.root / daemon_id / "conf"

    def _write_config(self, daemon_id: str, role: str, config: dict) -> Path:
        conf_dir = self._config_dir(daemon_id)
        conf_dir.mkdir(parents=True, exist_ok=True)
        (conf_dir / role).write_text(yaml.safe_dump(config, default_flow_style=False))
        return conf_dir

    def master_config_dir(self) -> Path:
        return self._config_dir(topology.MASTER)

    def _master_config(self) -> dict:
        return yaml.safe_load((self.master_config_dir() / "master").read_text())

    # -- master -------------------------------------------------------------------------------

    def _extra_file(self) -> Path:
        return self.root / topology.MASTER / "extra.yaml"

    def write_master_config(self) -> Path:
        """Write the master's configuration; return its directory.

        The extra settings (the reactor configuration of ``onenebula_ha.salt.master``) are
        kept beside it, so that a later ``PlainSalt()`` without them (``onelab master
        start`` on the lab already up) restarts the master with the same settings.
        """
        lab = self.lab
        assert lab is not None
        extra_file = self._extra_file()
        if self.master_extra is not None:
            extra_file.parent.mkdir(parents=True, exist_ok=True)
            extra_file.write_text(yaml.safe_dump(self.master_extra, default_flow_style=False))
        elif extra_file.exists():
            self.master_extra = yaml.safe_load(extra_file.read_text()) or None
        settings = saltconfig.master_settings(
            repo_root=lab.state_tree, pillar_dir=lab.pillar_dir, extra=self.master_extra
        )
        config = saltconfig.standalone_master_config(self.root / topology.MASTER, settings)
        return self._write_config(topology.MASTER, "master", config)

    def start_master(self) -> None:
        conf_dir = self.write_master_config()
        argv = ["ip", "netns", "exec", topology.MASTER_HOST.netns]
        argv += [sys.executable, salt_script("salt-master"), "-c", str(conf_dir), "-l", "quiet"]
        self._spawn(argv, self.root / topology.MASTER / "stdout.log")
        proc.wait_until(
            lambda: (
                _port_open(topology.MASTER_HOST.ip, saltconfig.RET_PORT)
                and _port_open(topology.MASTER_HOST.ip, saltconfig.PUBLISH_PORT)
            ),
            timeout=START_TIMEOUT,
            interval=0.25,
            what="the salt master to listen",
        )

    def stop_master(self) -> None:
        proc.kill_and_wait(proc.netns_pids(topology.MASTER_HOST.netns))

    def master_running(self) -> bool:
        return bool(proc.netns_pids(topology.MASTER_HOST.netns))

    # -- minions ------------------------------------------------------------------------------

    def start_minions(self, hosts: list[Host], *, wait: bool = True) -> None:
        names = [host.name for host in hosts]
        if not wait or not self.master_running():
            # As on a real host: the minion starts and keeps trying until the master answers.
            self._spawn_minions(hosts)
            return
        # Listen before starting them: each minion announces itself once connected.
        with self._master_events() as events:
            self._spawn_minions(hosts)
            self._wait_for_start_events(events, names)
        # Started is not yet answering (the master may still be busy with the keys).
        proc.wait_until(
            lambda: self.responding(names) == set(names),
            timeout=START_TIMEOUT,
            interval=0.5,
            what=f"minions {', '.join(names)} to answer the master",
        )

    def _master_events(self):
        import salt.config  # deferred: loading Salt takes a second
        import salt.utils.event

        opts = salt.config.client_config(str(self.master_config_dir() / "master"))
        return salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=True)

    @staticmethod
    def _wait_for_start_events(events, names: list[str]) -> None:
        pending = set(names)
        deadline = time.monotonic() + START_TIMEOUT
        while pending and time.monotonic() < deadline:
            event = events.get_event(wait=1, tag="salt/minion/", full=True)
            if event:
                parts = event["tag"].split("/")
                if len(parts) == 4 and parts[3] == "start":
                    pending.discard(parts[2])
        if pending:
            raise TimeoutError(f"minions {', '.join(sorted(pending))} did not start")

    def _spawn_minions(self, hosts: list[Host]) -> None:
        for host in hosts:
            settings = saltconfig.minion_settings(host.spec, extra=self.minion_extra)
            config = saltconfig.standalone_minion_config(self.root / host.name, settings)
            conf_dir = self._write_config(host.name, "minion", config)
            saltconfig.preseed_minion_key(
                Path(self._master_config()["pki_dir"]), Path(config["pki_dir"]), host.name
            )
            argv = host.enter_argv() + [
                sys.executable, salt_script("salt-minion"), "-c", str(conf_dir), "-l", "quiet"
            ]  # fmt: skip
            self._spawn(argv, self.root / host.name / "stdout.log")

    def responding(self, names: list[str]) -> set[str]:
        """Which of ``names`` answer ``test.ping`` through the master right now."""
        try:
            done = proc.run(
                [
                    sys.executable, salt_script("salt"), "-c", str(self.master_config_dir()),
                    "-L", ",".join(names), "test.ping", "--out=json", "--static", "--timeout=3",
                ],
                check=False,
                timeout=60,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            # A master still busy after a restart: nobody answered in time.
            return set()
        try:
            answers = json.loads(done.stdout or "{}")
        except json.JSONDecodeError:
            return set()
        return {name for name, value in answers.items() if value is True}

    def stop_minion(self, host: Host) -> None:
        proc.kill_and_wait(host.find_pids("salt-minion"))

    def minion_running(self, host: Host) -> bool:
        return bool(host.find_pids("salt-minion"))

    def stop_all(self) -> None:
        """Nothing to do: the lab kills everything in its namespaces."""

    def _spawn(self, argv: list[str], log_path: Path) -> None:
        assert self.lab is not None
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env=HOST_ENV,
            )


def _port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False
