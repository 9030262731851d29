"""Linters are part of the suite: ruff on Python, yamllint on plain YAML, salt-lint on SLS."""

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
PYTHON_PATHS = [
    "_modules",
    "_states",
    "_beacons",
    "_runners",
    "_utils",
    "onenebula_ha/fence/files",
    "onesim",
    "onelab",
    "tests",
    "bench",
]
PLAIN_YAML = [
    "pillar.example",
    "onenebula_ha/defaults.yaml",
    "onenebula_ha/osfamilymap.yaml",
    "onenebula_ha/platforms.yaml",
]


def _run(repo_root, *argv):
    proc = subprocess.run(argv, cwd=repo_root, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def _existing(repo_root, paths):
    return [p for p in paths if (repo_root / p).exists()]


def test_ruff_check(repo_root):
    rc, output = _run(repo_root, str(BIN / "ruff"), "check", *_existing(repo_root, PYTHON_PATHS))
    assert rc == 0, output


def test_ruff_format(repo_root):
    paths = _existing(repo_root, PYTHON_PATHS)
    rc, output = _run(repo_root, str(BIN / "ruff"), "format", "--check", *paths)
    assert rc == 0, output


def test_yamllint_plain_yaml(repo_root):
    rc, output = _run(
        repo_root, str(BIN / "yamllint"), "--strict", *_existing(repo_root, PLAIN_YAML)
    )
    assert rc == 0, output


def _sls_files(repo_root):
    return sorted(
        str(p.relative_to(repo_root))
        for tree in ("onenebula_ha", "reactor")
        for p in (repo_root / tree).rglob("*.sls")
    )


def test_salt_lint_state_tree_and_reactor(repo_root):
    files = _sls_files(repo_root)
    if not files:
        pytest.skip("no SLS files yet")
    rc, output = _run(repo_root, str(BIN / "salt-lint"), *files)
    assert rc == 0, output
