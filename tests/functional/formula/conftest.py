"""Masterless ``salt-call --local`` against the repository's state tree (``support.local_salt``).

One minion config per module; each test sets its own pillar. The formula's ``_modules`` are
synced into the temporary cache first.
"""

import shutil

import pytest
import yaml
from support.local_salt import LocalSalt


@pytest.fixture(scope="module")
def local_salt(tmp_path_factory, repo_root):
    root = tmp_path_factory.mktemp("local-salt")
    salt = LocalSalt(root, repo_root)
    rc, _, output = salt.call("saltutil.sync_all")
    assert rc == 0, output
    yield salt
    shutil.rmtree(root / "root", ignore_errors=True)


@pytest.fixture(scope="session")
def example_pillar_data(repo_root):
    return yaml.safe_load((repo_root / "pillar.example").read_text())
