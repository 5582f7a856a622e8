"""Landmark maps: the target face's contours drawn as lines, the renderer's exact account of
where the lips, lids, irises and brows are (the warp prior only approximates them)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from xactor.engines import face_regions as fr

CONTOURS: tuple[tuple[int, ...], ...] = (
    fr.LIPS_OUTER_UPPER, fr.LIPS_OUTER_LOWER, fr.LIPS_INNER_UPPER, fr.LIPS_INNER_LOWER,
    fr.EYE_RIGHT_UPPER, fr.EYE_RIGHT_LOWER, fr.EYE_LEFT_UPPER, fr.EYE_LEFT_LOWER,
    fr.BROW_RIGHT_UPPER, fr.BROW_LEFT_UPPER, (*fr.FACE_OVAL, fr.FACE_OVAL[0]),
)  # fmt: skip
IRISES = (fr.IRIS_RIGHT, fr.IRIS_LEFT)


def landmark_map(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Landmarks [478, >=2] (crop px) → float32 [S, S] in 0..1: contours and iris discs."""
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    for contour in CONTOURS:
        draw.line([(float(x), float(y)) for x, y in landmarks[list(contour), :2]], fill=255, width=1)
    for iris in IRISES:
        c = landmarks[iris[0], :2]
        r = float(np.linalg.norm(landmarks[list(iris[1:]), :2] - c, axis=1).mean())
        draw.ellipse((c[0] - r, c[1] - r, c[0] + r, c[1] + r), fill=160)
    return np.asarray(img, np.float32) / 255.0
