"""``onelab master start`` on a lab already up restarts the master with the reactor
configuration it was first started with (a fresh ``PlainSalt()`` has no extra settings)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from onelab.salt_plain import PlainSalt

REACTOR = {"reactor": [{"onenebula_ha/raft/*": ["salt://onenebula_ha/reactor/raft.sls"]}]}


@dataclass
class Paths:
    state_dir: Path
    state_tree: Path
    pillar_dir: Path


def _paths(tmp_path: Path) -> Paths:
    paths = Paths(tmp_path / "state", tmp_path / "tree", tmp_path / "pillar")
    for directory in (paths.state_dir, paths.state_tree, paths.pillar_dir):
        directory.mkdir()
    return paths


def _master_config(conf_dir: Path) -> dict:
    return yaml.safe_load((conf_dir / "master").read_text())


def test_a_master_restarted_without_extra_settings_keeps_the_reactor(tmp_path):
    paths = _paths(tmp_path)
    first = PlainSalt(master_extra=REACTOR)
    first.attach(paths)
    assert _master_config(first.write_master_config())["reactor"] == REACTOR["reactor"]

    again = PlainSalt()  # what `onelab master start` builds
    again.attach(paths)
    config = _master_config(again.write_master_config())
    assert config["reactor"] == REACTOR["reactor"]
    assert again.master_extra == REACTOR


def test_a_lab_without_extra_settings_has_no_reactor(tmp_path):
    salt = PlainSalt()
    salt.attach(_paths(tmp_path))
    assert "reactor" not in _master_config(salt.write_master_config())


def test_new_extra_settings_replace_the_kept_ones(tmp_path):
    paths = _paths(tmp_path)
    first = PlainSalt(master_extra=REACTOR)
    first.attach(paths)
    first.write_master_config()
    other = {"reactor": [{"custom/tag": ["salt://other.sls"]}]}
    second = PlainSalt(master_extra=other)
    second.attach(paths)
    second.write_master_config()
    third = PlainSalt()
    third.attach(paths)
    assert _master_config(third.write_master_config())["reactor"] == other["reactor"]
