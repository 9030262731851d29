"""The deploy/add planners' platform check as plain Python: every minion a plan targets must
run a platform OpenNebula's repositories serve (onenebula_ha/platforms.yaml, the table the
render decides with), else the whole plan is refused before its first step, naming the
minion, its os/osrelease, the supported list and the keys that choose another source."""

from pathlib import Path

import pytest
import yaml
from support.formula_utils import utils_dunder
from support.load import load_file
from support.platform_grains import GRAINS

REPO_ROOT = Path(__file__).resolve().parents[3]
MINIONS = ["vmm01", "vmm02", "vmm03", "vmm04", "vmm05"]
SERVERS = [
    {"minion": m, "name": m, "id": i, "endpoint": f"http://10.213.0.{(i + 1) * 10}:2633/RPC2"}
    for i, m in enumerate(MINIONS)
]
SUPPORTED_70 = "Debian 11, 12, Ubuntu 22.04, 24.04, AlmaLinux 8, 9"
BARE = {
    "leader": None,
    "bare": True,
    "zone": None,
    "problems": [],
    "servers": {m: {"healthy": False, "member": False, "answered": True} for m in MINIONS},
}


@pytest.fixture(scope="module")
def runner():
    module = load_file(REPO_ROOT / "_runners" / "onenebula_ha.py", "onenebula_ha_runner_platforms")
    module.__utils__ = utils_dunder()
    return module


@pytest.fixture(scope="module")
def requirement():
    platforms = yaml.safe_load((REPO_ROOT / "onenebula_ha" / "platforms.yaml").read_text())
    return {"version": "7.0", "edition": "community", "platforms": platforms}


def answers(**special):
    """``grains.items`` as :func:`_call` returns it: Debian 12 unless ``special`` says."""
    grains = {m: {"ok": True, "ret": GRAINS["debian-12"]} for m in MINIONS}
    grains.update(special)
    return grains


@pytest.mark.parametrize("platform", ["debian-12", "ubuntu-22.04", "ubuntu-24.04",
                                      "almalinux-8", "almalinux-9"])  # fmt: skip
def test_supported_front_ends_are_not_refused(runner, requirement, platform):
    mixed = answers(vmm03={"ok": True, "ret": GRAINS[platform]})
    assert runner._platform_refusals(MINIONS, requirement, mixed) == {}


def test_an_unsupported_release_or_os_is_refused_naming_it_and_the_supported_list(
    runner, requirement
):
    refusals = runner._platform_refusals(
        MINIONS,
        requirement,
        answers(
            vmm03={"ok": True, "ret": GRAINS["ubuntu-20.04"]},
            vmm04={"ok": True, "ret": GRAINS["rocky-9"]},
        ),
    )
    assert sorted(refusals) == ["vmm03", "vmm04"]
    assert refusals["vmm03"].startswith("runs 'Ubuntu 20.04': ")
    assert refusals["vmm04"].startswith("runs 'Rocky 9.3': ")
    for why in refusals.values():
        assert "OpenNebula 7.0 has no front-end packages" in why
        assert SUPPORTED_70 in why
        assert "onenebula_ha:packages:repo" in why and "onenebula_ha:packages:manage: false" in why


def test_a_front_end_whose_grains_cannot_be_read_is_refused(runner, requirement):
    refusals = runner._platform_refusals(
        MINIONS,
        requirement,
        answers(
            vmm02={"ok": False, "error": "minion did not answer"},
            vmm05={"ok": True, "ret": {"id": "vmm05"}},
        ),
    )
    assert refusals == {
        "vmm02": "has unreadable grains (minion did not answer), so its platform is unknown",
        "vmm05": "has unreadable grains (no os grain), so its platform is unknown",
    }
    # A minion missing from the answers altogether is no exception either.
    assert "vmm01" in runner._platform_refusals(MINIONS, requirement, {})


@pytest.fixture
def zone_of(runner, monkeypatch):
    """``plan()`` with the front-ends answering ``grains.items`` as given; the zone's view
    (the Raft queries) must not be needed to refuse."""

    def answering(grains):
        def call(minions, fun, arg=(), kwarg=None, timeout=10):
            assert fun == "grains.items", fun
            return {m: grains[m] for m in minions}

        monkeypatch.setattr(runner, "_call", call)
        monkeypatch.setattr(runner, "view", lambda **kwargs: pytest.fail("view asked"))
        return runner

    return answering


@pytest.mark.parametrize("action", ["deploy", "add"])
def test_deploy_and_add_are_refused_before_the_zone_is_even_looked_at(zone_of, requirement, action):
    runner = zone_of(
        answers(
            vmm04={"ok": True, "ret": GRAINS["ubuntu-20.04"]},
            vmm05={"ok": False, "error": "minion did not answer"},
        )
    )
    plan = runner.plan(action, servers=SERVERS, wait=300, platform=requirement)
    assert plan["steps"] == [] and plan["notes"] == []
    assert plan["error"].startswith(
        f"onenebula_ha {action}: unsupported platform, nothing changed: "
        "vmm04 runs 'Ubuntu 20.04': onenebula_ha:version: OpenNebula 7.0 has no front-end "
        "packages for Ubuntu 20.04"
    )
    assert plan["error"].endswith(
        "; vmm05 has unreadable grains (minion did not answer), so its platform is unknown"
    )


def test_front_ends_on_one_unsupported_platform_are_named_together(runner, requirement):
    ubuntu = {"ok": True, "ret": GRAINS["ubuntu-20.04"]}
    refusals = runner._platform_refusals(MINIONS, requirement, answers(vmm02=ubuntu, vmm03=ubuntu))
    error = runner._platform_refusal("add", refusals)["error"]
    assert error.startswith("onenebula_ha add: unsupported platform, nothing changed: "
                            "vmm02, vmm03 runs 'Ubuntu 20.04'")  # fmt: skip
    assert error.count("no front-end packages") == 1


def test_supported_front_ends_are_planned_from_the_zone_as_before(runner, requirement, monkeypatch):
    monkeypatch.setattr(runner, "_call", lambda minions, fun, **kwargs: answers())
    looked = []
    monkeypatch.setattr(runner, "view", lambda **kwargs: looked.append(kwargs) or BARE)
    plan = runner.plan("deploy", servers=SERVERS, wait=300, platform=requirement)
    assert looked and plan["error"] is None and plan["steps"]
    # Packages from the user's own source (no requirement): no grains asked at all.
    monkeypatch.setattr(runner, "_call", lambda *args, **kwargs: pytest.fail("grains asked"))
    assert runner.plan("deploy", servers=SERVERS, wait=300, platform=None)["steps"]
