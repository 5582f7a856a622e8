"""Retargeting: absolute motion onto a portrait that is not neutral.

Motion is absolute (zero = relaxed neutral face, lips together), but a portrait rarely is: the
default astronaut smiles with her lips apart. The warp renderer draws motion as displacements of
the portrait's own landmarks, so without retargeting "lips together" would leave her lips as
open as in the photo, and every /p b m/ closure would be lost on her.

What retargeting needs is the portrait's own mouth opening, in motion units. The fitted
expression coefficients are too noisy for it (the astronaut fits eyeWide 1.0 and eyeBlink 0.4
at once), so the opening is measured directly: the gap between each facing pair of inner-lip
landmarks across the mouth in the portrait, divided by how fast ``jawOpen`` widens that pair's gap
in this portrait's face model; the largest of these closes every pair. The renderer subtracts
that ``jawOpen`` from every motion, so an absolute 0 closes this portrait's lips across the whole
width and ``jawOpen 0.5`` opens them about as far as on a neutral face.

No overshoot: closing exactly is enough. Lips that only just meet used to leave a seam of the
photo's teeth, but that was the warp reading the photo's opening at the lips' edge and painting
the loops of lips that cross; :mod:`xactor.engines.warp.lipline` now seals them, and an overshoot only
ate into the opening of every vowel (jawOpen 0.1 still showed closed lips on the astronaut).
Everything else stays relative to the portrait — its smile, its brows, its eye opening ("open eyes
stay as open as in the photo") — which is what keeps its character where the motion does not
speak.
"""

from __future__ import annotations

import numpy as np
import torch

from xactor.engines import face_regions as fr
from xactor.engines import motion_space as ms
from xactor.engines.face_model import FaceModel

# Facing pairs of inner-lip landmarks around the centre (upper[i] above lower[i]).
_UPPER_CENTRE: list[int] = list(fr.LIPS_INNER_UPPER[4:7])
_LOWER_CENTRE: list[int] = list(fr.LIPS_INNER_LOWER[4:7])
_PROBE_JAW = 0.2
_CLOSED_FRACTION = 0.01  # a gap under 1 % of the mouth width counts as closed lips


def lip_gap(landmarks: np.ndarray) -> np.ndarray:
    """Signed inner-lip gap at the mouth centre [...], in the landmarks' units (mean of three
    facing pairs, measured across the mouth line): > 0 open, ~0 closed, < 0 lips pressed over."""
    pts = landmarks[..., :2]
    left, right = pts[..., fr.LIPS_INNER_UPPER[0], :], pts[..., fr.LIPS_INNER_UPPER[-1], :]  # [..., 2]
    along = (right - left) / np.linalg.norm(right - left, axis=-1, keepdims=True)
    down = np.stack([-along[..., 1], along[..., 0]], -1)  # [..., 2], image y grows downwards
    upper = pts[..., _UPPER_CENTRE, :]  # [..., 3, 2]
    lower = pts[..., _LOWER_CENTRE, :]
    return ((lower - upper) * down[..., None, :]).sum(-1).mean(-1)


def lip_gaps(landmarks: np.ndarray) -> np.ndarray:
    """Signed inner-lip gaps [..., 9] of every facing pair between the corners (``LIPS_INNER_UPPER
    [i]`` above ``LIPS_INNER_LOWER[i]``), measured across the mouth line, in the landmarks' units."""
    pts = landmarks[..., :2]
    left, right = pts[..., fr.LIPS_INNER_UPPER[0], :], pts[..., fr.LIPS_INNER_UPPER[-1], :]  # [..., 2]
    along = (right - left) / np.linalg.norm(right - left, axis=-1, keepdims=True)
    down = np.stack([-along[..., 1], along[..., 0]], -1)  # [..., 2]
    upper = pts[..., list(fr.LIPS_INNER_UPPER[1:-1]), :]  # [..., 9, 2]
    lower = pts[..., list(fr.LIPS_INNER_LOWER[1:-1]), :]
    return ((lower - upper) * down[..., None, :]).sum(-1)


def own_mouth_motion(face_model: FaceModel) -> np.ndarray:
    """The portrait's own mouth opening as a motion vector [40] (only ``jawOpen`` set): the
    ``jawOpen`` that closes every facing pair of inner lips."""
    probe = ms.zeros(2)
    probe[1, ms.INDEX["jawOpen"]] = _PROBE_JAW
    with torch.no_grad():
        marks = face_model(torch.as_tensor(probe)).numpy()  # [2, 478, 3]
    gaps = lip_gaps(marks)  # [2, 9]
    width = float(
        np.linalg.norm(marks[0, fr.LIPS_INNER_UPPER[-1], :2] - marks[0, fr.LIPS_INNER_UPPER[0], :2])
    )
    own = np.zeros(ms.MOTION_DIM, dtype=np.float32)
    slope = (gaps[1] - gaps[0]) / _PROBE_JAW  # [9] px per unit of jawOpen
    opens = (gaps[0] > _CLOSED_FRACTION * width) & (slope > 1e-6)
    if opens.any():
        own[ms.INDEX["jawOpen"]] = min(float((gaps[0][opens] / slope[opens]).max()), 1.0)
    return own
