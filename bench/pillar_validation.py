"""How long measuring, merging and validating pillar.example takes (map.jinja does it on
every SLS render)."""

import importlib.util
import time
from pathlib import Path

import yaml

from bench._support import main

REPO = Path(__file__).resolve().parent.parent


def _load_module():
    spec = importlib.util.spec_from_file_location(
        "onenebula_pillar", REPO / "_modules" / "onenebula_pillar.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(rounds=2000):
    module = _load_module()
    defaults = yaml.safe_load((REPO / "onenebula_ha" / "defaults.yaml").read_text())["onenebula_ha"]
    pillar = yaml.safe_load((REPO / "pillar.example").read_text())["onenebula_ha"]
    started = time.perf_counter()
    for _ in range(rounds):
        # what map.jinja calls: measure, merge over the defaults, validate
        module.settings(defaults, {}, pillar)
    elapsed = time.perf_counter() - started
    return {"rounds": rounds, "per_validation_us": round(elapsed / rounds * 1e6, 1)}


if __name__ == "__main__":
    main("pillar_validation", run, __doc__)
