"""Phones per video frame, and what the mouth should do on them: phone classes and a smoothed
per-phone openness target taken from the corpus's own viseme table (the jaw targets the
generator was trained toward), so "how open" has one meaning across the project."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from xactor.engines.timebase import FPS
from xactor.training.corpus.motion.visemes import VISEMES
from xactor.training.motion.metrics import BILABIALS, SILENCE, frame_phones
from xactor.training.motion.metrics import OPEN_VOWELS as OPEN_VOWELS  # re-exported for the metrics

SMOOTH_FRAMES = 1.0  # Gaussian sigma of the openness target, in frames (40 ms): lips are not steps


def jaw_target(phone: str) -> float:
    """The corpus's jawOpen target of ``phone`` (stressed vowels' value; 0 for silence)."""
    if phone == SILENCE or phone not in VISEMES:
        return 0.0
    return float(VISEMES[phone].targets.get("jawOpen", 0.0))


def phones_per_frame(phones: Sequence[Sequence[Any]], frames: int) -> np.ndarray:
    """The phone at each frame's centre [frames] (``sil`` where none is)."""
    return frame_phones(phones, frames, FPS)


def scored_mask(spans: Sequence[Sequence[float]], frames: int) -> np.ndarray:
    """Frames [frames] whose centre lies inside one of the transcribed ``(start_s, end_s)`` spans."""
    centres = (np.arange(frames) + 0.5) / FPS
    mask = np.zeros(frames, bool)
    for start, end in spans:
        mask |= (centres >= start) & (centres < end)
    return mask


def openness_target(per_frame: np.ndarray, sigma: float = SMOOTH_FRAMES) -> np.ndarray:
    """Per-frame jaw target [T] of the phones, Gaussian-smoothed over ``sigma`` frames."""
    raw = np.array([jaw_target(p) for p in per_frame], np.float64)
    if sigma <= 0 or raw.size == 0:
        return raw
    half = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(raw, half, mode="edge")
    return np.convolve(padded, kernel, mode="valid")  # [T]


def bilabial_spans(
    phones: Sequence[Sequence[Any]], scored: Sequence[Sequence[float]]
) -> list[tuple[float, float]]:
    """(start_s, end_s) of every /p b m/ whose centre is inside a transcribed span."""
    out = []
    for span in phones:
        phone, start, end = str(span[0]), float(span[1]), float(span[2])
        centre = 0.5 * (start + end)
        if phone in BILABIALS and any(a <= centre < b for a, b in scored):
            out.append((start, end))
    return out
