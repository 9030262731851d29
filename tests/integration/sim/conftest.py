"""Slower multi-second scenarios on loopback zones (partitions, log purge, service scripts)."""

import shutil

import pytest

#: Raft timings: fast elections, but generous enough for a loaded 2-core machine.
TIMINGS = {
    "election_ms": 600,
    "broadcast_ms": 100,
    "xmlrpc_timeout_ms": 250,
    "warmup_ms": 300,
}


@pytest.fixture
def timings():
    return dict(TIMINGS)


@pytest.fixture
def require_nft():
    if shutil.which("nft") is None:
        pytest.skip("nftables (nft) is not installed")


class MariaDB:
    """A throw-away MariaDB server in a temporary directory, reachable over TCP."""

    def __init__(self, base):
        self.base = base
        self.datadir = base / "data"
        self.socket = base / "mysqld.sock"
        self.port = _free_port()
        self.user, self.passwd = "onesim", "onesim-test-pw"
        self.process = None

    def start(self):
        import subprocess
        import time

        (self.base / "tmp").mkdir(parents=True, exist_ok=True)
        if not self.datadir.exists():
            subprocess.run(
                [
                    "mariadb-install-db",
                    "--no-defaults",
                    f"--datadir={self.datadir}",
                    "--user=root",
                    "--auth-root-authentication-method=socket",
                    "--skip-test-db",
                    f"--tmpdir={self.base / 'tmp'}",
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
        self.process = subprocess.Popen(
            [
                "mariadbd",
                "--no-defaults",
                "--user=root",
                f"--datadir={self.datadir}",
                f"--socket={self.socket}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
                "--performance-schema=OFF",
                f"--tmpdir={self.base / 'tmp'}",
                f"--pid-file={self.base / 'pid'}",
                f"--log-error={self.base / 'err'}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not self._answers():
            assert self.process.poll() is None, (self.base / "err").read_text()[-2000:]
            assert time.monotonic() < deadline, "mariadbd did not become ready"
            time.sleep(0.1)
        self._root_sql(
            f"CREATE USER IF NOT EXISTS '{self.user}'@'127.0.0.1' IDENTIFIED BY '{self.passwd}';"
            f"GRANT ALL ON *.* TO '{self.user}'@'127.0.0.1';"
        )

    def _answers(self):
        return self._root_sql("SELECT 1", check=False).returncode == 0

    def _root_sql(self, sql, check=True):
        import subprocess

        return subprocess.run(
            ["mariadb", "--no-defaults", f"--socket={self.socket}", "-uroot", "-e", sql],
            capture_output=True,
            text=True,
            timeout=30,
            check=check,
        )

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)

    @property
    def options(self):
        return {"server": "127.0.0.1", "port": self.port, "user": self.user, "passwd": self.passwd}


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory):
    if shutil.which("mariadbd") is None or shutil.which("mariadb-install-db") is None:
        pytest.skip("MariaDB server is not installed")
    server = MariaDB(tmp_path_factory.mktemp("mariadb"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
