"""An N-server simulated OpenNebula zone on loopback addresses, for tests and demos.

Each server is a self-contained ``ONE_LOCATION`` under ``DIR/server-<i>`` listening on its own
address ``<net>.<i+1>:2633`` (``net`` is a random ``127.X.Y`` unless given), all sharing
``DIR/.one/one_auth``. ``up`` performs the documented bootstrap: the first server starts solo,
adds itself, gets ``SERVER_ID = 0`` and restarts into a one-server HA zone (leader); every other
server gets a copy of the leader's DB, is added on the leader, gets its ``SERVER_ID`` and starts
as a follower, one at a time.

Python API::

    with LocalZone(3, tmp_path) as zone:
        leader = zone.wait_leader()
        zone.call(leader, "one.vm.allocate", 'NAME="x"', False)
        zone.partition(leader)          # nftables, table ``onesim_<net>``
        ...

Command line: ``onesim-zone up N DIR [...]``, ``onesim-zone status DIR``,
``onesim-zone down DIR``. ``DIR/server-<i>/env`` holds ONE_LOCATION, ONE_AUTH, ONE_XMLRPC and
PATH for running ``onezone``/``onedb`` against server ``i``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import secrets
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import xmlrpc.client
from dataclasses import asdict, dataclass
from pathlib import Path

from onesim import rpc
from onesim.layout import FILES_DIR

__all__ = ["LocalZone", "ZoneError", "ZoneServer", "main"]

STATE_FILE = "zone.json"
DEFAULT_PORT = 2633
RAFT_STATES = {0: "solo", 1: "candidate", 2: "follower", 3: "leader"}

#: Hook script installed as ``raft/record.sh``: appends "<role> <epoch>" to var/hooks.log.
RECORD_HOOK = """#!/bin/sh
# Records Raft hook runs for tests: "<leader|follower> <unix time>".
# argv[0] is the COMMAND as written in oned.conf (relative), so use ONE_LOCATION.
printf '%s %s\\n' "$1" "$(date +%s.%N)" >> "$ONE_LOCATION/var/hooks.log"
"""


class ZoneError(RuntimeError):
    """The zone could not be brought to the requested state."""


@dataclass
class ZoneServer:
    id: int
    name: str
    address: str
    port: int
    location: str
    pid: int | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}:{self.port}/RPC2"

    @property
    def env(self) -> dict[str, str]:
        """Environment to run OpenNebula commands against this server."""
        root = Path(self.location)
        return {
            "ONE_LOCATION": str(root),
            "ONE_AUTH": str(root.parent / ".one" / "one_auth"),
            "ONE_XMLRPC": self.endpoint,
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        }

    @property
    def db_path(self) -> Path:
        return Path(self.location) / "var" / "one.db"

    @property
    def log_path(self) -> Path:
        return Path(self.location) / "var" / "oned.log"

    @property
    def lock_path(self) -> Path:
        return Path(self.location) / "var" / ".lock"


@dataclass
class ZoneOptions:
    election_ms: int = 1000
    broadcast_ms: int = 200
    xmlrpc_timeout_ms: int = 500
    warmup_ms: int = 1000
    log_retention: int = 250000
    log_purge_timeout_s: int = 60
    limit_purge: int = 100000
    hooks: bool = True
    db: str = "sqlite"
    #: For ``db="mysql"``: ``server``, ``port``, ``user``, ``passwd`` of a MariaDB/MySQL server;
    #: server ``i`` uses its own database ``one_<net>_<i>`` there.
    mysql: dict | None = None
    #: How a follower gets the leader's DB: "python" (SQLite online-backup API / SQL copy,
    #: fast) or "onedb" (``onedb backup`` + ``onedb restore -f``, the documented procedure;
    #: SQLite only, since a MySQL dump always restores into its original database name).
    db_copy: str = "python"


class LocalZone:
    """A loopback zone of ``size`` servers kept under ``directory``."""

    def __init__(
        self,
        size: int,
        directory: Path | str,
        net: str | None = None,
        *,
        port: int = DEFAULT_PORT,
        **options,
    ):
        if size < 1:
            raise ValueError("a zone needs at least one server")
        self.size = size
        self.directory = Path(directory).resolve()
        self.net = net
        self.port = port
        self.options = ZoneOptions(**options)
        if self.options.db not in ("sqlite", "mysql"):
            raise ValueError("LocalZone supports the sqlite and mysql backends")
        if self.options.db == "mysql" and not self.options.mysql:
            raise ValueError("db='mysql' needs mysql={server, port, user, passwd}")
        self.servers = []
        self._processes: dict[int, subprocess.Popen] = {}
        self._session = ""

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> LocalZone:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    # ------------------------------------------------------------------ bring-up
    def up(self, timeout: float = 60) -> LocalZone:
        """Create the layouts and bootstrap the zone; returns once all servers are in place."""
        self.prepare()
        deadline = time.monotonic() + timeout
        self._bootstrap_first(deadline)
        for server in self.servers[1:]:
            self._join(server, deadline)
        return self

    def prepare(self) -> LocalZone:
        """Write the layouts (every server solo, SERVER_ID -1) without starting anything."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if (self.directory / STATE_FILE).exists():
            raise ZoneError(f"{self.directory} already holds a zone; run 'down' first")
        self.net = self.net or _free_net(self.port)
        auth = self.directory / ".one" / "one_auth"
        auth.parent.mkdir(mode=0o700, exist_ok=True)
        auth.write_text(f"oneadmin:{secrets.token_hex(16)}\n")
        auth.chmod(0o600)
        self._session = auth.read_text().strip()
        self.servers = [
            ZoneServer(
                i,
                f"server-{i}",
                f"{self.net}.{i + 1}",
                self.port,
                str(self.directory / f"server-{i}"),
            )
            for i in range(self.size)
        ]
        for server in self.servers:
            self._write_layout(server)
        self._save()
        return self

    @property
    def session(self) -> str:
        """The ``oneadmin:<password>`` session of the shared one_auth."""
        return self._session

    def _write_layout(self, server: ZoneServer) -> None:
        root = Path(server.location)
        (root / "etc").mkdir(parents=True, exist_ok=True)
        hooks = root / "var" / "remotes" / "hooks" / "raft"
        hooks.mkdir(parents=True, exist_ok=True)
        shutil.copy(FILES_DIR / "hooks/raft/vip.sh", hooks / "vip.sh")
        record = hooks / "record.sh"
        record.write_text(RECORD_HOOK)
        record.chmod(0o755)
        conf = root / "etc" / "oned.conf"
        conf.touch(mode=0o640)  # may hold the MySQL password
        conf.write_text(self._oned_conf(server, server_id=-1))
        (root / "env").write_text(
            "".join(f"{key}={shlex.quote(value)}\n" for key, value in server.env.items())
        )

    def _oned_conf(self, server: ZoneServer, server_id: int) -> str:
        opts = self.options
        text = (FILES_DIR / "etc" / "oned.conf").read_text()
        text = re.sub(r"(?m)^PORT = \d+", f"PORT = {server.port}", text)
        text = re.sub(
            r'(?m)^LISTEN_ADDRESS = "[^"]*"', f'LISTEN_ADDRESS = "{server.address}"', text
        )
        text = re.sub(r"(?m)^(\s*SERVER_ID\s*=\s*)-?\d+", rf"\g<1>{server_id}", text)
        raft = (
            "RAFT = [\n"
            f"    LIMIT_PURGE          = {opts.limit_purge},\n"
            f"    LOG_RETENTION        = {opts.log_retention},\n"
            f"    LOG_PURGE_TIMEOUT    = {opts.log_purge_timeout_s},\n"
            f"    ELECTION_TIMEOUT_MS  = {opts.election_ms},\n"
            f"    BROADCAST_TIMEOUT_MS = {opts.broadcast_ms},\n"
            f"    XMLRPC_TIMEOUT_MS    = {opts.xmlrpc_timeout_ms}\n"
            "]"
        )
        text = re.sub(r"(?ms)^RAFT = \[.*?^\]", raft, text)
        if opts.db == "mysql":
            mysql = opts.mysql
            db = (
                'DB = [ BACKEND = "mysql",\n'
                f'       SERVER  = "{mysql["server"]}",\n'
                f"       PORT    = {mysql.get('port', 0)},\n"
                f'       USER    = "{mysql["user"]}",\n'
                f'       PASSWD  = "{mysql["passwd"]}",\n'
                f'       DB_NAME = "{self.db_name(server.id)}",\n'
                "       CONNECTIONS = 25,\n"
                '       COMPARE_BINARY = "no" ]'
            )
            text = re.sub(r"(?ms)^DB = \[.*?\]", db, text, count=1)
        if opts.hooks:
            text += (
                '\nRAFT_LEADER_HOOK = [\n    COMMAND = "raft/record.sh",\n'
                '    ARGUMENTS = "leader"\n]\n'
                '\nRAFT_FOLLOWER_HOOK = [\n    COMMAND = "raft/record.sh",\n'
                '    ARGUMENTS = "follower"\n]\n'
            )
        return text

    def set_server_id(self, index: int, server_id: int) -> None:
        """Write ``FEDERATION/SERVER_ID`` in server ``index``'s oned.conf."""
        server = self.servers[index]
        conf = Path(server.location) / "etc" / "oned.conf"
        text = re.sub(
            r"(?m)^(\s*SERVER_ID\s*=\s*)-?\d+", rf"\g<1>{server_id}", conf.read_text(), count=1
        )
        conf.write_text(text)

    def _bootstrap_first(self, deadline: float) -> None:
        first = self.servers[0]
        self.start(0)
        self._wait(lambda: self._state(0) == 0, deadline, "server-0 to start solo")
        self._add_server(0, first)
        server_id = self._server_id_by_name(0, first.name)
        self.stop(0)
        self.set_server_id(0, server_id)
        self.start(0)
        self._wait(lambda: self._state(0) == 3, deadline, "server-0 to become leader")

    def _join(self, server: ZoneServer, deadline: float) -> None:
        leader = self.wait_leader(max(1.0, deadline - time.monotonic()))
        self.copy_db(leader, server.id)
        self._add_server(leader, server)
        self.set_server_id(server.id, self._server_id_by_name(leader, server.name))
        self.start(server.id)
        # Its copy lacks the server-add record: INDEX/COMMIT catch up with the next write (as
        # the docs say), which the next server-add is; so wait for the follower role and term.
        term = self.raftstatus(leader)["TERM"]
        self._wait(
            lambda: (
                (status := self.raftstatus(server.id)) is not None
                and status["STATE"] == 2
                and status["TERM"] == term
            ),
            deadline,
            f"{server.name} to follow the leader",
        )
        self._wait(
            lambda: self._knows_leader(server.id), deadline, f"{server.name} to hear the leader"
        )

    def _knows_leader(self, index: int) -> bool:
        """True once a follower forwards leader-only calls (it got a heartbeat).

        Probes with ``one.zone.resetserver(0, -1)``: forwarded by a follower that knows its
        leader, and a no-op there (no server has id -1).
        """
        try:
            return self.call(index, "one.zone.resetserver", 0, -1, timeout=5)[0] is True
        except (OSError, xmlrpc.client.Error):
            return False

    def _add_server(self, via: int, server: ZoneServer) -> None:
        template = f'SERVER = [ NAME="{server.name}", ENDPOINT="{server.endpoint}" ]'
        reply = self.call(via, "one.zone.addserver", 0, template)
        if not reply[0]:
            raise ZoneError(f"server-add of {server.name} failed: {reply[1]}")

    def _server_id_by_name(self, via: int, name: str) -> int:
        reply = self.call(via, "one.zone.info", 0)
        root = ET.fromstring(reply[1])
        for node in root.findall("SERVER_POOL/SERVER"):
            if node.findtext("NAME") == name:
                return int(node.findtext("ID"))
        raise ZoneError(f"{name} not found in the zone")

    def db_name(self, index: int) -> str:
        """MySQL database of server ``index`` (``db="mysql"`` only)."""
        return f"one_{(self.net or '').replace('.', '_')}_{index}"

    def copy_db(self, source: int, target: int) -> None:
        """Copy server ``source``'s DB over ``target``'s (a consistent online copy).

        Stands in for ``onedb backup`` on the leader + ``onedb restore -f`` on the new server.
        """
        if self.options.db == "mysql":
            self._copy_mysql(self.db_name(source), self.db_name(target))
            return
        if self.options.db_copy == "onedb":
            self._copy_with_onedb(source, target)
            return
        src, dst = self.servers[source].db_path, self.servers[target].db_path
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.unlink(missing_ok=True)
        with sqlite3.connect(src, timeout=10) as from_db, sqlite3.connect(dst) as to_db:
            from_db.backup(to_db)
        from_db.close()
        to_db.close()

    def _copy_with_onedb(self, source: int, target: int) -> None:
        dump = self.directory / f"backup-{source}-for-{target}.sql"
        try:
            for index, args in (
                (source, ["backup", "-f", str(dump)]),
                (target, ["restore", "-f", str(dump)]),
            ):
                result = subprocess.run(
                    [sys.executable, "-m", "onesim.entry", "onedb", *args],
                    env={**os.environ, **self.servers[index].env},
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                if result.returncode != 0:
                    raise ZoneError(f"onedb {args[0]} failed: {result.stderr.strip()}")
        finally:
            dump.unlink(missing_ok=True)

    def _mysql(self):
        import pymysql

        mysql = self.options.mysql
        return pymysql.connect(
            host=mysql["server"],
            port=int(mysql.get("port") or 3306),
            user=mysql["user"],
            password=mysql["passwd"],
            autocommit=True,
        )

    def _copy_mysql(self, source: str, target: str) -> None:
        conn = self._mysql()
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{target}`")
                cursor.execute(f"CREATE DATABASE `{target}`")
                cursor.execute(f"SHOW TABLES FROM `{source}`")
                for (table,) in cursor.fetchall():
                    cursor.execute(f"CREATE TABLE `{target}`.`{table}` LIKE `{source}`.`{table}`")
                    cursor.execute(
                        f"INSERT INTO `{target}`.`{table}` SELECT * FROM `{source}`.`{table}`"
                    )
        finally:
            conn.close()

    def _drop_mysql_databases(self) -> None:
        conn = self._mysql()
        try:
            with conn.cursor() as cursor:
                for server in self.servers:
                    cursor.execute(f"DROP DATABASE IF EXISTS `{self.db_name(server.id)}`")
        finally:
            conn.close()

    # ------------------------------------------------------------------ processes
    def start(self, index: int, timeout: float = 20, extra_env: dict | None = None) -> None:
        """Start oned on server ``index`` (removing a stale lock, like pre_cleanup).

        ``extra_env`` overrides the environment (e.g. another ``ONE_AUTH``).
        """
        server = self.servers[index]
        if server.pid and _alive(server.pid):
            return
        server.lock_path.unlink(missing_ok=True)
        env = {
            **os.environ,
            **server.env,
            "ONESIM_WARMUP_MS": str(self.options.warmup_ms),
            **(extra_env or {}),
        }
        with open(Path(server.location) / "var" / "oned.stdout", "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "onesim.entry", "oned", "-f"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._processes[index] = process
        server.pid = process.pid
        self._save()
        self._wait(
            lambda: process.poll() is None and server.lock_path.exists(),
            time.monotonic() + timeout,
            f"{server.name} to start",
            fail_fast=lambda: process.poll() is not None,
        )

    def stop(self, index: int, timeout: float = 20) -> None:
        """SIGTERM (oned's clean shutdown) and wait for the process to exit."""
        self._signal_and_wait(index, signal.SIGTERM, timeout)

    def kill(self, index: int) -> None:
        """SIGKILL: no shutdown, the lock file stays behind."""
        self._signal_and_wait(index, signal.SIGKILL, 10)

    def freeze(self, index: int) -> None:
        self._signal(index, signal.SIGSTOP)

    def thaw(self, index: int) -> None:
        self._signal(index, signal.SIGCONT)

    def _signal(self, index: int, signum: int) -> None:
        pid = self.servers[index].pid
        if pid and _alive(pid):
            os.kill(pid, signum)

    def _signal_and_wait(self, index: int, signum: int, timeout: float) -> None:
        server = self.servers[index]
        pid = server.pid
        if not pid or not _alive(pid):
            server.pid = None
            return
        os.kill(pid, signal.SIGCONT)  # a frozen process must run to exit
        os.kill(pid, signum)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            self._reap(index)
            time.sleep(0.02)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                self._reap(index)
                time.sleep(0.02)
        self._reap(index)
        server.pid = None
        self._save()

    def _reap(self, index: int) -> None:
        process = self._processes.get(index)
        if process is not None and process.poll() is not None:
            self._processes.pop(index, None)

    def running(self, index: int) -> bool:
        pid = self.servers[index].pid
        return bool(pid) and _alive(pid)

    # ------------------------------------------------------------------ network faults
    @property
    def nft_table(self) -> str:
        return "onesim_" + (self.net or "").replace(".", "_")

    def partition(self, index: int, peers: list[int] | None = None) -> None:
        """Drop traffic between server ``index`` and ``peers`` (default: every other server)."""
        peers = [p for p in (peers if peers is not None else range(self.size)) if p != index]
        table = self.nft_table
        lines = [
            f"add table ip {table}",
            f"add chain ip {table} output {{ type filter hook output priority 0; policy accept; }}",
        ]
        here = self.servers[index].address
        for peer in peers:
            there = self.servers[peer].address
            lines.append(f"add rule ip {table} output ip saddr {here} ip daddr {there} drop")
            lines.append(f"add rule ip {table} output ip saddr {there} ip daddr {here} drop")
        _nft("\n".join(lines) + "\n")

    def heal(self) -> None:
        """Remove every partition rule of this zone."""
        if self.net:
            _nft(f"delete table ip {self.nft_table}\n", check=False)

    # ------------------------------------------------------------------ queries
    def call(self, index: int, method: str, *params, timeout: float = 10):
        """XML-RPC ``method`` on server ``index`` with the oneadmin session."""
        server = self.servers[index]
        return rpc.call(server.endpoint, method, (self._session, *params), timeout)

    def raftstatus(self, index: int, timeout: float = 2) -> dict[str, int] | None:
        """The server's ``one.zone.raftstatus`` as a dict of ints, or None if it does not answer."""
        try:
            reply = self.call(index, "one.zone.raftstatus", timeout=timeout)
        except (OSError, xmlrpc.client.Error):
            return None
        if not reply[0]:
            return None
        return {child.tag: int(child.text) for child in ET.fromstring(reply[1])}

    def _state(self, index: int) -> int | None:
        status = self.raftstatus(index)
        return None if status is None else status["STATE"]

    def leaders(self, among: list[int] | None = None) -> list[int]:
        indexes = among if among is not None else range(self.size)
        return [i for i in indexes if self.running(i) and self._state(i) == 3]

    def wait_leader(self, timeout: float = 30, among: list[int] | None = None) -> int:
        """Index of the single leader among ``among`` (default all), waiting up to ``timeout``."""
        found: list[int] = []

        def one_leader() -> bool:
            found[:] = self.leaders(among)
            return len(found) == 1

        try:
            self._wait(one_leader, time.monotonic() + timeout, "a single leader")
        except ZoneError as exc:
            states = {row["name"]: row["state"] for row in self.status()}
            raise ZoneError(f"{exc} (servers: {states})") from None
        return found[0]

    def hook_events(self, index: int) -> list[str]:
        """Roles recorded by the ``raft/record.sh`` hook on server ``index``, oldest first."""
        path = Path(self.servers[index].location) / "var" / "hooks.log"
        if not path.exists():
            return []
        return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]

    def status(self) -> list[dict]:
        rows = []
        for server in self.servers:
            status = self.raftstatus(server.id, timeout=1) if self.running(server.id) else None
            rows.append(
                {
                    "id": server.id,
                    "name": server.name,
                    "endpoint": server.endpoint,
                    "pid": server.pid if self.running(server.id) else None,
                    "state": RAFT_STATES.get(status["STATE"], "error") if status else "down",
                    "raft": status,
                }
            )
        return rows

    @staticmethod
    def _wait(condition, deadline: float, what: str, fail_fast=None) -> None:
        while True:
            if condition():
                return
            if fail_fast is not None and fail_fast():
                raise ZoneError(f"gave up waiting for {what}: the process exited")
            if time.monotonic() >= deadline:
                raise ZoneError(f"timed out waiting for {what}")
            time.sleep(0.05)

    # ------------------------------------------------------------------ teardown and state
    def down(self, keep_files: bool = False) -> None:
        """Stop every server, remove the partition table and (unless kept) the files."""
        for server in self.servers:
            if server.pid and _is_oned(server.pid):
                self.stop(server.id, timeout=10)
        self.heal()
        for process in self._processes.values():
            process.poll()
        self._processes.clear()
        if keep_files:
            (self.directory / STATE_FILE).unlink(missing_ok=True)
            return
        if self.options.db == "mysql" and self.servers:
            with contextlib.suppress(Exception):  # the server may be gone already
                self._drop_mysql_databases()
        for server in self.servers:
            shutil.rmtree(server.location, ignore_errors=True)
        shutil.rmtree(self.directory / ".one", ignore_errors=True)
        (self.directory / STATE_FILE).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.directory.rmdir()

    def _save(self) -> None:
        state = {
            "size": self.size,
            "net": self.net,
            "port": self.port,
            "options": asdict(self.options),
            "servers": [asdict(server) for server in self.servers],
        }
        path = self.directory / STATE_FILE
        path.touch(mode=0o600)  # may hold the MySQL password
        path.write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path | str) -> LocalZone:
        """Re-attach to a zone brought up by another process (the CLI)."""
        directory = Path(directory).resolve()
        try:
            state = json.loads((directory / STATE_FILE).read_text())
        except FileNotFoundError:
            raise ZoneError(f"no zone in {directory}") from None
        zone = cls(state["size"], directory, state["net"], port=state["port"], **state["options"])
        zone.servers = [ZoneServer(**server) for server in state["servers"]]
        zone._session = (directory / ".one" / "one_auth").read_text().strip()
        return zone


# ---------------------------------------------------------------------- helpers


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except OSError:
        return False
    return True


def _is_oned(pid: int) -> bool:
    """True if ``pid`` still runs an oned (guards against a recycled pid)."""
    try:
        return b"oned" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _nft(script: str, check: bool = True) -> None:
    result = subprocess.run(
        ["nft", "-f", "-"], input=script, text=True, capture_output=True, timeout=10, check=False
    )
    if check and result.returncode != 0:
        raise ZoneError(f"nft failed: {result.stderr.strip()}")


def _free_net(port: int) -> str:
    """A random ``127.X.Y`` whose first addresses have ``port`` free."""
    import socket

    for _ in range(50):
        net = f"127.{random.randint(2, 254)}.{random.randint(1, 254)}"
        try:
            with socket.socket() as sock:
                sock.bind((f"{net}.1", port))
        except OSError:
            continue
        return net
    raise ZoneError("no free loopback network found")


# ---------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onesim-zone", description="Run a simulated OpenNebula HA zone on loopback."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="create and bootstrap an N-server zone in DIR")
    up.add_argument("size", type=int)
    up.add_argument("directory")
    up.add_argument("--net", help="loopback /24 prefix, e.g. 127.10.1 (default: random)")
    up.add_argument("--port", type=int, default=DEFAULT_PORT)
    up.add_argument("--election-ms", type=int, default=ZoneOptions.election_ms)
    up.add_argument("--broadcast-ms", type=int, default=ZoneOptions.broadcast_ms)
    up.add_argument("--xmlrpc-timeout-ms", type=int, default=ZoneOptions.xmlrpc_timeout_ms)
    up.add_argument("--warmup-ms", type=int, default=ZoneOptions.warmup_ms)
    up.add_argument("--db", choices=["sqlite"], default="sqlite")
    up.add_argument("--no-hooks", action="store_true", help="do not configure the record hooks")
    down = sub.add_parser("down", help="stop the zone in DIR and remove its files")
    down.add_argument("directory")
    down.add_argument("--keep", action="store_true", help="keep the server directories")
    status = sub.add_parser("status", help="show each server's Raft state")
    status.add_argument("directory")
    status.add_argument("--json", action="store_true")
    return parser


def _print_status(zone: LocalZone) -> None:
    print(f"{'ID':>2} {'NAME':<10} {'STATE':<10} {'TERM':<6} {'INDEX':<7} {'COMMIT':<7} ENDPOINT")
    for row in zone.status():
        raft = row["raft"] or {}
        print(
            f"{row['id']:>2} {row['name']:<10} {row['state']:<10} {raft.get('TERM', '-')!s:<6} "
            f"{raft.get('LOG_INDEX', '-')!s:<7} {raft.get('COMMIT', '-')!s:<7} {row['endpoint']}"
        )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "up":
            zone = LocalZone(
                args.size,
                args.directory,
                args.net,
                port=args.port,
                election_ms=args.election_ms,
                broadcast_ms=args.broadcast_ms,
                xmlrpc_timeout_ms=args.xmlrpc_timeout_ms,
                warmup_ms=args.warmup_ms,
                db=args.db,
                hooks=not args.no_hooks,
            )
            try:
                zone.up()
            except BaseException:
                zone.down()
                raise
            _print_status(zone)
            print(f"\nsource {zone.directory}/server-<i>/env to use onezone/onedb on a server")
        elif args.command == "down":
            LocalZone.load(args.directory).down(keep_files=args.keep)
        else:
            zone = LocalZone.load(args.directory)
            if args.json:
                print(json.dumps(zone.status(), indent=2))
            else:
                _print_status(zone)
    except ZoneError as exc:
        print(f"onesim-zone: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
