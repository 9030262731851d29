"""Decisions live in Python: orchestration and reactor SLS files stay short loops over what
the runner's planners return (at most 25 % of their lines are Jinja statements)."""

from pathlib import Path

import pytest
from support.load import load_file

REPO_ROOT = Path(__file__).resolve().parents[2]
LIMIT = 25.0


def _load():
    path = REPO_ROOT / "scripts" / "jinja_share.py"
    module = load_file(path, "jinja_share")
    return module


jinja_share = _load()
FILES = sorted(
    str(p.relative_to(REPO_ROOT))
    for tree in ("onenebula_ha/orch", "reactor")
    for p in (REPO_ROOT / tree).rglob("*")
    if p.is_file()
)


def test_the_count_skips_comments_and_blank_lines_and_follows_multiline_tags():
    text = "\n".join(
        [
            "# yaml comment",
            "---",
            "{#- a jinja comment",
            "    over two lines #}",
            "",
            "{%- set x = f(a,",
            "      b) %}",
            "id-{{ x }}:",
            "  test.nop: []",
            "{%- for i in x %}{{ i }}{%- endfor %}",
        ]
    )
    assert jinja_share.share(text) == (3, 6)


def test_there_are_files_to_check():
    assert "reactor/onenebula_ha/error.sls" in FILES
    assert "onenebula_ha/orch/deploy.sls" in FILES


@pytest.mark.parametrize("path", FILES)
def test_orchestration_and_reactor_files_are_mostly_not_jinja(path):
    value, statements, counted = jinja_share.percent(REPO_ROOT / path)
    assert value <= LIMIT, f"{path}: {statements} of {counted} lines are Jinja statements"
