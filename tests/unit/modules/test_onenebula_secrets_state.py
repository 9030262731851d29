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
def opts(tmp_path):
    return {"test": False, "id": "vmm01", "cachedir": str(tmp_path / "cache")}


class FakeMine:
    """The master's mine as ``mine.send`` / ``mine.get`` see it: minion -> function ->
    value, the value what ``file.read`` of the sent path returns."""

    def __init__(self, opts):
        self.opts = opts
        self.data = {}
        self.gets = 0

    def send(self, function, mine_function=None, path=None):
        assert mine_function == "file.read"
        with open(path, encoding="utf-8") as handle:
            self.data.setdefault(self.opts["id"], {})[function] = handle.read()
        return True

    def get(self, tgt, function, tgt_type="glob"):
        assert tgt_type == "list"  # an exact minion id, never a pattern
        self.gets += 1
        value = self.data.get(tgt, {}).get(function)
        return {} if value is None else {tgt: value}


@pytest.fixture
def mine(opts):
    return FakeMine(opts)


@pytest.fixture
def configure_loader_modules(ssh, opts, mine):
    functions = {
        f"onenebula_transfer.{name}": getattr(transfer, name) for name in ("manifest", "sync_files")
    }
    functions.update({"mine.send": mine.send, "mine.get": mine.get})
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
        "generation": "new",
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


# ---------------------------------------------------------------- the generation: no SSH when
# nothing changed


def _pull(paths, opts, ssh, source_minion="vmm01"):
    """pulled, run on a follower (vmm02) with the leader's minion id; the scp calls it made."""
    before = len(ssh.calls)
    opts["id"] = "vmm02"
    try:
        ret = secrets_state.pulled(
            paths["secrets"], LEADER, paths["manifest"], user=ME, source_minion=source_minion
        )
    finally:
        opts["id"] = "vmm01"
    return ret, len(ssh.calls) - before


def test_published_sends_a_random_generation_to_the_mine(leader_root, paths, opts, mine):
    ret, manifest = _publish_on_leader(leader_root, paths, opts)
    sent = mine.data["vmm01"][secrets_state.MINE_FUNCTION].strip()
    with open(f"{manifest}.generation", encoding="utf-8") as handle:
        assert handle.read().strip() == sent
    assert os.stat(f"{manifest}.generation").st_mode & 0o777 == 0o600
    # Nothing the master sees is derived from the secrets: not a file's hash, not the
    # manifest's; a republish of the same files draws another one.
    with open(manifest, encoding="utf-8") as handle:
        text = handle.read()
    assert len(sent) == 32 and sent not in text
    assert sent not in hashlib.sha256(text.encode()).hexdigest()
    os.unlink(manifest)
    _publish_on_leader(leader_root, paths, opts)
    assert mine.data["vmm01"][secrets_state.MINE_FUNCTION].strip() != sent


def test_published_sends_the_generation_again_when_the_mine_lost_it(leader_root, paths, opts, mine):
    _, manifest = _publish_on_leader(leader_root, paths, opts)
    sent = mine.data["vmm01"][secrets_state.MINE_FUNCTION]
    mine.data.clear()  # mine.flush, or a send the master never got
    opts["test"] = True
    predicted, _ = _publish_on_leader(leader_root, paths, opts)
    assert predicted["result"] is None and predicted["changes"] == {
        "generation": "sent to the mine"
    }
    assert mine.data == {}
    opts["test"] = False
    ret, _ = _publish_on_leader(leader_root, paths, opts)
    assert ret["result"] is True and ret["changes"] == {"generation": "sent to the mine"}
    assert mine.data["vmm01"][secrets_state.MINE_FUNCTION] == sent  # the same generation
    again, _ = _publish_on_leader(leader_root, paths, opts)
    assert (again["result"], again["changes"]) == (True, {})


def test_a_generation_the_master_did_not_take_is_sent_at_the_next_run(
    leader_root, paths, opts, mine, monkeypatch
):
    def unreachable(*args, **kwargs):
        raise TimeoutError("Message timed out")

    monkeypatch.setitem(secrets_state.__salt__, "mine.send", unreachable)
    ret, manifest = _publish_on_leader(leader_root, paths, opts)
    assert ret["result"] is False and "Message timed out" in ret["comment"]
    assert ret["changes"]["manifest"] == manifest  # written all the same
    monkeypatch.undo()
    again, _ = _publish_on_leader(leader_root, paths, opts)
    assert again["result"] is True and again["changes"] == {"generation": "sent to the mine"}


def test_published_writes_a_generation_beside_an_older_manifest(leader_root, paths, opts, mine):
    # A manifest written before generations existed: current, but no generation yet.
    _, manifest = _publish_on_leader(leader_root, paths, opts)
    os.unlink(f"{manifest}.generation")
    mine.data.clear()
    ret, _ = _publish_on_leader(leader_root, paths, opts)
    assert ret["result"] is True and ret["changes"] == {"generation": "new"}
    assert secrets_state.MINE_FUNCTION in mine.data["vmm01"]


def test_a_converged_pull_makes_no_ssh_connection(leader_root, paths, opts, ssh):
    _publish_on_leader(leader_root, paths, opts)
    first, connections = _pull(paths, opts, ssh)
    # One connection reads the manifest, one pulls the files.
    assert first["changes"] == {"pulled": ["one_auth", "one_key"]} and connections == 2
    for test in (True, False):
        opts["test"] = test
        again, connections = _pull(paths, opts, ssh)
        assert (again["result"], again["changes"], connections) == (True, {}, 0), again
        assert "no SSH needed" in again["comment"]
    record = os.path.join(opts["cachedir"], "onenebula_secrets", "pulled.json")
    assert os.stat(record).st_mode & 0o777 == 0o600
    with open(record, encoding="utf-8") as handle:
        assert "s3cret" not in handle.read()


def test_a_secret_changed_on_the_leader_is_pulled_at_the_next_run(leader_root, paths, opts, ssh):
    _publish_on_leader(leader_root, paths, opts)
    _pull(paths, opts, ssh)
    (leader_root / paths["secrets"].lstrip("/") / "one_key").write_bytes(b"key-10\n")
    # Until the leader's run republishes, its manifest still lists the old files: the
    # follower's copy is that manifest's.
    assert _pull(paths, opts, ssh)[1] == 0
    _publish_on_leader(leader_root, paths, opts)
    ret, connections = _pull(paths, opts, ssh)
    assert ret["changes"] == {"pulled": ["one_key"]} and connections == 2
    with open(os.path.join(paths["secrets"], "one_key"), "rb") as handle:
        assert handle.read() == b"key-10\n"
    assert _pull(paths, opts, ssh)[1] == 0


@pytest.mark.parametrize("drift", ["contents", "mode", "removed"])
def test_local_drift_is_checked_over_ssh_under_the_same_generation(
    leader_root, paths, opts, ssh, drift
):
    _publish_on_leader(leader_root, paths, opts)
    _pull(paths, opts, ssh)
    local = os.path.join(paths["secrets"], "one_auth")
    if drift == "contents":
        with open(local, "wb") as handle:
            handle.write(b"oneadmin:changed-by-hand\n")
    elif drift == "mode":
        os.chmod(local, 0o644)
    else:
        os.unlink(local)
    ret, connections = _pull(paths, opts, ssh)
    assert connections == (1 if drift == "mode" else 2) and ret["result"] is True
    assert ret["changes"] == (
        {"fixed": ["one_auth"]} if drift == "mode" else {"pulled": ["one_auth"]}
    )
    assert os.stat(local).st_mode & 0o777 == 0o600
    assert _pull(paths, opts, ssh)[1] == 0


@pytest.mark.parametrize("mined", [None, "not-a-generation", "0" * 32])
def test_a_missing_or_foreign_generation_means_a_check_over_ssh(
    leader_root, paths, opts, ssh, mine, mined
):
    _publish_on_leader(leader_root, paths, opts)
    _pull(paths, opts, ssh)
    if mined is None:
        mine.data.clear()
    else:
        mine.data["vmm01"][secrets_state.MINE_FUNCTION] = mined
    ret, connections = _pull(paths, opts, ssh)
    assert (ret["result"], ret["changes"], connections) == (True, {}, 1)


def test_a_new_source_means_a_check_over_ssh(leader_root, paths, opts, ssh):
    _publish_on_leader(leader_root, paths, opts)
    _pull(paths, opts, ssh)
    ret, connections = _pull(paths, opts, ssh, source_minion="vmm03")
    assert connections == 1 and ret["result"] is True  # vmm03 sent no generation
    # Without source_minion (an older SLS) every run checks over SSH, as before.
    before = len(ssh.calls)
    opts["id"] = "vmm02"
    ret = secrets_state.pulled(paths["secrets"], LEADER, paths["manifest"], user=ME)
    assert len(ssh.calls) == before + 1 and ret["result"] is True
