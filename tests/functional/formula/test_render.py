"""The state tree renders with pillar.example and refuses a bad pillar before any change."""

from pathlib import Path

import pytest

MAPDATA_DUMP = Path("/tmp/salt_mapdata_dump.yaml")


@pytest.fixture
def no_dump():
    MAPDATA_DUMP.unlink(missing_ok=True)
    yield
    MAPDATA_DUMP.unlink(missing_ok=True)


def test_mapdata_renders_with_pillar_example(local_salt, example_pillar_data):
    local_salt.set_pillar(example_pillar_data)
    rc, data, output = local_salt.call("state.show_sls", "onenebula_ha._mapdata")
    assert rc == 0, output
    dataset = next(iter(data.values()))["file"][1]["dataset"]
    assert [s["endpoint"] for s in dataset["servers"]][0] == "http://10.213.0.10:2633/RPC2"
    # Secrets never reach state data.
    assert dataset["database"]["password"] == "<redacted>"
    assert "change-me-db-password" not in output


def test_mapdata_applies_and_redacts(local_salt, example_pillar_data, no_dump):
    local_salt.set_pillar(example_pillar_data)
    rc, _, output = local_salt.call("state.apply", "onenebula_ha._mapdata")
    assert rc == 0, output
    assert MAPDATA_DUMP.exists()
    assert "change-me-db-password" not in MAPDATA_DUMP.read_text()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p["onenebula_ha"]["servers"].pop(), "onenebula_ha:servers: 4 server(s) listed"),
        (
            lambda p: p["onenebula_ha"]["vip"].update(address="10.213.0.20/24"),
            "onenebula_ha:vip:address: 10.213.0.20 is the address of servers:1",
        ),
        (
            lambda p: p["onenebula_ha"]["database"].pop("password"),
            "onenebula_ha:database:password: required",
        ),
        (
            # issue 10: this interface gave oneadmin full root through the sudoers file
            lambda p: p["onenebula_ha"]["vip"].update(
                interface="eth0\noneadmin ALL=(ALL) NOPASSWD: ALL\n#"
            ),
            "onenebula_ha:vip:interface: 'eth0\\noneadmin ALL=(ALL) NOPASSWD: ALL\\n#' is not "
            "an interface name",
        ),
    ],
    ids=["even-count", "vip-on-server", "no-db-password", "sudoers-injection"],
)
def test_bad_pillar_stops_the_render_and_changes_nothing(
    local_salt, example_pillar_data, no_dump, mutate, message
):
    import copy

    pillar = copy.deepcopy(example_pillar_data)
    mutate(pillar)
    local_salt.set_pillar(pillar)
    rc, data, output = local_salt.call("state.apply", "onenebula_ha._mapdata")
    assert rc != 0
    assert any(message in line for line in data), output
    assert not MAPDATA_DUMP.exists()
