from __future__ import annotations

import numpy as np
import pytest

from tests.engines.audio.speech import espeak_speech
from xactor.engines import motion_space as ms
from xactor.engines.motion_source import MotionFrame, MotionSource
from xactor.engines.motion_source.heuristic import HeuristicMotionSource
from xactor.engines.motion_source.life import LIFE_CHANNELS, life_track

SPF = 640


def _run(src: MotionSource, x: np.ndarray, chunk: int = 320) -> list[MotionFrame]:
    frames: list[MotionFrame] = []
    for i in range(0, len(x), chunk):
        src.push_audio(x[i : i + chunk])
        frames += src.pull()
    return frames


def _motion(frames: list[MotionFrame], name: str) -> np.ndarray:
    return np.array([f.motion[ms.INDEX[name]] for f in frames])


def _speech_with_pauses() -> np.ndarray:
    silence = np.zeros(16000, np.float32)
    return np.concatenate([silence, espeak_speech(), silence])


@pytest.mark.parametrize("lookahead", [0, 1, 3])
@pytest.mark.parametrize("n_samples", [0, 639, 640, 1919, 1920, 16000, 16321])
def test_frame_count_indices_and_latency_accounting(lookahead: int, n_samples: int) -> None:
    src = HeuristicMotionSource(lookahead_frames=lookahead, seed=0)
    assert isinstance(src, MotionSource) and src.lookahead_frames == lookahead
    frames = _run(src, np.zeros(n_samples, np.float32), chunk=777)
    assert len(frames) == max(0, (n_samples - lookahead * SPF) // SPF)
    assert [f.index for f in frames] == list(range(len(frames)))
    for f in frames:
        assert f.newest_sample == (f.index + 1 + lookahead) * SPF - 1 < n_samples
        assert f.motion.shape == (ms.MOTION_DIM,) and f.motion.dtype == np.float32
        assert 0.0 <= f.speech <= 1.0
    assert src.pull() == []  # never the same frame twice


def test_pull_never_repeats_and_reset_restarts() -> None:
    src = HeuristicMotionSource(seed=3)
    x = np.zeros(16000, np.float32)
    first = _run(src, x)
    assert src.pull() == []
    src.reset()
    again = _run(src, x)
    assert [f.index for f in again] == [f.index for f in first]
    np.testing.assert_array_equal(np.stack([f.motion for f in again]), np.stack([f.motion for f in first]))


def test_chunking_invariance() -> None:
    x = _speech_with_pauses()
    whole = HeuristicMotionSource(lookahead_frames=2, seed=7)
    whole.push_audio(x)
    expected = whole.pull()
    src = HeuristicMotionSource(lookahead_frames=2, seed=7)
    rng = np.random.default_rng(0)
    got: list[MotionFrame] = []
    i = 0
    while i < len(x):
        n = int(rng.integers(0, 3000))
        src.push_audio(x[i : i + n])
        i += n
        if rng.random() < 0.5:
            got += src.pull()
    got += src.pull()
    assert [f.index for f in got] == [f.index for f in expected]
    np.testing.assert_allclose(
        np.stack([f.motion for f in got]), np.stack([f.motion for f in expected]), atol=1e-5
    )
    np.testing.assert_allclose([f.speech for f in got], [f.speech for f in expected], atol=1e-6)


def test_jaw_moves_in_speech_and_rests_in_silence() -> None:
    frames = _run(HeuristicMotionSource(seed=0), _speech_with_pauses())
    speech = np.array([f.speech for f in frames])
    jaw = _motion(frames, "jawOpen")
    talking, silent = speech > 0.5, speech < 0.05
    assert talking.sum() > 50 and silent.sum() > 30
    assert jaw[talking].mean() > 0.12 and jaw[talking].max() > 0.3
    assert jaw[talking].std() > 0.05  # it opens and closes with syllables, not a constant gape
    assert jaw[silent].max() < 0.02
    # Leading silence (first 0.9 s): nothing speaks.
    assert speech[:22].max() < 0.05 and jaw[:22].max() < 0.01


def test_blinks_head_and_gaze_in_ten_seconds_of_silence() -> None:
    counts = []
    for seed in range(4):
        frames = _run(HeuristicMotionSource(seed=seed), np.zeros(16000 * 10, np.float32))
        assert len(frames) == 249
        blink = _motion(frames, "eyeBlinkLeft")
        np.testing.assert_array_equal(blink, _motion(frames, "eyeBlinkRight"))
        closed = blink > 0.5
        onsets = np.flatnonzero(closed[1:] & ~closed[:-1])
        counts.append(len(onsets))
        assert 1 <= len(onsets) <= 8
        assert blink.max() > 0.95  # the lids close fully at the apex
        assert closed.sum() <= 4 * len(onsets)  # a blink is short (<= 160 ms closed)
        pose = np.stack([f.motion[ms.POSE_SLICE] for f in frames])
        yaw, pitch = pose[:, 0], pose[:, 1]
        assert yaw.std() > 0.003 and pitch.std() > 0.003  # it moves...
        assert np.abs(pose[:, :3]).max() < 0.1  # ...by a few degrees at most
        assert np.abs(np.diff(pose[:, :3], axis=0)).max() < 0.01  # smoothly
        gaze = np.stack([f.motion[ms.GAZE_SLICE] for f in frames])
        assert gaze.std() > 0.005 and np.abs(gaze).max() < 0.4
        # Never freezes: consecutive frames always differ.
        motion = np.stack([f.motion for f in frames])
        assert (np.abs(np.diff(motion, axis=0)).max(axis=1) > 0).all()
        assert _motion(frames, "jawOpen").max() < 0.01
    assert 1.5 <= np.mean(counts) <= 5.0


def test_head_moves_more_while_speaking() -> None:
    speech = espeak_speech()
    x = np.concatenate([np.zeros(16000 * 5, np.float32), np.tile(speech, 2)])
    yaw_silent, yaw_talking = [], []
    for seed in range(3):
        frames = _run(HeuristicMotionSource(seed=seed), x)
        pose = np.stack([f.motion[ms.POSE_SLICE] for f in frames])
        speed = np.abs(np.diff(pose[:, :3], axis=0)).sum(axis=1)
        yaw_silent.append(speed[:120].mean())
        yaw_talking.append(speed[-120:].mean())
    assert np.mean(yaw_talking) > 1.3 * np.mean(yaw_silent)


def test_deterministic_with_seed() -> None:
    x = np.zeros(16000 * 3, np.float32)
    a = np.stack([f.motion for f in _run(HeuristicMotionSource(seed=5), x)])
    b = np.stack([f.motion for f in _run(HeuristicMotionSource(seed=5), x)])
    c = np.stack([f.motion for f in _run(HeuristicMotionSource(seed=6), x)])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize(
    "kind", ["nan", "inf", "clipping", "dc", "full_scale_noise", "tiny", "alternating_nan_speech"]
)
def test_hostile_input_gives_finite_motion_in_range(kind: str) -> None:
    rng = np.random.default_rng(0)
    n = 16000 * 2
    t = np.arange(n) / 16000
    x = {
        "nan": np.full(n, np.nan),
        "inf": np.where(np.arange(n) % 3 == 0, np.inf, -np.inf),
        "clipping": 10.0 * np.sin(2 * np.pi * 200 * t),
        "dc": np.ones(n),
        "full_scale_noise": rng.uniform(-1, 1, n),
        "tiny": 1e-30 * rng.standard_normal(n),
        "alternating_nan_speech": np.where(np.arange(n) % 50 == 0, np.nan, 0.5 * np.sin(2 * np.pi * 150 * t)),
    }[kind].astype(np.float32)
    frames = _run(HeuristicMotionSource(seed=0), x)
    motion = np.stack([f.motion for f in frames])
    assert np.isfinite(motion).all()
    assert (motion >= ms.LOW).all() and (motion <= ms.HIGH).all()
    assert all(np.isfinite(f.speech) for f in frames)
    if kind in ("nan", "inf", "dc", "tiny"):
        assert _motion(frames, "jawOpen").max() < 0.01  # no sound, no speech


def test_invalid_lookahead() -> None:
    with pytest.raises(ValueError):
        HeuristicMotionSource(lookahead_frames=-1)


def test_life_channels_come_from_life_with_the_seed() -> None:
    frames = _run(HeuristicMotionSource(lookahead_frames=1, seed=11), _speech_with_pauses())
    motion = np.stack([f.motion for f in frames])
    life = life_track(np.array([f.speech for f in frames]), seed=11)
    assert max(f.speech for f in frames) > 0.9
    pitch = ms.INDEX["headPitch"]  # emphasis nods it, on top of Life's own motion
    same = np.setdiff1d(LIFE_CHANNELS, [pitch])
    np.testing.assert_array_equal(motion[:, same], life[:, same])
    assert (motion[:, pitch] - life[:, pitch]).min() >= -1e-7


def test_stage_seconds_come_from_the_front_end() -> None:
    src = HeuristicMotionSource(seed=0)
    src.push_audio(np.zeros(16000, np.float32))
    stages = src.pop_stage_seconds()
    assert set(stages) == {"vad", "features"} and min(stages.values()) > 0
    assert src.pop_stage_seconds() == {"vad": 0.0, "features": 0.0}
