"""The LSB init script the formula installs where there is no systemd (as in the lab), run
for real around the real agent."""

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from support.load import FENCE_AGENT as AGENT

from onelab.proc import wait_until

PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _script(tmp_path, render_file, config):
    config_path = tmp_path / "fence.json"
    config_path.write_text(json.dumps(config))
    script = tmp_path / "onenebula-ha-fence"
    script.write_text(
        render_file(
            "onenebula_ha/fence/files/onenebula-ha-fence.init.jinja",
            name="onenebula-ha-fence",
            python3=PYTHON,
            agent=str(AGENT),
            config=str(config_path),
            pidfile=str(tmp_path / "run" / "fence.pid"),
            logfile=str(tmp_path / "log" / "fence.log"),
        )
    )
    script.chmod(0o755)
    return script


def _alive(pid):
    """Running, not a zombie waiting for a parent that is not this test."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _run(script, action):
    return subprocess.run([str(script), action], capture_output=True, text=True, timeout=60)


def _restarted(pidfile, first, script):
    """The PID of the agent the supervisor started after ``first``, once it runs."""
    text = pidfile.read_text().strip() if pidfile.exists() else ""
    if text and int(text) != first and _run(script, "status").returncode == 0:
        return int(text)
    return None


def test_start_status_stop(tmp_path, render_file):
    fake_ip = tmp_path / "ip"
    fake_ip.write_text("#!/bin/sh\nexit 0\n")  # no VIP here, nothing to change
    fake_ip.chmod(0o755)
    port = _free_port()
    config = {
        "server_id": 0,
        # Nothing listens there: the agent runs fail-safe (no lease) and keeps serving.
        "servers": [{"id": 0, "name": "a", "endpoint": f"http://127.0.0.1:{_free_port()}/RPC2"}],
        "vip": {"address": "10.213.98.100/24", "interface": "fence0"},
        "bind": "127.0.0.1",
        "port": port,
        "oned_conf": str(tmp_path / "missing-oned.conf"),
        "one_auth": str(tmp_path / "missing-one_auth"),
        "commands": {"ip": str(fake_ip)},
    }
    script = _script(tmp_path, render_file, config)
    try:
        started = _run(script, "start")
        assert started.returncode == 0 and "Starting onenebula-ha-fence" in started.stdout
        assert _run(script, "status").returncode == 0
        assert _run(script, "start").stdout.strip() == "onenebula-ha-fence is already running"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            health = json.load(response)
        assert health["lease"]["held"] is False
        # An agent that dies is started again by the supervisor, as systemd would.
        pidfile = tmp_path / "run" / "fence.pid"
        first = int(pidfile.read_text())
        os.kill(first, signal.SIGKILL)
        second = wait_until(
            lambda: _restarted(pidfile, first, script), timeout=20, what="the agent restarted"
        )
    finally:
        stopped = _run(script, "stop")
    assert stopped.returncode == 0
    assert not _alive(second)
    supervisor = tmp_path / "run" / "fence.pid.supervisor"
    assert not supervisor.exists()
    status = _run(script, "status")
    assert status.returncode == 3 and "not running" in status.stdout
    log = (tmp_path / "log" / "fence.log").read_text()
    assert "fence agent" in log and "cannot read the credentials file" in log
    assert "supervisor: agent exited with -9, restarting in 2s" in log or "exited with 137" in log


def test_a_refused_configuration_fails_the_start(tmp_path, render_file):
    script = _script(tmp_path, render_file, {"server_id": 0, "servers": []})
    started = _run(script, "start")
    assert started.returncode == 1 and "failed to start" in started.stderr
    assert "configuration error: servers: required" in (tmp_path / "log" / "fence.log").read_text()
    assert _run(script, "status").returncode == 3


def test_systemd_unit_verifies(tmp_path, render_file):
    import shutil

    import pytest

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "onenebula-ha-fence.service"
    unit.write_text(
        render_file(
            "onenebula_ha/fence/files/onenebula-ha-fence.service.jinja",
            python3=PYTHON,
            agent=str(AGENT),
            config="/etc/onenebula-ha/fence.json",
        )
    )
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "onenebula-ha-fence.service" not in proc.stderr, proc.stderr
    assert f"ExecStart={PYTHON} {AGENT} --config /etc/onenebula-ha/fence.json" in unit.read_text()
    assert "RestartPreventExitStatus=78" in unit.read_text()
