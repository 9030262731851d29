"""Salt conventions for the formula's execution and state modules (Salt's module guides: https://docs.saltproject.io/en/latest/ref/modules/index.html and
https://docs.saltproject.io/en/latest/ref/states/writing.html)."""

import inspect

import pytest
from onenebula_modules_helpers import REPO_ROOT, load

EXECUTION = ["onenebula_zone", "onenebula_db", "onenebula_conf"]
STATES = ["onenebula_zone", "onenebula_db", "onenebula_conf"]


def public_functions(module):
    aliases = getattr(module, "__func_alias__", {})
    for name, function in vars(module).items():
        if name.startswith("_") or not inspect.isfunction(function):
            continue
        if function.__module__ != module.__name__:
            continue
        yield aliases.get(name, name), function


@pytest.mark.parametrize("name", EXECUTION)
def test_execution_functions_document_a_cli_example(name):
    module = load("modules", name)
    functions = dict(public_functions(module))
    assert functions
    for public, function in functions.items():
        doc = inspect.getdoc(function) or ""
        assert "CLI Example:" in doc, f"{name}.{public} lacks a CLI Example"
        assert ".. code-block:: bash" in doc, f"{name}.{public} lacks a bash code block"
        assert f"salt '*' {name}.{public}" in doc or f"{name}.{public} " in doc, (
            f"{name}.{public}: the example does not call the function"
        )


@pytest.mark.parametrize("name", STATES)
def test_state_functions_document_an_sls_example(name):
    module = load("states", name)
    for public, function in public_functions(module):
        doc = inspect.getdoc(function) or ""
        assert ".. code-block:: yaml" in doc, f"state {name}.{public} lacks an SLS example"
        assert f"{name}.{public}:" in doc, f"state {name}.{public}: example does not use it"


@pytest.mark.parametrize("kind", ["modules", "states"])
@pytest.mark.parametrize("name", EXECUTION)
def test_never_imports_the_simulator_or_the_lab(kind, name):
    source = (REPO_ROOT / f"_{kind}" / f"{name}.py").read_text()
    for forbidden in ("onesim", "onelab", "simulat"):
        assert forbidden not in source.lower(), f"_{kind}/{name}.py mentions {forbidden}"


def test_set_is_exported_under_its_salt_name():
    module = load("modules", "onenebula_conf")
    assert module.__func_alias__ == {"set_": "set"}
