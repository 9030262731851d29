"""The README's pillar for three Debian 12 front-ends with OpenNebula 7.0 is complete and valid."""

import re

import pytest
import yaml
from salt.utils.dictupdate import merge
from support.load import load_file
from support.platform_grains import GRAINS

MARKER = "<!-- README pillar: checked by tests/unit/platforms/test_readme_pillar.py -->"


@pytest.fixture(scope="module")
def readme_pillar(repo_root):
    text = (repo_root / "README.md").read_text()
    assert MARKER in text
    block = re.search(r"```yaml\n(.*?)```", text.split(MARKER, 1)[1], re.S)
    return yaml.safe_load(block.group(1))["onenebula_ha"]


def _load(repo_root, name):
    module = load_file(repo_root / "_modules" / f"{name}.py", f"{name}_for_readme")
    return module


def test_readme_pillar_validates_and_selects_the_debian_12_repository(
    repo_root, readme_pillar, platform_module, platforms_data
):
    defaults = yaml.safe_load((repo_root / "onenebula_ha" / "defaults.yaml").read_text())
    osfamily = yaml.safe_load((repo_root / "onenebula_ha" / "osfamilymap.yaml").read_text())
    # map.jinja's order: defaults < osfamilymap < platform layer < pillar
    settings = merge(defaults["onenebula_ha"], osfamily["Debian"], strategy="recurse")
    layer = platform_module.layer(platforms_data, "7.0", "community", GRAINS["debian-12"])
    settings = merge(settings, layer, strategy="recurse")
    settings = merge(settings, readme_pillar, strategy="recurse")
    assert _load(repo_root, "onenebula_pillar").find_errors(settings) == []
    assert len(settings["servers"]) == 3
    plan = platform_module.repo_plan(settings)
    assert plan["pkgrepo"]["name"] == (
        "deb [signed-by=/etc/apt/keyrings/opennebula.asc] "
        "https://downloads.opennebula.io/repo/7.0/Debian/12 stable opennebula"
    )
