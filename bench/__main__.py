"""Runs every benchmark in ``bench/`` (modules with a ``run() -> dict``) and prints JSON.

``python -m bench`` runs them all; ``python -m bench NAME …`` runs the named ones;
``python -m bench --list`` names them and runs none. The results also go to
``bench/results/latest.json`` so figures can be compared between runs.
"""

import argparse
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

import bench

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def discover():
    return sorted(
        info.name for info in pkgutil.iter_modules(bench.__path__) if not info.name.startswith("_")
    )


def main(argv):
    known = discover()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"of {', '.join(known)}")
    parser.add_argument("--list", action="store_true", help="name the benchmarks, run none")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in known]
    if unknown:
        parser.error(f"unknown benchmarks {unknown}")
    if args.list:
        print("\n".join(known))
        return 0
    names = args.names or known
    results = {}
    failed = False
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        started = time.monotonic()
        print(f"== bench {name}", flush=True)
        try:
            results[name] = module.run()
        except Exception as exc:  # report and carry on with the other benchmarks
            failed = True
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        results[name]["wall_s"] = round(time.monotonic() - started, 2)
        print(json.dumps(results[name], indent=2, sort_keys=True), flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
