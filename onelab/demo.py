"""``make demo``: deploy a 5-front-end OpenNebula HA zone with the formula, then fail over.

Run as root on a prepared machine (``make setup``)::

    python -m onelab.demo [--size 5]

1. bring up a lab of 5 front-ends, a Salt master and a client (:class:`onelab.Lab`, plain
   Salt daemons); the pillar is ``pillar.example`` with ``packages.manage: false`` (the lab
   cannot install OpenNebula packages) and the lab's shared directory as datastore mount;
   the master gets the reactor configuration of ``onenebula_ha.salt.master`` and the
   front-ends the Raft beacon (``onenebula_ha.salt.minion``);
2. ``salt-run state.orchestrate onenebula_ha.orch.deploy``;
3. print the zone table (``onezone show 0`` on the leader) and check: one leader, every
   other server a follower, the VIP on the leader only;
4. SIGKILL the leader's oned;
5. wait for a new leader and for the VIP to be on it and nowhere else, print the new table;
6. tear the lab down (always, also after a failure or Ctrl-C).

Exit status 0 only if every check held. Real OpenNebula timings throughout (15 s Raft
warm-up, 5 s election timeout). The helpers :func:`lab_pillar`,
:func:`reactor_master_config` and :func:`write_pillar` are shared with the formula's e2e
tests.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from onelab import topology
from onelab.lab import Lab
from onelab.salt_plain import PlainSalt, salt_script

REPO_ROOT = Path(__file__).resolve().parent.parent
PILLAR_EXAMPLE = REPO_ROOT / "pillar.example"
DATASTORES = "/var/lib/one/datastores"
STEPS = 7  # bring up, deploy, table, kill, fail over, new table, tear down
# A new leader within ELECTION_TIMEOUT + 2 x ELECTION_TIMEOUT after the old one died
# (the first timeout, then at most one randomised retry), with margin for 2 shared cores.
FAILOVER_TIMEOUT = 90
VIP_SETTLE_TIMEOUT = 120
# Another lab on this machine (a test session) is waited for, up to this long.
LAB_WAIT = 900


# ------------------------------------------------------------------ pillar and config


def lab_pillar(
    size: int,
    shared_dir: Path | str,
    *,
    raft: dict | None = None,
    wait_timeout: int = 300,
) -> dict:
    """The formula's pillar for a lab of ``size`` front-ends: ``pillar.example`` with the
    first ``size`` servers, no package management, the lab's shared directory bind-mounted
    as datastore, and optionally other Raft timings."""
    pillar = yaml.safe_load(PILLAR_EXAMPLE.read_text())
    settings = pillar["onenebula_ha"]
    settings["servers"] = settings["servers"][:size]
    settings["packages"]["manage"] = False
    settings["sharedfs"]["mounts"] = [
        {
            "name": DATASTORES,
            "device": str(shared_dir),
            "fstype": "none",
            "opts": ["bind"],
            "mkmnt": True,
        }
    ]
    settings["deploy"]["wait_timeout"] = wait_timeout
    if raft:
        settings["raft"].update(raft)
    return pillar


def write_pillar(pillar_dir: Path | str, pillar: dict) -> None:
    """Write ``pillar`` as the pillar of every minion but the client's (the master's own and
    its orchestrations' included): the client host stands for a server that is not a
    front-end, which must not see the zone's secrets (the database password)."""
    pillar_dir = Path(pillar_dir)
    pillar_dir.mkdir(parents=True, exist_ok=True)
    (pillar_dir / "top.sls").write_text(
        f"base:\n  '* and not {topology.CLIENT}':\n    - match: compound\n    - onenebula_ha\n"
    )
    (pillar_dir / "onenebula_ha.sls").write_text(yaml.safe_dump(pillar, sort_keys=False))


def reactor_master_config(pillar: dict, *, timeout: float = 180) -> dict:
    """The master settings the ``onenebula_ha.salt.master`` state writes for ``pillar``
    (the reactor and its settings), rendered and applied by a throw-away masterless
    ``salt-call`` into a temporary directory, for a lab master that is not a service."""
    with tempfile.TemporaryDirectory(prefix="onelab-mastercfg-") as tmp:
        root = Path(tmp)
        out_dir = root / "out"
        settings = copy.deepcopy(pillar)
        lookup = settings["onenebula_ha"].setdefault("lookup", {}) or {}
        settings["onenebula_ha"]["lookup"] = lookup
        lookup.setdefault("paths", {})["salt_conf_dir"] = str(out_dir)
        lookup.setdefault("services", {})["salt_master"] = None
        write_pillar(root / "pillar", settings)
        conf_dir = root / "conf"
        conf_dir.mkdir()
        (conf_dir / "minion").write_text(
            yaml.safe_dump(
                {
                    "id": "onelab-master-config",
                    "file_client": "local",
                    "root_dir": str(root / "root"),
                    "file_roots": {"base": [str(REPO_ROOT)]},
                    "pillar_roots": {"base": [str(root / "pillar")]},
                    "log_level_logfile": "quiet",
                }
            )
        )
        base = [
            salt_script("salt-call"),
            "--local",
            "-c",
            str(conf_dir),
            "--out=json",
            "-l",
            "quiet",
        ]
        for argv in (
            [*base, "saltutil.sync_all"],
            [*base, "state.apply", "onenebula_ha.salt.master"],
        ):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(argv[-2:])} failed: {done.stdout}{done.stderr}")
        return yaml.safe_load((out_dir / "master.d" / "onenebula_ha.conf").read_text())


# ------------------------------------------------------------------ salt from outside


def orchestration_results(data) -> dict:
    """The per-state results of ``salt-run --out=json state.orchestrate`` output."""
    if isinstance(data, dict) and "data" in data and isinstance(data["data"], dict):
        data = data["data"]
    if isinstance(data, dict) and len(data) == 1:
        (inner,) = data.values()
        if isinstance(inner, dict) and all(isinstance(v, dict) for v in inner.values()):
            data = inner
    if not isinstance(data, dict) or not all(
        isinstance(v, dict) and "result" in v for v in data.values()
    ):
        raise ValueError(f"not an orchestration result: {str(data)[:500]}")
    return dict(sorted(data.items(), key=lambda item: item[1].get("__run_num__", 0)))


def changed_states(results: dict) -> list[str]:
    """Names of the orchestration steps that changed (or would change) something."""
    return [f"{r.get('name') or sid}" for sid, r in results.items() if r.get("changes")]


def summary_lines(results: dict) -> list[str]:
    lines = []
    for state_id, result in results.items():
        mark = {True: "ok ", False: "FAIL", None: "test"}.get(result.get("result"), "?")
        seconds = (result.get("duration") or 0) / 1000
        changed = "changed" if result.get("changes") else "no change"
        lines.append(f"  [{mark}] {seconds:6.1f}s  {result.get('name') or state_id}  ({changed})")
        if result.get("result") is False:
            lines.append(f"         {str(result.get('comment'))[:2000]}")
    return lines


class PlainSaltCLI:
    """``salt`` / ``salt-run`` against the plain lab master, with JSON output."""

    def __init__(self, salt: PlainSalt):
        self.conf_dir = str(salt.master_config_dir())

    def _run(self, script: str, args: Sequence[str], timeout: float):
        argv = [sys.executable, salt_script(script), "-c", self.conf_dir, "--out=json", *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        try:
            data = json.loads(done.stdout) if done.stdout.strip() else None
        except json.JSONDecodeError:
            data = None
        return done.returncode, data, done.stdout + done.stderr

    def cmd(self, target: str, fun: str, *args: str, timeout: float = 120, list_target=False):
        opts = ["-L"] if list_target else []
        # Salt's own wait for the returns follows the caller's budget: on a loaded machine a
        # sync_all of five minions takes longer than a fixed 30 s ("No return received").
        wait = f"--timeout={max(30, int(timeout) - 15)}"
        return self._run("salt", [*opts, "--static", wait, target, fun, *args], timeout)

    def run(self, fun: str, *args: str, timeout: float = 1800):
        return self._run("salt-run", [fun, *args], timeout)


# ------------------------------------------------------------------ the demo


class Demo:
    """The demo's steps; ``pillar`` and ``warmup_ms`` let other drivers (fault trials,
    benchmarks) deploy the same way with other settings."""

    def __init__(
        self,
        size: int,
        out: Callable[[str], None] = print,
        *,
        pillar: dict | None = None,
        warmup_ms: int | None = None,
        lab_wait: float = LAB_WAIT,
    ):
        self.size = size
        self.lab_wait = lab_wait
        self.out = out
        self.pillar = pillar
        self.warmup_ms = warmup_ms
        self.started = time.monotonic()
        self.checks: list[tuple[str, bool]] = []
        self.lab: Lab | None = None
        self.cli: PlainSaltCLI | None = None

    # -- output ---------------------------------------------------------------------------------

    def header(self, number: int, title: str) -> float:
        elapsed = time.monotonic() - self.started
        self.out(f"\n=== [{number}/{STEPS}] {title}   (t+{elapsed:.0f}s)")
        return time.monotonic()

    def done(self, mark: float, what: str) -> None:
        self.out(f"--- {what} in {time.monotonic() - mark:.1f}s")

    def check(self, what: str, ok: bool) -> bool:
        self.checks.append((what, ok))
        self.out(f"  {'PASS' if ok else 'FAIL'}: {what}")
        return ok

    # -- helpers --------------------------------------------------------------------------------

    def salt(self, target: str, fun: str, *args: str, **kwargs):
        assert self.cli is not None
        rc, data, output = self.cli.cmd(target, fun, *args, **kwargs)
        if rc != 0 or data is None:
            raise RuntimeError(f"salt {target} {fun} failed (rc {rc}):\n{output[-3000:]}")
        return data

    def runner(self, fun: str, *args: str, timeout: float = 600):
        assert self.cli is not None
        rc, data, output = self.cli.run(fun, *args, timeout=timeout)
        if rc != 0 or data is None:
            raise RuntimeError(f"salt-run {fun} failed (rc {rc}):\n{output[-3000:]}")
        return data

    def frontends(self) -> str:
        return ",".join(topology.FRONTEND_NAMES[: self.size])

    def zone_table(self, minion: str) -> str:
        data = self.salt(minion, "cmd.run", "onezone show 0", timeout=60)
        return str(data.get(minion, ""))

    def zone_roles(self, minion: str) -> dict[str, str]:
        data = self.salt(minion, "onenebula_zone.show", "refresh=True", timeout=60)
        zone = data.get(minion) or {}
        return (
            {s["name"]: s["state"] for s in zone.get("servers", [])}
            if isinstance(zone, dict)
            else {}
        )

    def wait(self, what: str, predicate: Callable[[], object], timeout: float, interval=2.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = predicate()
            except RuntimeError:
                value = None
            if value:
                return value
            if time.monotonic() >= deadline:
                self.out(f"  timed out after {timeout:.0f}s waiting for {what}")
                return None
            time.sleep(interval)

    # -- steps ----------------------------------------------------------------------------------

    def bring_up(self) -> None:
        mark = self.header(
            1, f"bringing up a lab of {self.size} front-ends, a Salt master, a client"
        )
        pillar = self.pillar or lab_pillar(self.size, topology.state_dir() / "shared")
        master_extra = reactor_master_config(pillar)
        salt = PlainSalt(master_extra=master_extra)
        lab = Lab(self.size, salt=salt, warmup_ms=self.warmup_ms)
        # Only a lab that came up is this driver's to tear down: while up() waits for the
        # lock the lab belongs to someone else, and a failed up() has cleaned after itself.
        timings = lab.up(wait=self.lab_wait)
        self.lab = lab
        self.out("  lab up: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
        self.cli = PlainSaltCLI(salt)
        write_pillar(self.lab.pillar_dir, pillar)
        self.salt(self.frontends(), "saltutil.sync_all", list_target=True, timeout=300)
        self.salt(self.frontends(), "saltutil.refresh_pillar", list_target=True)
        self.runner("saltutil.sync_all", timeout=300)
        beacons = self.salt(
            self.frontends(),
            "state.apply",
            "onenebula_ha.salt.minion",
            list_target=True,
            timeout=300,
        )
        failed = [m for m, ret in beacons.items() if not _states_ok(ret)]
        if failed:
            raise RuntimeError(f"beacon configuration failed on {failed}: {beacons}")
        self.out("  formula modules synced; pillar = pillar.example with packages.manage: false")
        self.done(mark, "lab ready")

    def deploy(self) -> bool:
        mark = self.header(2, "salt-run state.orchestrate onenebula_ha.orch.deploy")
        assert self.cli is not None
        rc, data, output = self.cli.run("state.orchestrate", "onenebula_ha.orch.deploy")
        try:
            results = orchestration_results(data)
        except ValueError:
            self.out(output[-5000:])
            return self.check("deploy orchestration finished", False)
        for line in summary_lines(results):
            self.out(line)
        ok = rc == 0 and all(r.get("result") is True for r in results.values())
        self.done(mark, f"deploy of {self.size} front-ends")
        return self.check("deploy orchestration succeeded", ok)

    def verify_zone(self, number: int, title: str, exclude: str | None = None) -> str | None:
        mark = self.header(number, title)
        assert self.lab is not None
        status = self.runner("onenebula_ha.status")
        leader = status.get("leader")
        self.out(f"  leader: {leader}")
        if not leader:
            self.check("the zone has a leader", False)
            return None
        self.out(self.zone_table(leader))
        roles = self.zone_roles(leader)
        live = {name: role for name, role in roles.items() if name != exclude}
        self.check(
            f"one leader ({leader}) and {len(live) - 1} followers",
            list(live.values()).count("leader") == 1
            and all(role in ("leader", "follower") for role in live.values()),
        )
        holders = self.lab.vip_holders()
        self.out(f"  VIP {topology.VIP} on: {', '.join(holders) or 'nobody'}")
        self.check(f"the VIP is on the leader {leader} only", holders == [leader])
        self.done(mark, "zone checked")
        return leader

    def fail_over(self, leader: str) -> str | None:
        mark = self.header(4, f"SIGKILL oned on the leader {leader}")
        assert self.lab is not None
        killed = self.lab.kill_oned(leader)
        self.out(f"  killed pid(s) {killed} on {leader}")
        others = [name for name in topology.FRONTEND_NAMES[: self.size] if name != leader]

        mark = self.header(5, "waiting for a new leader and for the VIP to follow it")

        def new_leader():
            for name in others:
                roles = self.zone_roles(name)
                leaders = [n for n, role in roles.items() if role == "leader" and n != leader]
                if len(leaders) == 1:
                    return leaders[0]
            return None

        elected = self.wait("a new leader", new_leader, FAILOVER_TIMEOUT)
        self.out(f"  new leader {elected} after {time.monotonic() - mark:.1f}s")
        if not self.check("a new leader was elected", bool(elected)):
            return None
        moved = self.wait(
            f"the VIP on {elected} only",
            lambda: self.lab.vip_holders() == [elected],
            VIP_SETTLE_TIMEOUT,
            interval=1,
        )
        self.out(f"  VIP settled after {time.monotonic() - mark:.1f}s")
        self.check(f"the VIP moved to {elected} and only there", bool(moved))
        self.done(mark, "fail-over")
        return elected

    def set_up(self) -> str | None:
        """Steps 1-3: the lab up, deployed with the full wiring, the zone checked. The lab
        stays up (the demo, ``onelab up N --deploy`` and the chaos run start from here);
        returns the leader, None when the deploy or the check failed."""
        self.bring_up()
        if not self.deploy():
            return None
        return self.verify_zone(3, "zone table on the leader (onezone show 0)")

    def run(self) -> int:
        try:
            leader = self.set_up()
            if leader:
                elected = self.fail_over(leader)
                if elected:
                    self.verify_zone(6, f"zone table on the new leader {elected}", exclude=leader)
        except KeyboardInterrupt:
            self.check("demo ran to the end (interrupted)", False)
        except Exception as exc:  # report any failure, then tear down
            self.check(f"demo ran to the end ({type(exc).__name__}: {exc})", False)
        finally:
            mark = self.header(STEPS, "tearing the lab down")
            if self.lab is not None:
                self.lab.down(force=True)
            self.done(mark, "lab removed")
        passed = sum(ok for _, ok in self.checks)
        total = time.monotonic() - self.started
        verdict = "SUCCESS" if self.checks and passed == len(self.checks) else "FAILURE"
        self.out(f"\n{verdict}: {passed}/{len(self.checks)} checks passed in {total:.0f}s")
        return 0 if verdict == "SUCCESS" else 1


def _states_ok(ret) -> bool:
    return isinstance(ret, dict) and all(
        isinstance(r, dict) and r.get("result") is not False for r in ret.values()
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m onelab.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--size", type=int, choices=topology.ALLOWED_SIZES, default=5)
    parser.add_argument(
        "--no-fence",
        dest="fence",
        action="store_false",
        help="leave the fencing agent off (hooks + reactor alone hold the VIP)",
    )
    args = parser.parse_args(argv)
    # The demo shows what an operator should run: the VIP held under the fence's majority
    # lease (docs/fence.md), not by the Raft hooks alone.
    pillar = lab_pillar(args.size, topology.state_dir() / "shared")
    pillar["onenebula_ha"]["fence"]["enabled"] = args.fence
    return Demo(args.size, out=lambda line: print(line, flush=True), pillar=pillar).run()


if __name__ == "__main__":
    sys.exit(main())
