"""Three front-ends from bare hosts, then life on the converged zone: idempotence, test mode,
the status runner, a minion that is no front-end reading no dump and no secret, repairing a
follower whose DB was wiped, a rolling restart and a leader crash.

The tests of this module share one lab and run in order (each builds on the previous one).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.long

MINIONS = ["vmm01", "vmm02", "vmm03"]
SECRET_FILE = "/var/lib/one/.one/one_auth"
LEADER_DUMP = "/var/lib/one/onenebula_ha/leader.sql"
MANIFEST = "/var/lib/one/onenebula_ha/secrets.sha256"
DATASTORES = "/var/lib/one/datastores"


@pytest.fixture(scope="module")
def lab_size():
    return 3


def test_test_mode_on_bare_hosts_predicts_the_deploy_and_changes_nothing(formula, lab):
    before = formula.server_ids()
    orch = formula.orchestrate("deploy", test=True)
    assert orch.ok, orch.failures()
    assert orch.results, orch.raw
    predicted = " ".join(orch.changed)
    assert "bootstrapping vmm01 (1 of 3)" in predicted and "joining vmm03 (3 of 3)" in predicted
    assert formula.server_ids() == before == {m: -1 for m in MINIONS}
    assert not any(lab.running(m, "opennebula") for m in MINIONS)
    assert lab.vip_holders() == []


def test_deploy_three_front_ends_from_bare_hosts(formula, lab):
    orch = formula.orchestrate("deploy")
    sys.stderr.write(f"\ndeploy of 3 front-ends: {orch.seconds:.0f}s\n")
    assert orch.returncode == 0 and orch.ok, orch.failures()

    status = formula.status()
    assert status["healthy"], status["table"]
    assert status["leader"] == "vmm01"
    assert status["vip"]["holders"] == ["vmm01"] == lab.vip_holders()
    assert formula.zone("vmm02") == {"vmm01": "leader", "vmm02": "follower", "vmm03": "follower"}
    assert formula.server_ids() == {"vmm01": 0, "vmm02": 1, "vmm03": 2}

    table = formula.call("vmm01", "cmd.run", "onezone show 0")
    assert "HA & FEDERATION SYNC STATUS" in table and table.count("follower") == 2

    # The fencing agent is on by default, with timings derived from the fast Raft section
    # (ELECTION_TIMEOUT 1500 ms: poll 0.15 s, lease 0.75 s): it holds the VIP's lease.
    fence = formula.run_cli.run("onenebula_ha.fence")
    assert fence.returncode == 0, fence
    assert fence.data["lease_holders"] == ["vmm01"], fence.data
    assert {row["agent"] for row in fence.data["agents"].values()} == {"up"}, fence.data
    config = formula.call("vmm02", "cmd.run", "cat /etc/onenebula-ha/fence.json")
    assert '"poll_interval": 0.15' in config and '"timeout": 0.6' in config, config


def test_the_front_ends_share_secrets_datastore_and_ssh(formula, lab):
    hashes = formula.call("vmm0*", "file.get_hash", SECRET_FILE)
    assert len(hashes) == 3 and len(set(hashes.values())) == 1, hashes
    modes = formula.call("vmm0*", "file.get_mode", SECRET_FILE)
    assert set(modes.values()) == {"0600"}, modes

    probe = f"{DATASTORES}/written-on-vmm02"
    lab.exec("vmm02", ["sh", "-c", f"echo shared > {probe}"], check=True)
    seen = formula.call("vmm0*", "file.file_exists", probe)
    assert seen == {m: True for m in MINIONS}

    keys = formula.call("vmm0*", "ssh.auth_keys", "oneadmin")
    for minion in MINIONS:
        comments = sorted(entry["comment"] for entry in keys[minion].values())
        assert comments == [f"oneadmin@{m}" for m in MINIONS], (minion, keys[minion])
    known = lab.exec("vmm03", ["cat", "/var/lib/one/.ssh/known_hosts"], check=True).stdout
    for index, minion in enumerate(MINIONS, start=1):
        host_key = lab.exec(minion, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout.split()
        for alias in (f"10.213.0.{index}0", minion):
            assert f"{alias} {host_key[0]} {host_key[1]}" in known, (alias, known)


def test_a_second_deploy_changes_nothing(formula):
    orch = formula.orchestrate("deploy")
    assert orch.returncode == 0 and orch.ok, orch.failures()
    assert orch.changed == [], orch.changed_details()


def test_test_mode_on_the_converged_zone_predicts_nothing(formula, lab):
    orch = formula.orchestrate("deploy", test=True)
    assert orch.ok, orch.failures()
    assert orch.changed == [], orch.changed_details()
    assert all(result["result"] is True for result in orch.results.values())
    assert lab.vip_holders() == ["vmm01"]


def _exists(lab, minion, path):
    return lab.exec(minion, ["test", "-e", path]).returncode == 0


def test_a_minion_that_is_no_front_end_reads_no_dump_and_no_secret(formula, lab):
    lab.start_client_minion()
    leader = formula.status()["leader"]
    # A fresh dump on the leader, as in the middle of a join (the repair below uses it up).
    run = {"leader": leader, "server": "vmm03", "step": "probe"}
    backup = formula.call(
        leader, "state.apply", "onenebula_ha.ha.backup", pillar={"onenebula_ha_run": run}
    )
    assert backup and all(r["result"] for r in backup.values()), backup
    for path in (LEADER_DUMP, MANIFEST, SECRET_FILE):
        assert _exists(lab, leader, path), path

    probe = str(lab.state_dir / "client-probe")
    # The client minion answers and fetches what the master does serve (so a refusal below
    # is the master's, not a silent minion).
    served = "salt://onenebula_ha/defaults.yaml"
    assert formula.call("client", "cp.get_file", served, f"{probe}/ok", makedirs=True)
    assert formula.call("client", "cp.hash_file", served)["hash_type"] == "sha256"
    # Its pillar holds nothing of the zone (the database password lives there).
    assert "onenebula_ha" not in formula.call("client", "pillar.items")
    # The leader's dump, sidecar and manifest, and every front-end's oneadmin credentials.
    wanted = [f"salt://{leader}{path}" for path in (LEADER_DUMP, f"{LEADER_DUMP}.sha256", MANIFEST)]
    wanted += [f"salt://{minion}{SECRET_FILE}" for minion in MINIONS]
    for source in wanted:
        got = formula.call("client", "cp.get_file", source, f"{probe}/x", makedirs=True)
        assert not got, (source, got)
        assert not formula.call("client", "cp.hash_file", source), source
    listed = formula.call("client", "cp.list_master")
    assert listed and all(
        p.split("/")[0] in ("onenebula_ha", "reactor") or p.startswith("_") for p in listed
    ), [p for p in listed if "one" not in p][:10]
    assert not [p for p in listed if "leader.sql" in p or ".one/" in p or "vmm0" in p]
    dirs = formula.call("client", "cp.list_master_dirs")
    assert isinstance(dirs, list) and not [d for d in dirs if d.split("/")[0] in MINIONS], dirs
    managed = formula.call(
        "client",
        "state.single",
        "file.managed",
        name=f"{probe}/managed",
        source=f"salt://{leader}{SECRET_FILE}",
        skip_verify=True,
    )
    (result,) = managed.values()
    assert result["result"] is False and "not found" in result["comment"], result
    assert not (lab.state_dir / "client-probe" / "managed").exists()
    # The master itself holds nothing a front-end pushed.
    cache = Path(formula.master.config["cachedir"]) / "minions"
    assert not list(cache.glob("*/files")), list(cache.glob("*/files"))

    # Meanwhile the front-ends share their secrets over SSH: drift on a follower is repaired.
    follower = next(m for m in MINIONS if m != leader)
    lab.exec(follower, ["sh", "-c", f"echo oneadmin:drifted > {SECRET_FILE}"], check=True)
    fixed = formula.call(follower, "state.apply", "onenebula_ha.secrets")
    pulled = [r for r in fixed.values() if r.get("changes", {}).get("pulled")]
    assert [r["changes"]["pulled"] for r in pulled] == [["one_auth"]], fixed
    assert "drifted" not in str(fixed)
    hashes = formula.call("vmm0*", "file.get_hash", SECRET_FILE)
    assert len(set(hashes.values())) == 1, hashes

    # A converged run checks without SSH (the leader's generation in the mine is the one
    # the last pull recorded); a file the leader adds reaches the follower once the
    # leader's run republished its manifest.
    def pulled(minion):
        (ret,) = [
            r
            for key, r in formula.call(minion, "state.apply", "onenebula_ha.secrets").items()
            if "onenebula_secrets_|-" in key and key.endswith("_|-pulled")
        ]
        assert ret["result"] is True, ret
        return ret

    assert "no SSH needed" in pulled(follower)["comment"]
    added = "/var/lib/one/.one/onenebula_ha_probe"
    lab.exec(leader, ["sh", "-c", f"echo probe > {added}"], check=True)
    republished = formula.call(leader, "state.apply", "onenebula_ha.secrets")
    assert any(r.get("changes", {}).get("generation") == "new" for r in republished.values())
    assert pulled(follower)["changes"] == {"pulled": ["onenebula_ha_probe"]}
    assert "no SSH needed" in pulled(follower)["comment"]
    for minion in MINIONS:
        lab.exec(minion, ["rm", "-f", added], check=True)
    formula.call(leader, "state.apply", "onenebula_ha.secrets")


def test_repair_a_follower_whose_db_was_wiped(formula, lab):
    lab.service("vmm03", "opennebula", "stop")
    lab.exec(
        "vmm03",
        ["mariadb", "-e", "DROP DATABASE opennebula; CREATE DATABASE opennebula"],
        check=True,
    )
    # oned refuses an HA start on an un-bootstrapped DB.
    assert lab.service("vmm03", "opennebula", "start").returncode != 0
    formula.wait(
        "the leader to see vmm03 in error",
        lambda: formula.zone("vmm01").get("vmm03") == "error",
        timeout=30,
    )

    orch = formula.orchestrate("repair", pillar={"target": "vmm03"})
    assert orch.returncode == 0 and orch.ok, orch.failures()
    assert any("restoring" in name for name in orch.changed), orch.changed

    status = formula.status()
    assert status["healthy"], status["table"]
    assert formula.zone("vmm01")["vmm03"] == "follower"
    assert formula.server_ids()["vmm03"] == 2
    # The dump went from the leader to vmm03 over SSH, and is gone from both once restored.
    for minion in MINIONS:
        assert not _exists(lab, minion, LEADER_DUMP), minion
        assert not _exists(lab, minion, f"{LEADER_DUMP}.sha256"), minion


def test_rolling_restart_restarts_every_member_once_leader_last(formula, lab):
    pids = {m: lab.frontend(m).find_pids("oned") for m in MINIONS}
    leader = formula.status()["leader"]
    orch = formula.orchestrate("rolling_restart")
    assert orch.returncode == 0 and orch.ok, orch.failures()
    restarted = [name for name in orch.changed if name.startswith("restarting")]
    assert len(restarted) == 3 and restarted[-1].startswith(f"restarting {leader}")
    for minion in MINIONS:
        assert lab.frontend(minion).find_pids("oned") not in ([], pids[minion]), minion
    status = formula.status()
    assert status["healthy"], status["table"]
    # The new leader's agent claims the VIP once a majority confirmed its leadership.
    formula.wait(
        "the VIP on the leader only", lambda: lab.vip_holders() == [status["leader"]], 30, 0.2
    )


def test_after_a_leader_crash_the_vip_is_on_the_new_leader_only(formula, lab):
    old = formula.status()["leader"]
    killed_at = time.monotonic()
    lab.kill_oned(old)
    others = [m for m in MINIONS if m != old]
    new = formula.wait(
        "a new leader", lambda: formula.leader(among=others) not in (None, old), timeout=60
    )
    new = formula.leader(among=others)
    elected_after = time.monotonic() - killed_at
    sys.stderr.write(f"\nnew leader {new} {elected_after:.1f}s after the SIGKILL\n")
    # ELECTION_TIMEOUT 1.5 s: first timeout + at most one randomised retry, plus slack for
    # two shared cores and the polling through Salt.
    assert elected_after < 30
    # The SIGKILLed oned ran no follower hook: the old leader's fencing agent drops the VIP
    # (its oned went silent), the new leader's agent claims it under a majority lease.
    formula.wait("the VIP on the new leader only", lambda: lab.vip_holders() == [new], 90)
