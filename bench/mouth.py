"""Where the mouth is in an avatar's frames, and whether it is open: the latency probe's photon detector.

The box comes from Face Mesh landmarks of the avatar crop (once per run): the lips' bounding box,
widened, and stretched downwards to hold the jaw's travel. Opening is measured as the change of
the box's pixels from the closed mouth: ``d_t = mean |crop_t - reference|`` with the reference
the median crop over frames known to be silent. A frame shows an open mouth when ``d_t`` exceeds
the silent frames' mean by ``k`` standard deviations (idle head motion and blinks set that
spread) and an absolute floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines import face_regions as fr


@dataclass(frozen=True)
class Box:
    x0: int
    y0: int
    x1: int
    y1: int

    def cut(self, image: np.ndarray) -> np.ndarray:
        """Grey levels of the box, float32 [h, w] (image [H, W, 3] uint8 RGB)."""
        patch = image[self.y0 : self.y1, self.x0 : self.x1].astype(np.float32)
        return patch.mean(axis=2)


def mouth_box(landmarks: np.ndarray, size: int) -> Box:
    """Box around the lips (landmarks [478, >=2] in pixels of a ``size`` crop), room for the jaw below."""
    lips = landmarks[list(fr.LIPS), :2]
    (x0, y0), (x1, y1) = lips.min(axis=0), lips.max(axis=0)
    w, h = x1 - x0, y1 - y0
    box = Box(
        int(max(x0 - 0.15 * w, 0)),
        int(max(y0 - 0.3 * h, 0)),
        int(min(x1 + 0.15 * w, size)),
        int(min(y1 + 0.9 * h, size)),
    )
    if box.x1 - box.x0 < 4 or box.y1 - box.y0 < 4:
        raise ValueError(f"mouth box too small: {box}")
    return box


def find_mouth_box(image: np.ndarray) -> Box:
    """Detect and mesh the face in ``image`` (RGB uint8, square) and return :func:`mouth_box`."""
    from engines.avatar.detect import detect_faces, mesh_face

    faces = detect_faces(image)
    if not faces:
        raise ValueError("no face found in the avatar crop")
    face = max(faces, key=lambda f: f.side)
    landmarks = mesh_face(image, face)
    if landmarks is None:
        raise ValueError("face mesh failed on the avatar crop")
    return mouth_box(landmarks, image.shape[0])


@dataclass(frozen=True)
class OpeningDetector:
    """``d_t`` against the silent reference, and the threshold that calls a mouth open."""

    reference: np.ndarray  # [h, w] float32 median silent mouth
    threshold: float
    silent_mean: float
    silent_std: float

    @classmethod
    def calibrate(cls, silent_crops: np.ndarray, k: float = 5.0, floor: float = 2.0) -> OpeningDetector:
        """From silent mouth crops [T, h, w] (T >= 10)."""
        if len(silent_crops) < 10:
            raise ValueError(f"need at least 10 silent frames to calibrate, got {len(silent_crops)}")
        reference = np.median(silent_crops, axis=0)
        d = np.abs(silent_crops - reference).mean(axis=(1, 2))  # [T]
        mean, std = float(d.mean()), float(d.std())
        return cls(reference, max(mean + k * std, mean + floor), mean, std)

    def distance(self, crops: np.ndarray) -> np.ndarray:
        """d_t for crops [T, h, w] -> [T]."""
        return np.abs(np.asarray(crops, dtype=np.float32) - self.reference).mean(axis=(1, 2))

    def first_opening(self, d: np.ndarray, peak_frames: int = 10) -> int | None:
        """Index of the first frame of ``d`` (frames from a speech onset on) where the mouth is half
        open: past the midpoint between closed and the peak of the first ``peak_frames`` frames (the
        first syllable). None when that peak does not clear the noise threshold.

        Half-opening, not "first change above noise", so the event does not move with the
        calibration (live frames pass a codec, offline ones do not): both sides of the probe's
        decomposition time the same thing.
        """
        if d.size == 0:
            return None
        peak = float(d[:peak_frames].max())
        if peak < self.threshold:
            return None
        level = self.silent_mean + 0.5 * (peak - self.silent_mean)
        return int(np.argmax(d >= level))
