"""Import helpers for the unit tests of the Salt execution and state modules.

``_modules/onenebula_zone.py`` and ``_states/onenebula_zone.py`` share a file name, so
the modules are imported from their paths under distinct names.
"""

import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path

from support.formula_utils import utils_dunder

REPO_ROOT = Path(__file__).resolve().parents[3]
FILES = Path(__file__).resolve().parent / "files"


def load(kind, name):
    """Import ``_modules/<name>.py`` (kind="modules") or ``_states/<name>.py`` (kind="states")."""
    path = REPO_ROOT / f"_{kind}" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"onenebula_test_{kind}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.__utils__ = utils_dunder()
    return module


def set_auth_files(monkeypatch, module, files):
    """Make the credential lookup of ``module`` (done by the formula's utils) search ``files``
    instead of OpenNebula's usual ``~/.one/one_auth`` and ``/var/lib/one/.one/one_auth``."""
    utils_globals = module.__utils__["onenebula_ha.auth_file"].__globals__
    monkeypatch.setitem(utils_globals, "AUTH_FILES", tuple(str(path) for path in files))


def run_result(stdout="", stderr="", retcode=0):
    """What Salt's cmd.run_all returns."""
    return {"stdout": stdout, "stderr": stderr, "retcode": retcode, "pid": 4242}


def server_row(sid, name, endpoint, state="2", term="3", votedfor="0", index="120", commit=None):
    """A SERVER entry as ``onezone show -j`` prints it: every value a string.

    ``state="-"`` gives the CLI's error row, with ``-`` in all six Raft fields.
    """
    row = {"ENDPOINT": endpoint, "ID": str(sid), "NAME": name}
    if state == "-":
        raft = dict.fromkeys(
            ("STATE", "TERM", "VOTEDFOR", "COMMIT", "LOG_INDEX", "FEDLOG_INDEX"), "-"
        )
    else:
        raft = {
            "STATE": str(state),
            "TERM": str(term),
            "VOTEDFOR": str(votedfor),
            "COMMIT": str(index if commit is None else commit),
            "LOG_INDEX": str(index),
            "FEDLOG_INDEX": "-1",
        }
    row.update(raft)
    return row


def show_document(rows, zone_id="0", name="OpenNebula"):
    """The ``onezone show -j`` document: SERVER is an object for one server, an array for
    two or more, and the pool is ``{}`` when empty (docs/opennebula-cli.md §4)."""
    if not rows:
        pool = {}
    elif len(rows) == 1:
        pool = {"SERVER": rows[0]}
    else:
        pool = {"SERVER": rows}
    return {
        "ZONE": {
            "ID": zone_id,
            "NAME": name,
            "STATE": "0",
            "TEMPLATE": {"ENDPOINT": "http://localhost:2633/RPC2"},
            "SERVER_POOL": pool,
        }
    }


class FakeOnezone:
    """Stands in for ``cmd.run_all`` running ``onezone``: answers from an in-memory zone.

    ``rows`` are :func:`server_row` dicts. server-add appends an ``error`` row (the new
    server is not running yet), as the real zone shows it. ``fail`` maps a subcommand to
    a ``run_result`` to return instead.
    """

    def __init__(self, rows, fail=None):
        self.rows = list(rows)
        self.fail = dict(fail or {})
        self.calls = []

    def commands(self, subcommand=None):
        return [argv for argv, _ in self.calls if subcommand is None or argv[1] == subcommand]

    def __call__(self, argv, **kwargs):
        self.calls.append((list(argv), kwargs))
        assert argv[0] == "onezone", argv
        subcommand = argv[1]
        if subcommand in self.fail:
            return self.fail[subcommand]
        if subcommand == "show":
            return run_result(json.dumps(show_document(self.rows), indent=2))
        if subcommand == "server-add":
            name = argv[argv.index("--name") + 1]
            endpoint = argv[argv.index("--rpc") + 1]
            new_id = max((int(r["ID"]) for r in self.rows), default=-1) + 1
            self.rows.append(server_row(new_id, name, endpoint, state="-"))
            return run_result()
        if subcommand == "server-del":
            before = len(self.rows)
            self.rows = [r for r in self.rows if r["ID"] != argv[3]]
            if len(self.rows) == before:
                return run_result(
                    stderr="[one.zone.delserver] SERVER not found in zone", retcode=255
                )
            return run_result()
        if subcommand == "server-reset":
            return run_result()
        raise AssertionError(f"unexpected onezone call {argv}")


# The example of docs/opennebula-cli.md §3.2: 3-node zone, server 2 unreachable from the CLI host.
EXAMPLE_ROWS = [
    server_row(0, "server-0", "http://192.168.150.1:2633/RPC2", state="3", votedfor="0"),
    server_row(1, "server-1", "http://192.168.150.2:2633/RPC2", state="2", votedfor="0"),
    server_row(2, "server-2", "http://192.168.150.3:2633/RPC2", state="-"),
]


_FAKE_SSH_PROGRAM = """
import json, os, sys
argv = sys.argv[1:]
import time
with open({log!r}, "a") as log:
    log.write(json.dumps([time.time_ns(), ["ssh", *argv]]) + "\\n")
assert "BatchMode=yes" in argv and "StrictHostKeyChecking=yes" in argv, argv
words = argv[argv.index("--") + 1:]
host = words[0].split("@", 1)[1]
assert words[1:3] == ["cat", "--"] and len(words) in (4, 10), words
consume = words[4:]
assert consume in ([], ["&&", "rm", "-f", "--", words[3], words[3] + ".sha256"]), words
roots = json.load(open({config!r}))
cut = host.endswith("-cut")
root = roots.get(host[:-4] if cut else host)
if root is None:
    sys.stderr.write("Host key verification failed.\\n")
    sys.exit(255)
try:
    data = open(root + words[3], "rb").read()
except OSError:
    sys.stderr.write("cat: " + words[3] + ": No such file or directory\\n")
    sys.exit(1)
sys.stdout.buffer.write(data[: len(data) // 2] if cut else data)
if cut:
    sys.exit(255)
for path in consume[4:]:
    if os.path.exists(root + path):
        os.unlink(root + path)
"""


class FakeSsh:
    """Stands in for ``cmd.run_all`` running OpenSSH's ``scp`` and ``ssh ... rm``: the
    remote front-ends are directories (``roots``: host -> a directory standing for its
    ``/``). Records every argv and the keyword arguments it was run with, and refuses
    what real scp would not do here (a shell, a non-list argv, an unknown host)."""

    def __init__(self, roots):
        self.roots = dict(roots)
        self.calls = []
        self.times = []
        self.fail = None
        self.log = None

    def install(self, monkeypatch, directory):
        """Put an ``ssh`` program first on PATH that answers ``ssh ... cat -- <path>`` (the
        streamed pull, run with subprocess, not cmd.run_all) from ``roots`` and appends its
        argv to a log (:meth:`streamed`). A host ending in ``-cut`` sends half the file
        and fails, as a dropped connection does."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "fake-ssh.json"
        self.log = directory / "fake-ssh.log"
        config.write_text(json.dumps({k: str(v) for k, v in self.roots.items()}))
        program = directory / "ssh"
        program.write_text(
            f"#!{sys.executable}\n"
            + _FAKE_SSH_PROGRAM.format(config=str(config), log=str(self.log))
        )
        program.chmod(0o755)
        monkeypatch.setenv("PATH", f"{directory}:{os.environ.get('PATH', '')}")
        return self

    def _streamed(self):
        if self.log is None or not self.log.exists():
            return []
        return [tuple(json.loads(line)) for line in self.log.read_text().splitlines()]

    def streamed(self):
        """The argv of every streamed ``ssh`` run, in order."""
        return [argv for _, argv in self._streamed()]

    def commands(self, program=None):
        """The commands run, streamed ones included, in order (a ``runuser -u <user> --``
        prefix left out)."""
        timed = [(self.times[i], argv) for i, (argv, _) in enumerate(self.calls)]
        found = [
            argv[4:] if argv[0].endswith("runuser") else argv
            for _, argv in sorted(timed + self._streamed(), key=lambda pair: pair[0])
        ]
        return [argv for argv in found if program is None or argv[0] == program]

    def _local(self, host, path):
        if host not in self.roots:
            return None
        return Path(self.roots[host]) / path.lstrip("/")

    def __call__(self, argv, **kwargs):
        assert isinstance(argv, list), argv
        assert kwargs.get("python_shell") is False, kwargs
        self.calls.append((list(argv), kwargs))
        self.times.append(time.time_ns())
        if self.fail is not None:
            return self.fail
        if argv[0].endswith("runuser"):
            assert argv[1:4] == ["-u", argv[2], "--"], argv
            argv = argv[4:]
        words = argv[argv.index("--") + 1 :]
        if argv[0] == "scp":
            *sources, dest = words
            copied = []
            for source in sources:
                matched = re.fullmatch(r"([^@]+)@(\[[^\]]+\]|[^:]+):(.*)", source)
                assert matched, source
                host, path = matched.group(2).strip("[]"), matched.group(3)
                local = self._local(host, path)
                if local is None:
                    return run_result(stderr="Host key verification failed.", retcode=255)
                if not local.is_file():
                    for done in copied:
                        done.unlink()
                    return run_result(stderr=f"scp: {path}: No such file or directory", retcode=1)
                target = Path(dest) / Path(path).name
                target.write_bytes(local.read_bytes())
                copied.append(target)
            return run_result()
        if argv[0] == "ssh":
            host = words[0].split("@", 1)[1]
            assert words[1:4] == ["rm", "-f", "--"], argv
            for path in words[4:]:
                local = self._local(host, path)
                if local is not None and local.exists():
                    local.unlink()
            return run_result()
        raise AssertionError(f"unexpected command {argv}")
