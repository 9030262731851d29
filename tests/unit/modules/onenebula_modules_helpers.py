"""Import helpers for the unit tests of the Salt execution and state modules.

``_modules/onenebula_zone.py`` and ``_states/onenebula_zone.py`` share a file name, so
the modules are imported from their paths under distinct names.
"""

import importlib.util
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
FILES = Path(__file__).resolve().parent / "files"


def load(kind, name):
    """Import ``_modules/<name>.py`` (kind="modules") or ``_states/<name>.py`` (kind="states")."""
    path = REPO_ROOT / f"_{kind}" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"onenebula_test_{kind}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
