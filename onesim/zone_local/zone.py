"""``LocalZone``: a loopback zone of simulated front-ends, one object for tests and demos.

It keeps the zone's state (servers, options, session) and answers queries; each job is done
by its own module of this package (see ``onesim/zone_local/__init__.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import time
import xml.etree.ElementTree as ET
import xmlrpc.client
from dataclasses import asdict
from pathlib import Path

from onesim import rpc
from onesim.zone_local import bootstrap, dbcopy, faults, layout, processes
from onesim.zone_local.servers import (
    DEFAULT_PORT,
    RAFT_STATES,
    ZoneError,
    ZoneOptions,
    ZoneServer,
    db_name,
    free_net,
    wait,
)

STATE_FILE = "zone.json"


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
        self.options.validate()
        self.servers: list[ZoneServer] = []
        self._processes = processes.Processes()
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
        bootstrap.bootstrap_first(self, deadline)
        for server in self.servers[1:]:
            bootstrap.join(self, server, deadline)
        return self

    def prepare(self) -> LocalZone:
        """Write the layouts (every server solo, SERVER_ID -1) without starting anything."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if (self.directory / STATE_FILE).exists():
            raise ZoneError(f"{self.directory} already holds a zone; run 'down' first")
        self.net = self.net or free_net(self.port)
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
            layout.write_layout(server, self.options, self.db_name(server.id))
        self._save()
        return self

    @property
    def session(self) -> str:
        """The ``oneadmin:<password>`` session of the shared one_auth."""
        return self._session

    def set_server_id(self, index: int, server_id: int) -> None:
        """Write ``FEDERATION/SERVER_ID`` in server ``index``'s oned.conf."""
        layout.set_server_id(self.servers[index], server_id)

    # ------------------------------------------------------------------ databases
    def db_name(self, index: int) -> str:
        """MySQL database of server ``index`` (``db="mysql"`` only)."""
        return db_name(self.net, index)

    def copy_db(self, source: int, target: int) -> None:
        """Copy server ``source``'s DB over ``target``'s (a consistent online copy).

        Stands in for ``onedb backup`` on the leader + ``onedb restore -f`` on the new server.
        """
        if self.options.db == "mysql":
            dbcopy.copy_mysql(self.options.mysql, self.db_name(source), self.db_name(target))
        elif self.options.db_copy == "onedb":
            dump = self.directory / f"backup-{source}-for-{target}.sql"
            dbcopy.copy_with_onedb(self.servers[source], self.servers[target], dump)
        else:
            dbcopy.copy_sqlite(self.servers[source].db_path, self.servers[target].db_path)

    # ------------------------------------------------------------------ processes
    def start(self, index: int, timeout: float = 20, extra_env: dict | None = None) -> None:
        """Start oned on server ``index`` (removing a stale lock, like pre_cleanup).

        ``extra_env`` overrides the environment (e.g. another ``ONE_AUTH``).
        """
        server = self.servers[index]
        env = {
            **os.environ,
            **server.env,
            "ONESIM_WARMUP_MS": str(self.options.warmup_ms),
            **(extra_env or {}),
        }
        self._processes.start(server, env, timeout, on_spawn=self._save)

    def stop(self, index: int, timeout: float = 20) -> None:
        """SIGTERM (oned's clean shutdown) and wait for the process to exit."""
        self._processes.signal_and_wait(self.servers[index], signal.SIGTERM, timeout)
        self._save()

    def kill(self, index: int) -> None:
        """SIGKILL: no shutdown, the lock file stays behind."""
        self._processes.signal_and_wait(self.servers[index], signal.SIGKILL, 10)
        self._save()

    def freeze(self, index: int) -> None:
        self._processes.signal(self.servers[index], signal.SIGSTOP)

    def thaw(self, index: int) -> None:
        self._processes.signal(self.servers[index], signal.SIGCONT)

    def running(self, index: int) -> bool:
        return processes.running(self.servers[index])

    # ------------------------------------------------------------------ network faults
    @property
    def nft_table(self) -> str:
        return faults.table_name(self.net)

    def partition(self, index: int, peers: list[int] | None = None) -> None:
        """Drop traffic between server ``index`` and ``peers`` (default: every other server)."""
        peers = [p for p in (peers if peers is not None else range(self.size)) if p != index]
        faults.partition(
            self.nft_table, self.servers[index].address, [self.servers[p].address for p in peers]
        )

    def heal(self) -> None:
        """Remove every partition rule of this zone."""
        if self.net:
            faults.heal(self.nft_table)

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
            wait(one_leader, time.monotonic() + timeout, "a single leader")
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

    # ------------------------------------------------------------------ teardown and state
    def down(self, keep_files: bool = False) -> None:
        """Stop every server, remove the partition table and (unless kept) the files."""
        for server in self.servers:
            if server.pid and processes.is_oned(server.pid):
                self.stop(server.id, timeout=10)
        self.heal()
        self._processes.forget()
        if keep_files:
            (self.directory / STATE_FILE).unlink(missing_ok=True)
            return
        if self.options.db == "mysql" and self.servers:
            with contextlib.suppress(Exception):  # the server may be gone already
                dbcopy.drop_mysql_databases(
                    self.options.mysql, [self.db_name(server.id) for server in self.servers]
                )
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
