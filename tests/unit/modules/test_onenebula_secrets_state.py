"""Unit tests for ``_states/onenebula_secrets.py``: oneadmin's secrets published by the
leader and pulled by the other front-ends over SSH. Only states are public: Salt exposes
every public function of a state module.

The states run the real ``onenebula_transfer`` module; only the commands it runs (``scp``)
are answered by :class:`FakeSsh`, whose leader is a directory."""

import hashlib
import inspect
import os
import pwd

import pytest
from onenebula_modules_helpers import FakeSsh, load
from support.formula_utils import utils_dunder

UTILS = utils_dunder()
secrets_state = load("states", "onenebula_secrets")
transfer = load("modules", "onenebula_transfer")
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
    functions = {
        f"onenebula_transfer.{name}": getattr(transfer, name) for name in ("manifest", "sync_files")
    }
    return {
        secrets_state: {"__salt__": functions, "__opts__": opts, "__utils__": UTILS},
        transfer: {
            "__salt__": {"cmd.run_all": ssh},
            "__opts__": {"onenebula_ha.ssh_user": ME},
            "__utils__": UTILS,
        },
    }


def test_only_states_are_public():
    public = {
        name
        for name, value in vars(secrets_state).items()
        if inspect.isfunction(value) and not name.startswith("_")
    }
    assert public == {"published", "pulled"}


def _publish_on_leader(leader_root, paths, opts):
    """published, run on the leader (its own paths are below its fake root)."""
    secrets = str(leader_root / paths["secrets"].lstrip("/"))
    manifest = str(leader_root / paths["manifest"].lstrip("/"))
    return secrets_state.published(secrets, manifest, user=ME), manifest


def test_published_writes_a_0600_manifest_once(leader_root, paths, opts, ssh):
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


def test_pulled_takes_the_leaders_files_then_is_idempotent(leader_root, paths, opts, ssh):
    _publish_on_leader(leader_root, paths, opts)
    opts["test"] = True
    predicted = secrets_state.pulled(paths["secrets"], LEADER, paths["manifest"], user=ME)
    assert predicted["result"] is None
    assert predicted["changes"] == {"pulled": ["one_auth", "one_key"]}
    assert os.listdir(paths["secrets"]) == []
    opts["test"] = False
    ret = secrets_state.pulled(paths["secrets"], LEADER, paths["manifest"], user=ME)
    assert ret["result"] is True, ret["comment"]
    assert ret["changes"] == {"pulled": ["one_auth", "one_key"]}
    with open(os.path.join(paths["secrets"], "one_auth"), "rb") as handle:
        assert handle.read() == ONE_AUTH
    again = secrets_state.pulled(paths["secrets"], LEADER, paths["manifest"], user=ME)
    assert (again["result"], again["changes"]) == (True, {})
    assert "s3cret" not in repr([ret, again, predicted])
    assert all(argv[0] == "scp" for argv in ssh.commands())


def test_pulled_repairs_drift(leader_root, paths, opts):
    _publish_on_leader(leader_root, paths, opts)
    secrets_state.pulled(paths["secrets"], LEADER, paths["manifest"], user=ME)
    drifted = os.path.join(paths["secrets"], "one_auth")
    with open(drifted, "wb") as handle:
        handle.write(b"oneadmin:changed-by-hand\n")
    ret = secrets_state.pulled(paths["secrets"], LEADER, paths["manifest"], user=ME)
    assert ret["changes"] == {"pulled": ["one_auth"]}
    with open(drifted, "rb") as handle:
        assert handle.read() == ONE_AUTH


def test_pulled_before_the_leader_published_says_so(paths, opts):
    ret = secrets_state.pulled(paths["secrets"], LEADER, paths["manifest"], user=ME)
    assert (ret["result"], ret["changes"]) == (True, {})
    assert "has not published" in ret["comment"]


def test_pulled_from_an_unknown_host_fails(leader_root, paths, opts):
    _publish_on_leader(leader_root, paths, opts)
    ret = secrets_state.pulled(paths["secrets"], "vmm09", paths["manifest"], user=ME)
    assert ret["result"] is False
    assert "Host key verification failed" in ret["comment"]
    assert os.listdir(paths["secrets"]) == []


def test_pulled_in_a_test_run_before_the_ssh_trust_predicts(leader_root, paths, opts):
    # A test run of a deploy on bare hosts: known_hosts is written later in the same run.
    _publish_on_leader(leader_root, paths, opts)
    opts["test"] = True
    ret = secrets_state.pulled(paths["secrets"], "vmm09", paths["manifest"], user=ME)
    assert ret["result"] is None and ret["changes"]["pulled"]
    assert "would be pulled from vmm09" in ret["comment"]
    assert os.listdir(paths["secrets"]) == []


def test_pulled_refuses_a_tampered_copy(leader_root, paths, opts):
    _publish_on_leader(leader_root, paths, opts)
    (leader_root / paths["secrets"].lstrip("/") / "one_key").write_bytes(b"evil\n")
    ret = secrets_state.pulled(paths["secrets"], LEADER, paths["manifest"], user=ME)
    assert ret["result"] is False
    assert "checksum mismatch for one_key" in ret["comment"]
    assert os.listdir(paths["secrets"]) == []
