"""``onenebula_vip.hook``: a VIP step of ``orch.remediate_vip`` runs the Raft hook only while
the host's own oned, asked right before, still fits the plan; the hook itself is a real
script here, run through a real process."""

import logging
import subprocess

import pytest
from onenebula_modules_helpers import load
from salt.exceptions import CommandExecutionError

vip = load("modules", "onenebula_vip")

ADDRESS = "10.213.0.100/24"


@pytest.fixture
def host(tmp_path, caplog):
    """The module on a host whose oned answers ``host.status`` (None: no answer) and whose
    hook script appends its arguments to ``host.calls``."""
    calls = tmp_path / "calls"
    script = tmp_path / "failover.sh"
    script.write_text(f'#!/bin/sh\necho "$*" >> {calls}\necho "hook $1 done"\n')
    script.chmod(0o755)

    class Host:
        status = None
        commands = []

        def ran(self):
            return calls.read_text().splitlines() if calls.exists() else []

    state = Host()
    caplog.set_level(logging.INFO, logger=vip.log.name)

    def raft_status(timeout=2):
        if state.status is None:
            raise CommandExecutionError("connection refused")
        return dict(state.status)

    def run_all(command, python_shell=False, cwd=None, ignore_retcode=False):
        assert python_shell is False
        state.commands.append(command)
        if command[0] == "runuser":  # the test does not run as oneadmin: drop the prefix
            command = command[command.index("--") + 1 :]
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
        return {"retcode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}

    vip.__salt__ = {"onenebula_zone.raft_status": raft_status, "cmd.run_all": run_all}
    state.script = str(script)
    return state


def run(host, action, term, **extra):
    return vip.hook(action, term, "eth0", ADDRESS, host.script, **extra)


def leads(term):
    return {"state_name": "leader", "term": term}


def follows(term):
    return {"state_name": "follower", "term": term}


def test_a_claim_runs_only_while_the_local_oned_leads_the_plans_term(host):
    for status in (follows(7), leads(8), leads(6), None):
        host.status = status
        result = run(host, "leader", 7)
        assert result["ran"] is False and "no claim" in result["reason"]
    assert host.ran() == []
    host.status = leads(7)
    assert run(host, "leader", 7) == {"ran": True, "retcode": 0, "output": "hook leader done\n"}
    assert host.ran() == [f"leader eth0 {ADDRESS}"]


def test_a_release_never_runs_on_a_host_that_leads_the_plans_term_or_a_newer_one(host, caplog):
    # The lab's case: the plan (made from answers gathered while the old leader's host was
    # frozen) named the old leader of term 40 and told the new leader of term 41 to release.
    for status in (leads(40), leads(41)):
        host.status = status
        result = run(host, "follower", 40)
        assert result["ran"] is False and "not released" in result["reason"]
    assert host.ran() == []
    assert "follower hook for 10.213.0.100/24 not run: the local oned leads term 41" in caplog.text
    for status in (follows(41), leads(39), None):  # a follower, a stale leader, no oned
        host.status = status
        assert run(host, "follower", 40)["ran"] is True
    assert host.ran() == [f"follower eth0 {ADDRESS}"] * 3


def test_the_hook_runs_as_its_user_through_runuser(host):
    host.status = follows(5)
    run(host, "follower", 5, runas="oneadmin")
    run(host, "follower", 5, runas="root")
    assert host.commands == [
        ["runuser", "-u", "oneadmin", "--", host.script, "follower", "eth0", ADDRESS],
        [host.script, "follower", "eth0", ADDRESS],
    ]


def test_a_failing_hook_is_an_error(host, tmp_path):
    failing = tmp_path / "failing.sh"
    failing.write_text(
        "#!/bin/sh\necho 'ip: RTNETLINK answers: Operation not permitted' >&2\nexit 2\n"
    )
    failing.chmod(0o755)
    host.status = follows(5)
    with pytest.raises(CommandExecutionError, match="exited with 2: ip: RTNETLINK"):
        vip.hook("follower", 5, "eth0", ADDRESS, str(failing))


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (("stop", 5, "eth0", ADDRESS), "action"),
        (("leader", "5", "eth0", ADDRESS), "term"),
        (("leader", True, "eth0", ADDRESS), "term"),
        (("leader", -1, "eth0", ADDRESS), "term"),
        (("leader", 5, "eth0;reboot", ADDRESS), "interface"),
        (("leader", 5, "an-interface-name-too-long", ADDRESS), "interface"),
        (("leader", 5, "eth0", "10.213.0.100"), "address"),
        (("leader", 5, "eth0", "10.213.0.100/33"), "address"),
        (("leader", 5, "eth0", "10.213.0.100/24 dev lo"), "address"),
    ],
)
def test_bad_arguments_are_refused_by_name_before_anything_runs(host, args, key):
    host.status = leads(5)
    with pytest.raises(CommandExecutionError, match=f"^{key}: "):
        vip.hook(*args, host.script)
    assert host.commands == [] and host.ran() == []


@pytest.mark.parametrize(
    ("script", "runas", "key"),
    [("hooks/failover.sh", None, "script"), ("/var/lib/one/../../tmp/x", None, "script"),
     ("/x.sh;id", None, "script"), (None, "oneadmin;id", "runas"), (None, "Root", "runas")],
)  # fmt: skip
def test_a_bad_script_or_user_is_refused_by_name(host, script, runas, key):
    host.status = leads(5)
    with pytest.raises(CommandExecutionError, match=f"^{key}: "):
        vip.hook("leader", 5, "eth0", ADDRESS, script or host.script, runas=runas)
    assert host.commands == []
