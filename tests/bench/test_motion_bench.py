"""``xactor bench motion`` in a tiny mode (tiny random weights, a few frames): the table and JSON, and
that the sessions it copies from one prefilled generator are independent of it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.motion_weights import save_tiny_weights
from xactor.bench.motion import _copy, _prefill
from xactor.cli.main import app
from xactor.engines.motion_gen.sampler import Denoiser, StreamingGenerator
from xactor.engines.motion_gen.weights import STUDENT, TEACHER, load_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("weights")
    save_tiny_weights(folder, TEACHER, steps=3, guidance=1.5)
    save_tiny_weights(folder, STUDENT, steps=1, guidance=1.0, seed=1)
    return folder


def test_bench_motion_tiny(weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "motion.json"
    args = ["bench", "motion", "--weights-dir", str(weights), "--threads", "1", "--steps", "3"]
    args += ["--sessions", "2", "--session-frames", "2", "--source-frames", "2", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "student" in result.output and "teacher" in result.output
    rows = json.loads(out.read_text())["rows"]
    assert [(r["weights"], r["threads"], r["steps"]) for r in rows] == [(TEACHER, 1, 3), (STUDENT, 1, 1)]
    for r in rows:
        for key in ("step_ms", "sessions_frame_ms", "per_session_ms", "source_ms", "frontend_ms"):
            assert r[key]["p50"] > 0 and r[key]["p95"] >= r[key]["p50"], (key, r[key])
        assert r["sessions_frame_ms"]["p50"] == pytest.approx(2 * r["per_session_ms"]["p50"], rel=0.01)


def test_bench_motion_without_weights_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "motion", "--weights-dir", str(tmp_path)])
    flat = " ".join(result.output.replace("│", " ").split())  # without rich's box
    assert result.exit_code == 2 and "no generator weights" in flat


def test_copied_sessions_leave_the_original_untouched(weights: Path) -> None:
    w = load_weights(weights, TEACHER)
    rng = np.random.default_rng(0)
    history = rng.standard_normal((20, w.config.audio_dim)).astype(np.float32)
    step = rng.standard_normal((3, w.config.audio_dim)).astype(np.float32)

    def prefilled() -> StreamingGenerator:
        gen = StreamingGenerator(Denoiser(w.model, w.sampler.guidance), w.normalizer.silence(), 3, seed=0)
        _prefill(gen, history)
        return gen

    original, reference = prefilled(), prefilled()
    twin = _copy(original, seed=5)
    twin.push(step[::-1].copy())  # the copy runs ahead on other audio
    np.testing.assert_array_equal(np.stack(original.push(step)), np.stack(reference.push(step)))
