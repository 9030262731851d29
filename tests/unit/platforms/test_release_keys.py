"""onenebula_ha:version, edition and packages:enterprise_token in the pillar validation."""

import copy

import pytest
import yaml
from support.load import load_file

TOKEN = "customer-login:s3cr3t-Passw0rd"


@pytest.fixture(scope="module")
def pillar_module(repo_root):
    module = load_file(
        repo_root / "_modules" / "onenebula_pillar.py", "onenebula_pillar_for_platforms"
    )
    return module


@pytest.fixture
def config(repo_root):
    """pillar.example merged over defaults.yaml, as map.jinja merges them."""
    from salt.utils.dictupdate import merge

    defaults = yaml.safe_load((repo_root / "onenebula_ha" / "defaults.yaml").read_text())
    example = yaml.safe_load((repo_root / "pillar.example").read_text())
    return copy.deepcopy(
        merge(defaults["onenebula_ha"], example["onenebula_ha"], strategy="recurse")
    )


def test_example_and_defaults_are_valid(pillar_module, config):
    assert config["version"] == "7.0" and config["edition"] == "community"
    assert pillar_module.find_errors(config) == []


@pytest.mark.parametrize("version", [7.0, 6.1, "7", "seven", None, "7.0\n"])
def test_version_must_be_a_quoted_release(pillar_module, config, version):
    config["version"] = version
    errors = pillar_module.find_errors(config)
    assert [e for e in errors if e.startswith("onenebula_ha:version: ")], errors


def test_edition_is_checked(pillar_module, config):
    config["edition"] = "Enterprise"
    assert "onenebula_ha:edition: 'Enterprise' must be community or enterprise" in (
        pillar_module.find_errors(config)
    )


@pytest.mark.parametrize("token", [None, "", "no-colon", "login: spaces in it", "login:password\n"])
def test_enterprise_needs_a_token_and_never_echoes_it(pillar_module, config, token):
    config["edition"] = "enterprise"
    config["packages"]["enterprise_token"] = token
    errors = pillar_module.find_errors(config)
    assert any(e.startswith("onenebula_ha:packages:enterprise_token: required") for e in errors)
    if token:
        assert not any(token in e for e in errors)


def test_enterprise_with_token_is_valid(pillar_module, config):
    config["edition"] = "enterprise"
    config["packages"]["enterprise_token"] = TOKEN
    assert pillar_module.find_errors(config) == []


def test_token_without_enterprise_is_reported_without_its_value(pillar_module, config):
    config["packages"]["enterprise_token"] = TOKEN
    errors = pillar_module.find_errors(config)
    assert any("edition is 'community'" in e for e in errors)
    assert not any("s3cr3t" in e for e in errors)
