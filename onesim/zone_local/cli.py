"""``onesim-zone up N DIR [...]`` / ``status DIR [--json]`` / ``down DIR [--keep]``."""

from __future__ import annotations

import argparse
import json
import sys

from onesim.zone_local.servers import DEFAULT_PORT, ZoneError, ZoneOptions
from onesim.zone_local.zone import LocalZone


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onesim-zone", description="Run a simulated OpenNebula HA zone on loopback."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="create and bootstrap an N-server zone in DIR")
    up.add_argument("size", type=int)
    up.add_argument("directory")
    up.add_argument("--net", help="loopback /24 prefix, e.g. 127.10.1 (default: random)")
    up.add_argument("--port", type=int, default=DEFAULT_PORT)
    up.add_argument("--election-ms", type=int, default=ZoneOptions.election_ms)
    up.add_argument("--broadcast-ms", type=int, default=ZoneOptions.broadcast_ms)
    up.add_argument("--xmlrpc-timeout-ms", type=int, default=ZoneOptions.xmlrpc_timeout_ms)
    up.add_argument("--warmup-ms", type=int, default=ZoneOptions.warmup_ms)
    up.add_argument("--db", choices=["sqlite"], default="sqlite")
    up.add_argument("--no-hooks", action="store_true", help="do not configure the record hooks")
    down = sub.add_parser("down", help="stop the zone in DIR and remove its files")
    down.add_argument("directory")
    down.add_argument("--keep", action="store_true", help="keep the server directories")
    status = sub.add_parser("status", help="show each server's Raft state")
    status.add_argument("directory")
    status.add_argument("--json", action="store_true")
    return parser


def _print_status(zone: LocalZone) -> None:
    print(f"{'ID':>2} {'NAME':<10} {'STATE':<10} {'TERM':<6} {'INDEX':<7} {'COMMIT':<7} ENDPOINT")
    for row in zone.status():
        raft = row["raft"] or {}
        print(
            f"{row['id']:>2} {row['name']:<10} {row['state']:<10} {raft.get('TERM', '-')!s:<6} "
            f"{raft.get('LOG_INDEX', '-')!s:<7} {raft.get('COMMIT', '-')!s:<7} {row['endpoint']}"
        )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "up":
            zone = LocalZone(
                args.size,
                args.directory,
                args.net,
                port=args.port,
                election_ms=args.election_ms,
                broadcast_ms=args.broadcast_ms,
                xmlrpc_timeout_ms=args.xmlrpc_timeout_ms,
                warmup_ms=args.warmup_ms,
                db=args.db,
                hooks=not args.no_hooks,
            )
            try:
                zone.up()
            except BaseException:
                zone.down()
                raise
            _print_status(zone)
            print(f"\nsource {zone.directory}/server-<i>/env to use onezone/onedb on a server")
        elif args.command == "down":
            LocalZone.load(args.directory).down(keep_files=args.keep)
        else:
            zone = LocalZone.load(args.directory)
            if args.json:
                print(json.dumps(zone.status(), indent=2))
            else:
                _print_status(zone)
    except ZoneError as exc:
        print(f"onesim-zone: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
