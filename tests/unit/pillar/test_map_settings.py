"""``onenebula_map.settings``, what ``map.jinja`` exports: the formula's YAML files merged
with the pillar and validated once per run, then answered from ``__context__`` only while
everything it depends on is the same.

The real ``onenebula_pillar`` and ``onenebula_platform`` modules and the repository's YAML
files; Salt's ``cp.get_file_str``, ``pillar.get`` and ``grains.filter_by`` are small fakes
that read the repository and count the file reads.
"""

import copy

import pytest
import salt.utils.dictupdate
import yaml
from salt.exceptions import CommandExecutionError
from support.formula_utils import utils_dunder
from support.load import load_file

GRAINS = {"id": "vmm01", "os_family": "Debian", "os": "Debian", "osmajorrelease": 12}


class FakeMinion:
    """The dunders of one minion: its pillar, grains, a run's ``__context__``."""

    def __init__(self, repo_root, pillar):
        self.repo_root = repo_root
        self.pillar = pillar
        self.grains = dict(GRAINS)
        self.reads = []
        suffix = str(id(self))
        self.pillar_module = load_file(repo_root / "_modules" / "onenebula_pillar.py", "p" + suffix)
        platform = load_file(repo_root / "_modules" / "onenebula_platform.py", "f" + suffix)
        platform.__utils__ = utils_dunder()
        self.map = load_file(repo_root / "_modules" / "onenebula_map.py", "m" + suffix)
        functions = {
            "cp.get_file_str": self.get_file_str,
            "pillar.get": self.pillar_get,
            "grains.filter_by": self.filter_by,
            "onenebula_pillar.settings": self.pillar_module.settings,
            "onenebula_pillar.problem": self.pillar_module.problem,
            "onenebula_platform.layer": platform.layer,
        }
        for module in (self.map, platform):
            module.__salt__ = functions
            module.__grains__ = self.grains
        self.map.__context__ = {}

    def get_file_str(self, source, saltenv="base"):
        self.reads.append(source)
        path = self.repo_root / source.removeprefix("salt://")
        return path.read_text() if path.is_file() else False

    def pillar_get(self, key, default=None, unmask=None):
        return copy.deepcopy(self.pillar.get(key, default))

    def filter_by(self, lookup, grain):
        return lookup.get(self.grains.get(grain), lookup.get("default"))

    def settings(self):
        return self.map.settings("onenebula_ha", "base")

    def runs(self):
        """How many times the settings were computed (three YAML files read each time)."""
        assert len(self.reads) % 3 == 0
        return len(self.reads) // 3


@pytest.fixture
def minion(repo_root, example_pillar):
    return FakeMinion(repo_root, {"onenebula_ha": copy.deepcopy(example_pillar)})


def test_the_settings_are_map_jinjas_merge_validated(minion, repo_root, example_pillar):
    defaults = yaml.safe_load((repo_root / "onenebula_ha" / "defaults.yaml").read_text())
    osfamily = yaml.safe_load((repo_root / "onenebula_ha" / "osfamilymap.yaml").read_text())
    settings = minion.settings()
    assert settings["zone"] == example_pillar["zone"]
    # osfamilymap's Debian values and the platform layer's packages are in, under the pillar
    assert settings["pkgs"]["database"] == osfamily["Debian"]["pkgs"]["database"]
    assert settings["pkgs"]["opennebula"], settings["pkgs"]
    assert settings["raft"] == salt.utils.dictupdate.merge(
        defaults["onenebula_ha"]["raft"], example_pillar.get("raft", {})
    )
    # validated: derived values filled in
    assert all(server["endpoint"] for server in settings["servers"])


def test_one_computation_for_the_files_of_a_run(minion):
    first = minion.settings()
    for _ in range(12):
        assert minion.settings() == first
    assert minion.runs() == 1


def test_each_call_gets_its_own_copy(minion):
    first = minion.settings()
    first["servers"].clear()
    first["zone"]["name"] = "changed"
    second = minion.settings()
    assert second["servers"] and second["zone"]["name"] != "changed"
    assert minion.runs() == 1


def test_another_pillar_is_computed_afresh(minion):
    assert minion.settings()["oned"]["port"] == 2633
    minion.pillar["onenebula_ha"]["oned"] = {"port": 2700}
    assert minion.settings()["oned"]["port"] == 2700
    assert minion.runs() == 2


def test_other_grains_are_computed_afresh(minion):
    debian = minion.settings()
    minion.grains.update(os_family="RedHat", os="AlmaLinux", osmajorrelease=9)
    redhat = minion.settings()
    assert minion.runs() == 2
    assert debian["pkgs"]["database"] != redhat["pkgs"]["database"]


def test_another_state_tree_root_or_saltenv_is_computed_afresh(minion):
    minion.settings()
    minion.map.settings("onenebula_ha", "prod")
    assert minion.runs() == 2


def test_an_invalid_pillar_fails_every_time_and_is_never_cached(minion):
    minion.pillar["onenebula_ha"]["zone"]["id"] = "zero; rm -rf /"
    for _ in range(2):
        with pytest.raises(CommandExecutionError, match="onenebula_ha:zone:id"):
            minion.settings()
    assert minion.runs() == 2
    assert "onenebula_map.settings" not in minion.map.__context__


def test_an_oversized_pillar_is_refused_before_it_is_fingerprinted(minion, monkeypatch):
    fingerprinted = []
    original = minion.map._fingerprint
    monkeypatch.setattr(
        minion.map, "_fingerprint", lambda *p: fingerprinted.append(p) or original(*p)
    )
    # a YAML alias bomb: nine levels of ten references to the level below
    node = ["x" * 10]
    for _ in range(9):
        node = [node] * 10
    minion.pillar["onenebula_ha"]["web_ui"] = {"services": node}
    with pytest.raises(CommandExecutionError, match="too large"):
        minion.settings()
    assert fingerprinted == []


def test_a_missing_file_names_it(minion):
    minion.repo_root = minion.repo_root / "nowhere"
    with pytest.raises(CommandExecutionError, match="salt://onenebula_ha/defaults.yaml"):
        minion.settings()
