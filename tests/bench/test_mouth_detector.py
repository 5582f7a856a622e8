"""The probe's mouth-opening detector on synthetic mouth crops with a known opening frame."""

from __future__ import annotations

import numpy as np
import pytest

from xactor.bench.latency import silent_mask
from xactor.bench.mouth import OpeningDetector

H, W = 12, 16


def crops_with_drift_and_openings(openings: list[int], total: int = 200, seed: int = 0) -> np.ndarray:
    """Crops [T, H, W]: a textured mouth drifting sideways (idle head motion), codec-like noise, and
    a dark jaw gap that opens over 3 frames at each index in ``openings`` and stays open 15 frames."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    shift = 2.0 * np.sin(np.arange(total) / 40)  # pixels, slow: idle head motion
    crops = np.stack([128 + 40 * np.sin((x + s) / 3) + 20 * np.cos(y / 2) for s in shift]).astype(
        np.float32
    )  # [T, H, W]
    crops += rng.normal(0, 1.0, size=crops.shape).astype(np.float32)
    for start in openings:
        for i, depth in enumerate([0.3, 0.7, 1.0] + [1.0] * 12):
            crops[start + i, 4:9, 3:13] -= 60 * depth  # the gap between the lips
    return crops


def test_finds_the_half_open_frame_despite_head_drift() -> None:
    openings = [60, 110, 160]
    crops = crops_with_drift_and_openings(openings)
    t = np.arange(len(crops)) * 0.04
    silent = silent_mask(t, 0.0, [o * 0.04 for o in openings], [(o + 15) * 0.04 for o in openings])
    detector = OpeningDetector.calibrate(crops, silent)
    for onset in openings:
        hit = detector.first_opening(crops[:onset], crops[onset : onset + 25])
        assert hit == 1, (onset, hit)  # frame 0 is 30 % open, frame 1 70 %: past half


def test_no_opening_is_no_hit() -> None:
    crops = crops_with_drift_and_openings([])
    silent = np.ones(len(crops), dtype=bool)
    detector = OpeningDetector.calibrate(crops, silent)
    assert detector.first_opening(crops[:100], crops[100:125]) is None
    assert detector.first_opening(crops[:0], crops[100:125]) is None  # nothing to compare with


def test_a_few_open_frames_among_the_silent_ones_do_not_raise_the_threshold() -> None:
    """A late-closing jaw in the calibration set (a slow server) must not hide the onsets."""
    crops = crops_with_drift_and_openings([60, 110])
    clean = OpeningDetector.calibrate(crops, np.r_[np.ones(60, bool), np.zeros(140, bool)])
    polluted = OpeningDetector.calibrate(crops, np.r_[np.ones(70, bool), np.zeros(130, bool)])
    assert polluted.threshold < clean.threshold * 1.5
    assert polluted.first_opening(crops[:110], crops[110:135]) == 1


def test_too_few_silent_frames_is_a_clear_error() -> None:
    crops = crops_with_drift_and_openings([])
    with pytest.raises(ValueError, match="silent frame pairs"):
        OpeningDetector.calibrate(crops, np.r_[np.ones(15, bool), np.zeros(185, bool)])
