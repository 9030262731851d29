"""``map.jinja`` merges and validates the settings once per state run, however many SLS
files the run renders and however many of the formula's Jinja libraries each file imports:
the libraries are imported without context (template-formula style: Jinja evaluates them
once per rendered file), and ``onenebula_map.settings``, which ``map.jinja`` calls, keeps
the settings in the run's ``__context__``.

The SLS is rendered in-process (``state.show_sls`` through ``salt.client.Caller``) on the
``local_salt`` fixture's file roots, with the formula's modules in an extension modules
directory of this test where ``onenebula_pillar`` is the real module plus a wrapper that
records each call of ``settings`` (what ``map.jinja`` calls to merge and validate) in a file.
"""

import re

import pytest
import salt._logging.impl
import salt.client
import salt.config

RUN = {"leader": "vmm01", "server": "vmm01", "step": "bootstrapping"}
COUNTER = """

_settings_uncounted = settings


def settings(*args, **kwargs):  # noqa: F811 - the test's counting wrapper
    with open({path!r}, "a", encoding="utf-8") as handle:
        handle.write("settings\\n")
    return _settings_uncounted(*args, **kwargs)
"""


@pytest.fixture(scope="module")
def counted_show(local_salt, example_pillar_data, repo_root, tmp_path_factory):
    local_salt.set_pillar(example_pillar_data)
    root = tmp_path_factory.mktemp("map-once")
    counter = root / "validations"
    extmods = root / "extmods"
    for kind, directory in (("modules", "_modules"), ("utils", "_utils")):
        (extmods / kind).mkdir(parents=True)
        for source in (repo_root / directory).glob("*.py"):
            target = extmods / kind / source.name
            if source.name == "onenebula_pillar.py":
                target.write_text(source.read_text() + COUNTER.format(path=str(counter)))
            else:
                target.symlink_to(source)
    opts = salt.config.minion_config(str(local_salt.conf_dir / "minion"))
    opts.update({"id": "vmm01", "extension_modules": str(extmods), "cachedir": str(root / "cache")})
    caller = salt.client.Caller(mopts=opts)

    def show(sls, pillar):
        counter.write_text("")
        data = caller.cmd("state.show_sls", sls, pillar=pillar)
        return data, counter.read_text().count("settings")

    yield show
    salt._logging.impl.shutdown_temp_handler()


@pytest.mark.parametrize(
    "sls",
    [
        "onenebula_ha.ha.bootstrap",
        "onenebula_ha.ha.restore",
        "onenebula_ha.config",
        "onenebula_ha.fence",
        "onenebula_ha",
    ],
)
def test_one_validation_per_run(counted_show, sls):
    data, validations = counted_show(sls, {"onenebula_ha_run": RUN})
    assert isinstance(data, dict) and data, data
    assert validations == 1, f"{validations} validations for {len(sls_files(data))} SLS files"
    if sls == "onenebula_ha":
        assert len(sls_files(data)) > 5


def test_each_run_validates_its_own_pillar(counted_show):
    """The next run (here: the same process, another pillar) computes afresh: a pillar
    given on the command line or by an orchestration is never answered from a cache."""
    port_state = "onenebula_ha-config-onenebula_conf-value-port"
    before, first = counted_show("onenebula_ha.config", {"onenebula_ha_run": RUN})
    changed = {"onenebula_ha": {"oned": {"port": 2700}}, "onenebula_ha_run": RUN}
    after, second = counted_show("onenebula_ha.config", changed)
    assert (first, second) == (1, 1)
    assert state_args(before, port_state)["value"] == 2633
    assert state_args(after, port_state)["value"] == 2700


def state_args(data, state_id):
    """The arguments of ``state_id`` in ``state.show_sls`` output, as one mapping."""
    body = data[state_id]
    (steps,) = [value for key, value in body.items() if not key.startswith("__")]
    return {key: value for step in steps if isinstance(step, dict) for key, value in step.items()}


def sls_files(data):
    """The SLS files rendered for ``data`` (an SLS with includes renders each once)."""
    return {body["__sls__"] for body in data.values()}


def test_no_file_of_the_formula_imports_with_context(repo_root):
    """The count above holds for every file only if none imports a library ``with context``
    (which re-evaluates ``map.jinja`` at each import)."""
    files = [p for p in (repo_root / "onenebula_ha").rglob("*") if p.suffix in (".sls", ".jinja")]
    assert len(files) > 40
    found = [
        str(p.relative_to(repo_root))
        for p in files
        if re.search(r"{%-?\s*(from|import)\b[^%]*\bwith\s+context", p.read_text())
    ]
    assert found == []
