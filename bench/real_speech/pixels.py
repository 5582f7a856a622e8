"""The mouth's opening measured from rendered pixels: MediaPipe Face Mesh on each frame, the
inner-lip gap at the mouth's centre divided by the inner mouth's width.

The gap is :func:`xactor.engines.warp.retarget.lip_gap` (three facing inner-lip landmark pairs around the
centre, measured across the mouth line), the width the distance between the inner corners; the
ratio does not change with the portrait's size or the head's distance. The face is found once,
on the avatar's still crop, and every frame is meshed inside that box (the head moves little).

**Visibly closed** is an opening of at most :data:`CLOSED` (2.5 % of the mouth's width, about
a pixel at 256 px). Chosen by looking at enlarged frames of the dev set with their measured
openings (bench/RESULTS.md, "Real-speech evaluation"): lips that meet read -0.001 to 0.01 on the
astronaut and Grace Hopper; a thin seam of teeth already shows at 0.031 (procedural face) and
0.036 (astronaut), clear teeth from about 0.06.
"""

from __future__ import annotations

import numpy as np

from xactor.engines import face_regions as fr
from xactor.engines.warp.retarget import lip_gap

CLOSED = 0.025


def opening(landmarks: np.ndarray) -> float:
    """Inner-lip gap / inner mouth width of Face Mesh landmarks [478, >=2] (pixels)."""
    pts = landmarks[:, :2]
    width = float(np.linalg.norm(pts[fr.LIPS_INNER_UPPER[-1]] - pts[fr.LIPS_INNER_UPPER[0]]))
    return float(lip_gap(landmarks)) / width if width > 0 else float("nan")


class MouthMeter:
    """Openings of frames of one avatar (see module docstring)."""

    def __init__(self, still: np.ndarray) -> None:
        from xactor.engines.avatar.detect import detect_faces

        faces = detect_faces(still)
        if not faces:
            raise ValueError("no face found in the avatar's still frame")
        self.face = max(faces, key=lambda f: f.side)

    def __call__(self, frame: np.ndarray) -> float:
        """The opening of one RGB frame [S, S, 3] uint8 (NaN when Face Mesh finds no face)."""
        from xactor.engines.avatar.detect import mesh_face

        landmarks = mesh_face(frame, self.face)
        return float("nan") if landmarks is None else opening(landmarks)
