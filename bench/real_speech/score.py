"""All real-speech metrics of one motion source (on one portrait, or in motion space) over the
dev set's clips, pooled: counts summed, frames concatenated, lags never across clips."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from xactor.bench.real_speech import metrics
from xactor.bench.real_speech.clips import ClipData
from xactor.bench.real_speech.phones import jaw_target
from xactor.engines import motion_space as ms
from xactor.training.corpus.motion.visemes import VISEMES
from xactor.training.motion.metrics import BILABIALS

TONGUE_STOPS: frozenset[str] = frozenset({"T", "D", "N", "K", "G", "NG"})  # closed mouth inside, lips free


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
        "rho_by_clip": {c.id: metrics.correlation([s], 0) for c, s in zip(clips, series, strict=True)},
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


def lip_press(clips: Sequence[ClipData], motions: Sequence[np.ndarray]) -> dict[str, float]:
    """Where the lips press and how well the jaw alone follows the phones: mean mouthPress on
    /p b m/ frames and on tongue stops (/t d n k g ng/, whose lips the corpus leaves free), each
    with the corpus's viseme target, and ρ of jawOpen alone with phone openness. A source unsure
    of a stop's place presses on every stop and shuts the lips where the phones leave them apart:
    the lip opening then follows the phones less well than its jaw does."""
    press = [ms.INDEX["mouthPressLeft"], ms.INDEX["mouthPressRight"]]
    pairs = list(zip(clips, motions, strict=True))
    ends = [min(len(m), c.frames) for c, m in pairs]
    per_frame = np.concatenate([c.per_frame[:n] for (c, _), n in zip(pairs, ends, strict=True)])
    scored = np.concatenate([c.scored[:n] for (c, _), n in zip(pairs, ends, strict=True)])
    pressed = np.concatenate([m[:n, press].mean(1) for (_, m), n in zip(pairs, ends, strict=True)])  # [sum T]

    def mean_on(phones: frozenset[str]) -> tuple[float, float]:
        sel = scored & np.isin(per_frame, list(phones))
        targets = [VISEMES[p].targets.get("mouthPressLeft", 0.0) for p in per_frame[sel]]
        if not sel.any():
            return float("nan"), float("nan")
        return float(pressed[sel].mean()), float(np.mean(targets))

    bilabial, bilabial_target = mean_on(BILABIALS)
    tongue, tongue_target = mean_on(TONGUE_STOPS)
    jaw = ms.INDEX["jawOpen"]
    jaws = [
        (np.asarray(m[:n, jaw], np.float64), c.target[:n], c.scored[:n])
        for (c, m), n in zip(pairs, ends, strict=True)
    ]
    return {
        "press_bilabials": bilabial,
        "press_target_bilabials": bilabial_target,
        "press_tongue_stops": tongue,
        "press_target_tongue_stops": tongue_target,
        "jaw_rho": metrics.correlation(jaws, 0),
    }
