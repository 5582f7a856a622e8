"""The ``generator`` motion source on tiny random weights: the MotionSource contract, determinism,
emotion and lookahead options, shared weights, and the fallback to the heuristic."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.motion_weights import save_tiny_weights
from xactor.engines import motion_space as ms
from xactor.engines.motion_gen.engine_stream import EngineStreamer
from xactor.engines.motion_gen.sampler import StreamingGenerator
from xactor.engines.motion_gen.weights import STUDENT, TEACHER
from xactor.engines.motion_source import MotionFrame, MotionSource
from xactor.engines.motion_source.base import (
    EMOTIONS,
    MOTION_SOURCES,
    MotionSourceOptions,
    create_motion_source,
)
from xactor.engines.motion_source.generator import GeneratorMotionSource, shared_weights
from xactor.engines.motion_source.heuristic import HeuristicMotionSource
from xactor.engines.motion_source.life import PURE_LIFE_CHANNELS, Life

SPF = 640


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("motion-weights")
    save_tiny_weights(folder)
    return folder


def _source(weights_dir: Path, **options: object) -> MotionSource:
    return create_motion_source("generator", MotionSourceOptions(weights_dir=weights_dir, **options))  # type: ignore[arg-type]


def _audio(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise bursts with a syllable-rate envelope between silences (VAD and mel both move)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    envelope = np.clip(np.sin(2 * np.pi * 0.7 * t), 0, None) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    voiced = np.sin(2 * np.pi * 140 * t) + 0.3 * rng.standard_normal(t.size)
    return (0.3 * envelope * voiced).astype(np.float32)


def _run(src: MotionSource, x: np.ndarray, chunks: list[int] | int = 320) -> list[MotionFrame]:
    sizes = [chunks] if isinstance(chunks, int) else chunks
    frames: list[MotionFrame] = []
    i = k = 0
    while i < len(x):
        n = sizes[k % len(sizes)]
        src.push_audio(x[i : i + n])
        i, k = min(i + n, len(x)), k + 1
        frames += src.pull()
        assert len(frames) == max(0, i // SPF - src.lookahead_frames)  # released as soon as complete
    return frames


def _stack(frames: list[MotionFrame]) -> np.ndarray:
    return np.stack([f.motion for f in frames])  # [T, 40]


def test_registered_and_emotions_match_the_corpus(weights_dir: Path) -> None:
    from xactor.training.corpus.store.format import EMOTIONS as CORPUS_EMOTIONS

    assert EMOTIONS == CORPUS_EMOTIONS
    assert {"generator", "heuristic"} <= set(MOTION_SOURCES.names())
    src = _source(weights_dir)
    assert isinstance(src, GeneratorMotionSource)
    info = src.describe()
    assert info["name"] == "generator" and info["weights"].endswith(TEACHER) and "fallback" not in info


@pytest.mark.parametrize("lookahead", [0, 1, 2, 3])
def test_frame_count_indices_and_newest_sample(weights_dir: Path, lookahead: int) -> None:
    src = _source(weights_dir, lookahead_frames=lookahead)
    assert src.lookahead_frames == lookahead
    n_samples = 30 * SPF + 123
    frames = _run(src, _audio(n_samples / 16000), chunks=[777, 100, 2000])
    assert len(frames) == 30 - lookahead
    assert [f.index for f in frames] == list(range(len(frames)))
    for f in frames:
        assert f.newest_sample == (f.index + 1 + lookahead) * SPF - 1 < n_samples
        assert f.motion.shape == (ms.MOTION_DIM,) and f.motion.dtype == np.float32
        assert np.all(f.motion >= ms.LOW) and np.all(f.motion <= ms.HIGH)
        assert 0.0 <= f.speech <= 1.0
    assert src.pull() == []  # never the same frame twice
    src.push_audio(np.zeros(lookahead * SPF, np.float32))  # silence releases the tail
    assert [f.index for f in src.pull()] == list(range(30 - lookahead, 30))


def test_chunking_does_not_change_the_output(weights_dir: Path) -> None:
    x = _audio(1.6)
    whole = _run(_source(weights_dir, seed=5), x, chunks=len(x))
    per_frame = _run(_source(weights_dir, seed=5), x, chunks=SPF)
    ragged = _run(_source(weights_dir, seed=5), x, chunks=[1, 333, 1500, 64])
    assert len(whole) == len(per_frame) == len(ragged) == 39
    np.testing.assert_array_equal(_stack(per_frame), _stack(whole))
    np.testing.assert_array_equal(_stack(ragged), _stack(whole))
    assert np.ptp(_stack(whole), axis=0).max() > 0.01  # the motion moves: the test compares something


def test_reset_restarts_identically_and_the_seed_matters(weights_dir: Path) -> None:
    x = _audio(1.2)
    src = _source(weights_dir, seed=1)
    first = _run(src, x)
    src.reset()
    again = _run(src, x)
    assert [f.index for f in again] == [f.index for f in first]
    np.testing.assert_array_equal(_stack(again), _stack(first))
    other = _run(_source(weights_dir, seed=2), x)
    assert not np.array_equal(_stack(other), _stack(first))


def test_emotion_conditions_the_motion_and_is_validated(weights_dir: Path) -> None:
    x = _audio(1.0)
    auto = _stack(_run(_source(weights_dir), x))
    happy = _source(weights_dir, emotion="happy", emotion_intensity=0.8)
    assert happy.describe()["emotion"] == "happy"
    assert not np.array_equal(_stack(_run(happy, x)), auto)
    faint = _stack(_run(_source(weights_dir, emotion="happy", emotion_intensity=0.0), x))
    np.testing.assert_allclose(faint, auto, atol=1e-5)  # intensity 0 is "none"
    with pytest.raises(ValueError, match="unknown emotion 'bored'; known: neutral, happy"):
        MotionSourceOptions(emotion="bored")
    with pytest.raises(ValueError, match=r"emotion_intensity must be in 0\.\.1"):
        MotionSourceOptions(emotion="sad", emotion_intensity=1.5)
    # The heuristic takes the options and ignores the emotion.
    heuristic = create_motion_source("heuristic", MotionSourceOptions(emotion="angry"))
    assert isinstance(heuristic, HeuristicMotionSource)


def test_blinks_and_gaze_come_from_life(weights_dir: Path) -> None:
    """The channels the corpus draws from Life alone are Life's, frame for frame (same seed and
    speech weight), not the model's imitation of them."""
    frames = _run(_source(weights_dir, seed=3), _audio(2.0))
    life = Life(seed=3)
    for f in frames:
        expected = life.step(f.index, f.speech)[PURE_LIFE_CHANNELS]
        np.testing.assert_array_equal(f.motion[PURE_LIFE_CHANNELS], expected)
    assert any(f.motion[ms.INDEX["jawOpen"]] != 0 for f in frames)  # the rest is the model's


@pytest.mark.parametrize("lookahead", [0, 2])
def test_backends_give_the_same_frames(weights_dir: Path, lookahead: int) -> None:
    """ONNX Runtime runs the exported step graph; torch the reference sampler: same frames."""
    x = _audio(1.5)
    ort = _source(weights_dir, backend="onnxruntime", seed=4, lookahead_frames=lookahead, emotion="sad")
    ref = _source(weights_dir, backend="torch", seed=4, lookahead_frames=lookahead, emotion="sad")
    assert ort.describe()["backend"] == "onnxruntime" and ref.describe()["backend"] == "torch"
    np.testing.assert_allclose(_stack(_run(ort, x)), _stack(_run(ref, x)), atol=1e-4)


def test_lookahead_beyond_the_weights_is_refused(weights_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"lookahead_frames 4 is outside 0\.\.3"):
        _source(weights_dir, lookahead_frames=4)


def test_student_preferred_and_weights_shared(tmp_path: Path) -> None:
    save_tiny_weights(tmp_path, TEACHER)
    a = _source(tmp_path)
    assert a.describe()["weights"].endswith(TEACHER)
    save_tiny_weights(tmp_path, STUDENT, steps=1, guidance=1.0, seed=3)
    auto = _source(tmp_path)
    assert auto.describe()["weights"].endswith(STUDENT) and auto.describe()["steps"] == 1
    assert auto.describe()["backend"] in ("onnxruntime", "torch")  # measured: the faster here
    assert _source(tmp_path).describe()["backend"] == auto.describe()["backend"]  # measured once
    b, c = _source(tmp_path, backend="onnxruntime"), _source(tmp_path, backend="onnxruntime")
    assert isinstance(b, GeneratorMotionSource) and isinstance(c, GeneratorMotionSource)
    assert isinstance(b.generator, EngineStreamer) and isinstance(c.generator, EngineStreamer)
    assert b.generator.engine is c.generator.engine  # exported and loaded once, shared
    assert b.generator is not c.generator  # each session its own cache and noise
    d, e = _source(tmp_path, backend="torch"), _source(tmp_path, backend="torch")
    assert isinstance(d, GeneratorMotionSource) and isinstance(e, GeneratorMotionSource)
    assert isinstance(d.generator, StreamingGenerator) and isinstance(e.generator, StreamingGenerator)
    assert d.generator.denoiser.model is e.generator.denoiser.model  # loaded once, shared
    assert shared_weights(tmp_path, STUDENT) is shared_weights(tmp_path, STUDENT)


@pytest.mark.parametrize("damage", ["garbage", "missing"])
def test_unusable_weights_fall_back_to_the_heuristic(
    weights_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    folder = tmp_path / "weights"
    shutil.copytree(weights_dir, folder)
    tensors = folder / f"{TEACHER}.safetensors"
    if damage == "garbage":
        tensors.write_bytes(b"\x00not a safetensors file" * 50)
    else:
        tensors.unlink()
    with caplog.at_level(logging.WARNING):
        src = _source(folder, lookahead_frames=2, seed=0)
    assert isinstance(src, HeuristicMotionSource) and src.lookahead_frames == 2
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    line = warnings[0].getMessage()
    assert str(folder) in line and "falling back to the heuristic motion source" in line
    assert ("corrupt" if damage == "garbage" else "missing") in line
    assert src.describe()["name"] == "heuristic" and "generator weights" in src.describe()["fallback"]
    frames = _run(src, _audio(0.8))
    assert len(frames) == 20 - 2 and frames[0].index == 0


def test_chunked_weights_release_a_chunk_together(tmp_path: Path) -> None:
    from dataclasses import replace

    from tests.motion_weights import TINY

    save_tiny_weights(tmp_path, cfg=replace(TINY, chunk=2))
    src = _source(tmp_path, lookahead_frames=1)
    src.push_audio(_audio(0.4))  # 10 frames: frames 0..8 have their lookahead, 0..7 whole chunks
    frames = src.pull()
    assert [f.index for f in frames] == list(range(8))
    assert [f.newest_sample for f in frames[:2]] == [(1 + 1 + 1) * SPF - 1] * 2  # chunk 0..1 + L
