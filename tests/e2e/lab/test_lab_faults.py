"""Fault injection on a 3-front-end lab: oned crash and hang, service stop, power cut, master."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from lab_test_helpers import add_vip, del_vip, reaches

from onelab import mariadb, network, proc
from onelab.lab import LabError
from onelab.sampling import Timeline


@pytest.fixture
def onesim_installed():
    pytest.importorskip("onesim.layout")


@pytest.fixture
def oned_on(lab, onesim_installed):
    """Start oned on a front-end for one test, stop it afterwards."""
    started = []

    def start(name: str) -> list[int]:
        done = lab.service(name, "opennebula", "start")
        assert done.returncode == 0, done.stdout + done.stderr
        started.append(name)
        return lab.host(name).find_pids("oned")

    yield start
    for name in started:
        lab.service(name, "opennebula", "stop")


def test_kill_oned_crashes_it_and_the_host_reaps_it(lab, oned_on):
    pids = oned_on("vmm01")
    assert pids
    assert lab.kill_oned("vmm01") == pids
    # Reaped by the host's init at once: no zombie that would still answer "kill -0".
    proc.wait_until(
        lambda: all(proc.proc_state(pid) is None for pid in pids), timeout=10, what="oned reaped"
    )
    assert lab.service("vmm01", "opennebula", "status").returncode == 3
    assert not lab.running("vmm01", "opennebula")


def test_freeze_stops_oned_and_thaw_resumes_it(lab, oned_on):
    pids = oned_on("vmm02")
    try:
        assert lab.freeze("vmm02") == pids
        proc.wait_until(
            lambda: {proc.proc_state(pid) for pid in pids} == {"T"}, timeout=5, what="stopped"
        )
    finally:
        thawed = lab.thaw("vmm02")
    assert thawed == pids
    proc.wait_until(
        lambda: "T" not in {proc.proc_state(pid) for pid in pids}, timeout=5, what="resumed"
    )
    assert lab.service("vmm02", "opennebula", "status").returncode == 0


def test_freeze_host_pauses_every_process_and_the_link_and_the_samplers_see_it(lab, oned_on):
    pids = set(oned_on("vmm02"))
    add_vip(lab, "vmm02")
    host = lab.host("vmm02")
    try:
        with Timeline(lab) as timeline:
            proc.wait_until(
                lambda: (
                    timeline.raft.latest().get("vmm02")
                    and timeline.raft.latest()["vmm02"].state == "solo"
                    and timeline.vip.snapshot()
                    and timeline.vip.snapshot()[-1].holders == ("vmm02",)
                ),
                timeout=30,
                what="vmm02's oned answering and holding the VIP, " + timeline.describe(),
            )
            stopped = set(lab.freeze_host("vmm02"))
            frozen_at = timeline.mark("vmm02 frozen")
            everything = set(host.pids())
            assert pids <= stopped and host.anchor_pid in stopped
            assert {proc.proc_state(pid) for pid in everything} == {"T"}, "a process still runs"
            assert lab.frozen("vmm02") and not network.link_up(host.spec)
            assert lab.status()["frontends"]["vmm02"]["frozen"]
            # A paused VM keeps its addresses but answers nobody.
            assert network.holds_vip(host.spec)
            assert not reaches(lab, "vmm01", host.spec.ip)
            proc.wait_until(
                lambda: [s.state for s in timeline.raft.snapshot() if s.host == "vmm02"
                         and s.t > frozen_at][:1] == [None],
                timeout=10,
                what="the raft sampler to see vmm02's oned silent",
            )  # fmt: skip
            # The freeze lasts until the thaw starts (the link comes up first): a loaded
            # machine can take a while to come back from the thaw call.
            thaw_from = timeline.mark("vmm02 thawing")
            assert set(lab.thaw_host("vmm02")) >= stopped
            thawed_at = timeline.mark("vmm02 thawed")
            assert "T" not in {proc.proc_state(pid) for pid in stopped}
            assert not lab.frozen("vmm02") and network.link_up(host.spec)
            assert reaches(lab, "vmm01", host.spec.ip)
            proc.wait_until(
                lambda: any(s.host == "vmm02" and s.state == "solo" and s.t > thawed_at
                            for s in timeline.raft.snapshot()),
                timeout=15,
                what="vmm02's oned answering again",
            )  # fmt: skip
        during = [s for s in timeline.vip.snapshot() if frozen_at < s.t < thaw_from - 0.1]
        assert during and all(s.holders == () and s.parked == ("vmm02",) for s in during)
        after = [s for s in timeline.vip.snapshot() if s.t > thawed_at]
        assert after and all(s.holders == ("vmm02",) for s in after)
        times = [s.t for s in timeline.vip.samples]
        gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
        assert max(gaps) < 0.5, f"the VIP sampler stalled: {max(gaps):.2f}s between samples"
    finally:
        if lab.frozen("vmm02"):
            lab.thaw_host("vmm02")
        del_vip(lab, "vmm02")
    assert lab.service("vmm02", "opennebula", "status").returncode == 0


def test_fault_verbs_refuse_a_front_end_without_oned(lab):
    with pytest.raises(RuntimeError, match="no oned"):
        lab.kill_oned("vmm03")


def test_service_verb_stops_and_starts_mariadb(lab):
    host = lab.host("vmm03")
    assert lab.service("vmm03", "mariadb", "stop").returncode == 0
    assert not mariadb.is_running(host)
    assert not lab.running("vmm03", "mariadb")
    assert lab.service("vmm03", "mariadb", "start").returncode == 0
    assert mariadb.is_running(host)


def test_power_cycle_kills_every_process_and_boots_what_is_enabled(lab, salt_cli):
    host = lab.host("vmm03")
    with_oned = _onesim_available()
    if with_oned:
        # Enabled at boot the way the formula does it.
        ret = salt_cli.run(
            "state.single", "service.running", name="opennebula", enable=True, minion_tgt="vmm03"
        )
        assert ret.returncode == 0, ret
    token = uuid.uuid4().hex
    lab.exec("vmm03", ["sh", "-c", f"echo {token} > /tmp/probe; echo {token} > /etc/one/probe"])
    add_vip(lab, "vmm03")
    before = set(host.pids())
    try:
        lab.power_cycle("vmm03")
        after = set(host.pids())
        assert before and after
        assert before.isdisjoint(after), "a process survived the power cut"
        assert lab.running("vmm03", "mariadb")
        assert mariadb.is_running(host)
        assert lab.running("vmm03", "opennebula") == with_oned
        assert lab.vip_holders() == [], "the VIP does not survive a reboot"
        assert lab.exec("vmm03", ["test", "-e", "/tmp/probe"]).returncode == 1
        assert lab.exec("vmm03", ["cat", "/etc/one/probe"]).stdout.strip() == token
        assert lab.exec("vmm03", ["hostname"]).stdout.strip() == "vmm03"
        assert salt_cli.run("test.ping", minion_tgt="vmm03").data is True
    finally:
        lab.exec("vmm03", ["rm", "-f", "/etc/one/probe"])
        if with_oned:
            salt_cli.run(
                "state.single", "service.dead", name="opennebula", enable=False, minion_tgt="vmm03"
            )


def test_master_stop_silences_salt_and_start_brings_every_minion_back(lab, salt_cli):
    names = [host.name for host in lab.frontends]
    lab.master_stop()
    assert not lab.salt.master_running()
    assert not lab.master.find_pids("salt-master")
    assert salt_cli.run("test.ping", minion_tgt="*").data != dict.fromkeys(names, True)
    # A test minion is only started with a master to report to: refused, host untouched.
    anchor = lab.host("vmm01").anchor_pid
    with pytest.raises(LabError, match="master is down"):
        lab.power_cycle("vmm01")
    assert lab.host("vmm01").anchor_pid == anchor
    lab.master_start()
    proc.wait_until(
        lambda: salt_cli.run("test.ping", minion_tgt="*").data == dict.fromkeys(names, True),
        timeout=120,
        interval=2,
        what="every minion to answer the restarted master",
    )


def _onesim_available() -> bool:
    try:
        import onesim.layout  # noqa: F401
    except ImportError:
        return False
    return True


def _onelab(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "onelab.cli", *argv], capture_output=True, text=True, timeout=120
    )


def test_the_cli_drives_the_same_lab(lab):
    status = json.loads(_onelab("status", "--json").stdout)
    assert status["mode"] == "factories"
    assert sorted(status["frontends"]) == ["vmm01", "vmm02", "vmm03"]
    assert all(info["services"]["mariadb"] for info in status["frontends"].values())

    done = _onelab("exec", "vmm02", "cat", "/etc/hostname")
    assert (done.returncode, done.stdout) == (0, "vmm02\n")
    assert _onelab("exec", "vmm02", "false").returncode == 1

    try:
        assert _onelab("partition", "vmm01", "--from", "master").returncode == 0
        assert lab.status()["frontends"]["vmm01"]["partition"] == "10.213.0.2"
    finally:
        assert _onelab("heal").returncode == 0
    assert lab.status()["frontends"]["vmm01"]["partition"] == "none"

    done = _onelab("service", "vmm01", "mariadb", "status")
    assert done.returncode == 0, done.stderr
    try:
        done = _onelab("freeze-host", "vmm03")
        assert done.returncode == 0 and "link down" in done.stdout, done.stderr
        assert lab.frozen("vmm03")
        assert "PAUSED" in _onelab("status").stdout
    finally:
        done = _onelab("thaw-host", "vmm03")
    assert done.returncode == 0 and not lab.frozen("vmm03"), done.stderr

    done = _onelab("kill-oned", "vmm01")
    assert done.returncode == 1 and "no oned" in done.stderr
    assert _onelab("power-cycle", "nosuchhost").returncode == 1
