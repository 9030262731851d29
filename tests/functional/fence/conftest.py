"""Fixtures for the fencing agent's functional tests: the formula's fence states rendered
masterless, and the agent's files rendered from the state tree."""

import shutil

import pytest
import salt._logging.impl
import salt.client
import salt.config
import yaml
from support.local_salt import LocalSalt


@pytest.fixture(scope="module")
def local_salt(tmp_path_factory, repo_root):
    root = tmp_path_factory.mktemp("fence-salt")
    local = LocalSalt(root, repo_root, minion_id="vmm02")
    rc, _, output = local.call("saltutil.sync_all")
    assert rc == 0, output
    local.set_pillar(yaml.safe_load((repo_root / "pillar.example").read_text()))
    yield local
    shutil.rmtree(root / "root", ignore_errors=True)


@pytest.fixture(scope="module")
def show_sls(local_salt):
    """``show_sls(mods, pillar=None)`` in-process, as minion vmm02."""
    opts = salt.config.minion_config(str(local_salt.conf_dir / "minion"))
    caller = salt.client.Caller(mopts=opts)

    def show(mods, pillar=None):
        data = caller.cmd("state.show_sls", mods, **({"pillar": pillar} if pillar else {}))
        assert isinstance(data, dict), data
        return data

    yield show
    salt._logging.impl.shutdown_temp_handler()


@pytest.fixture(scope="session")
def render_file(repo_root):
    """Render a file of the state tree with Salt's own jinja renderer (its filters, tests
    and ``raise``, as file.managed does), with a plain context."""
    import salt.utils.templates

    opts = salt.config.minion_config(None)
    opts.update(file_client="local", file_roots={"base": [str(repo_root)]})

    def render(path, **context):
        result = salt.utils.templates.JINJA(
            (repo_root / path).read_text(),
            from_str=True,
            to_str=True,
            opts=opts,
            saltenv="base",
            grains={},
            pillar={},
            salt={},
            context=context,
        )
        assert result["result"], result["data"]
        return result["data"]

    return render


@pytest.fixture(scope="session")
def agent_module():
    from support.load import load_fence_agent

    return load_fence_agent()
