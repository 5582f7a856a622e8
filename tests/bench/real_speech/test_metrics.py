"""The real-speech metrics on constructed signals: each must find what was built in."""

from __future__ import annotations

import numpy as np
import pytest

from xactor.bench.real_speech import metrics
from xactor.bench.real_speech.phones import bilabial_spans, jaw_target, openness_target, scored_mask


def test_closure_counts_within_one_frame_of_the_phone() -> None:
    opening = np.full(50, 0.2)
    spans = [(0.40, 0.48), (1.20, 1.28)]  # frames 10-11 and 30-31 (centres at 0.42, 0.46, ...)
    opening[12] = 0.01  # one frame after the first span: still counts
    opening[35] = 0.01  # four frames after the second: a viewer sees the lips miss it
    assert metrics.closures(opening, spans, threshold=0.06) == (1, 2)
    assert metrics.closures(opening, spans, threshold=0.06, slack=0) == (0, 2)


def test_closure_ignores_unmeasured_frames() -> None:
    opening = np.full(20, np.nan)
    assert metrics.closures(opening, [(0.2, 0.28)], 0.06) == (0, 0)


def test_contrast_is_the_ratio_of_means() -> None:
    per_frame = np.array(["AA", "AA", "M", "M", "IY", "sil"], object)
    opening = np.array([0.3, 0.5, 0.1, 0.1, 9.0, 9.0])
    scored = np.ones(6, bool)
    assert metrics.contrast(opening, per_frame, scored) == pytest.approx(4.0)
    scored[0] = False  # only transcribed frames count
    assert metrics.contrast(opening, per_frame, scored) == pytest.approx(5.0)


def test_best_lag_finds_a_mouth_three_frames_late() -> None:
    rng = np.random.default_rng(0)
    target = np.convolve(rng.random(400), np.ones(5) / 5, mode="same")
    late = np.concatenate([np.zeros(3), target[:-3]])  # the mouth shows each frame 120 ms later
    scored = np.ones(400, bool)
    lag, rho = metrics.best_lag([(late, target, scored)])
    assert lag == pytest.approx(120.0)
    assert rho == pytest.approx(1.0, abs=1e-9)
    assert metrics.correlation([(late, target, scored)], 0) < 0.9


def test_correlation_pools_clips_without_shifting_across_them() -> None:
    a = np.arange(10, dtype=float)
    clips = [(a, a, np.ones(10, bool)), (a[::-1].copy(), a[::-1].copy(), np.ones(10, bool))]
    assert metrics.correlation(clips, 0) == pytest.approx(1.0)
    assert np.isnan(metrics.shifted(a, 2)[-2:]).all()
    assert metrics.shifted(a, 2)[0] == 2.0


def test_open_vowel_amplitude_against_target() -> None:
    per_frame = np.array(["AA", "AE", "P", "sil"], object)
    opening = np.array([0.2, 0.4, 0.0, 0.0])
    target = np.array([0.55, 0.48, 0.04, 0.0])
    mean, tgt = metrics.open_vowel_amplitude(opening, target, per_frame, np.ones(4, bool))
    assert mean == pytest.approx(0.3)
    assert tgt == pytest.approx(0.515)


def test_openness_target_follows_the_corpus_visemes() -> None:
    per_frame = np.array(["sil"] * 5 + ["AA"] * 10 + ["M"] * 5 + ["sil"] * 5, object)
    raw = openness_target(per_frame, sigma=0)
    assert raw[7] == pytest.approx(0.55) and raw[17] == pytest.approx(0.05) and raw[0] == 0.0
    smooth = openness_target(per_frame)
    assert smooth[5] < raw[5] and smooth[10] == pytest.approx(0.55, abs=1e-3)


def test_scored_mask_and_bilabials_inside_transcribed_spans() -> None:
    mask = scored_mask([(0.2, 0.4)], 15)
    assert mask.nonzero()[0].tolist() == [5, 6, 7, 8, 9]
    phones = [["M", 0.25, 0.3, "me"], ["B", 0.9, 1.0, "be"], ["AA", 0.3, 0.35, "a"]]
    assert bilabial_spans(phones, [(0.2, 0.4)]) == [(0.25, 0.3)]


def test_each_open_vowel_is_scored_at_its_peak() -> None:
    per_frame = np.array(["sil", "AA", "AA", "AA", "M", "AH0", "AE", "AE", "sil"], dtype=object)
    jaw = np.array([0.0, 0.2, 0.5, 0.3, 0.0, 0.2, 0.4, np.nan, 0.0])
    scored = np.ones(9, bool)
    peaks, targets = metrics.open_vowel_peaks(jaw, per_frame, scored)
    assert peaks == [0.5, 0.4]  # the schwa is not an open vowel; NaN frames are not measured
    assert targets == [jaw_target("AA"), jaw_target("AE")]


def test_the_lag_between_whole_frames_comes_from_the_correlations_curvature() -> None:
    t = np.arange(400, dtype=np.float64)
    target = np.sin(t / 3.0) + 0.5 * np.sin(t / 7.3)  # a smooth openness target [T]
    late = np.interp(t - 2.5, t, target)  # the mouth 2.5 frames (100 ms) behind
    clips = [(late, target, np.ones(t.size, bool))]
    lag, _ = metrics.best_lag(clips)
    assert lag in (80.0, 120.0)  # the whole-frame grid cannot say more
    assert metrics.fine_lag(clips, lag) == pytest.approx(100.0, abs=6.0)
    on_time = [(target, target, np.ones(t.size, bool))]
    assert metrics.fine_lag(on_time, metrics.best_lag(on_time)[0]) == pytest.approx(0.0, abs=2.0)


def test_lip_press_splits_bilabials_from_tongue_stops_and_scores_the_jaw_alone() -> None:
    from xactor.bench.real_speech.clips import ClipData
    from xactor.bench.real_speech.score import lip_press
    from xactor.engines import motion_space as ms

    per_frame = np.array(["AA", "AA", "M", "M", "T", "D", "IY", "sil"], object)
    target = openness_target(per_frame, sigma=0)
    clip = ClipData("c", np.zeros(1, np.float32), per_frame, np.ones(8, bool), target, [], {})
    motion = np.zeros((8, 40), np.float32)
    motion[:, ms.INDEX["jawOpen"]] = target  # the jaw follows the phones exactly
    for side in ("Left", "Right"):
        motion[[2, 3], ms.INDEX[f"mouthPress{side}"]] = 0.6
        motion[[4, 5], ms.INDEX[f"mouthPress{side}"]] = 0.3  # pressed where the tongue closes
    out = lip_press([clip], [motion])
    assert out["press_bilabials"] == pytest.approx(0.6) and out["press_tongue_stops"] == pytest.approx(0.3)
    assert out["press_target_bilabials"] > 0.5 and out["press_target_tongue_stops"] == 0.0
    assert out["jaw_rho"] == pytest.approx(1.0)


def test_each_clip_gets_its_own_correlation_and_the_report_names_the_worst() -> None:
    from xactor.bench.real_speech.clips import ClipData
    from xactor.bench.real_speech.report import _worst_clip
    from xactor.bench.real_speech.score import score

    per_frame = np.array(["AA", "M", "IY", "AE", "P", "AO", "sil", "AA"], object)
    target = openness_target(per_frame, sigma=0)
    clips = [
        ClipData(name, np.zeros(1, np.float32), per_frame, np.ones(8, bool), target, [], {}) for name in "ab"
    ]
    result = score(clips, [target.copy(), -target], threshold=0.01)  # b's mouth does the opposite
    assert result["rho_by_clip"] == {"a": pytest.approx(1.0), "b": pytest.approx(-1.0)}
    assert _worst_clip(result["rho_by_clip"]) == "-1.00 (b)" and _worst_clip({}) == "–"
