"""Similarity crop of the face (eyes level, face centred, room for hair and chin) and paste-back.

A crop of side S is ``crop = A @ [x, y, 1]`` with ``A = source_to_crop`` [2, 3], a similarity
(rotation + uniform scale + shift). ``crop_to_source`` is its inverse; the renderer uses it with
:func:`paste_back` to put a rendered crop back into the full picture. Landmark depth (z) scales
with the same factor as x and y.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from xactor.engines.face_regions import FACE_OVAL

FACE_FRACTION = 0.45  # face width (cheek to cheek) as a fraction of the crop side
MAX_HEIGHT_FRACTION = 0.62  # forehead-to-chin never more than this, so hair and chin fit
CENTRE_Y = 0.55  # face centre sits below the middle: more room above for hair than below the chin
FEATHER = 1 / 16  # paste-back blend ramp, as a fraction of the crop side

# MediaPipe Face Mesh eye corners (subject's right eye: 33 outer, 133 inner; left: 362 inner, 263 outer).
_RIGHT_EYE = (33, 133)
_LEFT_EYE = (362, 263)


@dataclass(frozen=True)
class Alignment:
    """Where an S x S crop sits in its source picture."""

    size: int
    source_to_crop: np.ndarray  # [2, 3] float64
    crop_to_source: np.ndarray  # [2, 3] float64

    @property
    def scale(self) -> float:
        """Crop pixels per source pixel."""
        return float(math.hypot(*self.source_to_crop[0, :2]))

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Source-pixel points [..., 2 or 3] -> crop pixels (z multiplied by the scale)."""
        return _apply(self.source_to_crop, points, self.scale)

    def to_source(self, points: np.ndarray) -> np.ndarray:
        """Crop-pixel points [..., 2 or 3] -> source pixels."""
        return _apply(self.crop_to_source, points, 1.0 / self.scale)


def _apply(matrix: np.ndarray, points: np.ndarray, z_scale: float) -> np.ndarray:
    out = np.array(points, dtype=np.float64, copy=True)
    xy = points[..., :2].astype(np.float64)
    out[..., :2] = xy @ matrix[:, :2].T + matrix[:, 2]
    if points.shape[-1] > 2:
        out[..., 2] = points[..., 2] * z_scale
    return out.astype(points.dtype if np.issubdtype(points.dtype, np.floating) else np.float64)


def eye_roll(landmarks: np.ndarray) -> float:
    """Angle (radians) of the line from the image-left eye to the image-right eye; 0 when level."""
    right = landmarks[list(_RIGHT_EYE), :2].mean(axis=0)  # subject's right eye: image-left
    left = landmarks[list(_LEFT_EYE), :2].mean(axis=0)
    dx, dy = left - right
    return float(math.atan2(dy, dx))


def align_face(landmarks: np.ndarray, size: int, face_width: float | None = None) -> Alignment:
    """The crop of side ``size`` for a face with ``landmarks`` [478, 2+] in source pixels.

    Eyes level; the outline's box, measured in the levelled frame, centred at (S/2, CENTRE_Y * S);
    ``face_width`` (default: the outline's levelled width) mapped to FACE_FRACTION of the side.
    """
    angle = eye_roll(landmarks)
    cos, sin = math.cos(angle), math.sin(angle)
    level = np.array([[cos, sin], [-sin, cos]])  # rotates the eye line onto +x
    oval = landmarks[list(FACE_OVAL), :2].astype(np.float64) @ level.T  # [K, 2] levelled frame
    lo, hi = oval.min(axis=0), oval.max(axis=0)
    width = face_width if face_width is not None else float(hi[0] - lo[0])
    height = float(hi[1] - lo[1])
    scale = min(FACE_FRACTION * size / width, MAX_HEIGHT_FRACTION * size / height)
    centre = level.T @ ((lo + hi) / 2)  # back in source pixels
    linear = scale * level  # [2, 2]
    shift = np.array([size / 2, CENTRE_Y * size]) - linear @ centre
    source_to_crop = np.hstack([linear, shift[:, None]])
    return Alignment(size, source_to_crop, cv2.invertAffineTransform(source_to_crop))


def warp_crop(source: np.ndarray, alignment: Alignment) -> np.ndarray:
    """Cut the aligned crop [S, S, 3] uint8 out of ``source`` [H, W, 3]; edges are replicated.

    When the crop shrinks the picture by more than 2x, the picture is first reduced with area
    averaging so the crop does not alias.
    """
    matrix = alignment.source_to_crop
    image = source
    reduce = int(1.0 / alignment.scale)
    if reduce >= 2:
        height, width = source.shape[:2]
        small = (max(1, round(width / reduce)), max(1, round(height / reduce)))
        image = cv2.resize(source, small, interpolation=cv2.INTER_AREA)
        fx, fy = small[0] / width, small[1] / height
        # crop = A @ src = A @ diag(1/fx, 1/fy) @ small (pixel centres: (x + 0.5) / f - 0.5)
        to_small = np.array([[fx, 0.0, 0.5 * fx - 0.5], [0.0, fy, 0.5 * fy - 0.5], [0.0, 0.0, 1.0]])
        matrix = np.vstack([matrix, [0.0, 0.0, 1.0]]) @ np.linalg.inv(to_small)
        matrix = matrix[:2]
    return cv2.warpAffine(
        image,
        matrix,
        (alignment.size, alignment.size),
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REPLICATE,
    )


@functools.lru_cache(maxsize=8)
def feather_mask(size: int, feather: float = FEATHER) -> np.ndarray:
    """[S, S] float32 in [0, 1]: 1 inside, a smooth ramp to 0 over ``feather * S`` at the edges."""
    ramp = max(1.0, feather * size)
    pos = np.arange(size, dtype=np.float32)
    edge = np.minimum(pos + 0.5, size - pos - 0.5) / ramp  # distance to the nearest edge, in ramps
    edge = np.clip(edge, 0.0, 1.0)
    edge = edge * edge * (3.0 - 2.0 * edge)  # smoothstep
    mask = np.minimum(edge[:, None], edge[None, :])
    mask.setflags(write=False)
    return mask


def paste_back(
    crop_frame: np.ndarray,
    original: np.ndarray,
    transform: np.ndarray,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Blend a crop [S, S, 3] into a copy of ``original`` [H, W, 3] via ``transform`` (crop->source).

    The crop is weighted by a feathered mask (times ``mask`` [S, S] in [0, 1] when given), so
    no seam shows at the crop border. Only the region the crop covers is touched.
    """
    size = crop_frame.shape[0]
    height, width = original.shape[:2]
    weight = feather_mask(size)  # [S, S] float32
    if mask is not None:
        weight = weight * np.asarray(mask, dtype=np.float32)
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64)
    placed = corners @ transform[:, :2].T + transform[:, 2]
    x0, y0 = np.floor(placed.min(axis=0)).astype(int)
    x1, y1 = np.ceil(placed.max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    out = original.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    roi = transform.astype(np.float64).copy()
    roi[:, 2] -= (x0, y0)  # warp straight into the covered rectangle
    box = (x1 - x0, y1 - y0)
    frame = cv2.warpAffine(crop_frame.astype(np.float32), roi, box, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(weight, roi, box, flags=cv2.INTER_LINEAR)[..., None]  # [h, w, 1]
    region = out[y0:y1, x0:x1].astype(np.float32)
    blended = region + alpha * (frame - region)
    if np.issubdtype(original.dtype, np.integer):
        blended = np.clip(blended + 0.5, 0, 255)
    out[y0:y1, x0:x1] = blended.astype(original.dtype)
    return out
