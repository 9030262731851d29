"""``onenebula_ssh.present``: which host keys a ``known_hosts`` file certainly holds (so
``ssh/init.sls`` writes no ``ssh_known_hosts.present`` state, and starts no
``ssh-keygen -F``, for them). Anything it is not sure of counts as absent."""

import shutil
import subprocess

import pytest
from onenebula_modules_helpers import load

ssh = load("modules", "onenebula_ssh")

ENC = "ssh-ed25519"
KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIIOtfFJQRZX2tq7/pKVvP1QRrGpELjqfvakQTqrwsSdu"
OTHER_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIGx0aGVyLWtleS1vZi10aGUtc2FtZS10eXBlLi4u"
# `ssh-keygen -H` of the line "vmm02 ssh-ed25519 <KEY>"
HASHED_VMM02 = f"|1|RcHMLvCcs9IVs9EQpUPej68smuE=|pyp+cDrjGI+AMND399JsmV6eo08= {ENC} {KEY}"


def entry(name, key=KEY, enc=ENC):
    return {"id": f"{name}-1", "name": name, "enc": enc, "key": key}


@pytest.fixture
def known_hosts(tmp_path):
    path = tmp_path / "known_hosts"

    def write(*lines):
        path.write_text("".join(line + "\n" for line in lines))
        return str(path)

    return write


def names(found):
    return [host["name"] for host in found]


def test_a_plain_line_with_the_same_key_is_present(known_hosts):
    path = known_hosts(f"vmm02 {ENC} {KEY}")
    wanted = [entry("vmm02"), entry("vmm03")]
    assert ssh.present("oneadmin", wanted, config=path) == [wanted[0]]


def test_another_key_or_key_type_is_absent(known_hosts):
    path = known_hosts(f"vmm02 {ENC} {OTHER_KEY}", f"vmm03 ecdsa-sha2-nistp256 {KEY}")
    assert ssh.present("oneadmin", [entry("vmm02"), entry("vmm03")], config=path) == []


def test_a_line_naming_several_hosts_holds_each(known_hosts):
    path = known_hosts("# a comment", "", f"vmm02,10.0.0.12 {ENC} {KEY} a comment")
    found = ssh.present(
        "oneadmin", [entry("10.0.0.12"), entry("vmm02"), entry("10.0.0")], config=path
    )
    assert names(found) == ["10.0.0.12", "vmm02"]


def test_a_hashed_line_holds_the_host_it_was_hashed_for(known_hosts):
    path = known_hosts(HASHED_VMM02)
    found = ssh.present("oneadmin", [entry("vmm02"), entry("vmm03")], config=path)
    assert names(found) == ["vmm02"]


@pytest.mark.parametrize(
    "line",
    [
        f"vmm0* {ENC} {KEY}",  # a pattern: left to ssh_known_hosts.present
        f"@cert-authority vmm02 {ENC} {KEY}",
        f"@revoked vmm02 {ENC} {KEY}",
        f"|1|not-base64!|x= {ENC} {KEY}",
        f"vmm02 {ENC}",
    ],
)
def test_what_is_not_certain_counts_as_absent(known_hosts, line):
    assert ssh.present("oneadmin", [entry("vmm02")], config=known_hosts(line)) == []


def test_no_file_or_no_user_holds_nothing(tmp_path):
    assert ssh.present("oneadmin", [entry("vmm02")], config=str(tmp_path / "missing")) == []
    assert ssh.present("no-such-user-here", [entry("vmm02")]) == []


def test_the_default_file_is_in_the_users_home(tmp_path, monkeypatch):
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "known_hosts").write_text(f"vmm02 {ENC} {KEY}\n")
    account = type("Account", (), {"pw_dir": str(tmp_path)})
    monkeypatch.setattr(ssh.pwd, "getpwnam", lambda user: account)
    assert names(ssh.present("oneadmin", [entry("vmm02")])) == ["vmm02"]


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_what_it_finds_ssh_keygen_finds_too(known_hosts):
    """Present only where `ssh-keygen -F` (what ssh_known_hosts.present checks with) lists
    the same key under that name."""
    path = known_hosts(
        HASHED_VMM02,
        f"vmm03,10.0.0.13 {ENC} {KEY}",
        f"vmm04 {ENC} {OTHER_KEY}",
        f"vmm0* {ENC} {KEY}",
    )
    for name in ("vmm02", "vmm03", "10.0.0.13", "vmm04", "vmm05"):
        listed = subprocess.run(
            ["ssh-keygen", "-F", name, "-f", path], capture_output=True, text=True
        ).stdout
        keygen_has_it = any(
            line.split()[1:3] == [ENC, KEY] for line in listed.splitlines() if line[:1] != "#"
        )
        ours = bool(ssh.present("oneadmin", [entry(name)], config=path))
        assert not ours or keygen_has_it, name
        if name in ("vmm02", "vmm03", "10.0.0.13"):
            assert ours and keygen_has_it, name


# ---------------------------------------------------------------- authorized_keys

PUBKEY = f"{ENC} {KEY} oneadmin@vmm02"


@pytest.mark.parametrize(
    "lines, held",
    [
        ([PUBKEY], True),
        (["# a comment", "", f"{ENC} {OTHER_KEY} oneadmin@vmm03", PUBKEY], True),
        ([f"{ENC} {KEY} someone@else"], False),  # ssh_auth.present rewrites the comment
        ([f'from="10.0.0.0/8" {PUBKEY}'], False),  # and drops options
        ([PUBKEY, f"no-pty {PUBKEY}"], False),  # which line it keeps is its business
        ([f"{ENC} {OTHER_KEY} oneadmin@vmm02"], False),
        ([], False),
    ],
)
def test_a_key_is_authorized_only_as_ssh_auth_would_write_it(tmp_path, lines, held):
    path = tmp_path / "authorized_keys"
    path.write_text("".join(line + "\n" for line in lines))
    assert ssh.authorized("oneadmin", [PUBKEY], config=str(path)) == ([PUBKEY] if held else [])


def test_no_authorized_keys_or_no_user_holds_nothing(tmp_path):
    assert ssh.authorized("oneadmin", [PUBKEY], config=str(tmp_path / "missing")) == []
    assert ssh.authorized("no-such-user-here", [PUBKEY]) == []
    assert ssh.authorized("oneadmin", ["not a key", ""], config=str(tmp_path / "missing")) == []


def test_what_it_calls_authorized_salt_calls_existing(tmp_path, monkeypatch):
    """The same answer as ``ssh.check_key``, which ``ssh_auth.present`` asks."""
    import salt.modules.ssh as salt_ssh  # noqa: PLC0415 - only this test needs it

    path = tmp_path / "authorized_keys"
    users = {"user.info": lambda user: {"home": str(tmp_path), "name": user}}
    monkeypatch.setattr(salt_ssh, "__salt__", users, raising=False)
    for lines in ([PUBKEY], [f"{ENC} {KEY} someone@else"], [f"no-pty {PUBKEY}"]):
        path.write_text("".join(line + "\n" for line in lines))
        enc, key, comment = PUBKEY.split(None, 2)
        salts = salt_ssh.check_key("oneadmin", key, enc, comment, [], config=str(path))
        ours = ssh.authorized("oneadmin", [PUBKEY], config=str(path))
        assert (salts == "exists") == bool(ours), (lines, salts)
