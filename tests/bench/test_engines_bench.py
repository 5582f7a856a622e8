"""``xactor bench engines`` in a tiny mode: every backend row, the tick table and the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.motion_weights import save_tiny_weights
from xactor.cli.main import app
from xactor.engines.motion_gen.weights import STUDENT


@pytest.mark.slow  # builds the default avatar's renderer and exports two graphs: about a minute
def test_bench_engines_tiny(tmp_path: Path) -> None:
    save_tiny_weights(tmp_path, STUDENT, steps=1, guidance=1.0)
    out = tmp_path / "engines.json"
    args = ["bench", "engines", "--weights-dir", str(tmp_path), "--batches", "1,3", "--sizes", "256"]
    args += ["--sessions", "1,2", "--ticks", "3"]
    result = CliRunner().invoke(app, [*args, "--repeats", "3", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    motion = {(r["backend"], r["batch"]) for r in report["motion"]}
    assert motion == {(b, n) for b in ("torch-reference", "torch", "onnxruntime") for n in (1, 3)}
    assert {r["backend"] for r in report["render"]} == {"torch", "onnxruntime"}
    assert all(r["p50"] > 0 for r in [*report["motion"], *report["render"]])
    assert [t["sessions"] for t in report["tick"]] == [1, 3]
    for t in report["tick"]:
        assert t["tick_ms"] > t["motion_ms"] > 0
    assert report["sessions_at_25fps"] in (0, 1, 3)
    assert "sessions one process holds at 25 fps" in result.output
    assert [w["sessions"] for w in report["worker"]] == [1, 2]
    for w in report["worker"]:
        assert w["p50"] > 0 and w["frames_per_turn"] > 0 and w["backend"] in ("onnxruntime", "torch")
    assert report["worker_sessions_at_25fps"] in (0, 1, 2)
