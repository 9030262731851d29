"""Project-wide pytest configuration.

Each test is marked by the directory it lives in (``tests/unit`` → ``unit`` …), so
``make check`` (``-m "unit or functional"``) selects the quick subset without anyone
having to remember a decorator.
"""

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
_MARKER_DIRS = ("unit", "functional", "integration", "e2e")


def pytest_collection_modifyitems(config, items):
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        try:
            relative = Path(str(item.fspath)).resolve().relative_to(tests_dir)
        except ValueError:
            continue
        group = relative.parts[0] if relative.parts else ""
        if group in _MARKER_DIRS:
            item.add_marker(getattr(pytest.mark, group))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
