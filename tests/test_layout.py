"""The house rules the layout relies on: the layers and no import circles (import-linter, configured
in pyproject.toml), and the time base spelled once (engines/timebase.py)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIME_BASE = {"25", "640", "16000"}  # frames a second, samples a frame, samples a second
NOT_TIME_BASE = "not the time base"  # a comment that says a literal is something else


def test_layers_hold_and_no_package_imports_in_a_circle() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    done = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " 0 broken" in done.stdout, done.stdout[-3000:]


def _time_base_literals(path: Path) -> list[str]:
    found = []
    for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        value = token.string.replace("_", "")
        if token.type == tokenize.NUMBER and value in TIME_BASE and NOT_TIME_BASE not in token.line:
            found.append(f"{path.relative_to(ROOT)}:{token.start[0]}: {token.line.strip()}")
    return found


def test_the_time_base_is_spelled_once() -> None:
    """25, 640 and 16000 appear as numbers only in engines/timebase.py; elsewhere they are FPS,
    SAMPLES_PER_FRAME and SAMPLE_RATE, so a change of the time base is one edit."""
    sources = [p for part in ("server", "engines") for p in sorted((ROOT / part).rglob("*.py"))]
    assert len(sources) > 50
    stray = [hit for p in sources if p != ROOT / "engines" / "timebase.py" for hit in _time_base_literals(p)]
    assert not stray, "\n".join(stray)


def test_the_check_finds_a_stray_literal(tmp_path: Path) -> None:
    module = ROOT / "engines" / "_probe_for_the_layout_test.py"
    try:
        module.write_text("fps = 25\nrate = 16_000\nn = 25  # not the time base\n")
        assert [h.split(": ")[0] for h in _time_base_literals(module)] == [
            "engines/_probe_for_the_layout_test.py:1",
            "engines/_probe_for_the_layout_test.py:2",
        ]
    finally:
        module.unlink()


def test_no_machine_paths_in_shipped_files() -> None:
    """The weights' provenance and the training logs ship with the package: they name files
    relative to the recipe, never a build machine's folders."""
    shipped = [*(ROOT / "engines" / "data").rglob("*.json"), *(ROOT / "training").rglob("logs/*.jsonl")]
    assert len(shipped) >= 3
    machine = re.compile(r"(?<![\w.])/(?:work|root|home|tmp|Users|var/folders)/")
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in shipped for m in machine.finditer(p.read_text())]
    assert not found, found[:10]
