"""All real-speech metrics of one motion source (on one portrait, or in motion space) over the
dev set's clips, pooled: counts summed, frames concatenated, lags never across clips."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from xactor.bench.real_speech import metrics
from xactor.bench.real_speech.clips import ClipData
from xactor.bench.real_speech.phones import jaw_target


def score(clips: Sequence[ClipData], openings: Sequence[np.ndarray], threshold: float) -> dict[str, Any]:
    """Metrics of per-clip ``openings`` ([T] each, NaN where unmeasured) with closure ``threshold``."""
    closed = total = 0
    for clip, opening in zip(clips, openings, strict=True):
        c, t = metrics.closures(opening, clip.bilabials, threshold)
        closed, total = closed + c, total + t
    cat = np.concatenate(list(openings))  # [sum T]
    per_frame = np.concatenate([c.per_frame for c in clips])
    scored = np.concatenate([c.scored for c in clips])
    target = np.concatenate([c.target for c in clips])
    series = [(o, c.target, c.scored) for c, o in zip(clips, openings, strict=True)]
    lag_ms, rho_best = metrics.best_lag(series)
    mean_open, mean_target = metrics.open_vowel_amplitude(cat, target, per_frame, scored)
    return {
        "bilabials_closed": closed,
        "bilabials": total,
        "closed_share": closed / total if total else float("nan"),
        "contrast": metrics.contrast(cat, per_frame, scored),
        "rho": metrics.correlation(series, 0),
        "lag_ms": lag_ms,
        "lag_ms_fine": metrics.fine_lag(series, lag_ms),
        "rho_at_lag": rho_best,
        "open_vowel_opening": mean_open,
        "open_vowel_target": mean_target,
        "measured_frames": int(np.isfinite(cat).sum()),
        "frames": int(cat.size),
        "threshold": threshold,
    }


def jaw_amplitude(clips: Sequence[ClipData], jaws: Sequence[np.ndarray]) -> dict[str, float]:
    """Mean jawOpen on open-vowel frames against the corpus's jaw targets on the same frames."""
    cat = np.concatenate(list(jaws))
    per_frame = np.concatenate([c.per_frame for c in clips])
    scored = np.concatenate([c.scored for c in clips])
    target = np.concatenate([c.target for c in clips])
    raw = np.array([jaw_target(p) for c in clips for p in c.per_frame])  # unsmoothed targets
    jaw, smoothed = metrics.open_vowel_amplitude(cat, target, per_frame, scored)
    _, unsmoothed = metrics.open_vowel_amplitude(cat, raw, per_frame, scored)
    peaks: list[float] = []
    peak_targets: list[float] = []
    for clip, series in zip(clips, jaws, strict=True):  # a vowel never spans two clips
        clip_peaks, clip_targets = metrics.open_vowel_peaks(series, clip.per_frame, clip.scored)
        peaks.extend(clip_peaks)
        peak_targets.extend(clip_targets)
    return {
        "jaw_open_vowels": jaw,
        "jaw_target_open_vowels": unsmoothed,
        "jaw_target_smoothed": smoothed,
        "jaw_peak_open_vowels": float(np.mean(peaks)) if peaks else float("nan"),
        "jaw_target_peak": float(np.mean(peak_targets)) if peaks else float("nan"),
        "open_vowels": len(peaks),
    }
