"""The mouth measured from rendered pixels: MediaPipe's inner-lip gaps and teeth-coloured pixels.

Independent of the renderer's own geometry on purpose: the gaps come from Face Mesh run on the
frame, the teeth from colour. Only the region where the lips should meet comes from the target
landmarks (where the renderer was asked to put them).
"""

from __future__ import annotations

import cv2
import numpy as np

from xactor.engines import face_regions as fr

OUTER_LIPS = fr.LIPS_OUTER_UPPER + fr.LIPS_OUTER_LOWER[-2:0:-1]  # closed polygon, no repeated corners


def mesh_gaps(frame: np.ndarray) -> np.ndarray:
    """Inner-lip gaps [9] of the facing pairs between the corners, as fractions of the inner mouth
    width, from MediaPipe Face Mesh run on ``frame`` [S, S, 3] uint8 RGB."""
    from xactor.engines.avatar.detect import detect_faces, mesh_face

    faces = detect_faces(frame)
    assert faces, "no face found in the rendered frame"
    marks = mesh_face(frame, faces[0])
    assert marks is not None, "Face Mesh failed on the rendered frame"
    upper, lower = marks[list(fr.LIPS_INNER_UPPER), :2], marks[list(fr.LIPS_INNER_LOWER), :2]
    axis = upper[-1] - upper[0]
    width = float(np.linalg.norm(axis))
    down = np.array([-axis[1], axis[0]]) / width  # image y grows downwards
    return ((lower[1:-1] - upper[1:-1]) @ down) / width


def mouth_region(target: np.ndarray, size: int, band: float = 0.05, span: float = 0.85) -> np.ndarray:
    """Bool [S, S]: the band between the target lip lines, where a seam would show: within
    ``band`` mouth widths of the target mouth line (halfway between the inner lips) and within
    ``span`` of the half-width between the inner corners (the corners are shadow in any mouth).
    Not the lips' bodies, whose highlights are as pale as teeth."""
    upper, lower = target[list(fr.LIPS_INNER_UPPER), :2], target[list(fr.LIPS_INNER_LOWER), :2]
    line = 0.5 * (upper + lower)  # [11, 2] corner to corner
    centre, width = 0.5 * (line[0] + line[-1]), float(np.linalg.norm(line[-1] - line[0]))
    axis = (line[-1] - line[0]) / width
    down = np.array([-axis[1], axis[0]])
    yy, xx = np.mgrid[0:size, 0:size]
    rel = np.stack([xx, yy], -1) - centre  # [S, S, 2]
    u, v = rel @ axis / (0.5 * width), rel @ down
    lu, lv = (line - centre) @ axis / (0.5 * width), (line - centre) @ down
    order = np.argsort(lu)
    off = v - np.interp(u, lu[order], lv[order])
    return (np.abs(off) <= band * width) & (np.abs(u) < span)


def lips_region(target: np.ndarray, size: int) -> np.ndarray:
    """Bool [S, S]: inside the target outer-lip contour (both lips, and any opening)."""
    contour = np.round(target[list(OUTER_LIPS), :2] * 8).astype(np.int32)  # 3 fractional bits
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [contour], (1,), lineType=cv2.LINE_8, shift=3)
    return mask > 0


def lip_colour(frame: np.ndarray, region: np.ndarray) -> tuple[float, float]:
    """(median L, median a*) of a region of closed lips (CIELAB, OpenCV's 8-bit scale, a* - 128)."""
    lab = cv2.cvtColor(frame, cv2.COLOR_RGB2LAB).astype(np.float64)
    return float(np.median(lab[..., 0][region])), float(np.median(lab[..., 1][region] - 128.0))


def teeth_mask(frame: np.ndarray, region: np.ndarray, lips: tuple[float, float]) -> np.ndarray:
    """Bool [S, S]: teeth-coloured pixels of ``region``: brighter than the lips and less than half
    as red (teeth are near-neutral; lips, even pale ones, are clearly red in a*)."""
    lab = cv2.cvtColor(frame, cv2.COLOR_RGB2LAB).astype(np.float64)
    light, red = lab[..., 0], lab[..., 1] - 128.0
    return region & (light > lips[0]) & (red < 0.5 * lips[1])


def seam(teeth: np.ndarray, region: np.ndarray) -> tuple[float, int]:
    """(share of the region's columns with a teeth pixel, longest run of adjacent such columns):
    a seam runs along the mouth; a lip's highlight is a pixel or two."""
    cols = np.flatnonzero(region.any(0))
    hit = teeth[:, cols].any(0)
    longest = run = 0
    for h in hit:
        run = run + 1 if h else 0
        longest = max(longest, run)
    return float(hit.mean()), longest
