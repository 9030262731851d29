"""Unit tests for ``_modules/onenebula_db.py`` with ``onedb`` replaced by canned output."""

import hashlib
import logging
import os
import pwd
from pathlib import Path

import pytest
import salt.utils.path
from onenebula_modules_helpers import load, run_result, set_auth_files
from salt.exceptions import CommandExecutionError
from support.formula_utils import utils_dunder

UTILS = utils_dunder()

db = load("modules", "onenebula_db")

PASSWORD = "Db-pa55-w0rd"
# docs/opennebula-cli.md §6.2: exactly what onedb backup prints for MySQL
BACKUP_STDOUT = (
    "MySQL dump stored in {path}\n"
    "Use 'onedb restore' or restore the DB using the mysql command:\n"
    "mysql -u user -h server -P port db_name < backup_file\n"
    "\n"
)
VERSION_STDOUT = (
    "Shared: 7.0.0\nLocal:  7.0.0\nRequired shared version: 7.0.0\nRequired local version:  7.0.0\n"
)


class FakeOnedb:
    """Stands in for ``cmd.run_all`` running ``onedb``."""

    def __init__(self):
        self.calls = []
        self.version = run_result(VERSION_STDOUT)
        self.fail = {}
        self.dump_content = "-- MariaDB dump\nCREATE DATABASE `opennebula`;\n"

    def commands(self, subcommand=None):
        return [argv for argv, _ in self.calls if subcommand is None or argv[1] == subcommand]

    def options(self, subcommand):
        return [kwargs for argv, kwargs in self.calls if argv[1] == subcommand]

    def __call__(self, argv, **kwargs):
        self.calls.append((list(argv), kwargs))
        assert argv[0] == "onedb", argv
        subcommand = argv[1]
        if subcommand in self.fail:
            return self.fail[subcommand]
        if subcommand == "backup":
            path = argv[-1]
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(self.dump_content)
            return run_result(BACKUP_STDOUT.format(path=path))
        if subcommand == "restore":
            return run_result("MySQL DB opennebula at localhost restored.\n")
        if subcommand == "version":
            return self.version
        raise AssertionError(f"unexpected onedb call {argv}")


def _unreachable():
    exc = CommandExecutionError("cannot reach oned at http://localhost:2633/RPC2: refused")
    exc.info = {"reachable": False}
    raise exc


@pytest.fixture
def fake():
    return FakeOnedb()


@pytest.fixture
def backup_dir(tmp_path):
    return tmp_path / "backups"


@pytest.fixture
def auth_file(tmp_path):
    path = tmp_path / "one_auth"
    path.write_text("oneadmin:secret\n")
    return path


@pytest.fixture
def configure_loader_modules(fake, backup_dir, auth_file):
    return {
        db: {
            "__salt__": {
                "cmd.run_all": fake,
                "onenebula_zone.raft_status": _unreachable,
            },
            "__opts__": {
                "id": "vmm01",
                "onenebula_ha.backup_dir": str(backup_dir),
                "onenebula_ha.one_auth_file": str(auth_file),
            },
            "__utils__": UTILS,
        }
    }


@pytest.fixture
def no_lock(monkeypatch, tmp_path):
    """A self-contained layout without oned's lock file."""
    (tmp_path / "one" / "var").mkdir(parents=True)
    monkeypatch.setenv("ONE_LOCATION", str(tmp_path / "one"))
    return tmp_path / "one" / "var" / ".lock"


@pytest.fixture
def dump(tmp_path):
    path = tmp_path / "leader.sql"
    path.write_text("-- leader dump\n")
    return path


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_virtual_needs_onedb_on_path(monkeypatch):
    monkeypatch.setattr(salt.utils.path, "which", lambda name: None)
    assert db.__virtual__() == (
        False,
        "onenebula_db: the OpenNebula 'onedb' command is not on PATH",
    )


# ---------------------------------------------------------------------------- backup


def test_backup_without_options_lets_onedb_read_oned_conf(fake, tmp_path):
    target = tmp_path / "out" / "leader.sql"
    result = db.backup(str(target))
    assert fake.commands() == [["onedb", "backup", "-f", str(target)]]
    options = fake.options("backup")[0]
    assert options["python_shell"] is False
    assert options["umask"] == "077"
    assert "env" not in options
    assert result == {"path": str(target), "size": target.stat().st_size, "sha256": sha(target)}
    assert (tmp_path / "out" / "leader.sql.sha256").read_text() == f"{sha(target)}  leader.sql\n"


def test_backup_default_path_is_timestamped_in_backup_dir(fake, backup_dir):
    first = db.backup()["path"]
    second = db.backup()["path"]
    assert first != second
    for path in (first, second):
        assert path.startswith(str(backup_dir) + "/opennebula-")
        assert path.endswith(".sql")


def test_backup_password_only_in_environment(fake, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    target = tmp_path / "x.sql"
    result = db.backup(
        str(target),
        backend="mysql",
        server="10.213.0.10",
        port=3306,
        user="oneadmin",
        password=PASSWORD,
        dbname="opennebula",
        __pub_fun="onenebula_db.backup",
    )
    argv, options = fake.calls[0]
    assert argv == [
        "onedb",
        "backup",
        "-t",
        "mysql",
        "-S",
        "10.213.0.10",
        "-P",
        "3306",
        "-u",
        "oneadmin",
        "-d",
        "opennebula",
        "-f",
        str(target),
    ]
    assert PASSWORD not in " ".join(argv)
    assert options["env"] == {"ONE_DB_PASSWORD": PASSWORD}
    assert options["output_loglevel"] == "quiet"
    assert PASSWORD not in repr(result)
    assert PASSWORD not in caplog.text


def test_backup_rejects_unknown_connection_arguments(fake):
    with pytest.raises(CommandExecutionError, match="unknown connection argument"):
        db.backup("/tmp/x.sql", passwd="x")
    assert fake.calls == []


def test_backup_hands_dump_and_sidecar_to_the_owner_only(fake, tmp_path):
    me = pwd.getpwuid(os.geteuid())
    target = tmp_path / "leader.sql"
    result = db.backup(str(target), owner=me.pw_name)
    for path in (target, Path(f"{target}.sha256")):
        info = path.stat()
        assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (me.pw_uid, me.pw_gid, 0o600)
    assert set(result) == {"path", "size", "sha256"}  # nothing pushed anywhere


def test_backup_with_an_unknown_owner_takes_no_dump(fake, tmp_path):
    with pytest.raises(CommandExecutionError, match="no local user nosuchuser0"):
        db.backup(str(tmp_path / "leader.sql"), owner="nosuchuser0")
    assert fake.calls == []


def test_backup_failure_carries_onedb_message(fake, tmp_path):
    fake.fail["backup"] = run_result(
        stderr="Unknown error running 'mysqldump -u oneadmin -p... opennebula'\n", retcode=255
    )
    with pytest.raises(CommandExecutionError, match="^Unknown error running") as error:
        db.backup(str(tmp_path / "x.sql"))
    assert error.value.info == {"retcode": 255}


# --------------------------------------------------------------------------- version


def test_version_parses_the_four_lines(fake):
    assert db.version() == {
        "shared": "7.0.0",
        "local": "7.0.0",
        "required_shared": "7.0.0",
        "required_local": "7.0.0",
        "retcode": 0,
        "status": "ok",
    }
    assert fake.commands() == [["onedb", "version"]]


@pytest.mark.parametrize(
    "retcode, status", [(1, "not_bootstrapped"), (2, "upgrade_needed"), (3, "newer_than_code")]
)
def test_version_exit_codes(fake, retcode, status):
    fake.version = run_result("", retcode=retcode)
    assert db.version()["status"] == status


def test_version_255_raises(fake):
    fake.version = run_result(stderr="Could not connect to MySQL server\n", retcode=255)
    with pytest.raises(CommandExecutionError, match="Could not connect"):
        db.version()


# --------------------------------------------------------------------------- restore


def test_restore_keeps_the_current_db_then_restores(fake, dump, backup_dir, no_lock):
    result = db.restore(str(dump), sha256=sha(dump))
    backup_argv, restore_argv = fake.commands("backup")[0], fake.commands("restore")[0]
    assert [argv[1] for argv in fake.commands()] == ["version", "backup", "restore"]
    assert restore_argv == ["onedb", "restore", "-f", str(dump)]
    previous = backup_argv[-1]
    assert previous.startswith(str(backup_dir) + "/pre-restore-")
    assert result == {
        "path": str(dump),
        "sha256": sha(dump),
        "previous_backup": previous,
        "message": "MySQL DB opennebula at localhost restored.",
    }


def test_restore_uses_the_sidecar_checksum(fake, dump, no_lock):
    (dump.parent / "leader.sql.sha256").write_text(f"{sha(dump)}  leader.sql\n")
    assert db.restore(str(dump))["sha256"] == sha(dump)


def test_restore_without_a_bootstrapped_db_keeps_nothing(fake, dump, no_lock):
    fake.version = run_result("", retcode=1)
    assert db.restore(str(dump), sha256=sha(dump))["previous_backup"] is None
    assert fake.commands("backup") == []


def test_restore_refuses_checksum_mismatch_before_touching_the_db(fake, dump, no_lock):
    with pytest.raises(CommandExecutionError, match="checksum mismatch"):
        db.restore(str(dump), sha256="0" * 64)
    assert fake.calls == []


def test_restore_requires_a_checksum_unless_told_otherwise(fake, dump, no_lock):
    with pytest.raises(CommandExecutionError, match="no checksum"):
        db.restore(str(dump))
    assert fake.calls == []
    assert db.restore(str(dump), verify=False)["sha256"] == sha(dump)


def test_restore_refuses_on_the_leader(fake, dump, no_lock):
    db.__salt__["onenebula_zone.raft_status"] = lambda: {"state": 3, "state_name": "leader"}
    with pytest.raises(CommandExecutionError, match="this host is the current Raft leader"):
        db.restore(str(dump), sha256=sha(dump))
    assert fake.calls == []


def test_restore_refuses_while_oned_answers(fake, dump, no_lock):
    db.__salt__["onenebula_zone.raft_status"] = lambda: {"state": 2, "state_name": "follower"}
    with pytest.raises(CommandExecutionError, match="oned is running on this host"):
        db.restore(str(dump), sha256=sha(dump))

    def auth_failure():
        exc = CommandExecutionError(
            "[one.zone.raftstatus] User couldn't be authenticated, aborting call."
        )
        exc.info = {"reachable": True, "code": 256}
        raise exc

    db.__salt__["onenebula_zone.raft_status"] = auth_failure
    with pytest.raises(CommandExecutionError, match="oned is running on this host"):
        db.restore(str(dump), sha256=sha(dump))
    assert fake.calls == []


def test_restore_refuses_while_the_lock_file_exists(fake, dump, no_lock):
    no_lock.write_text("")
    with pytest.raises(CommandExecutionError, match=r"lock file .*\.lock exists"):
        db.restore(str(dump), sha256=sha(dump))
    assert fake.calls == []


def test_restore_missing_dump(fake, tmp_path, no_lock):
    with pytest.raises(CommandExecutionError, match="does not exist"):
        db.restore(str(tmp_path / "absent.sql"))


def test_restore_failure_carries_onedb_message(fake, dump, no_lock):
    fake.fail["restore"] = run_result(
        stderr="Error while restoring MySQL DB opennebula at localhost.\n", retcode=255
    )
    with pytest.raises(CommandExecutionError, match="Error while restoring MySQL DB"):
        db.restore(str(dump), sha256=sha(dump))


def test_restore_with_password_passes_it_only_in_the_environment(fake, dump, no_lock, caplog):
    caplog.set_level(logging.DEBUG)
    result = db.restore(str(dump), sha256=sha(dump), user="oneadmin", password=PASSWORD)
    for argv, options in fake.calls:
        assert PASSWORD not in " ".join(argv)
        assert options["env"]["ONE_DB_PASSWORD"] == PASSWORD
        assert set(options["env"]) <= {"ONE_DB_PASSWORD", "ONE_AUTH"}  # restore: oneadmin's file
        assert options["output_loglevel"] == "quiet"
    assert [argv[1] for argv in fake.commands()] == ["version", "backup", "restore"]
    assert PASSWORD not in repr(result)
    assert PASSWORD not in caplog.text


# ------------------------------------------------------------------ refusals and secrets


def test_restore_hands_the_configured_one_auth_to_onedb(fake, dump, no_lock, auth_file):
    db.restore(str(dump), verify=False)
    (options,) = fake.options("restore")
    assert options["env"]["ONE_AUTH"] == str(auth_file)


def test_restore_refuses_a_missing_one_auth_before_any_dump(fake, dump, no_lock, auth_file):
    auth_file.unlink()
    with pytest.raises(CommandExecutionError) as error:
        db.restore(str(dump), verify=False)
    assert str(error.value) == (
        f"refusing to restore: ONE_AUTH file not present: {auth_file} "
        "(minion config onenebula_ha.one_auth_file)"
    )
    assert fake.commands() == []


def test_restore_without_any_one_auth_refuses_before_any_dump(
    fake, dump, no_lock, monkeypatch, tmp_path
):
    del db.__opts__["onenebula_ha.one_auth_file"]
    monkeypatch.delenv("ONE_AUTH", raising=False)
    set_auth_files(monkeypatch, db, [tmp_path / "none"])
    with pytest.raises(
        CommandExecutionError, match="refusing to restore: ONE_AUTH file not present"
    ):
        db.restore(str(dump), verify=False)
    assert fake.commands() == []


def test_restore_keeps_a_db_that_onedb_version_cannot_read(fake, dump, backup_dir, no_lock):
    fake.version = run_result(
        stderr="Table 'opennebula.db_versioning' doesn't exist\n", retcode=255
    )
    result = db.restore(str(dump), verify=False)
    assert result["previous_backup"] is not None
    assert result["previous_backup"].startswith(str(backup_dir))
    assert [argv[1] for argv in fake.commands()] == ["version", "backup", "restore"]


def test_restore_into_a_missing_database_keeps_nothing(fake, dump, no_lock):
    fake.version = run_result(stderr="Unknown database 'opennebula'\n", retcode=255)
    result = db.restore(str(dump), verify=False)
    assert result["previous_backup"] is None
    assert [argv[1] for argv in fake.commands()] == ["version", "restore"]


def test_restore_refuses_when_the_current_db_cannot_be_kept(fake, dump, no_lock):
    fake.version = run_result(stderr="Error connecting to DB\n", retcode=255)
    fake.fail["backup"] = run_result(stderr="mysqldump: Got error: 2013\n", retcode=255)
    with pytest.raises(CommandExecutionError, match="the current DB could not be kept") as error:
        db.restore(str(dump), verify=False)
    assert "keep_current=False" in str(error.value)
    assert fake.commands("restore") == []
    assert db.restore(str(dump), verify=False, keep_current=False)["previous_backup"] is None


@pytest.mark.parametrize(
    "stderr",
    [
        "Error running: mysqldump -u oneadmin -pS3cr3t-pw -h localhost -P 3306 opennebula",
        "Error running: mysqldump -u oneadmin '-pS3cr3t-pw' opennebula",
        "mysql --user=oneadmin --password=S3cr3t-pw opennebula failed",
        "ONE_DB_PASSWORD=S3cr3t-pw onedb restore failed",
        "cannot connect to mysql://oneadmin:S3cr3t-pw@localhost/opennebula",
        "Access denied for user 'oneadmin'@'localhost' with S3cr3t-pw",
    ],
)
def test_relayed_onedb_messages_never_carry_the_password(fake, dump, no_lock, stderr):
    fake.fail["restore"] = run_result(stderr=stderr + "\n", retcode=255)
    db.__salt__["onenebula_conf.get"] = lambda key, reveal=False, **kw: (
        "S3cr3t-pw" if reveal else "******"
    )
    with pytest.raises(CommandExecutionError) as error:
        db.restore(str(dump), verify=False, keep_current=False)
    assert "S3cr3t-pw" not in str(error.value)
    assert "******" in str(error.value)


def test_scrubbing_works_without_knowing_the_password(fake, dump, no_lock):
    fake.version = run_result(
        stderr="mysqldump -u oneadmin -pUnknown-pw opennebula: Access denied "
        "(using password: YES)\n",
        retcode=255,
    )
    with pytest.raises(CommandExecutionError) as error:
        db.version()
    assert "Unknown-pw" not in str(error.value)
    assert "(using password: YES)" in str(error.value)
