"""``onenebula_pillar.check`` (README step 4) on a real minion: the pillar it judges is the
minion's own, unmasked (Salt 3008 masks pillar values returned by ``pillar.get`` unless asked
not to), merged over the formula's defaults and platform values fetched from the master."""

import pytest
import yaml


@pytest.fixture
def pillar_file(pillar_tree, salt_call_cli):
    path = pillar_tree / "onenebula_ha.sls"
    original = path.read_text()

    def write(pillar):
        path.write_text(yaml.safe_dump(pillar))
        ret = salt_call_cli.run("saltutil.refresh_pillar", wait=True)
        assert ret.returncode == 0, ret

    yield write
    path.write_text(original)
    salt_call_cli.run("saltutil.refresh_pillar", wait=True)


def test_pillar_example_is_valid_through_salt_call(salt_call_cli):
    ret = salt_call_cli.run("onenebula_pillar.check")
    assert ret.returncode == 0, ret
    assert ret.data == {"valid": True, "errors": []}


def test_pillar_example_is_valid_from_the_master(master, minion):
    ret = master.salt_cli(timeout=120).run("onenebula_pillar.check", minion_tgt=minion.id)
    assert ret.returncode == 0, ret
    assert ret.data == {"valid": True, "errors": []}


def test_a_hostile_pillar_is_reported_by_key_without_its_secret(
    salt_call_cli, pillar_file, repo_root
):
    pillar = yaml.safe_load((repo_root / "pillar.example").read_text())
    settings = pillar["onenebula_ha"]
    settings["vip"]["interface"] = "eth0\noneadmin ALL=(ALL) NOPASSWD: ALL\n#"
    settings["database"]["password"] = "hunter2-pw\\"
    settings["lookup"] = {"paths": {"hooks_dir": "remotes/hooks"}}
    pillar_file(pillar)
    ret = salt_call_cli.run("onenebula_pillar.check")
    assert ret.returncode == 0, ret
    assert ret.data["valid"] is False
    errors = ret.data["errors"]
    assert [error.split(": ")[0] for error in errors] == [
        "onenebula_ha:vip:interface",
        "onenebula_ha:database:password",
        "onenebula_ha:lookup:paths:hooks_dir",
    ]
    assert "hunter2-pw" not in str(ret.data)
