"""The pillar keys of the beacon and the reactor are validated like the rest of the pillar."""

import copy
import importlib.util

import pytest
import yaml
from beacon_helpers import REPO_ROOT

spec = importlib.util.spec_from_file_location(
    "onenebula_pillar_for_beacons", REPO_ROOT / "_modules" / "onenebula_pillar.py"
)
onenebula_pillar = importlib.util.module_from_spec(spec)
spec.loader.exec_module(onenebula_pillar)


@pytest.fixture
def settings():
    defaults = yaml.safe_load((REPO_ROOT / "onenebula_ha" / "defaults.yaml").read_text())
    example = yaml.safe_load((REPO_ROOT / "pillar.example").read_text())
    merged = copy.deepcopy(defaults["onenebula_ha"])
    for section, values in example["onenebula_ha"].items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section].update(values)
        else:
            merged[section] = values
    return merged


def test_defaults_and_example_are_valid(settings):
    assert onenebula_pillar.find_errors(settings) == []
    assert settings["beacon"]["error_after"] == 60
    assert settings["reactor"]["repair_lock_ttl"] == 3600


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("beacon", "report_errors_every", -1),
        ("beacon", "error_after", "60"),
        ("beacon", "error_after", True),
        ("reactor", "repair_lock_ttl", 1.5),
    ],
)
def test_bad_seconds_are_rejected_with_their_key(settings, section, key, value):
    settings[section][key] = value
    (error,) = onenebula_pillar.find_errors(settings)
    assert error.startswith(f"onenebula_ha:{section}:{key}: ")
    assert error.endswith(" must be a whole number of seconds from 0 to 86400")
