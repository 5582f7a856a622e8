"""Static checks of the container files (no Docker engine runs here): parse with the official
Dockerfile parser and check the rules we rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

dockerfile = pytest.importorskip("dockerfile", reason="the 'dockerfile' parser package is not installed")

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "docker").glob("Dockerfile*"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_dockerfile_is_valid_and_follows_rules(path: Path) -> None:
    commands = dockerfile.parse_file(str(path))
    names = [c.cmd.upper() for c in commands]
    assert names[0] == "FROM"
    assert "latest" not in commands[0].value[0], "pin the base image"
    assert names[-1] == "CMD" and list(commands[-1].value) == ["xactor", "serve"]
    assert "HEALTHCHECK" in names and "EXPOSE" in names
    user = [c for c in commands if c.cmd.upper() == "USER"]
    assert user and user[-1].value[0] != "root", "run as a non-root user"
    runs = " ".join(" ".join(c.value) for c in commands if c.cmd.upper() == "RUN")
    assert "torch==2.13.0" in runs and "constraints.txt" in runs
    assert "rm -rf /var/lib/apt/lists" in runs
    for copied in (c.value[0] for c in commands if c.cmd.upper() == "COPY"):
        for part in copied.split():
            assert (ROOT / part).exists() or part.endswith("/") or part == ".", f"COPY of missing {part}"


def test_dockerignore_keeps_secrets_and_venv_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored and "data" in ignored
