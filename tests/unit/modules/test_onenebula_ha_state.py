"""Unit tests for ``_states/onenebula_ha.py``: the states that handle oneadmin's credentials
at run time. Only states are public: Salt exposes every public function of a state module.

The secrets states run the real ``onenebula_transfer`` module; only the commands it runs
(``scp``) are answered by :class:`FakeSsh`, whose leader is a directory."""

import hashlib
import inspect
import os
import pwd

import pytest
from onenebula_modules_helpers import FakeSsh, load
from support.formula_utils import utils_dunder

UTILS = utils_dunder()
ha_state = load("states", "onenebula_ha")
transfer = load("modules", "onenebula_transfer")
DB_PASSWORD = "db-pass-Zq81"
ME = pwd.getpwuid(os.geteuid()).pw_name
LEADER = "10.213.0.10"
ONE_AUTH = b"oneadmin:s3cret-Qx7\n"


@pytest.fixture
def paths(tmp_path):
    """The secrets directory and the manifest: the same paths on the leader (below its fake
    root) and here."""
    here = tmp_path / "here"
    (here / "one").mkdir(parents=True)
    return {"secrets": str(here / "one"), "manifest": str(here / "transfer" / "secrets.sha256")}


@pytest.fixture
def leader_root(tmp_path, paths):
    root = tmp_path / "leader"
    secrets = root / paths["secrets"].lstrip("/")
    secrets.mkdir(parents=True)
    (secrets / "one_auth").write_bytes(ONE_AUTH)
    (secrets / "one_key").write_bytes(b"key-9\n")
    return root


@pytest.fixture
def ssh(leader_root):
    return FakeSsh({LEADER: leader_root})


@pytest.fixture
def opts():
    return {"test": False, "id": "vmm01"}


@pytest.fixture
def configure_loader_modules(ssh, opts):
    pillar = {"onenebula_ha": {"database": {"password": DB_PASSWORD}}}
    functions = {
        f"onenebula_transfer.{name}": getattr(transfer, name) for name in ("manifest", "sync_files")
    }
    return {
        ha_state: {
            "__salt__": functions,
            "__pillar__": pillar,
            "__opts__": opts,
            "__utils__": UTILS,
        },
        transfer: {
            "__salt__": {"cmd.run_all": ssh},
            "__opts__": {"onenebula_ha.ssh_user": ME},
            "__utils__": UTILS,
        },
    }


def test_only_states_are_public():
    public = {
        name
        for name, value in vars(ha_state).items()
        if inspect.isfunction(value) and not name.startswith("_")
    }
    assert public == {"database", "secrets_published", "secrets_pulled"}


NATIVE_HASH = "*" + hashlib.sha1(hashlib.sha1(DB_PASSWORD.encode()).digest()).hexdigest().upper()
HOSTS = ["localhost", "127.0.0.1"]
ALL_DB_PRIVILEGES = {"Select_priv": "Y", "Insert_priv": "Y", "Drop_priv": "Y", "Grant_priv": "N"}


def facts(version="10.11.6-MariaDB-0+deb12u1", database=True, users=None, grants=None):
    native = {"plugin": "mysql_native_password", "authentication_string": NATIVE_HASH}
    return {
        "version": version,
        "database": database,
        "users": {h: dict(native) for h in HOSTS} if users is None else users,
        "grants": {h: dict(ALL_DB_PRIVILEGES) for h in HOSTS} if grants is None else grants,
    }


def plan(found):
    return ha_state._database_plan("opennebula", "oneadmin", HOSTS, NATIVE_HASH, found)


def test_database_plan_on_a_converged_server_runs_nothing():
    assert plan(facts()) == ([], {})


def test_database_plan_on_an_empty_server_creates_all_with_the_hash_as_an_argument():
    statements, changes = plan(facts(database=False, users={}, grants={}))
    assert statements == [
        ("CREATE DATABASE `opennebula`", ()),
        ("CREATE USER %s@%s IDENTIFIED BY PASSWORD %s", ("oneadmin", "localhost", NATIVE_HASH)),
        ("GRANT ALL PRIVILEGES ON `opennebula`.* TO %s@%s", ("oneadmin", "localhost")),
        ("CREATE USER %s@%s IDENTIFIED BY PASSWORD %s", ("oneadmin", "127.0.0.1", NATIVE_HASH)),
        ("GRANT ALL PRIVILEGES ON `opennebula`.* TO %s@%s", ("oneadmin", "127.0.0.1")),
    ]
    assert changes["database"] == {"old": None, "new": "opennebula"}
    assert changes["oneadmin@localhost"] == changes["oneadmin@127.0.0.1"] == "added"
    assert NATIVE_HASH not in repr(changes)


def test_database_plan_resets_another_password_or_plugin_and_a_partial_grant():
    found = facts()
    found["users"]["localhost"]["authentication_string"] = "*0000"
    found["users"]["127.0.0.1"]["plugin"] = "unix_socket"
    found["grants"]["127.0.0.1"]["Drop_priv"] = "N"
    statements, changes = plan(found)
    assert [sql.split(" %s")[0] for sql, _ in statements] == [
        "ALTER USER", "ALTER USER", "GRANT ALL PRIVILEGES ON `opennebula`.* TO",
    ]  # fmt: skip
    assert changes == {
        "oneadmin@localhost": "password updated",
        "oneadmin@127.0.0.1": "password updated",
        "granted": ["ALL PRIVILEGES ON opennebula.* TO oneadmin@127.0.0.1"],
    }


def test_database_plan_takes_the_hash_from_mariadbs_old_password_column():
    old = {"plugin": "", "authentication_string": "", "Password": NATIVE_HASH}
    assert plan(facts(users={h: dict(old) for h in HOSTS})) == ([], {})


def test_database_plan_uses_mysqls_syntax_on_mysql():
    statements, _ = plan(facts(version="8.0.36", users={}))
    assert statements[0][0] == "CREATE USER %s@%s IDENTIFIED WITH mysql_native_password AS %s"


def test_database_without_the_pillar_password_changes_nothing():
    ret = ha_state.database("opennebula", "oneadmin", "onenebula_ha:database:missing")
    assert (ret["result"], ret["comment"]) == (
        False,
        "pillar onenebula_ha:database:missing is not set",
    )


# ------------------------------------------------------------------ secrets


def _publish_on_leader(leader_root, paths, opts):
    """secrets_published, run on the leader (its own paths are below its fake root)."""
    secrets = str(leader_root / paths["secrets"].lstrip("/"))
    manifest = str(leader_root / paths["manifest"].lstrip("/"))
    return ha_state.secrets_published(secrets, manifest, user=ME), manifest


def test_secrets_published_writes_a_0600_manifest_once(leader_root, paths, opts, ssh):
    opts["test"] = True
    predicted, manifest = _publish_on_leader(leader_root, paths, opts)
    assert predicted["result"] is None and not os.path.exists(manifest)
    opts["test"] = False
    ret, manifest = _publish_on_leader(leader_root, paths, opts)
    assert ret["result"] is True and ret["changes"] == {
        "manifest": manifest,
        "files": ["one_auth", "one_key"],
    }
    with open(manifest, encoding="utf-8") as handle:
        text = handle.read()
    assert text.splitlines()[0] == f"{hashlib.sha256(ONE_AUTH).hexdigest()}  one_auth"
    assert os.stat(manifest).st_mode & 0o777 == 0o600
    again, _ = _publish_on_leader(leader_root, paths, opts)
    assert (again["result"], again["changes"]) == (True, {})
    assert ssh.calls == []  # nothing leaves the leader when it publishes
    assert b"s3cret" not in repr(ret).encode()


def test_secrets_pulled_takes_the_leaders_files_then_is_idempotent(leader_root, paths, opts, ssh):
    _publish_on_leader(leader_root, paths, opts)
    opts["test"] = True
    predicted = ha_state.secrets_pulled(paths["secrets"], LEADER, paths["manifest"], user=ME)
    assert predicted["result"] is None
    assert predicted["changes"] == {"pulled": ["one_auth", "one_key"]}
    assert os.listdir(paths["secrets"]) == []
    opts["test"] = False
    ret = ha_state.secrets_pulled(paths["secrets"], LEADER, paths["manifest"], user=ME)
    assert ret["result"] is True, ret["comment"]
    assert ret["changes"] == {"pulled": ["one_auth", "one_key"]}
    with open(os.path.join(paths["secrets"], "one_auth"), "rb") as handle:
        assert handle.read() == ONE_AUTH
    again = ha_state.secrets_pulled(paths["secrets"], LEADER, paths["manifest"], user=ME)
    assert (again["result"], again["changes"]) == (True, {})
    assert "s3cret" not in repr([ret, again, predicted])
    assert all(argv[0] == "scp" for argv in ssh.commands())


def test_secrets_pulled_repairs_drift(leader_root, paths, opts):
    _publish_on_leader(leader_root, paths, opts)
    ha_state.secrets_pulled(paths["secrets"], LEADER, paths["manifest"], user=ME)
    drifted = os.path.join(paths["secrets"], "one_auth")
    with open(drifted, "wb") as handle:
        handle.write(b"oneadmin:changed-by-hand\n")
    ret = ha_state.secrets_pulled(paths["secrets"], LEADER, paths["manifest"], user=ME)
    assert ret["changes"] == {"pulled": ["one_auth"]}
    with open(drifted, "rb") as handle:
        assert handle.read() == ONE_AUTH


def test_secrets_pulled_before_the_leader_published_says_so(paths, opts):
    ret = ha_state.secrets_pulled(paths["secrets"], LEADER, paths["manifest"], user=ME)
    assert (ret["result"], ret["changes"]) == (True, {})
    assert "has not published" in ret["comment"]


def test_secrets_pulled_from_an_unknown_host_fails(leader_root, paths, opts):
    _publish_on_leader(leader_root, paths, opts)
    ret = ha_state.secrets_pulled(paths["secrets"], "vmm09", paths["manifest"], user=ME)
    assert ret["result"] is False
    assert "Host key verification failed" in ret["comment"]
    assert os.listdir(paths["secrets"]) == []


def test_secrets_pulled_in_a_test_run_before_the_ssh_trust_predicts(leader_root, paths, opts):
    # A test run of a deploy on bare hosts: known_hosts is written later in the same run.
    _publish_on_leader(leader_root, paths, opts)
    opts["test"] = True
    ret = ha_state.secrets_pulled(paths["secrets"], "vmm09", paths["manifest"], user=ME)
    assert ret["result"] is None and ret["changes"]["pulled"]
    assert "would be pulled from vmm09" in ret["comment"]
    assert os.listdir(paths["secrets"]) == []


def test_secrets_pulled_refuses_a_tampered_copy(leader_root, paths, opts):
    _publish_on_leader(leader_root, paths, opts)
    (leader_root / paths["secrets"].lstrip("/") / "one_key").write_bytes(b"evil\n")
    ret = ha_state.secrets_pulled(paths["secrets"], LEADER, paths["manifest"], user=ME)
    assert ret["result"] is False
    assert "checksum mismatch for one_key" in ret["comment"]
    assert os.listdir(paths["secrets"]) == []
