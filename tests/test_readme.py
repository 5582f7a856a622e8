"""The README is the front door: short, naming the command CI runs, linking the topic documents in
``docs/``; the documents hold the detail (every setting in ``docs/settings.md``) and every relative
link among them leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

from xactor.server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_LINES = 400

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def documents() -> list[Path]:
    """The README and every Markdown document under ``docs/``."""
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def _outside_code(text: str) -> list[str]:
    """The lines of a Markdown text that are not inside a fenced code block."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file (repeated headings get ``-1``, ``-2``, ...)."""
    seen: dict[str, int] = {}
    found = set()
    for line in _outside_code(path.read_text()):
        match = re.match(r"#{1,6}\s+(.*?)\s*#*$", line)
        if not match:
            continue
        slug = _slug(match.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    """Link and image targets of a Markdown file that are not URLs (``#anchor`` included)."""
    targets = []
    for line in _outside_code(path.read_text()):
        for target in LINK.findall(line):
            if not re.match(r"[a-z][a-z0-9+.-]*:", target):
                targets.append(target)
    return targets


def test_settings_document_every_setting() -> None:
    settings = (ROOT / "docs" / "settings.md").read_text()
    missing = [name for name in Settings.model_fields if f"`{name}`" not in settings]
    assert not missing, f"settings missing from the table in docs/settings.md: {missing}"


def test_ci_runs_the_readme_test_command() -> None:
    readme = README.read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci


def test_the_readme_is_short() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_LINES, f"README.md: {lines} lines (at most {MAX_LINES}); detail goes to docs/"


def test_the_readme_links_every_document() -> None:
    linked = set(relative_links(README))
    missing = [
        f"docs/{doc.name}" for doc in sorted((ROOT / "docs").glob("*.md")) if f"docs/{doc.name}" not in linked
    ]
    assert not missing, f"documents the README's Documentation list does not link: {missing}"


def test_every_relative_link_leads_somewhere() -> None:
    broken = []
    for doc in documents():
        for target in relative_links(doc):
            name, _, anchor = target.partition("#")
            dest = (doc.parent / name).resolve() if name else doc
            where = f"{doc.relative_to(ROOT)}: ({target})"
            if not dest.exists():
                broken.append(f"{where}: no such file")
            elif not dest.is_relative_to(ROOT):
                broken.append(f"{where}: outside the repository")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{where}: no heading with that anchor")
    assert not broken, "\n".join(broken)


def test_the_link_checker_sees_links_and_anchors() -> None:
    """Guards the check above against passing vacuously."""
    assert "docs/api.md" in relative_links(README)
    assert "the-two-commands" in anchors(README)
    assert "2-stage-1--motion-sources" in anchors(ROOT / "docs" / "ARCHITECTURE.md")
