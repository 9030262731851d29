"""Loads the pillar validation module straight from ``_modules`` (no Salt loader needed)."""

import copy

import pytest
import yaml
from support.load import load_file


@pytest.fixture(scope="session")
def pillar_module(repo_root):
    module = load_file(repo_root / "_modules" / "onenebula_pillar.py", "onenebula_pillar")
    return module


@pytest.fixture(scope="session")
def formula_defaults(repo_root):
    return yaml.safe_load((repo_root / "onenebula_ha" / "defaults.yaml").read_text())[
        "onenebula_ha"
    ]


@pytest.fixture(scope="session")
def example_pillar(repo_root):
    return yaml.safe_load((repo_root / "pillar.example").read_text())["onenebula_ha"]


@pytest.fixture
def merged(formula_defaults, example_pillar):
    """A function giving defaults merged with pillar.example, as map.jinja does."""

    def _merge(base, over):
        result = copy.deepcopy(base)
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                result[key] = _merge(result[key], value)
            else:
                result[key] = copy.deepcopy(value)
        return result

    return lambda: _merge(formula_defaults, example_pillar)
