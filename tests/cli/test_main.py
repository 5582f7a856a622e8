"""The front door: every command the README documents exists, ``--help`` is cheap, and the
packages keep their layering (engines ← server, export, training ← bench ← cli)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from cli.main import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def documented_commands() -> set[tuple[str, ...]]:
    """Command paths (``("avatar", "add")``) of every ``xactor ...`` example in the README."""
    root = typer.main.get_command(app)  # typer's own (vendored) click group
    found = set()
    for match in re.finditer(r"\bxactor((?: [a-z][a-z-]*)+)", (ROOT / "README.md").read_text()):
        path: list[str] = []
        command: object = root
        for word in match.group(1).split():
            subcommands = getattr(command, "commands", {})
            if word not in subcommands:
                break
            command = subcommands[word]
            path.append(word)
        found.add(tuple(path) if path else (match.group(1).split()[0],))
    return found


def test_readme_commands_are_all_registered_and_answer_help() -> None:
    commands = documented_commands()
    assert {c[0] for c in commands} >= {"serve", "avatar", "render", "export", "bench"}
    for command in sorted(commands):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, f"xactor {' '.join(command)}: {result.output}"
        assert "Usage:" in result.output


def test_help_loads_no_heavy_module() -> None:
    code = (
        "import sys\n"
        "from cli.main import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('torch', 'mediapipe', 'av', 'cv2', 'uvicorn', 'fastapi', 'server.settings',\n"
        "         'engines.warp')\n"
        "print('HEAVY:' + ','.join(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "HEAVY:", done.stdout.strip().splitlines()[-1]


def _imported_packages(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (anywhere in it, lazy imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("engines", {"server", "export", "training", "bench", "cli"}),
        ("server", {"bench", "cli"}),
        ("export", {"server", "bench", "cli"}),
        ("training", {"bench", "cli"}),
        ("bench", {"cli"}),
    ],
)
def test_layering(package: str, forbidden: set[str]) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    bad = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in _imported_packages(path) & forbidden
    }
    assert not bad, sorted(bad)
