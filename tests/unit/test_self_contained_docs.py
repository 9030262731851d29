"""Every document the repository cites is in the repository (or is a public upstream source).

Three checks over every tracked text file:

* no file names a private document (notes that were never committed: the wording of such
  citations is listed in ``PRIVATE_CITATIONS``);
* every section sign cites a section of a Markdown file in the repository that has that section
  (``docs/opennebula-raft.md §2.4`` needs the file and a heading ``### 2.4``), or of a public
  source named before it on the line (a URL, a paper, a thesis, an RFC);
* every relative ``*.md`` path resolves to a tracked file.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

SECTION = "\u00a7"
# Spelled in pieces so that this file does not match itself.
PRIVATE_CITATIONS = [
    re.compile(r"\breference\s*" + SECTION, re.IGNORECASE),
    re.compile(r"\bthe reference(?:'s)?\b(?!\s+(?:below|above))", re.IGNORECASE),
    re.compile("salt-and-" + "anchors", re.IGNORECASE),
    re.compile("lab-" + "recipe", re.IGNORECASE),
    re.compile(r"opennebula-" + r"ha\.md", re.IGNORECASE),
    re.compile(r"(?:\.\./|/work/)" + "shared"),
    re.compile("shared/" + "reference"),
]
MD_PATH = re.compile(r"(?<![\w/.:-])((?:\.\./|\./)?[\w./-]*[\w-]\.md)\b")
SECTION_REF = re.compile(SECTION + r"\s*(\d+(?:\.\d+)*)(?:\s*[\u2013-]\s*(\d+(?:\.\d+)*))?")
URL = re.compile(r"\b\w+://\S+")
PUBLIC_SOURCE = re.compile(r"\w+://|\b(?:thesis|paper|dissertation|RFC\s*\d+)\b", re.IGNORECASE)


def _tracked_files(repo_root: Path) -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=repo_root, capture_output=True, check=True, timeout=60
        ).stdout
        names = [n for n in out.decode().split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache"}
        names = [
            str(p.relative_to(repo_root))
            for p in repo_root.rglob("*")
            if p.is_file() and not skip.intersection(p.relative_to(repo_root).parts)
        ]
    return [repo_root / n for n in sorted(names) if (repo_root / n).is_file()]


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


@pytest.fixture(scope="module")
def texts(repo_root):
    found = {}
    for path in _tracked_files(repo_root):
        text = _text(path)
        if text is not None:
            found[path] = text
    assert found, "no tracked text files found"
    return found


def _resolve(repo_root: Path, source: Path, name: str) -> Path | None:
    for base in (source.parent, repo_root):
        candidate = (base / name).resolve()
        if candidate.is_file() and candidate.is_relative_to(repo_root):
            return candidate
    return None


def _without_urls(line: str) -> str:
    """``line`` with each URL blanked out (same length, so positions still match)."""
    return URL.sub(lambda m: " " * len(m.group()), line)


def _headings(path: Path) -> set[str]:
    numbers = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"#+\s+(\d+(?:\.\d+)*)\.?\s", line)
        if match:
            numbers.add(match.group(1))
    return numbers


def private_citations(text: str) -> list[str]:
    """The lines of ``text`` that cite a document outside the repository."""
    return [
        f"{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), 1)
        if any(p.search(line) for p in PRIVATE_CITATIONS)
    ]


def unresolved_sections(repo_root: Path, source: Path, text: str) -> list[str]:
    """Section signs in ``text`` that do not name an existing section of a repository file."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        if SECTION not in line:
            continue
        documents = [(m.start(), m.group(1)) for m in MD_PATH.finditer(_without_urls(line))]
        for ref in SECTION_REF.finditer(line):
            cited = [(start, name) for start, name in documents if start < ref.start()]
            public = [m.start() for m in PUBLIC_SOURCE.finditer(line) if m.start() < ref.start()]
            if public and (not cited or public[-1] > cited[-1][0]):
                continue  # a section of a public paper, RFC or web page named last
            if cited:
                target = _resolve(repo_root, source, cited[-1][1])
            else:  # a Markdown page may cite its own sections
                target = source if source.suffix == ".md" else None
            wanted = [n for n in ref.groups() if n]
            if target is None or not set(wanted) <= _headings(target):
                problems.append(f"{number}: {ref.group(0)!r} in {line.strip()}")
        if not SECTION_REF.search(line):
            problems.append(f"{number}: section sign without a number: {line.strip()}")
    return problems


def unresolved_md_paths(repo_root: Path, source: Path, text: str) -> list[str]:
    """Relative ``*.md`` paths in ``text`` that are not files of the repository."""
    return [
        f"{number}: {match.group(1)}"
        for number, line in enumerate(text.splitlines(), 1)
        for match in MD_PATH.finditer(_without_urls(line))
        if _resolve(repo_root, source, match.group(1)) is None
    ]


def _problems_by_file(repo_root, texts, check):
    return {
        str(path.relative_to(repo_root)): lines
        for path, text in texts.items()
        if (lines := check(repo_root, path, text))
    }


@pytest.mark.parametrize(
    "check",
    [
        lambda root, path, text: private_citations(text),
        unresolved_sections,
        unresolved_md_paths,
    ],
    ids=["no-private-document", "section-signs-resolve", "markdown-paths-resolve"],
)
def test_every_tracked_file(repo_root, texts, check):
    assert _problems_by_file(repo_root, texts, check) == {}


def test_the_checks_catch_what_they_are_for(repo_root):
    """The three checks flag the citations they exist for (so a broken regex cannot pass)."""
    source = repo_root / "tests" / "unit" / "example.py"
    assert private_citations("# see the notes (reference " + SECTION + "3.2)\n")
    assert private_citations("# from salt-and-" + "anchors " + SECTION + "4\n")
    assert private_citations("# as the " + "reference's example shows\n")
    assert not private_citations("# the complete pillar reference\n")
    good = "# docs/opennebula-raft.md " + SECTION + "2.4 and " + SECTION + "5.6\n"
    assert unresolved_sections(repo_root, source, good) == []
    page = repo_root / "docs/opennebula-raft.md"
    assert unresolved_sections(repo_root, page, "see " + SECTION + "3.2\n") == []
    assert unresolved_sections(repo_root, source, "# docs/opennebula-raft.md " + SECTION + "99\n")
    assert unresolved_sections(repo_root, source, "# upstream " + SECTION + "2\n")
    thesis = "# Ongaro's thesis " + SECTION + "6.4.1; RFC 7432 " + SECTION + "8.2\n"
    assert unresolved_sections(repo_root, source, thesis) == []
    after_url = "# https://example.org/a.md, then docs/opennebula-raft.md " + SECTION + "99\n"
    assert unresolved_sections(repo_root, source, after_url)
    assert unresolved_sections(repo_root, source, "# docs/missing" + ".md " + SECTION + "1\n")
    assert unresolved_md_paths(repo_root, source, "see docs/missing" + ".md\n")
    assert unresolved_md_paths(repo_root, source, "see docs/architecture.md\n") == []
    assert unresolved_md_paths(repo_root, source, "see https://example.org/x.md\n") == []
