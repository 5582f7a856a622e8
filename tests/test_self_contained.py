"""The repository stands alone: nothing in it points outside it (no ../ links, no shared design doc)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = {".py", ".md", ".toml", ".js", ".html", ".css", ".sh", ".txt", ".cfg", ".yml", ".yaml"}


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=False)
    names = out.stdout.split() if out.returncode == 0 else [str(p.relative_to(REPO)) for p in REPO.rglob("*")]
    return [
        REPO / n for n in names if Path(n).suffix in TEXT_SUFFIXES or Path(n).name.startswith("Dockerfile")
    ]


def test_no_file_points_outside_the_repository() -> None:
    outside = re.compile(r"\]\(\.\./|\.\./shared|DESIGN\.md|DESIGN §")
    offenders = [
        f"{path.relative_to(REPO)}:{i}"
        for path in _tracked_text_files()
        if path.is_file() and path.name != "test_self_contained.py"
        for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if outside.search(line)
    ]
    assert not offenders, offenders


def test_the_readme_links_the_architecture_document() -> None:
    readme = (REPO / "README.md").read_text()
    assert "](docs/ARCHITECTURE.md)" in readme
    assert (REPO / "docs" / "ARCHITECTURE.md").is_file()
