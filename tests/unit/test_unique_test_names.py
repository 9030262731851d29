"""pytest's default import mode needs every test module's basename to be unique."""

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_basenames_are_unique():
    names = Counter(path.name for path in TESTS.rglob("test_*.py"))
    clashes = sorted(name for name, count in names.items() if count > 1)
    assert clashes == [], f"test modules sharing a basename (collection fails): {clashes}"
