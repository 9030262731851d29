"""``onezone`` and ``onedb`` against a real simulated 3-server zone on loopback.

The CLIs are run exactly as an operator on one front-end would run them: the server's own
environment file (ONE_LOCATION, ONE_AUTH, ONE_XMLRPC) and nothing else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from onelab.proc import wait_until
from onesim import schema
from onesim.zone_local import LocalZone

BIN = Path(sys.executable).parent
#: Short Raft timings (well above the 50 ms tick and an XML-RPC round trip on 2 cores).
TIMINGS = {"election_ms": 600, "broadcast_ms": 100, "xmlrpc_timeout_ms": 250, "warmup_ms": 300}


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    with LocalZone(3, tmp_path_factory.mktemp("cli-zone") / "zone", **TIMINGS) as local_zone:
        local_zone.wait_leader()
        yield local_zone


def cli(zone: LocalZone, index: int, program: str, *args: str, timeout: float = 60):
    env = dict(
        zone.servers[index].env, HOME=str(Path(zone.servers[index].location)), LANG="C.UTF-8"
    )
    return subprocess.run(
        [str(BIN / program), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
    )


def servers_json(zone: LocalZone, index: int) -> list[dict]:
    result = cli(zone, index, "onezone", "show", "0", "-j")
    assert result.returncode == 0, result.stderr
    servers = json.loads(result.stdout)["ZONE"]["SERVER_POOL"]["SERVER"]
    return servers if isinstance(servers, list) else [servers]


def test_behaviour_02_onezone_show_procedure_on_a_live_zone(zone):
    leader = zone.wait_leader()
    follower = next(i for i in range(3) if i != leader)

    # caught up once every row shows the leader's term (a new follower lags until a write)
    servers = wait_until(
        lambda: (
            (s := servers_json(zone, follower))
            and len({x["TERM"] for x in s}) == 1
            and sorted(x["STATE"] for x in s) == ["2", "2", "3"]
            and s
        ),
        timeout=20,
        what="a healthy zone in onezone show -j",
    )
    by_id = {int(s["ID"]): s for s in servers}
    assert by_id[leader]["VOTEDFOR"] == str(leader)
    assert all(s["FEDLOG_INDEX"] == "-1" for s in servers)

    text = cli(zone, follower, "onezone", "show", "0")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.split("\n")
    assert lines[0] == "ZONE 0 INFORMATION" + " " * 62
    sync = lines.index("HA & FEDERATION SYNC STATUS" + " " * 53)
    rows = lines[sync + 2 : sync + 5]  # after the column-header line
    assert sorted(row[19:29].rstrip() for row in rows) == ["follower", "follower", "leader"]
    assert lines[sync + 5] == ""


def test_server_add_and_del_by_name_through_a_follower(zone):
    leader = zone.wait_leader()
    follower = next(i for i in range(3) if i != leader)
    spare = f"http://{zone.net}.9:2633/RPC2"  # nothing listens there

    added = cli(zone, follower, "onezone", "server-add", "0", "-v", "-n", "spare", "-r", spare)
    assert (added.returncode, added.stdout, added.stderr) == (0, "ZONE 0: server added\n", "")
    spare_row = wait_until(
        lambda: [s for s in servers_json(zone, leader) if s["NAME"] == "spare"],
        timeout=10,
        what="the new server in the leader's zone",
    )[0]
    assert spare_row["STATE"] == "-" and spare_row["ENDPOINT"] == spare

    deleted = cli(zone, leader, "onezone", "server-del", "0", "spare")
    assert (deleted.returncode, deleted.stderr) == (0, "")
    assert [s["NAME"] for s in servers_json(zone, leader)] == ["server-0", "server-1", "server-2"]

    missing = cli(zone, leader, "onezone", "server-reset", "0", "spare")
    assert (missing.returncode, missing.stderr) == (255, "spare not found or duplicated\n")


def test_behaviour_10_db_tooling_on_a_live_server(zone, tmp_path):
    leader = zone.wait_leader()
    location = Path(zone.servers[leader].location)

    version = cli(zone, leader, "onedb", "version")  # backend from $ONE_LOCATION/etc/oned.conf
    assert version.returncode == 0, version.stderr
    assert version.stdout == (
        f"Shared: {schema.SHARED_VERSION}\nLocal:  {schema.LOCAL_VERSION}\n"
        f"Required shared version: {schema.SHARED_VERSION}\n"
        f"Required local version:  {schema.LOCAL_VERSION}\n"
    )

    dump = tmp_path / "leader.bck"
    backup = cli(zone, leader, "onedb", "backup", str(dump))
    assert backup.returncode == 0, backup.stderr
    assert "INSERT INTO zone_pool" in dump.read_text()

    refused = cli(zone, leader, "onedb", "restore", "-f", str(dump))
    assert refused.returncode == 255
    assert refused.stderr == f"First stop OpenNebula. Lock file found: {location}/var/.lock\n"
    assert os.path.exists(location / "var" / ".lock")
