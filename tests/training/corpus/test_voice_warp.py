"""The WORLD speaker warp: pitch, range and vocal tract move; timing and length do not."""

from __future__ import annotations

import numpy as np
import pytest

from tests.training.corpus.test_tts_flite import median_f0
from xactor.training.corpus.augment import AugmentConfig, augment

pytest.importorskip("pyworld", reason="the WORLD vocoder (pyworld) is a corpus extra")
from xactor.training.corpus.tts.voice_warp import world_warp

RATE = 16000


def vowel_train(seconds: float = 2.0, f0: float = 120.0) -> np.ndarray:
    """A buzzy source through two formants, switched on and off every 250 ms (syllables)."""
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * np.cumsum(np.full(t.size, f0) * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))) / RATE
    source = np.sign(np.sin(phase)) * 0.3
    from scipy import signal

    for f, bw in ((700, 90), (1200, 110)):
        b, a = signal.iirpeak(f, f / bw, RATE)
        source = signal.lfilter(b, a, source)
    gate = (np.floor(t / 0.25) % 2 == 0).astype(float)
    return (source * gate / np.abs(source).max() * 0.5).astype(np.float32)


def centroid(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / RATE)
    return float((spec * freqs).sum() / spec.sum())


def test_pitch_and_tract_move_timing_stays() -> None:
    x = vowel_train()
    y = world_warp(x, RATE, f0_ratio=1.5, alpha=1.12)
    assert y.shape == x.shape and y.dtype == np.float32
    assert median_f0(y) == pytest.approx(1.5 * median_f0(x), rel=0.08)
    assert centroid(y) > 1.05 * centroid(x)
    on = np.abs(x) > 0.01
    loud = np.convolve(np.abs(y), np.ones(160) / 160, mode="same") > 0.01
    assert np.mean(loud[on]) > 0.9 and np.mean(loud[~on]) < 0.15  # syllables where they were


def test_identity_and_silence() -> None:
    x = vowel_train(1.0)
    assert np.array_equal(world_warp(np.zeros(RATE, np.float32), RATE, 1.5), np.zeros(RATE, np.float32))
    y = world_warp(x, RATE)  # analysis-resynthesis only
    assert median_f0(y) == pytest.approx(median_f0(x), rel=0.05)


def test_voice_stage_in_the_chain_is_seeded() -> None:
    x = vowel_train(1.0)
    cfg = AugmentConfig().only("voice")
    a, info = augment(x, 3, cfg)
    b, _ = augment(x, 3, cfg)
    assert np.array_equal(a, b) and set(info["effects"]) == {"voice"}
    assert 0.7 <= info["effects"]["voice"]["f0_ratio"] <= 1.6
