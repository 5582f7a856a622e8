"""Retargeting: absolute motion onto a portrait that is not neutral.

Motion is absolute (zero = relaxed neutral face, lips together), but a portrait rarely is: the
default astronaut smiles with her lips apart. The warp renderer draws motion as displacements of
the portrait's own landmarks, so without retargeting "lips together" would leave her lips as
open as in the photo, and every /p b m/ closure would be lost on her.

What retargeting needs is the portrait's own mouth opening, in motion units. The fitted
expression coefficients are too noisy for it (the astronaut fits eyeWide 1.0 and eyeBlink 0.4
at once), so the opening is measured directly: the gap between the inner lips at their centre
(three facing landmark pairs) in the portrait, divided by how fast ``jawOpen`` widens that gap in
this portrait's face model. The renderer subtracts that ``jawOpen`` from every motion, so an
absolute 0 closes this portrait's lips and ``jawOpen 0.5`` opens them as far as on a neutral face.
Everything else stays relative to the portrait — its smile, its brows, its eye opening ("open eyes
stay as open as in the photo") — which is what keeps its character where the motion does not
speak.
"""

from __future__ import annotations

import numpy as np
import torch

from engines import face_regions as fr
from engines import motion_space as ms
from engines.face_model import FaceModel

# Facing pairs of inner-lip landmarks around the centre (upper[i] above lower[i]).
_UPPER_CENTRE: list[int] = list(fr.LIPS_INNER_UPPER[4:7])
_LOWER_CENTRE: list[int] = list(fr.LIPS_INNER_LOWER[4:7])
_PROBE_JAW = 0.2
_CLOSED_FRACTION = 0.01  # a gap under 1 % of the mouth width counts as closed lips
# Close a little more than the measured gap: lips that only just meet leave a seam of the photo's
# teeth (the warp samples the photo right at the inner lip edge); pressed a pixel or two, they seal.
SEAL = 1.2


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


def own_mouth_motion(face_model: FaceModel) -> np.ndarray:
    """The portrait's own mouth opening as a motion vector [40] (only ``jawOpen`` set)."""
    probe = ms.zeros(2)
    probe[1, ms.INDEX["jawOpen"]] = _PROBE_JAW
    with torch.no_grad():
        marks = face_model(torch.as_tensor(probe)).numpy()  # [2, 478, 3]
    gap0, gap1 = (float(g) for g in lip_gap(marks))
    width = float(
        np.linalg.norm(marks[0, fr.LIPS_INNER_UPPER[-1], :2] - marks[0, fr.LIPS_INNER_UPPER[0], :2])
    )
    own = np.zeros(ms.MOTION_DIM, dtype=np.float32)
    slope = (gap1 - gap0) / _PROBE_JAW
    if gap0 > _CLOSED_FRACTION * width and slope > 1e-6:
        own[ms.INDEX["jawOpen"]] = min(SEAL * gap0 / slope, 1.0)
    return own
