"""``onenebula_db.backup push=True`` through a real master (file_recv + minionfs): the dump
and its sidecar come back as ``salt://<minion id>/<path>``, and ``restored_from_leader``
plans a restore from that source."""

import hashlib
from pathlib import Path


def test_pushed_backup_is_served_back_by_minionfs(salt_call_cli, minion, minion_root, zone):
    zone.wait_leader()
    target = minion_root / "backups" / "leader.sql"
    ret = salt_call_cli.run("onenebula_db.backup", str(target), push=True)
    assert ret.returncode == 0, ret.stderr
    backup = ret.data
    assert backup["source"] == f"salt://{minion.id}{target}"

    fetched = salt_call_cli.run("cp.cache_file", backup["source"])
    assert fetched.returncode == 0 and fetched.data, fetched.stderr
    assert hashlib.sha256(Path(fetched.data).read_bytes()).hexdigest() == backup["sha256"]

    plan = salt_call_cli.run(
        "state.single",
        "onenebula_db.restored_from_leader",
        name=backup["source"],
        server="not-yet-a-member",
        test=True,
    )
    (state,) = plan.data.values()
    assert state["result"] is None, state
    assert state["changes"]["db"]["new"] == {"source": backup["source"], "sha256": backup["sha256"]}
