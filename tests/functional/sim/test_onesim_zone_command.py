"""The ``onesim-zone`` command: up, status, down leave nothing behind."""

import json
import subprocess
import sys

from sim_timings import FAST


def run(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "onesim.entry", "onesim-zone", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_onesim_zone_up_status_down(tmp_path):
    directory = tmp_path / "zone"
    up = run(
        "up",
        "3",
        str(directory),
        f"--election-ms={FAST['election_ms']}",
        f"--broadcast-ms={FAST['broadcast_ms']}",
        f"--xmlrpc-timeout-ms={FAST['xmlrpc_timeout_ms']}",
        f"--warmup-ms={FAST['warmup_ms']}",
    )
    try:
        assert up.returncode == 0, up.stderr
        assert "leader" in up.stdout
        env = dict(
            line.split("=", 1) for line in (directory / "server-1" / "env").read_text().split()
        )
        assert set(env) == {"ONE_LOCATION", "ONE_AUTH", "ONE_XMLRPC", "PATH"}
        status = run("status", str(directory), "--json")
        rows = json.loads(status.stdout)
        assert sorted(row["state"] for row in rows) == ["follower", "follower", "leader"]
        pids = [row["pid"] for row in rows]
    finally:
        down = run("down", str(directory))
    assert down.returncode == 0, down.stderr
    assert not directory.exists()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                assert b"oned" not in handle.read()
        except FileNotFoundError:
            pass
