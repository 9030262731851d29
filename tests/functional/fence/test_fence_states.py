"""The formula's side of the fence: the agent installed, configured and started from the
pillar (onenebula_ha.fence), and the Raft hooks no longer claiming the VIP when it is on."""

import json
import os
import shutil
import subprocess

import pytest
from support.local_salt import SALT_CALL

ENABLED = {"onenebula_ha": {"fence": {"enabled": True}}}
DISABLED = {"onenebula_ha": {"fence": {"enabled": False}}}


def _states(data, sls=None):
    states = {}
    for state_id, body in data.items():
        if sls and body.get("__sls__") != sls:
            continue
        for module, args in body.items():
            if module.startswith("__"):
                continue
            function = next(a for a in args if isinstance(a, str))
            kwargs = {k: v for a in args if isinstance(a, dict) for k, v in a.items()}
            states[state_id] = (module, function, kwargs)
    return states


def test_the_default_pillar_installs_configures_and_starts_the_agent(show_sls):
    states = _states(show_sls("onenebula_ha.fence"))
    module, function, agent = states["onenebula_ha-fence-file-managed-agent"]
    assert (module, function) == ("file", "managed")
    assert agent["name"] == "/usr/local/sbin/onenebula-ha-fence"
    assert agent["source"] == "salt://onenebula_ha/fence/files/onenebula_ha_fence.py"
    config = states["onenebula_ha-fence-file-serialize-config"][2]
    assert config["name"] == "/etc/onenebula-ha/fence.json" and config["mode"] == "0640"
    dataset = config["dataset"]
    assert dataset["server_id"] == 1  # vmm02
    assert [s["endpoint"] for s in dataset["servers"]] == [
        f"http://10.213.0.{n}:2633/RPC2" for n in (10, 20, 30, 40, 50)
    ]
    assert dataset["vip"] == {"address": "10.213.0.100/24", "interface": "eth0"}
    assert dataset["leader_services"] == ["opennebula-flow", "opennebula-gate"]
    assert (dataset["election_timeout_ms"], dataset["broadcast_timeout_ms"]) == (5000, 500)
    assert dataset["one_auth"] == "/var/lib/one/.one/one_auth"
    assert (dataset["bind"], dataset["port"], dataset["lease_fraction"]) == ("0.0.0.0", 2634, 0.5)
    # poll_interval and timeout left null in the pillar: derived from the election timeout.
    assert (dataset["poll_interval"], dataset["timeout"]) == (0.5, 1.0)
    # The rendered configuration is one the agent itself accepts.
    assert not {"password", "one_auth_secret"} & set(dataset)
    # No systemd on this machine: an LSB init script, as in the lab.
    assert not os.path.isdir("/run/systemd/system")
    script = states["onenebula_ha-fence-file-managed-init_script"][2]
    assert script["name"] == "/etc/init.d/onenebula-ha-fence"
    # TOFS (libtofs.jinja): no template of the minion's own or its OS family's here.
    assert script["source"] == "salt://onenebula_ha/fence/files/onenebula-ha-fence.init.jinja"
    running = states["onenebula_ha-fence-service-running"][2]
    assert running["name"] == "onenebula-ha-fence" and running["enable"] is True
    assert {"sls": "onenebula_ha.hooks"} in running["require"]
    watched = [next(iter(w.values())) for w in running["watch"]]
    assert watched == [
        "onenebula_ha-fence-file-managed-agent",
        "onenebula_ha-fence-file-serialize-config",
        "onenebula_ha-fence-file-managed-init_script",
    ]


def _show_sls_with_systemd(local_salt, tmp_path, mods):
    """``state.show_sls`` by ``salt-call`` as on a host booted with systemd: this machine has
    none, so a private mount namespace gives that one process a ``/run/systemd/system`` (what
    the SLS and Salt's systemd service module look for), nothing else changes."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0 or not os.path.isdir("/run/systemd"):
        pytest.skip("needs root, unshare and a /run/systemd directory to mount over")
    booted = tmp_path / "run-systemd"
    (booted / "system").mkdir(parents=True)
    command = [SALT_CALL, "--local", "-l", "quiet", "-c", str(local_salt.conf_dir)]
    proc = subprocess.run(
        [unshare, "--mount", "--propagation", "private", "sh", "-c",
         'mount --bind "$0" /run/systemd && exec "$@"', str(booted),
         *command, "--out=json", "state.show_sls", mods],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)["local"]


def test_with_systemd_the_agent_is_a_systemd_unit(local_salt, tmp_path):
    states = _states(_show_sls_with_systemd(local_salt, tmp_path, "onenebula_ha.fence"))
    assert "onenebula_ha-fence-file-managed-init_script" not in states
    module, function, unit = states["onenebula_ha-fence-file-managed-unit"]
    assert (module, function) == ("file", "managed")
    assert unit["name"] == "/etc/systemd/system/onenebula-ha-fence.service"
    # TOFS, as for the init script: the shipped template.
    assert unit["source"] == "salt://onenebula_ha/fence/files/onenebula-ha-fence.service.jinja"
    assert unit["context"] == {
        "python3": "/usr/bin/python3",
        "agent": "/usr/local/sbin/onenebula-ha-fence",
        "config": "/etc/onenebula-ha/fence.json",
    }
    # systemd reads the changed unit before the service state (re)starts the agent.
    module, function, reload = states["onenebula_ha-fence-module-run-daemon_reload"]
    assert (module, function) == ("module", "run")
    assert reload["service.systemctl_reload"] == []
    assert reload["onchanges"] == [{"file": "onenebula_ha-fence-file-managed-unit"}]
    running = states["onenebula_ha-fence-service-running"][2]
    assert running["name"] == "onenebula-ha-fence" and running["enable"] is True
    watched = [next(iter(w.values())) for w in running["watch"]]
    assert "onenebula_ha-fence-file-managed-unit" in watched


def test_rendered_config_is_accepted_by_the_agent(show_sls, agent_module):
    states = _states(show_sls("onenebula_ha.fence", pillar=ENABLED))
    dataset = states["onenebula_ha-fence-file-serialize-config"][2]["dataset"]
    cfg = agent_module.check_config(json.loads(json.dumps(dataset)))
    plan = agent_module.lease_plan(cfg, 5000, 500)
    assert plan["lease_s"] == 2.5


def test_disabled_fence_stops_an_installed_agent(show_sls):
    data = show_sls("onenebula_ha.fence", pillar=DISABLED)
    states = _states(data, sls="onenebula_ha.fence")
    assert list(states) == ["onenebula_ha-fence-service-dead"]
    # The hooks come with it, and without the fence their leader action claims again.
    hooks = _states(data, sls="onenebula_ha.hooks")
    contexts = [a["context"] for m, f, a in hooks.values() if "context" in a]
    assert contexts and all(context.get("fence") is False for context in contexts)
    module, function, args = states["onenebula_ha-fence-service-dead"]
    assert (module, function, args["enable"]) == ("service", "dead", False)


def test_hooks_get_the_fence_flag(show_sls):
    states = _states(show_sls("onenebula_ha.hooks", pillar=ENABLED))
    contexts = [
        args.get("context", {})
        for module, function, args in states.values()
        if (module, function) == ("file", "managed") and "context" in args
    ]
    assert contexts and all(context.get("fence") is True for context in contexts)


def _failover(tmp_path, render_file, fence):
    record = tmp_path / "calls"
    vip = tmp_path / "vip.sh"
    vip.write_text(f'#!/bin/sh\necho "vip.sh $*" >> {record}\n')
    vip.chmod(0o755)
    failover_d = tmp_path / "failover.d"
    failover_d.mkdir()
    script = tmp_path / "failover.sh"
    script.write_text(
        render_file(
            "onenebula_ha/hooks/files/failover.sh.jinja",
            vip_script=str(vip),
            failover_dir=str(failover_d),
            fence=fence,
        )
    )
    script.chmod(0o755)
    return script, record


@pytest.mark.parametrize("fence", [True, False], ids=["fence", "hooks-only"])
def test_failover_leader_action_claims_only_without_the_fence(tmp_path, render_file, fence):
    script, record = _failover(tmp_path, render_file, fence)
    for action in ("leader", "follower"):
        proc = subprocess.run(
            [str(script), action, "eth0", "10.0.0.100/24"], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
    calls = record.read_text().splitlines()
    expected = ["vip.sh follower eth0 10.0.0.100/24"]
    if not fence:
        expected.insert(0, "vip.sh leader eth0 10.0.0.100/24")
    assert calls == expected


def test_leader_services_hook_leaves_starting_to_the_fence(tmp_path, render_file):
    script = tmp_path / "50-leader-services"
    script.write_text(
        render_file(
            "onenebula_ha/hooks/files/leader-services.sh.jinja",
            services=["no-such-svc"],
            fence=True,
        )
    )
    script.chmod(0o755)
    leader = subprocess.run([str(script), "leader"], capture_output=True, text=True)
    assert leader.returncode == 0 and leader.stderr == ""
    # The follower action still stops them (here: reports the service it cannot find).
    follower = subprocess.run([str(script), "follower"], capture_output=True, text=True)
    assert "no-such-svc" in follower.stderr


def test_sudoers_with_the_fence_allow_only_the_follower_action(render_file):
    commands = {"ip": "/usr/sbin/ip", "arping": "/usr/bin/arping", "service": "/usr/sbin/service"}
    common = {
        "user": "oneadmin",
        "vip": "10.0.0.100/24",
        "vip_ip": "10.0.0.100",
        "interface": "eth0",
        "services": ["opennebula-flow"],
        "commands": dict(commands, systemctl=""),
    }
    fenced = render_file("onenebula_ha/hooks/files/sudoers.jinja", fence=True, **common)
    plain = render_file("onenebula_ha/hooks/files/sudoers.jinja", fence=False, **common)
    assert "/usr/sbin/ip address del 10.0.0.100/24 dev eth0" in fenced
    assert "/usr/sbin/service opennebula-flow stop" in fenced
    for claim in ("address add", "arping", "opennebula-flow start"):
        assert claim not in fenced and claim in plain
