"""Assembles one oned process: config, log, DB, Raft, XML-RPC server, lock file, shutdown."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from onesim import schema
from onesim.config import ConfigError, OnedConfig, dump_effective, load
from onesim.db import Database, DatabaseError, open_database
from onesim.logdb import LogDB
from onesim.oned.api import RequestManager
from onesim.oned.bootstrap import bootstrap, read_one_auth
from onesim.oned.hooks import HookRunner
from onesim.oned.log import OnedLog
from onesim.oned.raft import RaftManager
from onesim.oned.server import RpcServer
from onesim.paths import Paths

__all__ = ["DEFAULT_WARMUP_MS", "Oned", "warmup_ms"]

#: oned waits this long after start before the first election (not configurable in oned).
DEFAULT_WARMUP_MS = 15000


def warmup_ms(env) -> int:
    """The warm-up; ``ONESIM_WARMUP_MS`` (simulator only) shortens it for tests."""
    try:
        return max(0, int(env.get("ONESIM_WARMUP_MS", DEFAULT_WARMUP_MS)))
    except ValueError:
        return DEFAULT_WARMUP_MS


class StartupError(RuntimeError):
    """oned cannot start; the message is logged and printed on stderr."""


class Oned:
    def __init__(self, paths: Paths, env=None):
        self.paths = paths
        self.env = dict(os.environ if env is None else env)
        self._stop = threading.Event()
        self._log: OnedLog | None = None
        self._lock_created = False

    # ------------------------------------------------------------------ entry point
    def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the process exit status."""
        try:
            config = load(self.paths.oned_conf)
        except ConfigError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 1
        self._log = log = OnedLog(
            self.paths.oned_log, config.federation.zone_id, config.debug_level
        )
        log.info("ONE", f"Starting OpenNebula {schema.SHARED_VERSION}")
        log.write_raw(dump_effective(config))
        log.info("ONE", f"Log level:{config.debug_level} [0=ERROR,1=WARNING,2=INFO,3=DEBUG]")
        for warning in config.warnings:
            log.warning("ONE", warning)
        try:
            return self._serve(config, log)
        except StartupError as exc:
            log.error("ONE", str(exc))
            print(f"Error: {exc}", file=sys.stderr)
            return 1
        finally:
            if self._lock_created:
                self.paths.lock_file.unlink(missing_ok=True)
            log.close()

    def _serve(self, config: OnedConfig, log: OnedLog) -> int:
        paths = self.paths
        if paths.lock_file.exists():
            raise StartupError(f"Cannot start oned, opening lock file {paths.lock_file}")
        try:
            credentials = read_one_auth(paths.one_auth)
        except (OSError, ValueError) as exc:
            raise StartupError(f"Error reading ONE_AUTH file {paths.one_auth}: {exc}") from None
        db = self._open_db(config)
        try:
            self._check_bootstrap(db, config, credentials, log)
            paths.config_dump.parent.mkdir(parents=True, exist_ok=True)
            paths.config_dump.write_text(dump_effective(config))
            return self._run_modules(db, config, credentials, log)
        finally:
            db.close()

    def _open_db(self, config: OnedConfig) -> Database:
        try:
            return open_database(config.db, self.paths.sqlite_db)
        except DatabaseError as exc:
            raise StartupError(str(exc)) from None

    def _check_bootstrap(self, db, config: OnedConfig, credentials, log: OnedLog) -> None:
        log.info("ONE", "Checking database version.")
        if db.is_bootstrapped():
            return
        if config.federation.is_ha:
            raise StartupError("Database has to be bootstraped to start oned in HA")
        if config.federation.is_federated:
            raise StartupError("Database has to be bootstraped to start oned in FEDERATION")
        log.info("ONE", "Bootstrapping OpenNebula database, version " + schema.SHARED_VERSION)
        try:
            bootstrap(db, config, credentials)
        except DatabaseError as exc:
            raise StartupError(f"Error bootstrapping database: {exc}") from None

    def _run_modules(self, db: Database, config: OnedConfig, credentials, log: OnedLog) -> int:
        federation = config.federation
        hooks = HookRunner(
            config.leader_hook, config.follower_hook, self.paths.remotes, log, self.env
        )
        raft = RaftManager(
            server_id=federation.server_id,
            zone_id=federation.zone_id,
            raft=config.raft,
            db=db,
            logdb=LogDB(db),
            log=log,
            hooks=hooks,
            session=f"{credentials[0]}:{credentials[1]}",
            listen_address=config.listen_address,
            warmup_ms=warmup_ms(self.env),
            federated=federation.is_federated,
        )
        manager = RequestManager(
            raft,
            db,
            log,
            credentials,
            federation.zone_id,
            config.listen_address,
            configuration=config.template,
            var_location=f"{self.paths.var}/",
        )
        try:
            server = RpcServer((config.listen_address, config.port), manager)
        except OSError as exc:
            raise StartupError(
                f"Cannot start XML-RPC server at {config.listen_address}:{config.port}: "
                f"{exc.strerror}"
            ) from None
        self._create_lock()
        if federation.is_ha and config.db.errors_limit >= 0:
            db.on_error = lambda count: self._db_error(count, config.db.errors_limit, log)
        self._install_signals()
        raft.start()
        server_thread = threading.Thread(
            target=server.serve_forever, args=(0.1,), name="xmlrpc", daemon=True
        )
        server_thread.start()
        log.info("ReM", f"Starting XML-RPC server, port {config.port} ...")
        self._stop.wait()
        log.info("ONE", "Stopping Request Manager...")
        server.shutdown()
        server.server_close()
        raft.finalize()
        log.info("ONE", "All modules finalized, exiting.")
        return 0

    # ------------------------------------------------------------------ helpers
    def _create_lock(self) -> None:
        """The lock file holds the pid; created once the API port is bound (oned is ready)."""
        lock = self.paths.lock_file
        lock.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640)
        except FileExistsError:
            raise StartupError(f"Cannot start oned, opening lock file {lock}") from None
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{os.getpid()}\n")
        self._lock_created = True

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self._stop.set())
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def stop(self) -> None:
        self._stop.set()

    def _db_error(self, count: int, limit: int, log: OnedLog) -> None:
        if count > limit:
            log.error("SQL", "Lost connection to DB server, exiting...")
            self._stop.set()


def pid_from_lock(lock_file: Path) -> int | None:
    try:
        return int(Path(lock_file).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
