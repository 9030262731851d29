"""Load one product file as a module, straight from its path (no Salt loader)."""

import importlib.util
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The fencing agent, a standalone program the formula ships (run and loaded by its tests).
FENCE_AGENT = REPO_ROOT / "onenebula_ha" / "fence" / "files" / "onenebula_ha_fence.py"


def load_file(path: Path, name: str):
    """The module of ``path`` under ``name`` (a name of its own per caller keeps separately
    loaded copies, with their own dunders, apart)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_fence_agent():
    """The fencing agent as one module for the whole session (``sys.modules``), so that the
    unit and functional tests that load it share its classes."""
    name = "onenebula_ha_fence"
    if name not in sys.modules:
        module = importlib.util.module_from_spec(
            importlib.util.spec_from_file_location(name, FENCE_AGENT)
        )
        sys.modules[name] = module  # registered before it runs, as the import system does
        module.__spec__.loader.exec_module(module)
    return sys.modules[name]
