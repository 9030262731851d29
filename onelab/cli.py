"""``onelab``: bring the lab up and down, look at it and inject faults.

    onelab up 5 [--warmup-ms 2000]   hosts vmm01…vmm05 + salt master + client
    onelab up 5 --deploy [--no-fence]  the same, deployed with the demo's full wiring (reactor,
                                     beacon, hooks, the fencing agent; --no-fence: without
                                     the agent, hooks + reactor alone), left up
    onelab status [--json]
    onelab exec vmm01 onezone show 0
    onelab kill-oned vmm02 | freeze vmm02 | thaw vmm02
    onelab freeze-host vmm02 | thaw-host vmm02   (a paused VM: all processes + link)
    onelab service vmm03 opennebula stop
    onelab partition vmm01 --from peers|master|all ; onelab heal [vmm01]
    onelab master stop|start
    onelab power-cycle vmm02
    onelab down [--force]

Every command but ``up`` works on the lab already up (found through its state directory,
``$ONELAB_STATE_DIR`` or ``/run/onelab``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from onelab import network, proc, topology
from onelab.host import HOST_ENV
from onelab.lab import Lab, LabError, missing_prerequisites
from onelab.salt_plain import PlainSalt
from onelab.state import LabBusy, LabLock


def _attach() -> Lab:
    return Lab.attach(PlainSalt())


def _lab_mode(lab: Lab) -> str:
    return lab.status()["mode"]


def cmd_up(args: argparse.Namespace) -> int:
    reason = missing_prerequisites()
    if reason:
        print(f"onelab up: {reason}", file=sys.stderr)
        return 1
    if args.deploy:
        return _up_deployed(args)
    lab = Lab(args.size, salt=PlainSalt(), warmup_ms=args.warmup_ms)
    timings = lab.up(wait=args.wait)
    status = lab.status()
    if args.json:
        print(json.dumps({"timings": timings, "status": status}, indent=1))
    else:
        names = ", ".join(host.name for host in lab.frontends)
        print(f"lab up in {timings['total']:.1f}s: {names} + salt + client ({status['rss_mb']} MB)")
    return 0


def _up_deployed(args: argparse.Namespace) -> int:
    """``up --deploy``: the demo's steps 1-3 (lab, deploy with the full wiring, zone check);
    the lab stays up, torn down only when a step failed."""
    from onelab import demo  # deferred: it loads the formula's pillar example

    pillar = demo.lab_pillar(args.size, topology.state_dir() / "shared")
    pillar["onenebula_ha"].setdefault("fence", {})["enabled"] = args.fence
    driver = demo.Demo(
        args.size,
        out=lambda line: print(line, flush=True),
        pillar=pillar,
        warmup_ms=args.warmup_ms,
        lab_wait=args.wait,
    )
    leader = None
    try:
        leader = driver.set_up()
    finally:
        if not leader and driver.lab is not None:
            driver.lab.down(force=True)
    if not leader:
        print("onelab up --deploy: failed, lab torn down", file=sys.stderr)
        return 1
    print(f"deployed lab up, leader {leader}; `onelab down` removes it")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    lock = LabLock(topology.state_dir())
    owner = lock.owner()
    owner_alive = owner.get("pid") and proc.is_alive(int(owner["pid"]))
    if owner.get("mode") == "factories" and owner_alive and not args.force:
        print(
            f"the lab belongs to a running test session (pid {owner['pid']}); "
            "use --force to tear it down anyway",
            file=sys.stderr,
        )
        return 1
    try:
        lab = _attach()
    except LabError:
        # Nothing recorded: clean by the fixed names.
        lab = Lab(max(topology.ALLOWED_SIZES), salt=PlainSalt())
    lab.down(force=args.force)
    print("lab down")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    status = _attach().status()
    if args.json:
        print(json.dumps(status, indent=1))
        return 0
    print(f"lab: {status['size']} front-ends, {status['mode']} salt, {status['rss_mb']} MB RSS")
    print(f"master {status['master']['ip']}: {'up' if status['master']['running'] else 'DOWN'}")
    print(
        f"{'host':6} {'ip':13} {'power':6} {'mariadb':7} {'oned':5} {'minion':6} {'vip':4} partition"
    )
    for name, info in status["frontends"].items():
        services = info["services"]

        def flag(value: bool) -> str:
            return "yes" if value else "-"

        print(
            f"{name:6} {info['ip']:13} {_power(info):6} "
            f"{flag(services['mariadb']):7} {flag(services['opennebula']):5} "
            f"{flag(services['salt-minion']):6} {flag(info['vip']):4} {info['partition']}"
        )
    print(f"VIP {status['vip']} on: {', '.join(status['vip_holders']) or 'nobody'}")
    return 0


def _power(info: dict) -> str:
    if not info["powered"]:
        return "OFF"
    return "PAUSED" if info.get("frozen") else "on"


def cmd_exec(args: argparse.Namespace) -> int:
    lab = _attach()
    argv = lab.host(args.host).enter_argv() + list(args.command)
    # Replace ourselves: the command's output, input and exit status are the user's.
    os.execvpe(argv[0], argv, HOST_ENV)
    return 127  # not reached


def cmd_kill_oned(args: argparse.Namespace) -> int:
    print(f"killed oned on {args.host}: pids {_attach().kill_oned(args.host)}")
    return 0


def cmd_freeze(args: argparse.Namespace) -> int:
    print(f"froze oned on {args.host}: pids {_attach().freeze(args.host)}")
    return 0


def cmd_thaw(args: argparse.Namespace) -> int:
    print(f"thawed oned on {args.host}: pids {_attach().thaw(args.host)}")
    return 0


def cmd_freeze_host(args: argparse.Namespace) -> int:
    pids = _attach().freeze_host(args.host)
    print(f"froze {args.host} (link down, {len(pids)} processes stopped)")
    return 0


def cmd_thaw_host(args: argparse.Namespace) -> int:
    pids = _attach().thaw_host(args.host)
    print(f"thawed {args.host} (link up, {len(pids)} processes continued)")
    return 0


def cmd_service(args: argparse.Namespace) -> int:
    done = _attach().service(args.host, args.name, args.action)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    return done.returncode


def cmd_partition(args: argparse.Namespace) -> int:
    _attach().partition(args.host, args.scope)
    print(f"{args.host} partitioned from {args.scope}")
    return 0


def cmd_heal(args: argparse.Namespace) -> int:
    _attach().heal(args.host)
    print(f"healed {args.host or 'every host'}")
    return 0


def cmd_master(args: argparse.Namespace) -> int:
    lab = _attach()
    if args.action == "stop":
        # Works for any lab: the master is whatever runs in the salt namespace.
        proc.kill_and_wait(proc.netns_pids(topology.MASTER_HOST.netns))
    else:
        if _lab_mode(lab) != "plain":
            print(
                "this lab's master belongs to a test session; start it from there", file=sys.stderr
            )
            return 1
        lab.master_start()
    print("master started" if args.action == "start" else "master stopped")
    return 0


def cmd_power_cycle(args: argparse.Namespace) -> int:
    lab = _attach()
    plain = _lab_mode(lab) == "plain"
    lab.power_cycle(args.host, minion=plain)
    note = "" if plain else " (its minion belongs to the test session and was not restarted)"
    print(f"{args.host} power-cycled{note}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="onelab", description=__doc__.split("\n", 1)[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the lab does")
    verbs = parser.add_subparsers(dest="verb", required=True)

    up = verbs.add_parser("up", help="bring up N front-ends (3 or 5) plus master and client")
    up.add_argument("size", type=int, choices=topology.ALLOWED_SIZES)
    up.add_argument(
        "--warmup-ms",
        type=int,
        default=None,
        help="write ONESIM_WARMUP_MS to each host's /etc/default/opennebula (default: keep 15000)",
    )
    up.add_argument("--wait", type=float, default=0, help="seconds to wait for another lab to go")
    up.add_argument("--json", action="store_true", help="print timings and status as JSON")
    up.add_argument(
        "--deploy",
        action="store_true",
        help="deploy the formula with the demo's full wiring and leave the lab up",
    )
    up.add_argument(
        "--fence",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --deploy: the fencing agent (the formula's default; --no-fence: hooks + "
        "reactor alone hold the VIP)",
    )
    up.set_defaults(func=cmd_up)

    down = verbs.add_parser("down", help="remove everything the lab created")
    down.add_argument("--force", action="store_true", help="even a lab owned by a test session")
    down.set_defaults(func=cmd_down)

    status = verbs.add_parser("status", help="hosts, services, VIP, partitions")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    exec_ = verbs.add_parser("exec", help="run a command as root inside a host")
    exec_.add_argument("host")
    exec_.add_argument("command", nargs=argparse.REMAINDER)
    exec_.set_defaults(func=cmd_exec)

    for verb, func, text in (
        ("kill-oned", cmd_kill_oned, "SIGKILL oned on a front-end"),
        ("freeze", cmd_freeze, "SIGSTOP oned on a front-end"),
        ("thaw", cmd_thaw, "SIGCONT oned on a front-end"),
        ("freeze-host", cmd_freeze_host, "pause a front-end: link down, every process stopped"),
        ("thaw-host", cmd_thaw_host, "resume a paused front-end: link up, processes continued"),
        ("power-cycle", cmd_power_cycle, "kill every process of a front-end, then boot it"),
    ):
        sub = verbs.add_parser(verb, help=text)
        sub.add_argument("host")
        sub.set_defaults(func=func)

    service = verbs.add_parser("service", help="service NAME start|stop|status|restart in a host")
    service.add_argument("host")
    service.add_argument("name")
    service.add_argument("action", choices=("start", "stop", "status", "restart"))
    service.set_defaults(func=cmd_service)

    partition = verbs.add_parser("partition", help="cut a host off (both directions)")
    partition.add_argument("host")
    partition.add_argument(
        "--from", dest="scope", choices=network.PARTITION_SCOPES, default="peers"
    )
    partition.set_defaults(func=cmd_partition)

    heal = verbs.add_parser("heal", help="remove partitions of one host or of all")
    heal.add_argument("host", nargs="?")
    heal.set_defaults(func=cmd_heal)

    master = verbs.add_parser("master", help="stop or start the Salt master")
    master.add_argument("action", choices=("stop", "start"))
    master.set_defaults(func=cmd_master)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if args.verb == "exec" and not args.command:
        print("onelab exec: give a command to run", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (LabError, LabBusy, ValueError, TimeoutError) as exc:
        print(f"onelab {args.verb}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
