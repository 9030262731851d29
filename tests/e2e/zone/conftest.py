"""One fully wired 5-front-end zone shared by every module of this package.

Deploying a zone is the longest step of a lab test (minutes on 2 cores), so the fault
trials, the HAProxy test and the CI chaos run all use one zone, deployed once for the
package with the full wiring ``make demo`` installs (Raft hooks, beacon, reactor), the
fencing agent, the shipped Raft timings (ELECTION_TIMEOUT 5 s) and the VIP. Every test
starts from a healthy zone and leaves it healed and healthy for the next one; a module's
lab samplers (``timeline``) run for that module only.

The figures of every trial are collected in ``fault_figures`` and printed as one table at
the end of the session (and written as JSON to ``$ONEHA_FAULT_FIGURES`` when it is set), so
they can be copied into a resolution note.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from onelab import topology
from onelab.demo import lab_pillar
from onelab.sampling import Timeline
from onelab.trials import FAULT_KINDS, deployed_lab, election_timeout_s, fence_missing, table

FIGURES: dict[str, list[dict]] = {}


@pytest.fixture(scope="package")
def lab_size() -> int:
    return 5


@pytest.fixture(scope="package")
def vip_enabled() -> bool:
    return True


@pytest.fixture(scope="package")
def fence_pillar(lab_size, vip_enabled) -> dict:
    reason = fence_missing()
    if reason:
        pytest.skip(f"{reason} yet (issue 9)")
    pillar = lab_pillar(lab_size, topology.state_dir() / "shared")
    pillar["onenebula_ha"].setdefault("fence", {})["enabled"] = True
    pillar["onenebula_ha"]["vip"]["enabled"] = vip_enabled
    return pillar


@pytest.fixture(scope="package")
def election_timeout(fence_pillar) -> float:
    return election_timeout_s(fence_pillar)


@pytest.fixture(scope="package")
def deployed(lab_prerequisites, lab_size, fence_pillar):
    """The deployed lab (an :class:`onelab.demo.Demo` driver: ``.lab``, ``.salt``, ``.runner``)."""

    def out(line: str) -> None:
        sys.stderr.write(line + "\n")

    with deployed_lab(lab_size, pillar=fence_pillar, warmup_ms=2000, out=out) as demo:
        yield demo


@pytest.fixture(scope="module")
def timeline(deployed, vip_enabled):
    with Timeline(deployed.lab, vip=vip_enabled) as running:
        yield running


@pytest.fixture(scope="module")
def fault_figures(request) -> list[dict]:
    return FIGURES.setdefault(request.module.__name__.rsplit(".", 1)[-1], [])


def pytest_terminal_summary(terminalreporter):
    rows = [row for rows in FIGURES.values() for row in rows]
    if not rows:
        return
    terminalreporter.section("fault trials on the leader (figures)")
    trials = [row for row in rows if row["kind"] in FAULT_KINDS]
    if trials:
        terminalreporter.write_line(table(trials))
    for row in rows:
        if row["kind"] not in FAULT_KINDS:
            terminalreporter.write_line(json.dumps(row))
    target = os.environ.get("ONEHA_FAULT_FIGURES")
    if target:
        Path(target).write_text(json.dumps(FIGURES, indent=1) + "\n")
        terminalreporter.write_line(f"(written to {target})")
