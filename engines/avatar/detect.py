"""Find faces (MediaPipe face detection, full-range) and mesh one (Face Mesh, 478 refined landmarks).

MediaPipe graphs are slow to build and not re-entrant, so each is built once per process by a
cached factory and every call holds one lock. Detection sees the picture at 192x192, so when
nothing turns up on a large picture it looks again on overlapping tiles (small faces in big
photos). The mesh runs on a square cut around the chosen face, which is what its own short-range
detector expects, and the landmarks are mapped back into the picture's pixels.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)

NUM_LANDMARKS = 478  # 468 mesh points + 2 x 5 iris points (refine_landmarks=True)
MIN_SCORE = 0.5
_DETECTOR_INPUT = 192  # the full-range model's input side
_MESH_INPUT = 384  # side of the square cut given to Face Mesh
_LOCK = threading.Lock()


@dataclass(frozen=True)
class FaceBox:
    """A detected face, in pixels of the image it was found in."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def side(self) -> float:
        """The shorter side: what the minimum-face-size rule compares against."""
        return min(self.width, self.height)

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    def iou(self, other: FaceBox) -> float:
        ix = max(0.0, min(self.x1, other.x1) - max(self.x0, other.x0))
        iy = max(0.0, min(self.y1, other.y1) - max(self.y0, other.y0))
        inter = ix * iy
        union = self.width * self.height + other.width * other.height - inter
        return inter / union if union > 0 else 0.0


@functools.cache
def _face_detection() -> Any:
    import mediapipe as mp

    return mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=MIN_SCORE)


@functools.cache
def _face_mesh() -> Any:
    import mediapipe as mp

    return mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=MIN_SCORE
    )


def warm_up() -> None:
    """Build both graphs now (first use otherwise pays for it)."""
    with _LOCK:
        _face_detection()
        _face_mesh()


def detect_faces(image: np.ndarray) -> list[FaceBox]:
    """All faces in ``image`` [H, W, 3] uint8 RGB, largest first.

    Looks at the whole picture first; if that finds nothing, at overlapping tiles of half, then a
    quarter, of the longer side (while tiles stay larger than the detector input).
    """
    height, width = image.shape[:2]
    faces = _detect_in(image, 0, 0)
    tile = max(height, width) // 2
    while not faces and tile >= 1.5 * _DETECTOR_INPUT:
        stride = tile // 2
        for y in _starts(height, tile, stride):
            for x in _starts(width, tile, stride):
                faces += _detect_in(image[y : y + tile, x : x + tile], x, y)
        faces = _suppress(faces)
        tile //= 2
    return sorted(_suppress(faces), key=lambda f: f.width * f.height, reverse=True)


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    return [*starts, length - tile]


def _detect_in(image: np.ndarray, x_off: int, y_off: int) -> list[FaceBox]:
    height, width = image.shape[:2]
    with _LOCK:
        result = _face_detection().process(np.ascontiguousarray(image))
    boxes = []
    for det in result.detections or []:
        rel = det.location_data.relative_bounding_box
        x0 = max(0.0, rel.xmin * width)
        y0 = max(0.0, rel.ymin * height)
        x1 = min(float(width), (rel.xmin + rel.width) * width)
        y1 = min(float(height), (rel.ymin + rel.height) * height)
        if x1 > x0 and y1 > y0:
            boxes.append(FaceBox(x0 + x_off, y0 + y_off, x1 + x_off, y1 + y_off, float(det.score[0])))
    return boxes


def _suppress(faces: list[FaceBox], iou: float = 0.3) -> list[FaceBox]:
    """Non-maximum suppression across tiles; a face cut by a tile edge loses to a whole one."""
    kept: list[FaceBox] = []
    for face in sorted(faces, key=lambda f: (f.score, f.width * f.height), reverse=True):
        if all(face.iou(k) < iou and not _inside(face, k) for k in kept):
            kept.append(face)
    return kept


def _inside(small: FaceBox, big: FaceBox) -> bool:
    cx, cy = small.centre
    return big.x0 <= cx <= big.x1 and big.y0 <= cy <= big.y1


def mesh_face(image: np.ndarray, face: FaceBox) -> np.ndarray | None:
    """Landmarks [478, 3] float32 of ``face`` in ``image`` pixels (z in the same scale as x).

    Pixel centres are at integer coordinates (OpenCV's convention).

    Runs Face Mesh on a square cut of 2x the face box (then 1.5x, then 3x, if that fails or
    lands on a neighbour). ``None`` when no cut gives a mesh centred on the face.
    """
    cx, cy = face.centre
    side = max(face.width, face.height)
    for factor in (2.0, 1.5, 3.0):
        scale = _MESH_INPUT / (factor * side)
        # image -> cut: scale about the face centre, centre lands mid-cut.
        to_cut = np.array(
            [[scale, 0.0, _MESH_INPUT / 2 - scale * cx], [0.0, scale, _MESH_INPUT / 2 - scale * cy]]
        )
        cut = cv2.warpAffine(
            image,
            to_cut,
            (_MESH_INPUT, _MESH_INPUT),
            flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        with _LOCK:
            result = _face_mesh().process(cut)
        if not result.multi_face_landmarks:
            continue
        points = result.multi_face_landmarks[0].landmark
        if len(points) != NUM_LANDMARKS:
            log.warning("face mesh gave %d landmarks, expected %d", len(points), NUM_LANDMARKS)
            continue
        cut_px = np.array([[p.x, p.y, p.z] for p in points], dtype=np.float64) * _MESH_INPUT  # [478, 3]
        cut_px[:, :2] -= 0.5  # MediaPipe measures from pixel edges; OpenCV (and we) from centres
        landmarks = np.empty_like(cut_px)
        landmarks[:, 0] = (cut_px[:, 0] - to_cut[0, 2]) / scale
        landmarks[:, 1] = (cut_px[:, 1] - to_cut[1, 2]) / scale
        landmarks[:, 2] = cut_px[:, 2] / scale
        mx, my = landmarks[:, :2].mean(axis=0)
        if face.x0 <= mx <= face.x1 and face.y0 <= my <= face.y1:
            return landmarks.astype(np.float32)
        log.debug("mesh at cut factor %.1f landed off the chosen face", factor)
    return None
