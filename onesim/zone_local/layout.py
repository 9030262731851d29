"""Writing a loopback server's files: its oned.conf, the Raft hooks and its ``env`` file."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from onesim.layout import FILES_DIR
from onesim.zone_local.servers import ZoneOptions, ZoneServer

#: Hook script installed as ``raft/record.sh``: appends "<role> <epoch>" to var/hooks.log.
RECORD_HOOK = """#!/bin/sh
# Records Raft hook runs for tests: "<leader|follower> <unix time>".
# argv[0] is the COMMAND as written in oned.conf (relative), so use ONE_LOCATION.
printf '%s %s\\n' "$1" "$(date +%s.%N)" >> "$ONE_LOCATION/var/hooks.log"
"""

_SERVER_ID = re.compile(r"(?m)^(\s*SERVER_ID\s*=\s*)-?\d+")


def write_layout(server: ZoneServer, options: ZoneOptions, db_name: str) -> None:
    """Create ``server``'s ONE_LOCATION: hooks, oned.conf (solo, SERVER_ID -1) and ``env``."""
    root = Path(server.location)
    (root / "etc").mkdir(parents=True, exist_ok=True)
    hooks = root / "var" / "remotes" / "hooks" / "raft"
    hooks.mkdir(parents=True, exist_ok=True)
    shutil.copy(FILES_DIR / "hooks/raft/vip.sh", hooks / "vip.sh")
    record = hooks / "record.sh"
    record.write_text(RECORD_HOOK)
    record.chmod(0o755)
    conf = server.conf_path
    conf.touch(mode=0o640)  # may hold the MySQL password
    conf.write_text(oned_conf(server, options, server_id=-1, db_name=db_name))
    (root / "env").write_text(
        "".join(f"{key}={shlex.quote(value)}\n" for key, value in server.env.items())
    )


def oned_conf(server: ZoneServer, options: ZoneOptions, server_id: int, db_name: str) -> str:
    """The shipped oned.conf with this server's address, ids, RAFT timers, DB and hooks."""
    text = (FILES_DIR / "etc" / "oned.conf").read_text()
    text = re.sub(r"(?m)^PORT = \d+", f"PORT = {server.port}", text)
    text = re.sub(r'(?m)^LISTEN_ADDRESS = "[^"]*"', f'LISTEN_ADDRESS = "{server.address}"', text)
    text = _SERVER_ID.sub(rf"\g<1>{server_id}", text)
    raft = (
        "RAFT = [\n"
        f"    LIMIT_PURGE          = {options.limit_purge},\n"
        f"    LOG_RETENTION        = {options.log_retention},\n"
        f"    LOG_PURGE_TIMEOUT    = {options.log_purge_timeout_s},\n"
        f"    ELECTION_TIMEOUT_MS  = {options.election_ms},\n"
        f"    BROADCAST_TIMEOUT_MS = {options.broadcast_ms},\n"
        f"    XMLRPC_TIMEOUT_MS    = {options.xmlrpc_timeout_ms}\n"
        "]"
    )
    text = re.sub(r"(?ms)^RAFT = \[.*?^\]", raft, text)
    if options.db == "mysql":
        mysql = options.mysql
        db = (
            'DB = [ BACKEND = "mysql",\n'
            f'       SERVER  = "{mysql["server"]}",\n'
            f"       PORT    = {mysql.get('port', 0)},\n"
            f'       USER    = "{mysql["user"]}",\n'
            f'       PASSWD  = "{mysql["passwd"]}",\n'
            f'       DB_NAME = "{db_name}",\n'
            "       CONNECTIONS = 25,\n"
            '       COMPARE_BINARY = "no" ]'
        )
        text = re.sub(r"(?ms)^DB = \[.*?\]", db, text, count=1)
    if options.hooks:
        text += (
            '\nRAFT_LEADER_HOOK = [\n    COMMAND = "raft/record.sh",\n'
            '    ARGUMENTS = "leader"\n]\n'
            '\nRAFT_FOLLOWER_HOOK = [\n    COMMAND = "raft/record.sh",\n'
            '    ARGUMENTS = "follower"\n]\n'
        )
    return text


def set_server_id(server: ZoneServer, server_id: int) -> None:
    """Write ``FEDERATION/SERVER_ID`` in ``server``'s oned.conf."""
    conf = server.conf_path
    conf.write_text(_SERVER_ID.sub(rf"\g<1>{server_id}", conf.read_text(), count=1))
