"""Fixtures of the formula's e2e tests: a lab with the formula's pillar, the master's reactor
configuration (``onenebula_ha.salt.master``), the Raft beacon on the front-ends, and a small
driver for orchestrations and checks.

Raft timings are shortened through the pillar (``raft:``) and the lab's ``ONESIM_WARMUP_MS``
(2 s, the lab default for tests). The reactor's automatic repair is off here: the tests
break and repair servers themselves and must not race an automatic repair.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from onelab import proc, topology
from onelab.demo import (
    changed_states,
    lab_pillar,
    orchestration_results,
    reactor_master_config,
    write_pillar,
)

# Factories' files for these modules: short (unix socket paths), under /run (which the lab
# hosts share with the machine), and apart from other e2e sessions' root, which a session
# removes when it ends: one per session (several sessions wait for the lab at once, and one
# that ends must not remove the root of one still waiting).
FACTORIES_ROOT = Path(f"/run/onelab-fx-{os.getpid()}")
FAST_RAFT = {"election_timeout_ms": 1500, "broadcast_timeout_ms": 250, "xmlrpc_timeout_ms": 500}
ORCHESTRATION_TIMEOUT = 900


class Orchestration:
    """The outcome of one ``salt-run state.orchestrate``."""

    def __init__(self, name, ret, seconds):
        self.name = name
        self.returncode = ret.returncode
        self.seconds = seconds
        self.raw = ret.stdout + ret.stderr
        try:
            self.results = orchestration_results(ret.data)
        except ValueError:
            self.results = {}

    @property
    def ok(self):
        return bool(self.results) and all(r["result"] is not False for r in self.results.values())

    @property
    def changed(self):
        return changed_states(self.results)

    def changed_details(self):
        """``["<minion>: <state id>"]`` of every minion state that changed something."""
        return [
            f"{minion}: {sub.get('__id__', key)}"
            for result in self.results.values()
            for minion, states in ((result.get("changes") or {}).get("ret") or {}).items()
            if isinstance(states, dict)
            for key, sub in states.items()
            if isinstance(sub, dict) and sub.get("changes")
        ]

    def failures(self):
        """What failed, down to the failing minion states, for assertion messages."""
        found = {}
        for state_id, result in self.results.items():
            if result["result"] is not False:
                continue
            nested = (result.get("changes") or {}).get("ret") or {}
            details = {
                f"{minion}: {sub.get('__id__', key)}": sub.get("comment")
                for minion, states in nested.items()
                if isinstance(states, dict)
                for key, sub in states.items()
                if isinstance(sub, dict) and sub.get("result") is False
            }
            found[result.get("name") or state_id] = details or result.get("comment")
        return found or self.raw[-4000:]

    def __repr__(self):
        return f"<{self.name} rc={self.returncode} {self.seconds:.0f}s changed={self.changed}>"


class Formula:
    """Drives the formula in a lab through the factories master."""

    def __init__(self, lab, master, pillar):
        self.lab = lab
        self.master = master
        self.pillar = pillar
        self.salt_cli = master.salt_cli(timeout=600)
        self.run_cli = master.salt_run_cli(timeout=ORCHESTRATION_TIMEOUT)
        self.minions = [host.name for host in lab.frontends]

    # -- salt -----------------------------------------------------------------------------------

    def call(self, target, fun, *args, **kwargs):
        ret = self.salt_cli.run(fun, *args, minion_tgt=target, **kwargs)
        return ret.data

    def prepare(self):
        # Every lab host runs sshd with its own host keys (onelab.sshd): the formula puts
        # them in known_hosts and the front-ends pull dumps and secrets over SSH.
        write_pillar(self.lab.pillar_dir, self.pillar)
        assert self.call("vmm0*", "saltutil.sync_all")
        self.call("vmm0*", "saltutil.refresh_pillar")
        ret = self.run_cli.run("saltutil.sync_all")
        assert ret.returncode == 0, ret
        beacons = self.call("vmm0*", "state.apply", "onenebula_ha.salt.minion")
        assert all(
            all(state["result"] for state in result.values()) for result in beacons.values()
        ), beacons

    def orchestrate(self, name, pillar=None, test=False):
        args = [f"onenebula_ha.orch.{name}"]
        if pillar:
            args.append(f"pillar={json.dumps(pillar)}")
        if test:
            args.append("test=True")
        started = time.monotonic()
        ret = self.run_cli.run("state.orchestrate", *args)
        return Orchestration(name, ret, time.monotonic() - started)

    def status(self):
        ret = self.run_cli.run("onenebula_ha.status")
        assert ret.returncode == 0, ret
        return ret.data

    # -- observations -------------------------------------------------------------------------

    def zone_servers(self, minion):
        """The zone's servers as ``minion``'s onezone sees them ([] while it cannot tell)."""
        data = self.call(minion, "onenebula_zone.show", refresh=True)
        return data.get("servers", []) if isinstance(data, dict) else []

    def zone(self, minion):
        """The zone as ``minion``'s onezone sees it: ``{name: state}``."""
        return {server["name"]: server["state"] for server in self.zone_servers(minion)}

    def server_ids(self):
        """FEDERATION/SERVER_ID of each front-end's oned.conf (ints)."""
        data = self.call("vmm0*", "onenebula_conf.get", "FEDERATION/SERVER_ID")
        return {minion: int(value) for minion, value in data.items()}

    def wait(self, what, predicate, timeout, interval=1.0):
        try:
            return proc.wait_until(predicate, timeout=timeout, interval=interval, what=what)
        except TimeoutError as exc:
            raise AssertionError(str(exc)) from None

    def leader(self, among=None):
        """The leader as the other servers see it (None while there is none)."""
        for minion in among or self.minions:
            zone = self.zone(minion)
            leaders = [name for name, state in zone.items() if state == "leader"]
            if len(leaders) == 1:
                return leaders[0]
        return None


@pytest.fixture(scope="session")
def salt_factories_config():
    FACTORIES_ROOT.mkdir(parents=True, exist_ok=True)
    yield {"root_dir": FACTORIES_ROOT, "slow_stop": False}
    shutil.rmtree(FACTORIES_ROOT, ignore_errors=True)


@pytest.fixture(scope="module")
def formula_pillar(lab_size):
    pillar = lab_pillar(lab_size, topology.state_dir() / "shared", raft=FAST_RAFT, wait_timeout=120)
    pillar["onenebula_ha"]["reactor"]["repair"] = False
    pillar["onenebula_ha"]["beacon"]["interval"] = 2
    return pillar


@pytest.fixture(scope="module")
def lab_master_config(formula_pillar):
    return reactor_master_config(formula_pillar)


@pytest.fixture(scope="module")
def formula(lab, lab_master, formula_pillar):
    driver = Formula(lab, lab_master, formula_pillar)
    driver.prepare()
    return driver
