"""Move a voice toward another speaker with the WORLD vocoder: pitch, pitch range, vocal tract, breath.

Why: the corpus has a few dozen synthetic voices; people differ in exactly the parameters WORLD
separates — F0 (level and how far it moves), the spectral envelope (vocal-tract length sets where
the formants sit) and aperiodicity (breathy or creaky voices). Analysis and resynthesis keep the
time axis sample-exact, so the corpus's phoneme times and motion stay aligned with the warped audio.

* ``f0_ratio``: voiced F0 × ratio (a higher or lower speaker);
* ``f0_range``: the log-F0 contour's spread around its mean × factor (monotone ↔ lively);
* ``alpha``: envelope warp along frequency, ``env'(f) = env(f / alpha)`` (alpha > 1: a shorter
  tract, formants up — the step from a man's voice toward a woman's or a child's);
* ``breath``: aperiodicity raised toward 1 in the upper bands (``ap' = ap ** (1 / (1 + breath))``
  weighted by frequency): 0 leaves the voice as it is, 1 is clearly breathy.

WORLD (``pyworld``: DIO + StoneMask for F0, CheapTrick envelope, D4C aperiodicity) costs about
0.1 CPU s per second of 16 kHz speech here, so the loader applies it to part of the clips only.
"""

from __future__ import annotations

import warnings

import numpy as np

FRAME_MS = 5.0


def world_warp(
    audio: np.ndarray,
    rate: int,
    f0_ratio: float = 1.0,
    f0_range: float = 1.0,
    alpha: float = 1.0,
    breath: float = 0.0,
) -> np.ndarray:
    """``audio`` [N] float at ``rate`` Hz → the warped voice, float32 [N], same timing, peak ≤ 0.99."""
    with warnings.catch_warnings():  # pyworld 0.3.5 imports the deprecated pkg_resources
        warnings.simplefilter("ignore", UserWarning)
        import pyworld

    x = np.ascontiguousarray(np.asarray(audio, np.float64).reshape(-1))
    if x.size < rate // 20 or not np.any(x):
        return x.astype(np.float32)
    f0, t = pyworld.dio(x, rate, frame_period=FRAME_MS)
    f0 = pyworld.stonemask(x, f0, t, rate)
    envelope = pyworld.cheaptrick(x, f0, t, rate)  # [frames, bins]
    aperiodicity = pyworld.d4c(x, f0, t, rate)  # [frames, bins]
    voiced = f0 > 0
    if voiced.any():
        log_f0 = np.log(f0[voiced])
        mean = float(log_f0.mean())
        f0 = f0.copy()
        f0[voiced] = np.exp(mean + (log_f0 - mean) * f0_range) * f0_ratio
    if alpha != 1.0:
        bins = np.arange(envelope.shape[1], dtype=np.float64)
        envelope = np.stack([np.interp(bins / alpha, bins, row) for row in envelope])
    if breath > 0.0:
        weight = np.linspace(0.0, 1.0, aperiodicity.shape[1]) ** 0.5  # [bins]: more above ~2 kHz
        exponent = 1.0 / (1.0 + breath * weight)
        aperiodicity = np.clip(aperiodicity, 1e-6, 1.0) ** exponent
    y = pyworld.synthesize(f0, envelope, aperiodicity, rate, frame_period=FRAME_MS)
    out = np.zeros(x.size)
    out[: min(x.size, y.size)] = y[: x.size]
    peak = float(np.abs(out).max())
    target = float(np.abs(x).max())
    if peak > 0:
        out *= min(target, 0.99) / peak
    return out.astype(np.float32)
