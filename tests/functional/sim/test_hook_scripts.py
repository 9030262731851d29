"""vip.sh and follower_cleanup run against fake ip/arping/sleep commands (no real network)."""

import os
import stat
import subprocess

import pytest

from onesim.layout import FILES_DIR

VIP_SH = FILES_DIR / "hooks" / "raft" / "vip.sh"
FOLLOWER_CLEANUP = FILES_DIR / "share" / "follower_cleanup"

FAKE = """#!/bin/sh
echo "$(basename "$0") $*" >> "$CALLS"
{extra}
"""


def make_fake(bin_dir, name, extra=""):
    path = bin_dir / name
    path.write_text(FAKE.format(extra=extra))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def fake_bin(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("arping", "sleep", "sudo", "service"):
        make_fake(bin_dir, name)
    # "ip address show" prints the VIP as present; add/del only record the call and fail.
    make_fake(
        bin_dir,
        "ip",
        'case "$*" in "address show"*) echo "    inet 10.0.0.100/24 scope global eth0";; '
        "*) exit 2;; esac",
    )
    return bin_dir


def run_vip(tmp_path, fake_bin, *args):
    calls = tmp_path / "calls"
    calls.write_text("")
    env = {
        "PATH": f"{fake_bin}:/usr/bin:/bin",
        "CALLS": str(calls),
        "ONE_LOCATION": str(tmp_path / "one"),
    }
    result = subprocess.run(
        ["bash", str(VIP_SH), *args], env=env, capture_output=True, text=True, timeout=30
    )
    return result, calls.read_text().splitlines()


def test_vip_leader_adds_address_then_five_arp_rounds(tmp_path, fake_bin):
    result, calls = run_vip(tmp_path, fake_bin, "leader", "eth0", "10.0.0.100/24")
    assert result.returncode == 0  # the failing "ip address add" does not change it
    rounds = [
        "arping -c 1 -U -I eth0 10.0.0.100",
        "sleep 1",
        "arping -c 1 -A -I eth0 10.0.0.100",
        "sleep 1",
    ]
    assert calls == ["ip address add 10.0.0.100/24 dev eth0", *rounds * 5]


def test_vip_follower_removes_address_only_when_present(tmp_path, fake_bin):
    result, calls = run_vip(tmp_path, fake_bin, "follower", "eth0", "10.0.0.100/24")
    assert result.returncode == 0
    assert calls == ["ip address show dev eth0", "ip address del 10.0.0.100/24 dev eth0"]
    result, calls = run_vip(tmp_path, fake_bin, "follower", "eth0", "10.0.0.7/24")
    assert calls == ["ip address show dev eth0"]


def test_vip_takes_its_lock_under_one_location(tmp_path, fake_bin):
    (tmp_path / "one" / "var" / "lock").mkdir(parents=True)
    result, _ = run_vip(tmp_path, fake_bin, "follower", "eth0", "10.0.0.7/24")
    assert result.returncode == 0
    assert (tmp_path / "one" / "var" / "lock" / "vip_sh").exists()


@pytest.mark.parametrize(
    ("args", "message", "calls_before"),
    [
        (("leader",), None, 0),
        (("master", "eth0", "10.0.0.1/24"), "Unknown action 'master'", 0),
        (("follower", "eth0", "10.0.0.100/24", "eth1"), "Missing IP.", 2),
        (("follower", "", "10.0.0.100/24"), "Missing interface.", 0),
    ],
)
def test_vip_argument_errors(tmp_path, fake_bin, args, message, calls_before):
    result, calls = run_vip(tmp_path, fake_bin, *args)
    if message is None:
        assert result.returncode == 0 and calls == []
        return
    assert result.returncode == 1
    assert result.stderr.strip() == message
    assert len(calls) == calls_before  # earlier pairs were already handled


def test_vip_uses_sudo_only_when_not_root():
    text = VIP_SH.read_text()
    assert 'SUDO="sudo -n"' in text and '[ "$(id -u)" -ne 0 ]' in text


def write_config(location, line):
    var = location / "var"
    var.mkdir(parents=True, exist_ok=True)
    (var / "config").write_text(
        f"PORT=2633\n{line}\nDB=BACKEND=sqlite\n" if line else "PORT=2633\n"
    )


def run_cleanup(location):
    return subprocess.run(
        ["sh", str(FOLLOWER_CLEANUP)],
        env={"PATH": "/usr/bin:/bin", "ONE_LOCATION": str(location)},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_follower_cleanup_runs_the_recorded_follower_hook(tmp_path):
    location = tmp_path / "one"
    hook = location / "var" / "remotes" / "hooks" / "raft" / "record.sh"
    hook.parent.mkdir(parents=True)
    hook.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/ran\n')
    hook.chmod(0o755)
    write_config(
        location, "RAFT_FOLLOWER_HOOK=ARGUMENTS=follower eth0 10.0.0.100/24,COMMAND=raft/record.sh"
    )
    assert run_cleanup(location).returncode == 0
    assert (tmp_path / "ran").read_text().strip() == "follower eth0 10.0.0.100/24"


def test_follower_cleanup_with_absolute_command_and_no_arguments(tmp_path):
    location = tmp_path / "one"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'#!/bin/sh\necho "args:$#" > {tmp_path}/ran\nexit 3\n')
    hook.chmod(0o755)
    write_config(location, f"RAFT_FOLLOWER_HOOK=COMMAND={hook}")
    assert run_cleanup(location).returncode == 3  # exec'd: the hook's status
    assert (tmp_path / "ran").read_text().strip() == "args:0"


def test_follower_cleanup_without_hook_or_config_exits_0(tmp_path):
    location = tmp_path / "one"
    assert run_cleanup(location).returncode == 0
    write_config(location, None)
    assert run_cleanup(location).returncode == 0


def test_scripts_are_valid_shell():
    for script, shell in ((VIP_SH, "bash"), (FOLLOWER_CLEANUP, "sh")):
        assert subprocess.run([shell, "-n", str(script)], timeout=10).returncode == 0
    for init in (FILES_DIR / "init.d").iterdir():
        assert subprocess.run(["sh", "-n", str(init)], timeout=10).returncode == 0
    assert os.access(VIP_SH, os.R_OK)
