"""Where the mouth is in an avatar's frames, and whether it is open: the latency probe's photon detector.

The box comes from Face Mesh landmarks of the avatar crop (once per run): the lips' bounding box,
widened, and stretched downwards to hold the jaw's travel. Opening is measured against the mouth
just before each speech onset, not against one reference for the whole run: ``d_t = mean |crop_t -
crop_before|``, with ``crop_before`` the median of the last frames received before the onset. The
avatar's idle head motion moves the box's pixels too; a reference taken a few frames earlier
cancels that drift, where a whole-run reference added it to every onset (and, once, hid three of
four onsets under a noise threshold the drift had raised). The noise threshold is a robust one
(median + k MAD) of the same distance between silent frames ``peak_frames`` apart: what idle
motion and the codec alone change over the detector's window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xactor.engines import face_regions as fr


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
    from xactor.engines.avatar.detect import detect_faces, mesh_face

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
    """The change from the pre-onset mouth that calls a mouth open (grey levels, mean over the box)."""

    threshold: float
    noise_median: float
    noise_mad: float
    peak_frames: int = 10  # the first syllable's frames: where the opening's peak is looked for
    before_frames: int = 3  # frames before the onset whose median is the closed reference

    @classmethod
    def calibrate(
        cls, crops: np.ndarray, silent: np.ndarray, k: float = 6.0, floor: float = 2.0, peak_frames: int = 10
    ) -> OpeningDetector:
        """From the run's mouth crops [T, h, w] and a mask [T] of frames known to be silent.

        The noise is ``mean |crop_t - crop_{t-peak_frames}|`` over pairs that are both silent (at
        least 10); the threshold is its median + ``k`` scaled MADs, at least median + ``floor``.
        """
        crops = np.asarray(crops, dtype=np.float32)
        silent = np.asarray(silent, dtype=bool)
        lag = peak_frames
        pairs = np.nonzero(silent[lag:] & silent[:-lag])[0] if len(silent) > lag else np.zeros(0, int)
        if pairs.size < 10:
            raise ValueError(f"need at least 10 silent frame pairs to calibrate, got {pairs.size}")
        noise = np.abs(crops[pairs + lag] - crops[pairs]).mean(axis=(1, 2))  # [P]
        median = float(np.median(noise))
        mad = 1.4826 * float(np.median(np.abs(noise - median)))  # a std that a few outliers do not move
        return cls(max(median + k * mad, median + floor), median, mad, peak_frames=peak_frames)

    def first_opening(self, before: np.ndarray, after: np.ndarray) -> int | None:
        """Index into ``after`` (crops [T, h, w] from a speech onset on) of the first frame where the
        mouth is half open; ``before``: crops received before the onset (the last few are used).

        Half open: past the midpoint between the pre-onset mouth and the peak of the first
        ``peak_frames`` frames (the first syllable); so the event does not move with the noise
        level (live frames pass a codec, offline ones do not) and both sides of the probe's
        decomposition time the same thing. None when that peak does not clear the noise
        threshold, or there is no frame before the onset to compare with.
        """
        if len(after) == 0 or len(before) == 0:
            return None
        reference = np.median(np.asarray(before[-self.before_frames :], dtype=np.float32), axis=0)  # [h, w]
        d = np.abs(np.asarray(after, dtype=np.float32) - reference).mean(axis=(1, 2))  # [T]
        peak = float(d[: self.peak_frames].max())
        if peak < self.threshold:
            return None
        return int(np.argmax(d >= 0.5 * peak))
