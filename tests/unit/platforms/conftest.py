"""Loads onenebula_platform straight from ``_modules`` (no Salt loader needed)."""

import pytest
import yaml
from support.formula_utils import utils_dunder
from support.load import load_file


@pytest.fixture(scope="session")
def platform_module(repo_root):
    module = load_file(repo_root / "_modules" / "onenebula_platform.py", "onenebula_platform")
    module.__utils__ = utils_dunder()
    return module


@pytest.fixture(scope="session")
def platforms_data(repo_root):
    return yaml.safe_load((repo_root / "onenebula_ha" / "platforms.yaml").read_text())
