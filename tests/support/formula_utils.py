"""The formula's ``_utils/onenebula_ha.py`` as Salt's ``__utils__`` hands it to a module
(``{"onenebula_ha.<function>": function}``), for tests that import a module from its path."""

import importlib.util
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def load_utils_module():
    path = REPO_ROOT / "_utils" / "onenebula_ha.py"
    spec = importlib.util.spec_from_file_location("onenebula_test_utils_onenebula_ha", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def utils_dunder():
    """A fresh ``__utils__`` mapping holding the public functions of the formula's utils."""
    module = load_utils_module()
    return {
        f"{module.__virtualname__}.{name}": value
        for name, value in vars(module).items()
        if callable(value)
        and not name.startswith("_")
        and getattr(value, "__module__", None) == module.__name__
    }
