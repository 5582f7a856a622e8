"""The real-speech metrics, on any per-frame mouth-opening series (pixels or motion space).

All take ``opening`` [T] at 25 fps (larger = more open) and what the alignment says about each
frame; each returns a plain float (NaN where it has nothing to look at), so each is testable on
constructed signals.

* **Visible closure of /p b m/** — a bilabial counts as closed when the opening falls to at
  most ``threshold`` on any frame whose centre lies inside the phone (the frame nearest its
  middle when it is shorter than a frame), or one frame before or after (the phone ±40 ms): a
  closure one frame early or late still shows on a 25 fps video where the sound is; later than
  that, a viewer sees the lips miss it.
* **Open/closed contrast** — mean opening on open-vowel frames / mean opening on bilabial frames.
* **Correlation with phone openness** — Pearson ρ of the opening and the smoothed per-phone jaw
  target over the transcribed frames, at lag 0 and at the best lag.
* **Lag** — the shift of the opening (in ms, positive: the mouth is behind the audio) within
  ``max_lag_ms`` that maximises that correlation.
* **Amplitude on open vowels** — the mean opening on AA AE AH AO AW AY frames against the mean of
  the corpus's jaw targets on the same frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from xactor.bench.real_speech.phones import BILABIALS, OPEN_VOWELS, jaw_target
from xactor.engines.timebase import FPS
from xactor.training.motion.metrics import pearson

FRAME_MS = 1000 / FPS


def closures(
    opening: np.ndarray, spans: Sequence[tuple[float, float]], threshold: float, slack: int = 1
) -> tuple[int, int]:
    """(closed, total) over bilabial ``spans`` (seconds): closed when ``opening`` <= ``threshold``
    on some frame within the phone ± ``slack`` frames."""
    closed = 0
    total = 0
    for start, end in spans:
        lo, hi = math.ceil(start * FPS - 0.5), math.floor(end * FPS - 0.5)  # frames centred inside
        if hi < lo:  # shorter than a frame: the frame nearest its middle
            lo = hi = round(0.5 * (start + end) * FPS - 0.5)
        lo, hi = max(lo - slack, 0), min(hi + slack, len(opening) - 1)
        if hi < lo:
            continue
        window = opening[lo : hi + 1]
        window = window[np.isfinite(window)]
        if window.size == 0:
            continue
        total += 1
        closed += int(window.min() <= threshold)
    return closed, total


def contrast(opening: np.ndarray, per_frame: np.ndarray, scored: np.ndarray) -> float:
    """Mean opening on open-vowel frames / on bilabial frames (transcribed frames only)."""
    ok = scored & np.isfinite(opening)
    vowels = ok & np.isin(per_frame, list(OPEN_VOWELS))
    lips = ok & np.isin(per_frame, list(BILABIALS))
    if not vowels.any() or not lips.any():
        return float("nan")
    den = float(opening[lips].mean())
    return float(opening[vowels].mean()) / den if den > 1e-9 else float("inf")


def shifted(x: np.ndarray, lag: int) -> np.ndarray:
    """``x`` moved ``lag`` frames earlier (a mouth ``lag`` frames late lines up with its audio);
    the frames shifted in from outside are NaN."""
    out = np.full(x.shape, np.nan)
    if abs(lag) >= x.size:  # a clip shorter than the lag: nothing lines up
        return out
    if lag >= 0:
        out[: x.size - lag] = x[lag:]
    else:
        out[-lag:] = x[: x.size + lag]
    return out


Series = tuple[np.ndarray, np.ndarray, np.ndarray]  # one clip's (opening [T], target [T], scored [T])


def correlation(clips: Sequence[Series], lag: int = 0) -> float:
    """Pearson ρ of the opening (each clip's shifted ``lag`` frames earlier) and the target, over
    the scored frames of all ``clips`` pooled (a shift never crosses from one clip into another)."""
    xs, ys = [], []
    for opening, target, scored in clips:
        x = shifted(np.asarray(opening, np.float64), lag)
        ok = scored & np.isfinite(x) & np.isfinite(target)
        xs.append(x[ok])
        ys.append(np.asarray(target, np.float64)[ok])
    x, y = np.concatenate(xs), np.concatenate(ys)
    return pearson(x, y) if x.size > 2 else float("nan")


def best_lag(clips: Sequence[Series], max_lag_ms: float = 400.0) -> tuple[float, float]:
    """(lag in ms, ρ there): the lag in -120 ms .. ``max_lag_ms`` maximising :func:`correlation`."""
    lags = range(-int(120 // FRAME_MS), int(max_lag_ms // FRAME_MS) + 1)
    rhos = [(correlation(clips, k), k) for k in lags]
    rhos = [(r, k) for r, k in rhos if np.isfinite(r)]
    if not rhos:
        return float("nan"), float("nan")
    rho, k = max(rhos)
    return k * FRAME_MS, rho


def fine_lag(clips: Sequence[Series], lag_ms: float) -> float:
    """The lag (ms) between whole frames: a parabola through ρ at the best whole-frame lag
    ``lag_ms`` and its two neighbours, at its vertex. A 40 ms grid cannot tell 85 from 115 ms; the
    correlation's curvature can."""
    if not np.isfinite(lag_ms):
        return float("nan")
    k = round(lag_ms / FRAME_MS)
    before, at, after = (correlation(clips, k + d) for d in (-1, 0, 1))
    bend = before - 2.0 * at + after
    if not all(np.isfinite((before, at, after))) or bend >= -1e-12:
        return float(lag_ms)  # a flat or upturned top: the whole frame is as fine as it gets
    offset = float(np.clip(0.5 * (before - after) / bend, -0.5, 0.5))
    return (k + offset) * FRAME_MS


def open_vowel_amplitude(
    opening: np.ndarray, target: np.ndarray, per_frame: np.ndarray, scored: np.ndarray
) -> tuple[float, float]:
    """(mean opening, mean target) on the transcribed open-vowel frames."""
    sel = scored & np.isin(per_frame, list(OPEN_VOWELS)) & np.isfinite(opening)
    if not sel.any():
        return float("nan"), float("nan")
    return float(opening[sel].mean()), float(target[sel].mean())


def open_vowel_peaks(
    jaw: np.ndarray, per_frame: np.ndarray, scored: np.ndarray
) -> tuple[list[float], list[float]]:
    """Each transcribed open vowel's peak: (the largest ``jaw`` [T] over its frames, its corpus
    target), one pair per vowel (a run of frames of one open-vowel phone). How far the mouth opens
    on a vowel is its peak; a frame mean also counts the frames moving into and out of it."""
    peaks: list[float] = []
    targets: list[float] = []
    start = 0
    for k in range(1, len(per_frame) + 1):
        if k < len(per_frame) and per_frame[k] == per_frame[start]:
            continue
        phone, frames = per_frame[start], slice(start, k)
        values = jaw[frames][scored[frames] & np.isfinite(jaw[frames])]
        if phone in OPEN_VOWELS and values.size:
            peaks.append(float(values.max()))
            targets.append(jaw_target(str(phone)))
        start = k
    return peaks, targets
