"""Loads onenebula_platform straight from ``_modules`` (no Salt loader needed)."""

import importlib.util

import pytest
import yaml


@pytest.fixture(scope="session")
def platform_module(repo_root):
    spec = importlib.util.spec_from_file_location(
        "onenebula_platform", repo_root / "_modules" / "onenebula_platform.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def platforms_data(repo_root):
    return yaml.safe_load((repo_root / "onenebula_ha" / "platforms.yaml").read_text())
