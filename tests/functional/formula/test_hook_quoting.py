"""Quoting at the sinks: the hook scripts and the sudoers file, rendered by Salt's own Jinja
renderer from the formula's templates, then run (sh) and checked (visudo).

The pillar validator keeps hostile values out; these tests show that the templates do not
rely on it: values on the edges of the grammars come out exactly as given, and values the
validator would refuse are inert in the scripts (quoted) and refused by the sudoers
template itself.
"""

import os
import shutil
import stat
import subprocess

import pytest
import salt.config
import salt.exceptions
import salt.utils.templates

HOOK_FILES = "onenebula_ha/hooks/files"
VISUDO = shutil.which("visudo")


@pytest.fixture(scope="module")
def render(repo_root):
    opts = salt.config.minion_config(None)
    opts.update(file_client="local", file_roots={"base": [str(repo_root)]})

    def _render(name, **context):
        text = (repo_root / HOOK_FILES / name).read_text()
        result = salt.utils.templates.JINJA(
            text,
            from_str=True,
            to_str=True,
            opts=opts,
            saltenv="base",
            grains={},
            pillar={},
            salt={},
            context=context,
        )
        if not result["result"]:
            raise salt.exceptions.SaltRenderError(result["data"])
        return result["data"]

    return _render


def _script(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _fake_bin(tmp_path, *names):
    """Commands that only record their arguments, one per line, in $CALLS."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in names:
        _script(
            bin_dir,
            name,
            '#!/bin/sh\nfor a in "$@"; do printf "%s|" "$a"; done >> "$CALLS"\necho >> "$CALLS"\n',
        )
    return bin_dir


def _run(tmp_path, script, *args, path_first=None):
    calls = tmp_path / "calls"
    calls.write_text("")
    env = {
        "PATH": f"{path_first}:/usr/bin:/bin" if path_first else "/usr/bin:/bin",
        "CALLS": str(calls),
    }
    result = subprocess.run(
        ["sh", str(script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    return result, calls.read_text().splitlines()


# ------------------------------------------------------------------ failover.sh


def test_failover_paths_on_the_grammar_edge_run_as_given(tmp_path, render):
    hooks = tmp_path / "hooks" / "ra+ft@x"
    failover_dir = hooks / "-failover.d"
    failover_dir.mkdir(parents=True)
    vip = _script(hooks, "-vip.sh", '#!/bin/sh\necho "vip $*" >> "$CALLS"\n')
    _script(failover_dir, "10-notify", '#!/bin/sh\necho "notify $*" >> "$CALLS"\n')
    text = render(
        "failover.sh.jinja", vip_script=str(vip), failover_dir=str(failover_dir), fence=False
    )
    script = _script(tmp_path, "failover.sh", text)
    result, calls = _run(tmp_path, script, "leader", "eth0", "10.0.0.100/24")
    assert result.returncode == 0, result.stderr
    assert calls == ["vip leader eth0 10.0.0.100/24", "notify leader eth0 10.0.0.100/24"]


def test_failover_paths_that_the_validator_refuses_stay_inert(tmp_path, render):
    marker = tmp_path / "pwned"
    hostile = f"/nonexistent/vip.sh$(touch {marker}); touch {marker}"
    text = render(
        "failover.sh.jinja", vip_script=hostile, failover_dir=f"/x`touch {marker}`", fence=False
    )
    script = _script(tmp_path, "failover.sh", text)
    result, _ = _run(tmp_path, script, "leader", "eth0", "10.0.0.100/24")
    assert not marker.exists()
    assert "vip.sh$(touch" in result.stderr  # the whole value was the (missing) command


# ------------------------------------------------------------------ leader-services.sh


def test_leader_services_run_each_name_as_one_argument(tmp_path, render):
    bin_dir = _fake_bin(tmp_path, "systemctl", "sudo")
    text = render("leader-services.sh.jinja", services=["onegate@1", "a.b-c_d"], fence=False)
    # The test host may run without systemd: take the systemctl branch regardless.
    text = text.replace("[ -d /run/systemd/system ]", "true")
    script = _script(tmp_path, "leader-services.sh", text)
    result, calls = _run(tmp_path, script, "leader", path_first=bin_dir)
    prefix = "" if os.geteuid() == 0 else "-n|systemctl|"  # the fake sudo records its argv
    assert result.returncode == 0, result.stderr
    assert calls == [f"{prefix}start|onegate@1|", f"{prefix}start|a.b-c_d|"]


def test_leader_services_the_validator_refuses_stay_inert(tmp_path, render):
    bin_dir = _fake_bin(tmp_path, "systemctl", "sudo")
    marker = tmp_path / "pwned"
    hostile = [f"x$(touch {marker})", f"y;touch {marker}", "*"]
    text = render("leader-services.sh.jinja", services=hostile, fence=False)
    text = text.replace("[ -d /run/systemd/system ]", "true")
    script = _script(tmp_path, "leader-services.sh", text)
    (tmp_path / "glob-bait").write_text("")
    result, calls = _run(tmp_path, script, "follower", path_first=bin_dir)
    assert not marker.exists()
    prefix = "" if os.geteuid() == 0 else "-n|systemctl|"
    assert calls == [f"{prefix}stop|{name}|" for name in hostile]


# ------------------------------------------------------------------ sudoers


COMMANDS = {
    "ip": "/usr/sbin/ip",
    "arping": "/usr/sbin/arping",
    "service": "",
    "systemctl": "/usr/bin/systemctl",
}


def _sudoers(render, **overrides):
    context = {
        "user": "oneadmin",
        "vip": "10.0.0.100/24",
        "vip_ip": "10.0.0.100",
        "interface": "eth0",
        "services": ["opennebula-flow"],
        "fence": False,
        "commands": COMMANDS,
    }
    context.update(overrides)
    return render("sudoers.jinja", **context)


def _visudo(tmp_path, text):
    path = tmp_path / "sudoers"
    path.write_text(text)
    path.chmod(0o440)
    return subprocess.run(
        [VISUDO, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )


def _rules(text):
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@pytest.mark.skipif(VISUDO is None, reason="visudo is not installed")
def test_sudoers_on_the_grammar_edges_is_exact_and_valid(tmp_path, render):
    text = _sudoers(
        render,
        user="one_admin-2",
        vip="fd00::100/64",
        vip_ip="fd00::100",
        interface="br-ex.100",
        services=["onegate@1", "a.b-c_d"],
    )
    assert _rules(text) == [
        "Cmnd_Alias ONENEBULA_HA_VIP = /usr/sbin/ip address add fd00\\:\\:100/64 dev br-ex.100, "
        "/usr/sbin/ip address del fd00\\:\\:100/64 dev br-ex.100, "
        "/usr/sbin/arping -c 1 -U -I br-ex.100 fd00\\:\\:100, "
        "/usr/sbin/arping -c 1 -A -I br-ex.100 fd00\\:\\:100",
        "one_admin-2 ALL=(root) NOPASSWD: ONENEBULA_HA_VIP",
        "Cmnd_Alias ONENEBULA_HA_SERVICES = /usr/bin/systemctl start onegate@1, "
        "/usr/bin/systemctl stop onegate@1, /usr/bin/systemctl start a.b-c_d, "
        "/usr/bin/systemctl stop a.b-c_d",
        "one_admin-2 ALL=(root) NOPASSWD: ONENEBULA_HA_SERVICES",
    ]
    check = _visudo(tmp_path, text)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize(
    "overrides",
    [
        {"interface": "eth0\noneadmin ALL=(ALL) NOPASSWD: ALL\n#"},
        {"interface": "eth0, /bin/sh"},
        {"services": ["opennebula-flow\noneadmin ALL=(ALL) NOPASSWD: ALL"]},
        {"services": ["flow, /bin/sh"]},
        {"services": ["flow=x"]},
        {"user": "ALL"},
        {"user": "oneadmin ALL=(ALL) NOPASSWD: ALL\n#"},
        {"vip": "10.0.0.100/24 dev eth0, /bin/sh #"},
    ],
    ids=[
        "iface-newline",
        "iface-comma",
        "service-newline",
        "service-comma",
        "service-equals",
        "user-all",
        "user-newline",
        "vip-comma",
    ],
)
def test_sudoers_template_refuses_words_outside_the_grammar(render, overrides):
    """The issue's injection and its cousins: the template itself refuses to write them,
    even if a caller skipped the pillar validation."""
    with pytest.raises(salt.exceptions.SaltRenderError, match="refusing to write"):
        _sudoers(render, **overrides)
