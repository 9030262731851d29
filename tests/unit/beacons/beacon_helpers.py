"""Helpers for the beacon and reactor unit tests: import the beacon from its path, fake the
``onenebula_zone`` execution module, and render reactor/orchestration SLS the way Salt does
(their ``saltutil.runner`` calls run the formula's real runner, with the master's datastore,
clock and minion answers scripted)."""

import types
from pathlib import Path

from salt.exceptions import CommandExecutionError
from support.formula_utils import utils_dunder
from support.load import load_file

from onelab.saltconfig import build_state_tree

REPO_ROOT = Path(__file__).resolve().parents[3]
STATE_NAMES = {0: "solo", 1: "candidate", 2: "follower", 3: "leader"}


class Clock:
    """The beacon's clock (``_now``), moved by hand."""

    def __init__(self, start=1_800_000_000.0):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def load_beacon(name="onenebula_raft"):
    module = load_file(REPO_ROOT / "_beacons" / f"{name}.py", f"onenebula_test_beacons_{name}")
    module.__utils__ = utils_dunder()
    return module


def load_runner(name="onenebula_ha"):
    module = load_file(REPO_ROOT / "_runners" / f"{name}.py", f"onenebula_test_runners_{name}")
    module.__utils__ = utils_dunder()
    return module


def raft(state, server_id=0, term=1, votedfor=None):
    """A ``onenebula_zone.raft_status`` result."""
    return {
        "server_id": server_id,
        "state": state,
        "state_name": STATE_NAMES[state],
        "term": term,
        "votedfor": server_id if votedfor is None else votedfor,
        "commit": 10,
        "log_index": 10,
        "log_term": term,
        "fedlog_index": -1,
    }


def server(server_id, state, term=1):
    """A server row of ``onenebula_zone.raft_zone`` (the rows of ``onenebula_zone.show``)."""
    error = state == "error"
    return {
        "id": server_id,
        "name": f"vmm0{server_id + 1}",
        "endpoint": f"http://10.213.0.{(server_id + 1) * 10}:2633/RPC2",
        "state": state,
        "term": None if error else term,
        "votedfor": None if error else 0,
        "commit": None if error else 10,
        "log_index": None if error else 10,
        "fedlog_index": None if error else -1,
    }


class FakeZone:
    """Scripted ``onenebula_zone.raft_status`` / ``onenebula_zone.raft_zone`` (no
    ``onenebula_zone.show``: the beacon must not start ``onezone``)."""

    def __init__(self):
        self.status = raft(2)
        self.down = None
        self.servers = []
        self.zone_calls = 0

    def raft_status(self, timeout=2):
        if self.down is not None:
            raise CommandExecutionError(self.down, info={"reachable": False})
        return dict(self.status)

    def raft_zone(self, zone=0, timeout=5):
        self.zone_calls += 1
        return {"id": zone, "name": "OpenNebula", "servers": [dict(s) for s in self.servers]}

    def functions(self):
        return {
            "onenebula_zone.raft_status": self.raft_status,
            "onenebula_zone.raft_zone": self.raft_zone,
        }


# ------------------------------------------------------------------ SLS rendering


class SaltFunctions(dict):
    """The ``salt`` mapping an SLS sees while it renders, with scripted functions.

    ``settings`` is the master's ``onenebula_ha_reactor`` configuration, ``store`` the
    master datastore (``data`` module), ``now`` the master clock (``status.time``), and
    ``logs`` collects what the SLS logged as ``(level, message)``.
    """

    def __init__(self, settings=None, pillar=None, answers=None, now=1_800_000_000):
        super().__init__()
        self.settings = settings
        self.pillar = pillar or {}
        self.answers = answers or {}
        self.store = {}
        self.now = now
        self.logs = []
        self.calls = []
        self.update(
            {
                "config.get": self._config_get,
                "pillar.get": lambda key, default=None: self.pillar.get(key, default),
                "status.time": lambda fmt="%s": str(self.now),
                "data.get": lambda key, default=None: self.store.get(key, default),
                "data.update": self._data_update,
                "saltutil.cmd": self._saltutil_cmd,
                "saltutil.runner": self._saltutil_runner,
            }
        )
        for level in ("debug", "info", "warning", "error"):
            self[f"log.{level}"] = self._logger(level)

    def _config_get(self, key, default=None):
        if key == "onenebula_ha_reactor" and self.settings is not None:
            return self.settings
        return default

    def _data_update(self, key, value):
        self.store[key] = value
        return True

    def _saltutil_cmd(self, tgt, fun, arg=(), timeout=None, tgt_type="glob", kwarg=None, **_):
        self.calls.append((tuple(tgt), fun, kwarg))
        return {m: a for m, a in self.answers.get(fun, {}).items() if m in tgt}

    def _saltutil_runner(self, name, arg=None, kwarg=None, **kwargs):
        """The formula's runner, as ``saltutil.runner`` runs it on the master."""
        module = load_runner(name.split(".", 1)[0])
        module.__opts__ = {"id": "master_master"}
        if self.settings is not None:
            module.__opts__["onenebula_ha_reactor"] = self.settings

        # The repair lock record (a file in the master's cache directory) from the store.
        def read_lock():
            record = self.store.get("onenebula_ha_repair_lock")
            return record if isinstance(record, dict) else {}

        module._read_lock = read_lock

        def update_lock(change):
            record, result = change(read_lock())
            self.store["onenebula_ha_repair_lock"] = record
            return result

        module._update_lock = update_lock
        module._call = self._runner_call
        module.time = types.SimpleNamespace(time=lambda: self.now)
        module.log = _RunnerLog(self)
        return getattr(module, name.split(".", 1)[1])(*(arg or []), **dict(kwarg or {}, **kwargs))

    def _runner_call(self, minions, fun, arg=(), kwarg=None, timeout=10):
        """The runner's parallel minion call, answered from the scripted ``answers``."""
        self.calls.append((tuple(minions), fun, kwarg))
        answers = self.answers.get(fun, {})
        results = {}
        for minion in minions:
            answer = answers.get(minion)
            if answer is None:
                results[minion] = {"ok": False, "error": "minion did not answer"}
            elif answer.get("retcode", 0) != 0:
                results[minion] = {"ok": False, "error": str(answer.get("ret"))}
            else:
                results[minion] = {"ok": True, "ret": answer["ret"]}
        return results

    def _logger(self, level):
        def log(message):
            self.logs.append((level, message))
            return True

        return log

    def messages(self, level):
        return [message for logged_level, message in self.logs if logged_level == level]


class _RunnerLog:
    """The runner's logger, collecting into ``SaltFunctions.logs``."""

    def __init__(self, functions):
        self.functions = functions

    def __getattr__(self, level):
        if level not in ("debug", "info", "warning", "error"):
            raise AttributeError(level)

        def log(message, *args):
            self.functions.logs.append((level, message % args if args else message))

        return log


_RENDER_OPTS = None


def _render_opts(tmp_dir):
    global _RENDER_OPTS
    if _RENDER_OPTS is None:
        import salt.config

        opts = salt.config.minion_config(None)
        opts.update(
            {
                "id": "master_master",
                "file_client": "local",
                # Links to the formula's trees: walking the checkout's venvs is slow.
                "file_roots": {"base": [str(build_state_tree(REPO_ROOT, Path(tmp_dir) / "tree"))]},
                "cachedir": str(tmp_dir),
            }
        )
        _RENDER_OPTS = opts
    return _RENDER_OPTS


def _compiler(functions, tmp_dir):
    import salt.loader
    import salt.state

    opts = _render_opts(tmp_dir)
    return salt.state.Compiler(opts, salt.loader.render(opts, functions))


def render_sls(relative_path, functions, tmp_dir, **context):
    """Render an SLS of the repository through Salt's jinja|yaml renderers as the
    orchestrate runner does; return the high data as plain dicts ({} when empty)."""
    import json

    compiler = _compiler(functions, tmp_dir)
    high = compiler.render_template(str(REPO_ROOT / relative_path), **context)
    return json.loads(json.dumps(high or {}))


def react(relative_path, functions, tmp_dir, tag, data):
    """The reactions Salt's reactor would run for an event, as low chunks reduced to
    ``{"__id__", "state", "fun", "args"}``: the file rendered with ``tag``/``data``,
    verified and compiled the way ``salt.utils.reactor.Reactor.reactions`` does."""
    import json

    compiler = _compiler(functions, tmp_dir)
    path = str(REPO_ROOT / relative_path)
    high = compiler.render_template(path, tag=tag, data=data) or {}
    for name in high:
        high[name]["__sls__"] = path
    errors = compiler.verify_high(high)
    assert not errors, errors
    compiled = compiler.compile_high_data(high)
    # Salt 3007+ returns (chunks, errors); 3006 returns the chunks alone.
    chunks, errors = compiled if isinstance(compiled, tuple) else (compiled, [])
    assert not errors, errors
    keep = ("__id__", "state", "fun", "args")
    return json.loads(json.dumps([{k: c[k] for k in keep if k in c} for c in chunks]))
