"""The audio's energy against an engine's phone timings (shared by the TTS engines' tests)."""

from __future__ import annotations

import numpy as np

from xactor.engines.timebase import SAMPLE_RATE
from xactor.training.corpus.phonemes import VOWELS, PhoneSpan


def rms_db(audio: np.ndarray) -> tuple[np.ndarray, float]:
    """Centred 10 ms RMS in dB every 2.5 ms -> ([n], step seconds)."""
    win, hop = SAMPLE_RATE // 100, SAMPLE_RATE // 400
    padded = np.pad(audio, (win // 2, win // 2))
    idx = np.arange(audio.shape[0] // hop)[:, None] * hop + np.arange(win)[None, :]  # [n, win]
    return 20 * np.log10(np.sqrt((padded[idx] ** 2).mean(axis=1)) + 1e-6), hop / SAMPLE_RATE


def frames(t0: float, t1: float, step: float) -> slice:
    """The RMS frames (of ``step`` seconds) from ``t0`` to ``t1``."""
    return slice(max(round(t0 / step), 0), max(round(t1 / step), 0) + 1)


def vowel_offset_ms(audio: np.ndarray, phones: list[PhoneSpan], max_ms: float = 80.0) -> float:
    """The shift of the spans (ms, negative: the audio comes earlier than its labels) that best
    lines the vowel spans up with the loud stretches: the correlation of a vowel indicator with
    the RMS in dB, maximised over shifts of whole 2.5 ms steps."""
    db, step = rms_db(audio)
    reach = round(max_ms / 1000 / step)
    vowel = np.zeros(db.size)  # [n]
    for p in phones:
        if p.phone in VOWELS:
            vowel[round(p.start / step) : round(p.end / step)] = 1.0
    best, best_rho = 0, -np.inf
    for shift in range(-reach, reach + 1):
        rho = float(np.corrcoef(np.roll(vowel, shift), db)[0, 1])
        if rho > best_rho:
            best, best_rho = shift, rho
    return best * step * 1000.0
