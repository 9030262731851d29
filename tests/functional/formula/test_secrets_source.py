"""Which host keeps its own oneadmin secrets on a plain ``state.apply`` (issue 10 point 7):
the first pillar server only while it leads. As a follower of another leader it pulls the
leader's files like every other front-end (over SSH, from the leader its zone reports), so
drift on it is repaired instead of being reported correct. Rendered on a loopback zone where
the first server is a follower."""

import copy
import sys
from pathlib import Path

import pytest
import salt._logging.impl
import salt.client
import salt.config

VENV_BIN = str(Path(sys.executable).parent)


@pytest.fixture
def zone(tmp_path):
    from onesim.zone_local import LocalZone

    with LocalZone(3, tmp_path / "zone") as local_zone:
        yield local_zone


def _secrets_states(local_salt, minion, env, monkeypatch):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PATH", VENV_BIN + ":" + env.get("PATH", "/usr/bin:/bin"))
    opts = salt.config.minion_config(str(local_salt.conf_dir / "minion"))
    opts["id"] = minion
    data = salt.client.Caller(mopts=opts).cmd("state.show_sls", "onenebula_ha.secrets")
    salt._logging.impl.shutdown_temp_handler()
    assert isinstance(data, dict), data
    return data


def test_first_server_keeps_its_secrets_only_while_it_leads(
    local_salt, example_pillar_data, zone, monkeypatch
):
    first = zone.wait_leader()
    zone.kill(first)
    zone.wait_leader(among=[s.id for s in zone.servers if s.id != first])
    zone.start(first)
    pillar = copy.deepcopy(example_pillar_data)
    settings = pillar["onenebula_ha"]
    ordered = sorted(zone.servers, key=lambda s: s.id)
    settings["servers"] = [
        {"minion": f"fe{s.id}", "id": s.id, "name": s.name, "endpoint": s.endpoint} for s in ordered
    ]
    settings["vip"] = {"enabled": False}
    local_salt.set_pillar(pillar)
    first_entry = settings["servers"][0]
    first_server = next(s for s in zone.servers if s.name == first_entry["name"])
    leader = zone.wait_leader()
    if leader == first_server.id:
        pytest.skip("the first server took the leadership back")

    as_follower = _secrets_states(local_salt, first_entry["minion"], first_server.env, monkeypatch)
    # The follower branch: the files are pulled from the zone's current leader instead of
    # keeping the local files as they are.
    pulled = as_follower["onenebula_ha-secrets-onenebula_secrets-pulled"]["onenebula_secrets"]
    args = {k: v for arg in pulled if isinstance(arg, dict) for k, v in arg.items()}
    leader_name = next(s.name for s in zone.servers if s.id == leader)
    assert args["source"] == leader_name, args
    assert not any(key.startswith("onenebula_ha-secrets-file-managed") for key in as_follower)
