"""The ``onenebula_ha:fence`` pillar key: typed, bounded, and the lease must end before the
followers' election timer (the formula's validation in _modules/onenebula_pillar.py)."""

import pytest
import yaml
from support.load import load_file
from support.merge import deep_merge


@pytest.fixture(scope="module")
def pillar_module(repo_root):
    module = load_file(repo_root / "_modules" / "onenebula_pillar.py", "onenebula_pillar_for_fence")
    return module


@pytest.fixture
def settings(repo_root):
    defaults = yaml.safe_load((repo_root / "onenebula_ha" / "defaults.yaml").read_text())
    example = yaml.safe_load((repo_root / "pillar.example").read_text())
    merged = deep_merge(defaults["onenebula_ha"], example["onenebula_ha"])
    return lambda **fence: deep_merge(merged, {"fence": fence})


def fence_errors(module, config):
    return [e for e in module.find_errors(config) if e.startswith("onenebula_ha:fence")]


def test_defaults_and_the_example_are_valid_enabled_or_not(pillar_module, settings):
    assert pillar_module.find_errors(settings()) == []
    assert pillar_module.find_errors(settings(enabled=True)) == []


def test_a_lease_that_could_outlive_the_election_timer_names_lease_fraction(
    pillar_module, settings
):
    # 0.8 x 5000 + 500 + 500 + 250 = 5250 ms >= 5000 ms
    errors = fence_errors(pillar_module, settings(enabled=True, lease_fraction=0.8))
    assert len(errors) == 1
    assert errors[0].startswith("onenebula_ha:fence:lease_fraction: lease 4000 ms")
    assert "must stay below election_timeout_ms (5000 ms)" in errors[0]


def test_the_agent_is_on_by_default_with_timings_derived_from_the_raft_section(repo_root):
    defaults = yaml.safe_load((repo_root / "onenebula_ha" / "defaults.yaml").read_text())
    example = yaml.safe_load((repo_root / "pillar.example").read_text())
    for fence in (defaults["onenebula_ha"]["fence"], example["onenebula_ha"]["fence"]):
        assert fence["enabled"] is True
        assert fence["poll_interval"] is None and fence["timeout"] is None


@pytest.mark.parametrize(
    ("raft", "poll", "timeout"),
    [
        ({}, 0.5, 1.0),  # the shipped 5000/500 ms
        ({"election_timeout_ms": 1500, "broadcast_timeout_ms": 250}, 0.15, 0.6),
        ({"election_timeout_ms": 2000}, 0.2, 0.8),
        ({"election_timeout_ms": 20000}, 0.5, 1.0),
    ],
)
def test_validate_fills_in_poll_interval_and_timeout_from_the_election_timeout(
    pillar_module, settings, raft, poll, timeout
):
    config = settings()
    config["raft"].update(raft)
    assert pillar_module.find_errors(config) == []
    fence = pillar_module.validate(config)["fence"]
    assert (fence["poll_interval"], fence["timeout"]) == (poll, timeout)
    lease_ms = fence["lease_fraction"] * config["raft"]["election_timeout_ms"]
    assert fence["poll_interval"] * 1000 + fence["timeout"] * 1000 <= lease_ms


def test_values_set_in_the_pillar_are_kept(pillar_module, settings):
    fence = pillar_module.validate(settings(poll_interval=0.3, timeout=0.7))["fence"]
    assert (fence["poll_interval"], fence["timeout"]) == (0.3, 0.7)
    # A set poll_interval still gives the derived timeout its share of the lease.
    fence = pillar_module.validate(settings(poll_interval=1.0, lease_fraction=0.3))["fence"]
    assert (fence["poll_interval"], fence["timeout"]) == (1.0, 0.5)


def test_shorter_raft_timings_are_taken_into_account(pillar_module, settings):
    config = settings(enabled=True)
    # derived poll 0.15 s: 750 + 150 + 500 + 250 = 1650 ms >= 1500 ms
    config["raft"]["election_timeout_ms"] = 1500
    errors = fence_errors(pillar_module, config)
    assert len(errors) == 1, errors
    assert errors[0].startswith("onenebula_ha:fence:lease_fraction: lease 750 ms")
    assert (
        "poll_interval 150 ms (derived)" in errors[0]
        and "election_timeout_ms (1500 ms)" in errors[0]
    )
    # An explicit poll_interval is held to the same bound (1000 + 500 + 500 + 250 >= 2000).
    config["raft"]["election_timeout_ms"] = 2000
    config["fence"]["poll_interval"] = 0.5
    assert fence_errors(pillar_module, config)[0].startswith("onenebula_ha:fence:lease_fraction")
    # A disabled agent is not held to it.
    config["fence"]["enabled"] = False
    assert fence_errors(pillar_module, config) == []


def test_rounds_slower_than_the_lease_name_poll_interval(pillar_module, settings):
    errors = fence_errors(
        pillar_module, settings(enabled=True, lease_fraction=0.3, poll_interval=0.5, timeout=1.2)
    )
    assert errors and errors[0].startswith("onenebula_ha:fence:poll_interval")


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"enabled": "yes"}, "enabled"),
        ({"poll_interval": "1"}, "poll_interval"),
        ({"timeout": "derived"}, "timeout"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"lease_fraction": 1.0}, "lease_fraction"),
        ({"timeout": True}, "timeout"),
        ({"margin_ms": 1.5}, "margin_ms"),
        ({"max_lag": -1}, "max_lag"),
        ({"port": 0}, "port"),
        ({"bind": "all"}, "bind"),
        ({"log_level": "verbose"}, "log_level"),
        ({"service": "fence; reboot"}, "service"),
        ({"program": "relative/agent"}, "program"),
        ({"config": "/etc/../etc/shadow x"}, "config"),
        ({"lease": 0.5}, "lease"),
    ],
)
def test_bad_values_name_their_key(pillar_module, settings, change, key):
    errors = fence_errors(pillar_module, settings(**change))
    assert errors, change
    assert errors[0].startswith(f"onenebula_ha:fence:{key}:"), errors
