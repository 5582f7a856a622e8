"""The mouth's opening in motion space: the motion through the face model (no head pose), the
same inner-lip gap as the pixel measure, less the neutral face's gap (zero motion is lips
together), over the neutral face's inner mouth width; and jawOpen.

"Closed" here is ``xactor eval motion``'s definition (:class:`xactor.training.motion.evaluate.FaceTracks`:
the neutral face's gap plus 1 % of its mouth width), so the two evaluations agree on what a
closure is in motion space; the pixel measure has its own threshold (:mod:`pixels`).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from xactor.engines import face_regions as fr
from xactor.engines import motion_space as ms
from xactor.engines.warp.retarget import lip_gap


@functools.cache
def _tracks() -> tuple[Any, float, float]:
    from xactor.training.motion.evaluate import FaceTracks

    tracks = FaceTracks()
    neutral = tracks.shape(ms.zeros(1))[0]  # [478, 3]
    width = float(np.linalg.norm(neutral[fr.LIPS_INNER_UPPER[-1], :2] - neutral[fr.LIPS_INNER_UPPER[0], :2]))
    return tracks, float(lip_gap(neutral)), width


def opening(motion: np.ndarray) -> np.ndarray:
    """(Inner-lip gap - the neutral face's) / neutral mouth width [T] of motion [T, 40]."""
    tracks, rest, width = _tracks()
    _, gaps = tracks(np.asarray(motion, np.float32))
    return (np.asarray(gaps, np.float64) - rest) / width


def closed_threshold() -> float:
    """The opening at or under which the lips count as closed (eval motion's threshold: 1 %)."""
    tracks, rest, width = _tracks()
    return (float(tracks.closed) - rest) / width


def jaw(motion: np.ndarray) -> np.ndarray:
    return np.asarray(motion[:, ms.INDEX["jawOpen"]], np.float64)
