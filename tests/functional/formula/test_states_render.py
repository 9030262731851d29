"""Every SLS of the formula renders with pillar.example, for a follower and for the bootstrap
minion, with state ids that follow the template-formula convention and no secret in the
rendered data.

Rendering goes through an in-process ``salt.client.Caller`` built on the ``local_salt``
fixture's masterless configuration (same file roots, pillar roots and synced modules), which
renders an SLS in a fraction of a ``salt-call`` process start.
"""

import json

import pytest
import salt._logging.impl
import salt.client
import salt.config
import salt.loader

FORMULA = "onenebula_ha"
# Directories (and clean.sls) whose SLS are not part of a front-end's base state.
NOT_BASE = ("ha", "orch", "salt", "_mapdata", "clean")
DB_PASSWORD = "db-pass-Zq81"
ONE_AUTH = "oneadmin:one-auth-Kw55"
STATE_ARGS_KEYS = ("__sls__", "__env__", "__sls_included_from__")


def _sls_names(repo_root, under=None):
    base = repo_root / FORMULA
    names = []
    for path in sorted(base.rglob("*.sls")):
        parts = path.relative_to(base).with_suffix("").parts
        if under is not None and parts[0] != under:
            continue
        if under is None and parts[0] in NOT_BASE:
            continue
        if parts[-1] == "init":
            parts = parts[:-1]
        names.append(".".join((FORMULA, *parts)))
    return names


class Renderer:
    """``state.show_sls`` in-process, per minion id, over the local_salt configuration."""

    def __init__(self, conf_file, file_roots_before=(), cachedir=None):
        self.conf_file = conf_file
        self.file_roots_before = [str(root) for root in file_roots_before]
        self.cachedir = cachedir
        self._callers = {}

    def caller(self, minion_id):
        if minion_id not in self._callers:
            opts = salt.config.minion_config(str(self.conf_file))
            opts["id"] = minion_id
            roots = opts["file_roots"]["base"]
            opts["file_roots"] = {"base": [*self.file_roots_before, *roots]}
            if self.cachedir:
                # Another file list (and its cache) than the other renderers' (the synced
                # modules stay where extension_modules points).
                opts["cachedir"] = str(self.cachedir)
            self._callers[minion_id] = salt.client.Caller(mopts=opts)
        return self._callers[minion_id]

    def show(self, minion_id, mods, pillar=None, test=None):
        kwargs = {"pillar": pillar} if pillar else {}
        if test is not None:
            kwargs["test"] = test
        data = self.caller(minion_id).cmd("state.show_sls", mods, **kwargs)
        assert isinstance(data, dict), f"{mods} did not render for {minion_id}: {data}"
        return data


@pytest.fixture(scope="module")
def renderer(local_salt, example_pillar_data):
    local_salt.set_pillar(example_pillar_data)
    yield Renderer(local_salt.conf_dir / "minion")
    # In-process Salt queues log records in a deferred stderr handler that flushes at
    # exit, after pytest closed its capture: flush it while the stream is still open.
    salt._logging.impl.shutdown_temp_handler()


def _states(data):
    """``{id: (module, function, {arg: value})}`` from show_sls data."""
    states = {}
    for state_id, body in data.items():
        for module, args in body.items():
            if module.startswith("__"):
                continue
            function = next(a for a in args if isinstance(a, str))
            kwargs = {k: v for a in args if isinstance(a, dict) for k, v in a.items()}
            states[state_id] = (module, function, kwargs)
    return states


def _expected_prefix(sls):
    parts = sls.split(".")
    return "-".join(parts)


def _assert_conventional_ids(data):
    for state_id, body in data.items():
        own_sls = body["__sls__"]
        module, function, _ = _states({state_id: body})[state_id]
        prefix = f"{_expected_prefix(own_sls)}-{module}-{function}"
        assert state_id == prefix or state_id.startswith(prefix + "-"), (
            f"{state_id} (in {own_sls}) does not follow <sls path>-<module>-<function>"
        )


@pytest.mark.parametrize("minion_id", ["vmm01", "vmm02"], ids=["bootstrap", "follower"])
def test_the_whole_formula_renders_with_conventional_ids(renderer, minion_id):
    data = renderer.show(minion_id, FORMULA)
    assert len(data) > 20
    _assert_conventional_ids(data)


def test_every_sls_file_renders_on_its_own(renderer, repo_root):
    """Each file carries its own includes: any part of the base state can be applied alone."""
    parts = [name for name in _sls_names(repo_root) if name != FORMULA]
    assert f"{FORMULA}.ssh.keys" in parts and f"{FORMULA}.config" in parts
    for sls in parts:
        data = renderer.show("vmm02", sls)
        assert any(body["__sls__"] == sls for body in data.values()), f"{sls} rendered nothing"
        _assert_conventional_ids(data)


def test_the_whole_formula_includes_every_base_sls(renderer, repo_root):
    data = renderer.show("vmm02", FORMULA)
    rendered_sls = {body["__sls__"] for body in data.values()}
    for sls in _sls_names(repo_root):
        if sls == FORMULA:
            continue
        assert any(r == sls or r.startswith(sls + ".") for r in rendered_sls), sls


def test_oned_conf_is_identical_on_every_front_end_and_leaves_server_id_alone(renderer):
    def config(minion_id):
        data = renderer.show(minion_id, f"{FORMULA}.config")
        return {k: v for k, v in _states(data).items()}

    bootstrap, follower = config("vmm01"), config("vmm02")
    assert bootstrap == follower
    assert not any("SERVER_ID" in json.dumps(args) for _, _, args in follower.values())
    hooks = {
        args["name"]: args["values"]
        for module, function, args in follower.values()
        if function == "section" and args["name"].startswith("RAFT_")
    }
    assert hooks == {
        "RAFT_LEADER_HOOK": {
            "COMMAND": "raft/failover.sh",
            "ARGUMENTS": "leader eth0 10.213.0.100/24",
        },
        "RAFT_FOLLOWER_HOOK": {
            "COMMAND": "raft/failover.sh",
            "ARGUMENTS": "follower eth0 10.213.0.100/24",
        },
    }
    raft = next(args for _, function, args in follower.values() if function == "raft")
    assert raft["election_timeout_ms"] == 5000 and raft["xmlrpc_timeout_ms"] == 1000
    monitord = [a for _, _, a in follower.values() if a.get("name") == "NETWORK/MONITOR_ADDRESS"]
    assert monitord[0]["value"] == "10.213.0.100"


def test_secrets_never_appear_in_rendered_states(renderer):
    override = {
        "onenebula_ha": {
            "database": {"password": DB_PASSWORD},
            "secrets": {"source": "pillar", "files": {"one_auth": ONE_AUTH}},
        }
    }
    rendered = json.dumps(renderer.show("vmm02", FORMULA, pillar=override))
    steps = json.dumps(renderer.show("vmm02", f"{FORMULA}.ha.start", pillar=override))
    # The states that need them read them from the pillar at run time.
    assert "onenebula_ha:database:password" in rendered
    assert "onenebula_ha:secrets:files:one_auth" in rendered
    for secret in (DB_PASSWORD, ONE_AUTH, ONE_AUTH.split(":")[1]):
        assert secret not in rendered and secret not in steps


def test_no_vip_mode_without_hook_scripts_removes_the_hooks(renderer):
    override = {"onenebula_ha": {"vip": {"enabled": False}, "leader_services": []}}
    states = _states(renderer.show("vmm02", f"{FORMULA}.config", pillar=override))
    absent = sorted(args["name"] for _, function, args in states.values() if function == "absent")
    assert absent == ["RAFT_FOLLOWER_HOOK", "RAFT_LEADER_HOOK"]
    assert not any(a.get("name") == "NETWORK/MONITOR_ADDRESS" for _, _, a in states.values())


def test_oned_is_not_started_by_the_base_state_on_a_host_that_has_not_joined(renderer):
    states = _states(renderer.show("vmm02", f"{FORMULA}.service"))
    started = [a["name"] for m, f, a in states.values() if (m, f) == ("service", "running")]
    assert started == ["opennebula-fireedge"]
    enabled = sorted(a["name"] for m, f, a in states.values() if (m, f) == ("service", "enabled"))
    assert enabled == ["opennebula-flow", "opennebula-gate"]


def test_secrets_are_pulled_from_the_leader_over_ssh(renderer):
    # A follower pulls the leader's files over SSH (never salt://<leader>/... through the
    # master), after the ssh states that write known_hosts.
    data = renderer.show("vmm02", f"{FORMULA}.secrets")
    states = _states({k: v for k, v in data.items() if v["__sls__"] == f"{FORMULA}.secrets"})
    module, function, args = states["onenebula_ha-secrets-onenebula_secrets-pulled"]
    assert (module, function) == ("onenebula_secrets", "pulled")
    assert (args["name"], args["source"], args["user"]) == (
        "/var/lib/one/.one",
        "10.213.0.10",
        "oneadmin",
    )
    assert args["manifest"] == "/var/lib/one/onenebula_ha/secrets.sha256"
    assert {"sls": f"{FORMULA}.ssh"} in args["require"]
    assert not any(m == "file" and f == "managed" for m, f, _ in states.values())
    assert "salt://vmm01" not in json.dumps(data)


STEP_RUNS = {
    "bootstrap": ("vmm01", {"leader": "vmm01", "server": "vmm01", "step": "bootstrapping"}),
    "publish": ("vmm01", {"leader": "vmm01"}),
    "backup": ("vmm01", {"leader": "vmm01", "server": "vmm02", "step": "joining vmm02"}),
    "restore": ("vmm02", {"leader": "vmm01", "server": "vmm02", "step": "joining vmm02"}),
    "member": ("vmm01", {"leader": "vmm01", "server": "vmm02", "step": "joining vmm02"}),
    "start": ("vmm02", {"leader": "vmm01", "server": "vmm02", "step": "joining vmm02"}),
    "healthy": (
        "vmm01",
        {"leader": "vmm01", "members": [{"name": "vmm01", "id": 0}], "step": "deploy"},
    ),
    "stop": ("vmm02", {"leader": "vmm01", "server": "vmm02", "name": "vmm02"}),
    "absent": ("vmm01", {"leader": "vmm01", "server": "vmm05", "name": "vmm05"}),
    "reset": ("vmm01", {"leader": "vmm01", "server": "vmm02"}),
    "restart": ("vmm02", {"server": "vmm02"}),
    "discard": ("vmm01", {"leader": "vmm01", "server": "vmm02"}),
}


def test_every_ha_step_is_covered(repo_root):
    steps = {name.rsplit(".", 1)[1] for name in _sls_names(repo_root, under="ha")}
    assert steps == set(STEP_RUNS)


@pytest.mark.parametrize("step", sorted(STEP_RUNS))
def test_ha_step_renders_in_test_mode_on_a_bare_host(renderer, step):
    minion_id, run = STEP_RUNS[step]
    data = renderer.show(
        minion_id, f"{FORMULA}.ha.{step}", pillar={"onenebula_ha_run": run}, test=True
    )
    for state_id, body in data.items():
        prefix = f"{FORMULA}-ha-{step}-"
        assert state_id.startswith(prefix), state_id
        assert body["__sls__"] == f"{FORMULA}.ha.{step}"


def test_discard_deletes_the_dump_and_its_sidecar_on_the_leader(renderer):
    run = {"leader": "vmm01", "server": "vmm03", "step": "repairing vmm03"}
    states = _states(
        renderer.show("vmm01", f"{FORMULA}.ha.discard", {"onenebula_ha_run": run}, test=True)
    )
    assert sorted((m, f, a["name"]) for m, f, a in states.values()) == [
        ("file", "absent", "/var/lib/one/onenebula_ha/leader.sql"),
        ("file", "absent", "/var/lib/one/onenebula_ha/leader.sql.sha256"),
    ]


def test_join_steps_render_their_real_states_in_test_mode_on_a_bare_host(renderer):
    """On a bare host oned is not running and no dump exists: the steps still render the
    states that act (which predict their change in test mode themselves), never a stand-in."""
    run = {"leader": "vmm01", "server": "vmm03", "step": "joining vmm03 (3 of 5)"}
    # Any host renders the step for the server named in the run pillar.
    restore = _states(
        renderer.show("vmm02", f"{FORMULA}.ha.restore", {"onenebula_ha_run": run}, test=True)
    )
    module, function, args = restore["onenebula_ha-ha-restore-onenebula_db-restored_from_leader"]
    assert (module, function) == ("onenebula_db", "restored_from_leader")
    assert args["server"] == "vmm03"
    # The dump's path on the leader vmm01 and where it is reached over SSH: not salt://.
    assert (args["name"], args["source"], args["user"]) == (
        "/var/lib/one/onenebula_ha/leader.sql",
        "10.213.0.10",
        "oneadmin",
    )
    member = _states(
        renderer.show("vmm01", f"{FORMULA}.ha.member", {"onenebula_ha_run": run}, test=True)
    )
    module, function, args = member["onenebula_ha-ha-member-onenebula_zone-server_present"]
    assert (module, function) == ("onenebula_zone", "server_present")
    assert (args["name"], args["endpoint"]) == ("vmm03", "http://10.213.0.30:2633/RPC2")
    bootstrap_run = {"leader": "vmm01", "server": "vmm01", "step": "bootstrapping"}
    bootstrap = _states(
        renderer.show(
            "vmm01", f"{FORMULA}.ha.bootstrap", {"onenebula_ha_run": bootstrap_run}, test=True
        )
    )
    used = {(module, function) for module, function, _ in bootstrap.values()}
    assert {("onenebula_zone", "server_present"), ("onenebula_zone", "member")} <= used
    for states in (restore, member, bootstrap):
        assert ("test", "configurable_test_state") not in {s[:2] for s in states.values()}


def test_hook_templates_follow_tofs(local_salt, tmp_path):
    """Minion id, then os_family, then the shipped template: the first that a file root
    holds wins (here a root before the formula's, as an operator would add)."""
    files = tmp_path / "override" / FORMULA / "hooks" / "files"
    os_family = salt.config.minion_config(str(local_salt.conf_dir / "minion"))
    os_family = salt.loader.grains(os_family)["os_family"]
    for path in (files / "vmm02" / "failover.sh.jinja", files / os_family / "sudoers.jinja"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# an operator's own\n")
    renderer = Renderer(
        local_salt.conf_dir / "minion", [tmp_path / "override"], cachedir=tmp_path / "cache"
    )

    def sources(minion_id):
        data = renderer.show(minion_id, f"{FORMULA}.hooks")
        own = {k: v for k, v in data.items() if v["__sls__"] == f"{FORMULA}.hooks"}
        return {
            args["name"].rsplit("/", 1)[1]: args["source"]
            for module, function, args in _states(own).values()
            if (module, function) == ("file", "managed") and "source" in args
        }

    shipped = f"salt://{FORMULA}/hooks/files"
    # (the sudoers file and the leader-services script depend on the pillar and the host)
    for minion_id, failover in (("vmm02", f"{shipped}/vmm02/"), ("vmm03", f"{shipped}/")):
        found = sources(minion_id)
        assert found["failover.sh"] == f"{failover}failover.sh.jinja", found
        assert found.get("onenebula_ha", f"{shipped}/{os_family}/sudoers.jinja") == (
            f"{shipped}/{os_family}/sudoers.jinja"
        ), found
        leader_services = found.get("50-onenebula_ha-leader-services")
        assert leader_services in (None, f"{shipped}/leader-services.sh.jinja"), found


def test_clean_removes_the_hooks_and_the_beacon_and_never_the_database(renderer):
    data = renderer.show("vmm02", f"{FORMULA}.clean")
    _assert_conventional_ids(data)
    states = _states(data)
    # (module.run: the systemd daemon-reload after the agent's unit is gone, on systemd hosts)
    assert {(m, f) for m, f, _ in states.values()} - {("module", "run")} == {
        ("beacon", "absent"),
        ("service", "dead"),
        ("onenebula_conf", "absent"),
        ("file", "absent"),
    }
    removed = sorted(
        name
        for m, _, args in states.values()
        if m != "module"
        for name in args.get("names") or [args["name"]]
    )
    assert "/etc/sudoers.d/onenebula_ha" in removed
    # The fencing agent: stopped and disabled first, then its files.
    fence = states["onenebula_ha-clean-service-dead-fence"][2]
    assert (fence["name"], fence["enable"]) == ("onenebula-ha-fence", False)
    assert {
        "/usr/local/sbin/onenebula-ha-fence",
        "/etc/onenebula-ha/fence.json",
        "/etc/init.d/onenebula-ha-fence",
        "/etc/systemd/system/onenebula-ha-fence.service",
    } <= set(removed)
    assert {"service": "onenebula_ha-clean-service-dead-fence"} in (
        states["onenebula_ha-clean-file-absent-fence"][2]["require"]
    )
    # What joins left in the transfer directory; the pre-restore dumps are elsewhere.
    assert {
        "/var/lib/one/onenebula_ha/leader.sql",
        "/var/lib/one/onenebula_ha/leader.sql.sha256",
        "/var/lib/one/onenebula_ha/secrets.sha256",
    } <= set(removed)
    assert {"RAFT_LEADER_HOOK", "RAFT_FOLLOWER_HOOK", "onenebula_raft"} <= set(removed)
    rendered = json.dumps(data)
    for kept in ("mysql", "/var/lib/mysql", "backups", "/.one", "opennebula"):
        assert kept not in rendered


def test_a_step_for_an_unknown_host_refuses_to_render(renderer):
    data = renderer.caller("stranger").cmd("state.show_sls", f"{FORMULA}.ha.start")
    assert isinstance(data, list)
    assert any("not in onenebula_ha:servers" in line for line in data)
