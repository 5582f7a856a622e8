"""Articulation calibration: give the generator's lips the corpus's full range, not a cautious mean.

Why: a one-step student trained with a squared error predicts the conditional mean. Where the
audio leaves a frame uncertain (a fast syllable, an unfamiliar voice), the mean of "open" and
"closed" is half open, so open vowels open too little and closures stop short of sealing — the
whole distribution is squeezed toward the middle. A monotone map per articulation channel, from
the model's own output distribution onto the corpus's true one (quantile matching, fitted on
training speech streamed exactly as live, :mod:`xactor.training.motion.calibrate`), stretches it back:
the model's 90th percentile of ``jawOpen`` becomes the corpus's 90th percentile, its lowest
``jawOpen`` the corpus's (closed) lowest, and the order of frames — what the model knows about
timing — is untouched.

*Reach*: the corpus's composed jaw itself falls short of the viseme targets it is built from
(coarticulation: on held-out TTS clips its open vowels peak at 0.36 against targets of 0.47), so
a model that matched the corpus exactly would still open vowels to three quarters of their
targets. With ``reach`` the opening channels' (:data:`OPENING`) target quantiles above a
``floor`` (the jaw of the corpus's closures) are stretched by that shortfall, measured on the
training clips (:func:`xactor.training.motion.calibrate.target_shortfall`): open vowels then open
as far as their targets, while a closure's jaw (below the floor) is left where it was — scaling it
too unsealed lips — and the map stays monotone, so timing does not move.

It is part of the weights (``calibration`` in ``<name>.json``): the map belongs to one set of
weights and is refitted with them. Only the articulation channels (jaw and lips,
:data:`xactor.engines.motion_space.ARTICULATION`) are mapped; head, brows, blinks and gaze are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xactor.engines import motion_space as ms

QUANTILES: tuple[float, ...] = tuple(float(q) for q in np.linspace(0.0, 1.0, 21))
# The channels that open the mouth (scaled together by the corpus's loudness and emotion gains).
OPENING: tuple[str, ...] = ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight")


@dataclass(frozen=True)
class Calibration:
    """Per-channel piecewise-linear maps ``source quantiles → target quantiles``."""

    channels: tuple[str, ...]
    source: np.ndarray  # [C, K] the model's quantiles (non-decreasing per row)
    target: np.ndarray  # [C, K] the corpus's quantiles at the same levels

    def __post_init__(self) -> None:
        c, k = len(self.channels), len(QUANTILES)
        if self.source.shape != (c, k) or self.target.shape != (c, k):
            raise ValueError(
                f"calibration tables must be [{c}, {k}]: {self.source.shape}, {self.target.shape}"
            )
        unknown = [n for n in self.channels if n not in ms.INDEX]
        if unknown:
            raise ValueError(f"calibration names unknown channels {unknown}")

    def apply(self, motion: np.ndarray) -> np.ndarray:
        """[..., 40] absolute motion -> calibrated, clamped to the motion space (a copy)."""
        out = np.array(motion, dtype=np.float32, copy=True)
        for name, xs, ys in zip(self.channels, self.source, self.target, strict=True):
            i = ms.INDEX[name]
            xs_strict = xs + np.arange(xs.size) * 1e-7  # np.interp needs increasing abscissae
            out[..., i] = np.interp(out[..., i], xs_strict, ys)
        return ms.clamp_np(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "quantiles": list(QUANTILES),
            "channels": {
                n: {"source": [round(float(v), 5) for v in s], "target": [round(float(v), 5) for v in t]}
                for n, s, t in zip(self.channels, self.source, self.target, strict=True)
            },
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Calibration:
        if [round(q, 6) for q in data["quantiles"]] != [round(q, 6) for q in QUANTILES]:
            raise ValueError("calibration quantile levels differ from this version's")
        names = tuple(data["channels"])
        source = np.array([data["channels"][n]["source"] for n in names], np.float32)
        target = np.array([data["channels"][n]["target"] for n in names], np.float32)
        return Calibration(names, source, target)

    @staticmethod
    def fit(
        predicted: np.ndarray,
        truth: np.ndarray,
        channels: tuple[str, ...] = ms.ARTICULATION,
        reach: float = 1.0,
        floor: float = 0.0,
    ) -> Calibration:
        """From [N, 40] streamed model output and [N, 40] true motion of the same speech frames;
        ``reach`` (≥ 1) stretches the :data:`OPENING` channels' targets above ``floor``
        (``floor + reach × (t − floor)``, clamped to the motion space)."""
        if reach < 1.0:
            raise ValueError(f"reach {reach} below 1 would shrink the corpus's range")
        idx = [ms.INDEX[n] for n in channels]
        levels = np.asarray(QUANTILES)
        source = np.quantile(predicted[:, idx], levels, axis=0).T  # [C, K]
        target = np.quantile(truth[:, idx], levels, axis=0).T  # [C, K]
        for row, i in enumerate(idx):
            if ms.NAMES[i] in OPENING:
                above = np.maximum(target[row] - floor, 0.0)
                target[row] = np.minimum(target[row] + (reach - 1.0) * above, ms.HIGH[i])
        return Calibration(tuple(channels), source.astype(np.float32), target.astype(np.float32))
