"""Loads the pillar validation module straight from ``_modules`` (no Salt loader needed)."""

import pytest
import yaml
from support.load import load_file
from support.merge import deep_merge


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
    return lambda: deep_merge(formula_defaults, example_pillar)
