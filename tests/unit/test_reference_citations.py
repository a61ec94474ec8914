"""Every "why" comment that cites a reference note points at a section that exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"
CITATION = re.compile(r"\b(ecosystem|tripleo|peers)\.md §(\d+(?:\.\d+)?[a-z]?)")
CITED_FROM = ("barctl", "lab", "tests", "bench", "systemd", "docs", "etc")


def sections(note: str) -> set[str]:
    """Section numbers a note defines: `## 2.`, `### 2.4`, `### 2b.` headings, `**9.2 ...` items."""
    text = (REFERENCE / f"{note}.md").read_text()
    headings = re.findall(r"^#+ (\d+(?:\.\d+)?[a-z]?)[. ]", text, re.MULTILINE)
    items = re.findall(r"^(?:- )?\*\*(\d+\.\d+)\b", text, re.MULTILINE)
    return set(headings) | set(items)


def citations() -> list[tuple[str, str, str]]:
    """(file, note, section) for every citation in the repository's code, tests and docs."""
    found = []
    for top in CITED_FROM:
        for path in sorted((ROOT / top).rglob("*")):
            if not path.is_file() or path.suffix not in {".py", ".md", ".service", ".yml"}:
                continue
            if REFERENCE in path.parents:
                continue
            for note, section in CITATION.findall(path.read_text(errors="replace")):
                found.append((str(path.relative_to(ROOT)), note, section))
    return found


def test_every_cited_reference_section_exists() -> None:
    """Each `tripleo.md §2b`-style citation names a section of docs/reference/<note>.md."""
    found = citations()
    assert len(found) > 20
    defined = {note: sections(note) for note in ("ecosystem", "tripleo", "peers")}
    missing = [item for item in found if item[2] not in defined[item[1]]]
    assert missing == []
