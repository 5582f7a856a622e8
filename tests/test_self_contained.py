"""The repository stands alone: nothing in it points outside it (no link that leaves the
repository, no shared design doc, no web page in the documentation)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = {".py", ".md", ".toml", ".js", ".html", ".css", ".sh", ".txt", ".cfg", ".yml", ".yaml"}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "host"}


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=False)
    names = out.stdout.split() if out.returncode == 0 else [str(p.relative_to(REPO)) for p in REPO.rglob("*")]
    return [
        REPO / n for n in names if Path(n).suffix in TEXT_SUFFIXES or Path(n).name.startswith("Dockerfile")
    ]


def _documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _leaves_the_repository(path: Path, target: str) -> bool:
    """A relative link target (``../x``) that resolves outside the repository."""
    name = target.partition("#")[0]
    return bool(name) and not (path.parent / name).resolve().is_relative_to(REPO)


def test_no_file_points_outside_the_repository() -> None:
    outside = re.compile(r"\.\./shared|DESIGN\.md|DESIGN §")
    relative_link = re.compile(r"\]\((\.\./[^)\s]*)\)")
    offenders = [
        f"{path.relative_to(REPO)}:{i}"
        for path in _tracked_text_files()
        if path.is_file() and path.name != "test_self_contained.py"
        for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if outside.search(line) or any(_leaves_the_repository(path, t) for t in relative_link.findall(line))
    ]
    assert not offenders, offenders


def test_the_documentation_links_no_web_page() -> None:
    """README and docs/ name only this machine's server and example hosts, and link no URL."""
    offenders = []
    for doc in _documents():
        for i, line in enumerate(doc.read_text().splitlines(), 1):
            if re.search(r"\]\(\s*(?:https?|ftp):", line):
                offenders.append(f"{doc.relative_to(REPO)}:{i}: link to a URL")
            for url in re.findall(r"\bhttps?://[^\s)`\"'<>]+", line):
                host = urlsplit(url).hostname or ""
                if host not in LOCAL_HOSTS and not host.endswith("example.com"):
                    offenders.append(f"{doc.relative_to(REPO)}:{i}: {url}")
    assert not offenders, offenders


def test_the_readme_links_the_architecture_document() -> None:
    readme = (REPO / "README.md").read_text()
    assert "](docs/ARCHITECTURE.md)" in readme
    assert (REPO / "docs" / "ARCHITECTURE.md").is_file()
