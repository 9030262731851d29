"""``onedb`` on a real MariaDB: backup, restore, version (docs/opennebula-cli.md §6)."""

from __future__ import annotations

import datetime as dt
import os
import stat
import textwrap
from pathlib import Path

import pytest
from onedb_support import DB_PASSWORD


def _backup_message(path) -> str:
    return (
        f"MySQL dump stored in {path}\n"
        "Use 'onedb restore' or restore the DB using the mysql command:\n"
        "mysql -u user -h server -P port db_name < backup_file\n"
        "\n"
    )


def test_behaviour_10_db_tooling_backup_message_and_dump(
    onedb, mysql_args, db_env, tmp_path, db_name
):
    dump = tmp_path / "leader.sql"

    result = onedb("backup", *mysql_args, str(dump), env_extra=db_env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == _backup_message(dump)
    text = dump.read_text()
    # --databases --add-drop-database: the dump recreates and selects the original DB
    assert f"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `{db_name}`" in text
    assert f"USE `{db_name}`;" in text
    assert "DROP TABLE IF EXISTS `user_pool`;" in text


def test_behaviour_10_db_tooling_backup_default_name_has_no_zero_padding(
    onedb, mysql_args, db_env, one_location, db_name
):
    before = dt.datetime.now().replace(microsecond=0)
    result = onedb("backup", *mysql_args, env_extra=db_env)
    after = dt.datetime.now()

    assert result.returncode == 0, result.stderr
    candidates = set()
    moment = before
    while moment <= after:
        candidates.add(
            f"{one_location}/var/mysql_127.0.0.1_{db_name}_"
            f"{moment.year}-{moment.month}-{moment.day}_"
            f"{moment.hour}:{moment.minute}:{moment.second}.sql"
        )
        moment += dt.timedelta(seconds=1)
    written = [str(p) for p in (one_location / "var").glob("mysql_*.sql")]
    assert len(written) == 1 and written[0] in candidates
    assert result.stdout == _backup_message(written[0])


def test_behaviour_10_db_tooling_backup_refuses_existing_file_without_force(
    onedb, mysql_args, db_env, tmp_path
):
    dump = tmp_path / "exists.sql"
    dump.write_text("old")

    refused = onedb("backup", *mysql_args, str(dump), env_extra=db_env)
    forced = onedb("backup", "-f", *mysql_args, str(dump), env_extra=db_env)

    assert (refused.returncode, refused.stdout) == (255, "")
    assert refused.stderr == f"File {dump} exists, backup aborted. Use -f to overwrite.\n"
    assert forced.returncode == 0, forced.stderr
    assert "CREATE DATABASE" in dump.read_text()


def test_behaviour_10_db_tooling_restore_needs_force_on_a_bootstrapped_db(
    onedb, mysql_args, db_env, tmp_path, mariadb, db_name
):
    dump = tmp_path / "leader.sql"
    assert onedb("backup", *mysql_args, str(dump), env_extra=db_env).returncode == 0
    mariadb.sql("INSERT INTO vm_pool (oid, name) VALUES (42, 'after-backup')", db_name)

    refused = onedb("restore", *mysql_args, str(dump), env_extra=db_env)
    restored = onedb("restore", "-f", *mysql_args, str(dump), env_extra=db_env)

    assert refused.returncode == 255
    assert refused.stderr == (
        f"MySQL database {db_name} at 127.0.0.1 exists, use -f to overwrite.\n"
    )
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout == f"MySQL DB {db_name} at 127.0.0.1 restored.\n"
    assert mariadb.sql("SELECT COUNT(*) FROM vm_pool", db_name).strip() == "0"


def test_restore_from_stdin_like_one_deploy(onedb, mysql_args, db_env, tmp_path, mariadb, db_name):
    """``zcat dump.gz | onedb restore ... /dev/fd/0`` into an empty (not bootstrapped) DB."""
    dump = tmp_path / "leader.sql"
    assert onedb("backup", *mysql_args, str(dump), env_extra=db_env).returncode == 0
    mariadb.sql(f"DROP DATABASE `{db_name}`; CREATE DATABASE `{db_name}`;")

    result = onedb("restore", *mysql_args, "/dev/fd/0", env_extra=db_env, stdin=dump.read_text())

    assert result.returncode == 0, result.stderr
    assert mariadb.sql("SELECT name FROM user_pool WHERE oid=0", db_name).strip() == "oneadmin"


def test_behaviour_10_db_tooling_restore_refuses_while_lock_file_exists(
    onedb, mysql_args, db_env, tmp_path, one_location
):
    dump = tmp_path / "leader.sql"
    dump.write_text("-- empty\n")
    lock = one_location / "var" / "lock" / ".lock"
    lock.write_text("12345")

    result = onedb("restore", "-f", *mysql_args, str(dump), env_extra=db_env)

    assert (result.returncode, result.stdout) == (255, "")
    assert result.stderr == f"First stop OpenNebula. Lock file found: {lock}\n"


def test_behaviour_10_db_tooling_restore_refuses_while_oned_answers(
    onedb, mysql_args, db_env, tmp_path, stub_oned_factory, home
):
    from stub_oned import success_string

    oned = stub_oned_factory({"one.system.version": success_string("7.0.0")})
    dump = tmp_path / "leader.sql"
    dump.write_text("-- empty\n")

    result = onedb(
        "restore", "-f", *mysql_args, str(dump), env_extra={**db_env, "ONE_XMLRPC": oned.endpoint}
    )

    assert (result.returncode, result.stdout) == (255, "")
    assert result.stderr == f"OpenNebula found listening on '{oned.endpoint}'\n"
    assert oned.calls == [("one.system.version", ("oneadmin:opennebula",))]


def test_behaviour_10_db_tooling_restore_refused_by_one_endpoint_file(
    mysql_args, db_env, tmp_path, stub_oned_factory, home, base_env
):
    """The gotcha of docs/opennebula-cli.md §6.3: ~/.one/one_endpoint naming any live oned blocks it."""
    from onedb_support import run_onedb
    from stub_oned import success_string

    oned = stub_oned_factory({"one.system.version": success_string("7.0.0")})
    (home / ".one" / "one_endpoint").write_text(oned.endpoint + "\n")
    dump = tmp_path / "leader.sql"
    dump.write_text("-- empty\n")
    env = {k: v for k, v in base_env.items() if k != "ONE_XMLRPC"} | db_env

    result = run_onedb("restore", "-f", *mysql_args, str(dump), env=env)

    assert result.returncode == 255
    assert result.stderr == f"OpenNebula found listening on '{oned.endpoint}'\n"


def test_restore_missing_file(onedb, mysql_args, db_env, tmp_path):
    missing = tmp_path / "nope.sql"

    result = onedb("restore", *mysql_args, str(missing), env_extra=db_env)

    assert result.returncode == 255
    assert result.stderr == f"File {missing} doesn't exist, backup restoration aborted.\n"


@pytest.mark.parametrize(
    ("shared", "local", "code", "tail"),
    [
        ("7.0.0", "7.0.0", 0, ""),
        (
            "6.10.0",
            "7.0.0",
            2,
            "\nUpdate required. Expected DB version is:\nLocal:  7.0.0\nShared: 7.0.0\n",
        ),
        ("7.0.0", "7.2.0", 3, "\nWARNING: Source version is lower than DB version\n"),
    ],
)
def test_behaviour_10_db_tooling_version_exit_codes(
    onedb, mysql_args, db_env, mariadb, db_name, shared, local, code, tail
):
    mariadb.sql(
        f"INSERT INTO db_versioning VALUES (1, '{shared}', 1700000100, 'test', 0);"
        f"INSERT INTO local_db_versioning VALUES (1, '{local}', 1700000100, 'test', 0);",
        db_name,
    )

    result = onedb("version", *mysql_args, env_extra=db_env)

    assert result.returncode == code, result.stderr
    assert result.stdout == (
        f"Shared: {shared}\nLocal:  {local}\n"
        "Required shared version: 7.0.0\nRequired local version:  7.0.0\n" + tail
    )


def test_behaviour_10_db_tooling_version_not_bootstrapped_exits_1(onedb, mariadb, db_env, db_name):
    mariadb.sql(f"CREATE DATABASE `{db_name}`")
    try:
        result = onedb(
            "version", "-S", "127.0.0.1", "-P", str(mariadb.port), "-u", "oneadmin", "-d", db_name,
            env_extra=db_env,
        )  # fmt: skip
    finally:
        mariadb.sql(f"DROP DATABASE `{db_name}`")

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "Database is not correctly bootstraped.\n"


def test_behaviour_10_db_tooling_version_without_connection_exits_255(onedb, mariadb, db_name):
    args = ["-S", "127.0.0.1", "-P", str(mariadb.port), "-u", "oneadmin", "-d", db_name]

    wrong_password = onedb("version", *args, env_extra={"ONE_DB_PASSWORD": "wrong"})

    assert wrong_password.returncode == 255
    assert wrong_password.stderr == (
        "Error connecting to DB: Mysql2::Error::ConnectionError: Access denied for user "
        "'oneadmin'@'127.0.0.1' (using password: YES)\n"
    )


def test_version_verbose(onedb, mysql_args, db_env):
    result = onedb("version", "-v", *mysql_args, env_extra=db_env)

    stamp = dt.datetime.fromtimestamp(1700000000).strftime("%m/%d %H:%M:%S")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "Shared tables version:   7.0.0\nRequired version:        7.0.0\n"
        f"Timestamp: {stamp}\nComment:   bootstrap\n\n"
        "Local tables version:    7.0.0\nRequired version:        7.0.0\n"
        f"Timestamp: {stamp}\nComment:   bootstrap\n\n"
    )


def test_connection_from_oned_conf(onedb, mariadb, db_name, one_location, db_env):
    """No backend or connection option: the DB section of $ONE_LOCATION/etc/oned.conf."""
    mariadb.bootstrapped_database(db_name)
    escaped = DB_PASSWORD.replace("\\", "\\\\").replace('"', '\\"')
    (one_location / "etc" / "oned.conf").write_text(
        textwrap.dedent(
            f"""\
            # a comment, and a key that is not DB
            PORT = 2633
            DB = [ BACKEND = "mysql",
                   SERVER  = "127.0.0.1",
                   PORT    = {mariadb.port},
                   USER    = "oneadmin",
                   PASSWD  = "{escaped}",
                   DB_NAME = "{db_name}",
                   CONNECTIONS = 25 ]
            """
        )
    )
    try:
        result = onedb("version")
    finally:
        mariadb.sql(f"DROP DATABASE `{db_name}`")
    # onedb drops every backslash of the oned.conf values: the escaped quote comes out plain
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Shared: 7.0.0\n")


def test_password_prompt_when_no_password_given(onedb, mariadb, mysql_args):
    result = onedb("version", *mysql_args, stdin=DB_PASSWORD + "\n")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("MySQL Password: \nShared: 7.0.0\n")


def test_missing_user_or_dbname(onedb):
    no_user = onedb("version", "-t", "mysql", "-d", "x", env_extra={"ONE_DB_PASSWORD": "p"})
    no_db = onedb("backup", "-u", "oneadmin", "-p", "p")

    assert (no_user.returncode, no_user.stderr) == (255, "MySQL option USER is needed\n")
    assert (no_db.returncode, no_db.stderr) == (255, "MySQL option DBNAME is needed\n")


def test_password_never_in_process_list(onedb, mysql_args, db_env, tmp_path):
    """A mysqldump wrapper records the process list and its own argv while it runs."""
    spy_dir = tmp_path / "spy"
    spy_dir.mkdir()
    record = tmp_path / "record"
    wrapper = spy_dir / "mysqldump"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'ps -eo args > "{record}.ps"\n'
        f'printf "%s\\n" "$@" > "{record}.argv"\n'
        'for a in "$@"; do case "$a" in --defaults-extra-file=*) '
        f'f="${{a#--defaults-extra-file=}}"; echo "$f" > "{record}.file"; '
        f'stat -c %a "$f" > "{record}.mode";; esac; done\n'
        'exec /usr/bin/mysqldump "$@"\n'
    )
    wrapper.chmod(0o755)
    env = db_env | {"PATH": f"{spy_dir}:{os.environ['PATH']}"}

    result = onedb("backup", *mysql_args, str(tmp_path / "d.sql"), env_extra=env)

    assert result.returncode == 0, result.stderr
    process_list = Path(f"{record}.ps").read_text()
    assert "mysqldump" in process_list and "onedb" in process_list
    assert DB_PASSWORD not in process_list
    assert DB_PASSWORD not in Path(f"{record}.argv").read_text()
    assert Path(f"{record}.mode").read_text().strip() == "600"
    assert not Path(Path(f"{record}.file").read_text().strip()).exists()  # removed afterwards
    assert DB_PASSWORD not in result.stdout + result.stderr


def test_failed_dump_message_holds_no_password(onedb, mysql_args, db_env, tmp_path):
    target = tmp_path / "missing-dir" / "d.sql"

    result = onedb("backup", *mysql_args, str(target), env_extra=db_env)

    assert result.returncode == 255
    assert f"sh: 1: cannot create {target}: Directory nonexistent\n" in result.stderr
    assert "Unknown error running 'mysqldump -u oneadmin -h 127.0.0.1 -P " in result.stderr
    assert DB_PASSWORD not in result.stderr
    assert stat.S_ISDIR(tmp_path.stat().st_mode)


def test_password_with_backslashes_reaches_the_client_programs(
    onedb, mariadb, mysql_args, tmp_path
):
    from onedb_support import sql_literal

    password = 'back\\slash "quoted" #not-a-comment \\n'
    mariadb.sql(
        f"CREATE USER 'bs'@'127.0.0.1' IDENTIFIED BY {sql_literal(password)};"
        "GRANT ALL PRIVILEGES ON *.* TO 'bs'@'127.0.0.1';"
    )
    args = [*mysql_args[:4], "-u", "bs", *mysql_args[6:]]
    try:
        result = onedb(
            "backup", *args, str(tmp_path / "bs.sql"), env_extra={"ONE_DB_PASSWORD": password}
        )
    finally:
        mariadb.sql("DROP USER 'bs'@'127.0.0.1'")

    assert result.returncode == 0, result.stderr


def test_restore_needs_the_database_to_exist(onedb, mariadb, db_env, tmp_path, db_name):
    """Like the real tool (Sequel connects to the DB first), restore fails on a missing DB."""
    dump = tmp_path / "d.sql"
    dump.write_text("-- nothing\n")
    args = ["-S", "127.0.0.1", "-P", str(mariadb.port), "-u", "oneadmin", "-d", db_name]

    result = onedb("restore", "-f", *args, str(dump), env_extra=db_env)

    assert (result.returncode, result.stdout) == (255, "")
    assert result.stderr == (
        f"Error connecting to DB: Mysql2::Error::ConnectionError: Unknown database '{db_name}'\n"
    )
