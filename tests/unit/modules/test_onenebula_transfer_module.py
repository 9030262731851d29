"""Unit tests for ``_modules/onenebula_transfer.py``: files between front-ends over SSH.

``cmd.run_all`` is a :class:`FakeSsh` whose remote front-ends are directories; everything
the module decides (grammar, argv, verification, staging, ownership) runs for real."""

import hashlib
import os
import pwd
import sys
from pathlib import Path

import pytest
from onenebula_modules_helpers import FakeSsh, load, run_result
from salt.exceptions import CommandExecutionError
from support.formula_utils import utils_dunder

transfer = load("modules", "onenebula_transfer")
ME = pwd.getpwuid(os.geteuid()).pw_name
LEADER = "10.213.0.10"
DUMP = "/var/lib/one/onenebula_ha/leader.sql"
SECRETS = "/var/lib/one/.one"
MANIFEST = "/var/lib/one/onenebula_ha/secrets.sha256"


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def leader_root(tmp_path):
    root = tmp_path / "leader"
    dump = root / DUMP.lstrip("/")
    dump.parent.mkdir(parents=True)
    dump.write_bytes(b"-- leader dump\n")
    digest = sha(b"-- leader dump\n")
    (root / f"{DUMP}.sha256".lstrip("/")).write_text(f"{digest}  leader.sql\n")
    secrets = root / SECRETS.lstrip("/")
    secrets.mkdir(parents=True)
    (secrets / "one_auth").write_bytes(b"oneadmin:s3cret-Qx7\n")
    (secrets / "one_key").write_bytes(b"key-material-9\n")
    return root


@pytest.fixture
def ssh(leader_root, monkeypatch, tmp_path):
    return FakeSsh({LEADER: leader_root, "vmm01": leader_root}).install(
        monkeypatch, tmp_path / "bin"
    )


@pytest.fixture
def configure_loader_modules(ssh):
    return {
        transfer: {
            "__salt__": {"cmd.run_all": ssh},
            "__opts__": {"onenebula_ha.ssh_user": ME},
            "__utils__": utils_dunder(),
        }
    }


@pytest.fixture
def here(tmp_path):
    directory = tmp_path / "here"
    directory.mkdir()
    return directory


# ------------------------------------------------------------------ grammar


@pytest.mark.parametrize(
    "host",
    ["10.213.0.10", "vmm01", "vmm01.example.org", "fe80::1", "[2001:db8::1]", "vmm01."],
)
def test_hosts_of_the_grammar_are_accepted(host):
    assert transfer._check_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "-oProxyCommand=id",
        "vmm01 -oProxyCommand=id",
        "vmm01;id",
        "vmm01\n",
        "user@vmm01",
        "vmm01:/etc",
        "$(id)",
        "fe80::1%eth0",
        "999.1.1.1",
        "",
        None,
        "a" * 254,
        "vmm_01",
    ],
)
def test_hosts_outside_the_grammar_are_refused(host):
    with pytest.raises(CommandExecutionError, match="not a host name or IP address"):
        transfer._check_host(host)


@pytest.mark.parametrize("user", ["root", "-oProxyCommand", "one admin", "oneadmin\n", "Admin", ""])
def test_users_outside_the_grammar_are_refused(user):
    if user == "root":
        assert transfer._check_user(user) == "root"
        return
    with pytest.raises(CommandExecutionError, match="not a user name"):
        transfer._check_user(user)


@pytest.mark.parametrize(
    "path",
    [
        "relative/leader.sql",
        "/var/lib/one/../../etc/shadow",
        "/var/lib/one/./x",
        "/var/lib//one",
        "/var/lib/one/",
        "/var/lib/one/leader.sql\n",
        "/var/lib/one/$(id)",
        "/var/lib/one/a b",
        "/var/lib/one/*",
        "/var/lib/one/a;rm",
        "/",
        "/" + "a" * 2000,
    ],
)
def test_paths_outside_the_grammar_are_refused(path, ssh):
    with pytest.raises(CommandExecutionError, match="not an absolute, normalised path"):
        transfer.pull(LEADER, [path], "/tmp")
    assert ssh.commands() == []


def test_a_hostile_host_never_reaches_a_command(ssh, here):
    with pytest.raises(CommandExecutionError):
        transfer.fetch("-oProxyCommand=touch /tmp/pwned", DUMP, str(here))
    with pytest.raises(CommandExecutionError):
        transfer.remove("vmm01;reboot", [DUMP])
    assert ssh.commands() == []


# ------------------------------------------------------------------ pull / fetch


def test_pull_runs_scp_as_a_list_with_strict_host_keys(ssh, here):
    copied = transfer.pull(LEADER, [DUMP], str(here))
    assert copied == {DUMP: str(here / "leader.sql")}
    assert (here / "leader.sql").read_bytes() == b"-- leader dump\n"
    ((argv, kwargs),) = ssh.calls
    assert argv[0] == "scp"
    assert "BatchMode=yes" in argv and "StrictHostKeyChecking=yes" in argv
    assert argv[-3:] == ["--", f"{ME}@{LEADER}:{DUMP}", f"{here}/"]
    assert kwargs["python_shell"] is False
    assert kwargs["cwd"] == pwd.getpwnam(ME).pw_dir  # already that user: no runuser


def test_pull_as_another_user_runs_as_that_user(ssh, here, monkeypatch):
    transfer.__opts__["onenebula_ha.ssh_user"] = "oneadmin"
    monkeypatch.setattr(transfer, "_home", lambda user: f"/home/{user}")
    transfer.pull(LEADER, [DUMP], str(here))
    ((argv, kwargs),) = ssh.calls
    assert argv[0].endswith("runuser") and argv[1:5] == ["-u", "oneadmin", "--", "scp"]
    assert f"oneadmin@{LEADER}:{DUMP}" in argv
    assert kwargs["cwd"] == "/home/oneadmin"


def test_ipv6_sources_are_bracketed_for_scp(ssh, leader_root, here):
    ssh.roots["2001:db8::1"] = leader_root
    transfer.pull("2001:db8::1", DUMP, str(here))
    assert f"{ME}@[2001:db8::1]:{DUMP}" in ssh.commands("scp")[0]


def test_fetch_verifies_against_the_sidecar_and_keeps_only_the_dump(ssh, here):
    fetched = transfer.fetch(LEADER, DUMP, str(here))
    assert fetched == {"path": str(here / "leader.sql"), "sha256": sha(b"-- leader dump\n")}
    assert sorted(p.name for p in here.iterdir()) == ["leader.sql"]
    # the sidecar read (scp of a small file), then the dump over one ssh connection
    assert [w for w in ssh.commands("scp")[0] if "@" in w] == [f"{ME}@{LEADER}:{DUMP}.sha256"]
    (streamed,) = ssh.streamed()
    assert "BatchMode=yes" in streamed and "StrictHostKeyChecking=yes" in streamed
    assert streamed[streamed.index("--") + 1 :] == [f"{ME}@{LEADER}", "cat", "--", DUMP]


def test_the_fetched_dump_is_this_process_s_own_and_private(ssh, here):
    """The dump is written by the minion itself (not by the SSH user, who could change it
    between the check and the restore), mode 0600."""
    info = os.stat(transfer.fetch(LEADER, DUMP, str(here))["path"])
    assert (info.st_uid, info.st_mode & 0o777) == (os.geteuid(), 0o600)


def test_a_dump_that_does_not_match_its_checksum_is_deleted(ssh, leader_root, here):
    (leader_root / DUMP.lstrip("/")).write_bytes(b"-- truncated")
    with pytest.raises(CommandExecutionError, match="checksum mismatch"):
        transfer.fetch(LEADER, DUMP, str(here))
    assert list(here.iterdir()) == []


def test_a_stream_cut_short_fails_and_leaves_nothing(ssh, leader_root, here):
    ssh.roots["vmm01-cut"] = leader_root
    with pytest.raises(CommandExecutionError, match="ssh from vmm01-cut failed"):
        transfer.fetch("vmm01-cut", DUMP, str(here), sha256=sha(b"-- leader dump\n"))
    assert list(here.iterdir()) == []


def test_a_stream_that_outlives_its_timeout_is_killed(ssh, here, monkeypatch):
    monkeypatch.setattr(transfer, "STREAM_BLOCK", 1)
    slow = here.parent / "bin" / "ssh"
    slow.write_text(f"#!{sys.executable}\nimport time\nprint('x', flush=True)\ntime.sleep(30)\n")
    with pytest.raises(CommandExecutionError, match="timed out after 0.5 s"):
        transfer.fetch(LEADER, DUMP, str(here), sha256=sha(b"x"), timeout=0.5)
    assert list(here.iterdir()) == []


def test_a_consumed_dump_is_deleted_there_by_the_same_connection(ssh, leader_root, here):
    dump = leader_root / DUMP.lstrip("/")
    transfer.fetch(LEADER, DUMP, str(here), consume=True)
    assert not dump.exists() and not Path(f"{dump}.sha256").exists()
    (streamed,) = ssh.streamed()
    assert streamed[-6:] == ["&&", "rm", "-f", "--", DUMP, f"{DUMP}.sha256"]
    assert ssh.commands("ssh") == [streamed]  # no other connection
    # used once, even when it does not match: the next join takes a fresh one
    dump.write_bytes(b"-- another dump\n")
    with pytest.raises(CommandExecutionError, match="checksum mismatch"):
        transfer.fetch(LEADER, DUMP, str(here), sha256=sha(b"x"), consume=True)
    assert not dump.exists() and list(here.iterdir()) == []


def test_fetch_with_a_given_checksum_reads_no_sidecar(ssh, here):
    transfer.fetch(LEADER, DUMP, str(here), sha256=sha(b"-- leader dump\n").upper())
    assert ssh.commands("scp") == []
    assert len(ssh.streamed()) == 1
    with pytest.raises(CommandExecutionError, match="not a sha256"):
        transfer.fetch(LEADER, DUMP, str(here), sha256="abc")


def test_ssh_errors_are_reported_with_a_missing_flag(ssh, here):
    digest = sha(b"-- leader dump\n")
    with pytest.raises(CommandExecutionError) as missing:
        transfer.fetch(LEADER, "/var/lib/one/onenebula_ha/none.sql", str(here), sha256=digest)
    assert "No such file or directory" in str(missing.value)
    assert missing.value.info["missing"] is True
    with pytest.raises(CommandExecutionError) as unknown:
        transfer.fetch("vmm09", DUMP, str(here), sha256=digest)
    assert "Host key verification failed" in str(unknown.value)
    assert unknown.value.info["missing"] is False
    assert list(here.iterdir()) == []


def test_a_missing_sidecar_is_reported_as_missing(ssh, here):
    with pytest.raises(CommandExecutionError) as missing:
        transfer.fetch(LEADER, "/var/lib/one/onenebula_ha/none.sql", str(here))
    assert missing.value.info["missing"] is True
    assert ssh.streamed() == []


def test_read_returns_a_small_file_and_leaves_nothing_behind(ssh, leader_root, tmp_path):
    text = transfer.read(LEADER, f"{DUMP}.sha256")
    assert text.endswith("  leader.sql\n")
    staging = ssh.commands("scp")[0][-1]
    assert not os.path.exists(staging)
    (leader_root / "big").write_bytes(b"x" * 100)
    with pytest.raises(CommandExecutionError, match="larger than"):
        transfer.read(LEADER, "/big", limit=10)


def test_remove_deletes_on_the_front_end_with_rm_and_no_options_from_paths(ssh, leader_root):
    transfer.remove(LEADER, [DUMP, f"{DUMP}.sha256"])
    assert not (leader_root / DUMP.lstrip("/")).exists()
    argv = ssh.commands("ssh")[0]
    assert argv[-5:] == ["rm", "-f", "--", DUMP, f"{DUMP}.sha256"]
    assert argv[argv.index("--") + 1] == f"{ME}@{LEADER}"


# ------------------------------------------------------------------ manifests


def test_manifest_lists_plain_files_in_name_order(tmp_path):
    (tmp_path / "b").write_bytes(b"2")
    (tmp_path / "a").write_bytes(b"1")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "a")
    (tmp_path / "bad name").write_bytes(b"3")
    assert transfer.manifest(str(tmp_path)) == f"{sha(b'1')}  a\n{sha(b'2')}  b\n"


@pytest.mark.parametrize(
    "line",
    [
        f"{'a' * 64}  ../../etc/shadow",
        f"{'a' * 64}  sub/one_auth",
        f"{'a' * 64} one_auth",
        f"{'a' * 63}  one_auth",
        f"{'A' * 64}  one_auth",
        f"{'a' * 64}  -rf",
        f"{'a' * 64}  one auth",
    ],
)
def test_manifest_lines_outside_the_grammar_are_refused(line):
    with pytest.raises(CommandExecutionError, match="manifest line 1"):
        transfer.parse_manifest(line + "\n")


def test_a_name_listed_twice_is_refused():
    with pytest.raises(CommandExecutionError, match="twice"):
        transfer.parse_manifest(f"{'a' * 64}  one_auth\n{'b' * 64}  one_auth\n")


def _publish(leader_root):
    secrets = leader_root / SECRETS.lstrip("/")
    (leader_root / MANIFEST.lstrip("/")).write_text(transfer.manifest(str(secrets)))


@pytest.fixture
def secrets_here(tmp_path, leader_root, ssh):
    """This host's secrets directory at the same path as the leader's, under a fake root:
    the remote paths are the leader's; the local ones are below ``local``."""
    local = tmp_path / "local" / SECRETS.lstrip("/")
    local.mkdir(parents=True)
    _publish(leader_root)
    return local


def _sync(local, **kwargs):
    # The local directory stands at the same absolute path on the leader: map it.
    return transfer.sync_files(LEADER, MANIFEST, str(local), **kwargs)


def test_sync_pulls_the_files_that_differ_and_installs_them_0600(ssh, leader_root, secrets_here):
    # The leader serves the same absolute path as the local directory.
    ssh.roots[LEADER] = _mirror(leader_root, secrets_here)
    (secrets_here / "one_key").write_bytes(b"key-material-9\n")
    os.chmod(secrets_here / "one_key", 0o600)
    found = _sync(secrets_here)
    assert found == {"files": ["one_auth", "one_key"], "pulled": ["one_auth"], "fixed": []}
    assert (secrets_here / "one_auth").read_bytes() == b"oneadmin:s3cret-Qx7\n"
    assert (os.stat(secrets_here / "one_auth").st_mode & 0o777) == 0o600
    assert sorted(p.name for p in secrets_here.iterdir()) == ["one_auth", "one_key"]
    assert "s3cret" not in repr(found) and "s3cret" not in repr(ssh.calls)
    # Converged: nothing pulled on the next run (only the manifest is read).
    calls = len(ssh.calls)
    assert _sync(secrets_here) == {"files": ["one_auth", "one_key"], "pulled": [], "fixed": []}
    assert len(ssh.calls) == calls + 1


def test_sync_dry_run_changes_nothing(ssh, leader_root, secrets_here):
    ssh.roots[LEADER] = _mirror(leader_root, secrets_here)
    found = _sync(secrets_here, dry_run=True)
    assert found["pulled"] == ["one_auth", "one_key"]
    assert list(secrets_here.iterdir()) == []


def test_sync_fixes_a_wrong_mode_without_pulling(ssh, leader_root, secrets_here):
    ssh.roots[LEADER] = _mirror(leader_root, secrets_here)
    for name, data in (("one_auth", b"oneadmin:s3cret-Qx7\n"), ("one_key", b"key-material-9\n")):
        (secrets_here / name).write_bytes(data)
        os.chmod(secrets_here / name, 0o644)
    found = _sync(secrets_here)
    assert (found["pulled"], found["fixed"]) == ([], ["one_auth", "one_key"])
    assert (os.stat(secrets_here / "one_key").st_mode & 0o777) == 0o600
    assert len(ssh.commands("scp")) == 1  # the manifest only


def test_sync_refuses_a_file_that_does_not_match_the_manifest(ssh, leader_root, secrets_here):
    mirror = _mirror(leader_root, secrets_here)
    ssh.roots[LEADER] = mirror
    (mirror / str(secrets_here).lstrip("/") / "one_auth").write_bytes(b"tampered\n")
    with pytest.raises(CommandExecutionError, match="checksum mismatch for one_auth"):
        _sync(secrets_here)
    assert list(secrets_here.iterdir()) == []  # nothing installed, staging removed


def test_sync_failure_of_scp_installs_nothing(ssh, leader_root, secrets_here):
    ssh.roots[LEADER] = _mirror(leader_root, secrets_here)
    real = ssh.__call__

    def fail_second(argv, **kwargs):
        if len(ssh.calls) >= 1:
            ssh.calls.append((argv, kwargs))
            return run_result(stderr="Connection closed", retcode=255)
        return real(argv, **kwargs)

    transfer.__salt__["cmd.run_all"] = fail_second
    with pytest.raises(CommandExecutionError, match="Connection closed"):
        _sync(secrets_here)
    assert list(secrets_here.iterdir()) == []


def _mirror(leader_root, local_dir):
    """A leader root whose secrets directory sits at ``local_dir``'s absolute path, with the
    manifest at MANIFEST (sync_files pulls <directory>/<name> from the leader)."""
    mirror = leader_root.parent / "mirror"
    target = mirror / str(local_dir).lstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    for entry in (leader_root / SECRETS.lstrip("/")).iterdir():
        (target / entry.name).write_bytes(entry.read_bytes())
    manifest = mirror / MANIFEST.lstrip("/")
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(transfer.manifest(str(target)))
    return Path(mirror)
