"""The installed package tree driven through its SysV scripts, in a private host view.

A long-lived anchor process holds a new network namespace (only ``lo``, plus a veth ``vip0`` for the
VIP) and a private mount namespace where tmpfs hides the machine's ``/etc``, ``/var/lib``,
``/var/log``, ``/run/lock``, ``/usr/share`` and ``/usr/local/bin`` and the tree written by
``onesim.layout.install`` is bind-mounted in their place. Nothing on the machine changes.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from onesim.layout import install

PROBE = """
import sys, urllib.request, xmlrpc.client
what = sys.argv[1]
if what == "raft":
    auth = open("/var/lib/one/.one/one_auth").read().strip()
    proxy = xmlrpc.client.ServerProxy("http://127.0.0.1:2633/RPC2")
    print(proxy.one.zone.raftstatus(auth)[1])
else:
    print(urllib.request.urlopen(f"http://127.0.0.1:{what}/", timeout=5).status)
"""

MOUNTS = """
set -e
ip link set lo up
ip link add vip0 type veth peer name vip1
ip link set vip0 up; ip link set vip1 up
for dir in /etc /var/lib /var/log /run/lock /usr/share /usr/local/bin; do
    mount -t tmpfs tmpfs "$dir"
done
mkdir -p /etc/one /etc/init.d /etc/default /var/lib/one /var/log/one /var/lock/one /usr/share/one
mount --bind {root}/etc/one /etc/one
mount --bind {root}/etc/init.d /etc/init.d
mount --bind {root}/etc/default /etc/default
mount --bind {root}/var/lib/one /var/lib/one
mount --bind {root}/var/log/one /var/log/one
mount --bind {root}/var/lock/one /var/lock/one
mount --bind {root}/usr/share/one /usr/share/one
mount --bind {root}/usr/bin /usr/local/bin
mkdir -p /usr/lib/one
mount --bind {root}/usr/lib/one /usr/lib/one
touch {ready}
exec sleep infinity
"""
# Created in the private /run/lock once every mount is in place.
READY = "/run/lock/onesim-host-ready"

RECORD_HOOK = '#!/bin/sh\necho "$1" >> /var/lib/one/hooks.log\n'


@pytest.fixture
def host(tmp_path):
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not available")
    if os.geteuid() != 0:
        pytest.skip("needs root for namespaces")
    root = tmp_path / "root"
    install(root, python=sys.executable)
    (root / "etc/default").mkdir(parents=True)
    (root / "etc/default/opennebula").write_text("ONESIM_WARMUP_MS=300\n")
    (root / "usr/lib/one").mkdir(parents=True, exist_ok=True)
    hook = root / "var/lib/one/remotes/hooks/raft/record.sh"
    hook.write_text(RECORD_HOOK)
    hook.chmod(0o755)
    conf = root / "etc/one/oned.conf"
    conf.write_text(
        conf.read_text()
        + '\nRAFT_FOLLOWER_HOOK = [ COMMAND = "raft/record.sh", ARGUMENTS = "follower" ]\n'
    )
    # A tree under /usr/lib/one for the stand-in daemons is needed in the host view too.
    anchor = subprocess.Popen(
        [
            "unshare",
            "--mount",
            "--net",
            "--propagation",
            "private",
            "sh",
            "-c",
            MOUNTS.format(root=root, ready=READY),
        ],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )

    def run(*command, check=False, env=None):
        full = ["nsenter", "-t", str(anchor.pid), "-m", "-n", *command]
        return subprocess.run(
            full, capture_output=True, text=True, timeout=60, check=check, env=env
        )

    deadline = time.monotonic() + 10
    # Wait for the last step of MOUNTS: a directory that exists does not mean its bind mount
    # (or the later ones) is done, and a test racing the mounts finds no oned or no vip.sh.
    while run("test", "-e", READY).returncode != 0:
        assert anchor.poll() is None, anchor.stderr.read().decode()
        assert time.monotonic() < deadline, "the private host view did not come up"
        time.sleep(0.05)
    run.root = root
    try:
        yield run
    finally:
        for service in ("opennebula", "opennebula-fireedge", "opennebula-flow", "opennebula-gate"):
            run(f"/etc/init.d/{service}", "stop")
        os.killpg(anchor.pid, signal.SIGKILL)
        anchor.wait(timeout=10)


def probe(host, what):
    return host(sys.executable, "-c", PROBE, what)


def test_opennebula_init_script_start_status_stop_and_follower_cleanup(host):
    assert host("/etc/init.d/opennebula", "status").returncode == 3
    started = host("/etc/init.d/opennebula", "start")
    assert started.returncode == 0, started.stderr
    assert host("/etc/init.d/opennebula", "status").returncode == 0
    raft = probe(host, "raft")
    assert "<STATE>0</STATE>" in raft.stdout  # solo, as shipped (SERVER_ID = -1)
    pid = int((host.root / "var/lock/one/one").read_text())
    assert host("kill", "-0", str(pid)).returncode == 0
    assert host("/etc/init.d/opennebula", "start").returncode == 0  # already running
    assert host("/etc/init.d/opennebula", "stop").returncode == 0
    assert host("/etc/init.d/opennebula", "status").returncode == 3
    assert not (host.root / "var/lock/one/one").exists()
    # Solo oned runs no hook; follower_cleanup (ExecStopPost) ran the follower hook.
    assert (host.root / "var/lib/one/hooks.log").read_text().split() == ["follower"]
    log = (host.root / "var/log/one/oned.log").read_text()
    assert "oned started in solo mode." in log and "All modules finalized, exiting." in log


def test_opennebula_init_script_removes_a_stale_lock(host):
    (host.root / "var/lock/one/one").write_text("999999\n")
    assert host("/etc/init.d/opennebula", "status").returncode == 3
    started = host("/etc/init.d/opennebula", "start")
    assert started.returncode == 0, started.stderr
    assert int((host.root / "var/lock/one/one").read_text()) != 999999


def test_standin_services_answer_http_and_report_status(host):
    for service, port in (
        ("opennebula-fireedge", 2616),
        ("opennebula-flow", 2474),
        ("opennebula-gate", 5030),
    ):
        assert host(f"/etc/init.d/{service}", "status").returncode == 3
        assert host(f"/etc/init.d/{service}", "start").returncode == 0
        assert host(f"/etc/init.d/{service}", "status").returncode == 0
        assert probe(host, str(port)).stdout.strip() == "200"
        assert host(f"/etc/init.d/{service}", "stop").returncode == 0
        assert host(f"/etc/init.d/{service}", "status").returncode == 3


def test_vip_sh_moves_the_address_and_the_single_instance_services(host, tmp_path):
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    for name in ("sleep", "arping"):  # skip the 10 s of gratuitous ARP
        (fakes / name).write_text("#!/bin/sh\nexit 0\n")
        (fakes / name).chmod(0o755)
    env = {"PATH": f"{fakes}:/usr/sbin:/usr/bin:/sbin:/bin"}
    vip = "/var/lib/one/remotes/hooks/raft/vip.sh"
    leader = host(vip, "leader", "vip0", "10.99.0.1/24", env=env)
    assert leader.returncode == 0, leader.stderr
    assert "10.99.0.1/24" in host("ip", "address", "show", "dev", "vip0").stdout
    for service in ("opennebula-flow", "opennebula-gate"):
        assert host(f"/etc/init.d/{service}", "status").returncode == 0
    follower = host(vip, "follower", "vip0", "10.99.0.1/24", env=env)
    assert follower.returncode == 0, follower.stderr
    assert "10.99.0.1" not in host("ip", "address", "show", "dev", "vip0").stdout
    for service in ("opennebula-flow", "opennebula-gate"):
        assert host(f"/etc/init.d/{service}", "status").returncode == 3
