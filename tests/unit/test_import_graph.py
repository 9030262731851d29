"""The simulator's and the lab's modules import each other without cycles.

Imports are read from the source (including those under ``if TYPE_CHECKING:`` and inside
functions), so a cycle hidden behind a deferred import counts too. The lab gets its Salt backend
injected: ``onelab.lab`` imports no backend, and the backends do not import ``onelab.lab``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def module_name(path: Path, root: Path = REPO_ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, known: set[str], root: Path = REPO_ROOT) -> set[str]:
    """The modules of ``known`` that the file at ``path`` imports, anywhere in its body."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # "from pkg import mod" is an import of the module pkg.mod (a package's own
            # __init__ runs before any of its modules anyway); "from mod import name" of mod.
            submodules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known]
            names = submodules or [base]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph(package: str, root: Path = REPO_ROOT) -> dict[str, set[str]]:
    """Module name → the package's modules it imports (explicit imports only)."""
    files = sorted((root / package).rglob("*.py"))
    known = {module_name(f, root) for f in files}
    graph = {module_name(f, root): imported_modules(f, known, root) for f in files}
    return {name: {m for m in edges if m != name} for name, edges in graph.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as a path that ends where it starts), or None."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> list[str] | None:
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in on_stack:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in done and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        on_stack.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (cycle := visit(start)):
            return cycle
    return None


@pytest.mark.parametrize("package", ["onesim", "onelab"])
def test_no_import_cycle(package):
    graph = import_graph(package)
    assert len(graph) > 5
    assert find_cycle(graph) is None


def test_the_lab_gets_its_salt_backend_injected():
    graph = import_graph("onelab")
    assert "onelab.salt_backend" in graph["onelab.lab"]
    assert not {"onelab.salt_plain", "onelab.salt_factories"} & graph["onelab.lab"]
    for backend in ("onelab.salt_plain", "onelab.salt_factories", "onelab.salt_backend"):
        assert "onelab.lab" not in graph[backend], backend


def test_find_cycle_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_imports_under_type_checking_and_in_functions_count(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import X\n"
    )
    (pkg / "b.py").write_text("def f():\n    from . import a\n")
    graph = import_graph("pkg", tmp_path)
    assert graph["pkg.a"] == {"pkg.b"}
    assert graph["pkg.b"] == {"pkg.a"}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]
