"""Load one product file as a module, straight from its path (no Salt loader)."""

import importlib.util
from pathlib import Path


def load_file(path: Path, name: str):
    """The module of ``path`` under ``name`` (a name of its own per caller keeps separately
    loaded copies, with their own dunders, apart)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
