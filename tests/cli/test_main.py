"""The front door: every command the README and docs/ document exists, and ``--help`` is cheap (the
packages' layering is tests/test_layout.py's, with import-linter)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import typer.main
from typer.testing import CliRunner

from xactor.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _code(markdown: str) -> str:
    """The code of a Markdown text: fenced blocks and inline code spans (prose that says "xactor
    turns ..." is not a command)."""
    fenced, prose, in_fence = [], [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        else:
            (fenced if in_fence else prose).append(line)
    return "\n".join([*fenced, *re.findall(r"`([^`]+)`", "\n".join(prose))])


def documented_commands() -> set[tuple[str, ...]]:
    """Command paths (``("avatar", "add")``) of every ``xactor ...`` example in the README and
    the topic documents under ``docs/`` (where most examples live)."""
    root = typer.main.get_command(app)  # typer's own (vendored) click group
    found = set()
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    text = "\n".join(_code(p.read_text()) for p in docs)
    for match in re.finditer(r"\bxactor((?: [a-z][a-z-]*)+)", text):
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
    assert {("bench", "soak"), ("eval", "real"), ("train", "calibrate"), ("synth", "faces")} <= commands
    for command in sorted(commands):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, f"xactor {' '.join(command)}: {result.output}"
        assert "Usage:" in result.output


def test_help_loads_no_heavy_module() -> None:
    code = (
        "import sys\n"
        "from xactor.cli.main import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('torch', 'mediapipe', 'av', 'cv2', 'uvicorn', 'fastapi', 'xactor.server.settings',\n"
        "         'xactor.engines.warp')\n"
        "print('HEAVY:' + ','.join(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "HEAVY:", done.stdout.strip().splitlines()[-1]
