"""Stand-ins for the OpenNebula services that Salt and the Raft hook manage.

``python -m onesim.standin <service> [--pidfile F] [--address A] [--port P]`` serves HTTP on the
service's usual port and answers every GET with 200, which is all the HA tests need from
FireEdge (the web UI, 2616), OneFlow (2474) and OneGate (5030).
"""

from __future__ import annotations

import argparse
import http.server
import os
import signal
import sys
import threading
from pathlib import Path

__all__ = ["SERVICES", "main"]

#: service -> (default port, banner)
SERVICES = {
    "fireedge": (2616, "OpenNebula FireEdge (onesim stand-in)"),
    "flow": (2474, "OpenNebula OneFlow (onesim stand-in)"),
    "gate": (5030, "OpenNebula OneGate (onesim stand-in)"),
}


def _handler(banner: str):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server naming
            body = f"{banner}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET  # noqa: N815

        def log_message(self, format, *args):  # noqa: A002
            sys.stdout.write(f"{self.address_string()} {format % args}\n")
            sys.stdout.flush()

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="onesim-standin")
    parser.add_argument("service", choices=sorted(SERVICES))
    parser.add_argument("--pidfile", type=Path)
    parser.add_argument("--address", default="0.0.0.0")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    port, banner = SERVICES[args.service]
    server = http.server.ThreadingHTTPServer((args.address, args.port or port), _handler(banner))
    server.daemon_threads = True
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if args.pidfile:
        # Written once the port is bound: the init script takes it as "ready".
        args.pidfile.parent.mkdir(parents=True, exist_ok=True)
        args.pidfile.write_text(f"{os.getpid()}\n")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(f"{banner} listening on {args.address}:{args.port or port}", flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    if args.pidfile:
        args.pidfile.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
