"""A picture for a person to check an avatar: the mesh, contours and irises drawn on the crop."""

from __future__ import annotations

import functools
import io
import math

import cv2
import numpy as np
from PIL import Image

from xactor.engines.avatar.bundle import AvatarBundle

_MESH_COLOUR = (225, 225, 225)  # RGB
_CONTOUR_COLOUR = (60, 220, 90)
_IRIS_COLOUR = (40, 200, 255)


@functools.cache
def _connections() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tessellation, contours, irises) edges as [E, 2] index arrays, from MediaPipe's own lists."""
    from mediapipe.python.solutions import face_mesh_connections as fmc

    def edges(pairs: frozenset[tuple[int, int]]) -> np.ndarray:
        return np.array(sorted(pairs), dtype=np.int64)

    return edges(fmc.FACEMESH_TESSELATION), edges(fmc.FACEMESH_CONTOURS), edges(fmc.FACEMESH_IRISES)


def draw_landmarks(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``image`` [S, S, 3] uint8 RGB with the 478-point mesh drawn over it (a new array)."""
    size = image.shape[0]
    tess, contours, irises = _connections()
    shift = 4  # sub-pixel drawing: coordinates in 1/16 pixel
    pts = np.round(landmarks[:, :2] * (1 << shift)).astype(np.int32)  # [478, 2]
    thin = max(1, round(size / 512))
    mesh = image.copy()
    for a, b in tess:
        cv2.line(mesh, tuple(pts[a]), tuple(pts[b]), _MESH_COLOUR, thin, cv2.LINE_AA, shift)
    out = cv2.addWeighted(mesh, 0.55, image, 0.45, 0.0)  # translucent mesh: the face stays visible
    for a, b in contours:
        cv2.line(out, tuple(pts[a]), tuple(pts[b]), _CONTOUR_COLOUR, thin + 1, cv2.LINE_AA, shift)
    for a, b in irises:
        cv2.line(out, tuple(pts[a]), tuple(pts[b]), _IRIS_COLOUR, thin + 1, cv2.LINE_AA, shift)
    return out


def render_preview(bundle: AvatarBundle, size: int = 512) -> np.ndarray:
    """The crop of ``size`` with its landmarks drawn and a caption with id and pose [S + bar, S, 3]."""
    image = draw_landmarks(bundle.crop(size), bundle.landmarks(size))
    bar = np.full((max(20, size // 16), size, 3), 24, dtype=np.uint8)
    pose = bundle.meta.pose
    caption = (
        f"{bundle.id}   yaw {math.degrees(pose.yaw):+.0f}  pitch {math.degrees(pose.pitch):+.0f}  "
        f"roll {math.degrees(pose.roll):+.0f} (degrees)"
    )
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = bar.shape[0] / 50
    width = cv2.getTextSize(caption, font, scale, 1)[0][0]
    scale *= min(1.0, (size - 12) / width)  # shrink to fit the bar
    cv2.putText(bar, caption, (6, int(bar.shape[0] * 0.68)), font, scale, (235, 235, 235), 1, cv2.LINE_AA)
    return np.vstack([image, bar])


def png_bytes(image: np.ndarray, optimize: bool = False) -> bytes:
    """An RGB uint8 image [H, W, 3] encoded as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=optimize)
    return buffer.getvalue()


def preview_png(bundle: AvatarBundle, size: int = 512) -> bytes:
    """:func:`render_preview` encoded as PNG."""
    return png_bytes(render_preview(bundle, size), optimize=True)
