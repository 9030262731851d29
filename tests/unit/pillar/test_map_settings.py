"""``onenebula_map.settings``, what ``map.jinja`` exports: the formula's YAML files merged
with the pillar and validated once per run, then answered from ``__context__`` only while
everything it depends on is the same; and ``onenebula_map.facts``, what ``libha.jinja``
exports.

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
            "file.file_exists": lambda path: path in self.conf,
            "onenebula_conf.get": self.conf_get,
        }
        for module in (self.map, platform):
            module.__salt__ = functions
            module.__grains__ = self.grains
        self.map.__context__ = {}
        self.map.__opts__ = {"id": "vmm01"}
        self.conf = {}  # {oned.conf path: FEDERATION/SERVER_ID}, None: key absent

    def conf_get(self, key, path):
        assert key == "FEDERATION/SERVER_ID"
        return self.conf[path]

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


# ------------------------------------------------------------------ facts (libha.jinja)


@pytest.mark.parametrize(
    ("server_id", "expected"),
    [("0", 0), (" 0 ", 0), ("0.0", 0), ("-1", -1), ("x", None), ("nan", None), (None, None)],
)
def test_the_conf_server_id_is_read_as_jinjas_int_filter_read_it(minion, server_id, expected):
    settings = minion.settings()
    minion.conf[settings["paths"]["oned_conf"]] = server_id
    facts = minion.map.facts(settings)
    assert facts["conf_server_id"] == expected
    # vmm01 is server 0 of pillar.example
    assert facts["is_member"] is (expected == 0)


def test_a_host_without_oned_conf_is_no_member(minion):
    facts = minion.map.facts(minion.settings())
    assert facts["conf_server_id"] is None and facts["is_member"] is False
    assert facts["this_server"]["minion"] == "vmm01"


def test_a_minion_outside_the_servers_has_no_entry(minion):
    minion.map.__opts__["id"] = "elsewhere"
    settings = minion.settings()
    minion.conf[settings["paths"]["oned_conf"]] = "0"
    facts = minion.map.facts(settings)
    assert facts["this_server"] is None and facts["is_member"] is False


def test_the_derived_paths_and_hook_arguments(minion, example_pillar):
    settings = minion.settings()
    facts = minion.map.facts(settings)
    vip = example_pillar["vip"]
    assert facts["vip_ip"] == vip["address"].split("/")[0]
    assert facts["hook_arguments"] == {
        "leader": f"leader {vip['interface']} {vip['address']}",
        "follower": f"follower {vip['interface']} {vip['address']}",
    }
    assert facts["hooks_enabled"] is True
    assert facts["failover_dir"] == settings["paths"]["hooks_dir"] + "/raft/failover.d"
    assert facts["manifest_path"] == settings["deploy"]["backup_dir"] + "/secrets.sha256"
    assert facts["backup_path"] == settings["deploy"]["backup_dir"] + "/leader.sql"
    assert facts["ssh_hosts"] == {
        s["minion"]: s.get("address") or s["name"] for s in example_pillar["servers"]
    }


def test_without_a_vip_or_hooks_the_hooks_are_off(minion):
    minion.pillar["onenebula_ha"].update(
        vip={"enabled": False}, leader_services=[], hooks={"failover_scripts": {}}
    )
    facts = minion.map.facts(minion.settings())
    assert facts["vip_ip"] == ""
    assert facts["hook_arguments"] == {"leader": "leader", "follower": "follower"}
    assert facts["hooks_enabled"] is False


def test_the_step_names_the_source_leader(minion):
    settings = minion.settings()
    assert minion.map.facts(settings)["source_leader"] == settings["servers"][0]["minion"]
    minion.pillar["onenebula_ha_run"] = {"leader": "vmm03", "step": "joining"}
    facts = minion.map.facts(settings)
    assert facts["source_leader"] == "vmm03" and facts["run"]["step"] == "joining"


def test_a_step_argument_that_is_no_mapping_is_refused(minion):
    minion.pillar["onenebula_ha_run"] = "vmm03"
    with pytest.raises(CommandExecutionError, match="onenebula_ha_run"):
        minion.map.facts(minion.settings())


# ---------------------------------------------------------------- files_switch (libtofs.jinja)


def test_files_switch_takes_the_first_template_the_file_server_holds(minion):
    hooks = "onenebula_ha/hooks/files"
    listed = {f"{hooks}/failover.sh.jinja", f"{hooks}/sudoers.jinja"}
    asked = []

    def list_master(saltenv="base"):
        asked.append(saltenv)
        return sorted(listed)

    minion.map.__salt__ = {**minion.map.__salt__, "cp.list_master": list_master}

    def switch(name):
        return minion.map.files_switch(hooks, name)

    assert switch("failover.sh.jinja") == f"salt://{hooks}/failover.sh.jinja"
    listed.update({f"{hooks}/Debian/sudoers.jinja", f"{hooks}/vmm01/failover.sh.jinja"})
    minion.map.__context__.clear()  # the next run
    assert switch("sudoers.jinja") == f"salt://{hooks}/Debian/sudoers.jinja"
    assert switch("failover.sh.jinja") == f"salt://{hooks}/vmm01/failover.sh.jinja"
    # Nothing listed under any name: the shipped path, for file.managed to report missing.
    assert switch("missing.jinja") == f"salt://{hooks}/missing.jinja"
    assert asked == ["base", "base"]  # once per run, not once per template
