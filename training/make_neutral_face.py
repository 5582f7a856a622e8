"""Recipe for ``engines/data/neutral_face.npz``: the generic neutral face of the face model.

Tracks the two public-domain portraits that ship with our dependencies (the NASA astronaut in
scikit-image, Grace Hopper in matplotlib) with MediaPipe Face Mesh, frontalises each mesh in a frame
found from the face's own bilateral symmetry, averages them and makes the result exactly symmetric.
Also stores the left/right mirror map of the topology (used to flip motion and to symmetrise).

Run: ``python -m training.make_neutral_face`` (a few seconds, CPU).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from xactor.engines import face_regions as fr

log = logging.getLogger(__name__)
OUT = Path(__file__).resolve().parents[1] / "engines" / "data" / "neutral_face.npz"


def _portraits() -> list[np.ndarray]:
    import matplotlib
    from PIL import Image
    from skimage import data

    hopper = Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")
    return [data.astronaut(), np.asarray(hopper)]


def _track(image: np.ndarray) -> np.ndarray:
    """478 landmarks [478,3] in pixels (z scaled like x) of the single face in ``image``."""
    import mediapipe as mp

    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=1, refine_landmarks=True
    ) as fm:
        result = fm.process(image)
    if not result.multi_face_landmarks:
        raise RuntimeError("no face found in a recipe portrait")
    h, w = image.shape[:2]
    pts = result.multi_face_landmarks[0].landmark
    return np.array([[p.x * w, p.y * h, p.z * w] for p in pts], dtype=np.float64)


def _frame(points: np.ndarray, mirror: np.ndarray | None) -> np.ndarray:
    """Rotation [3,3] whose rows are the face's x (image-right), y (down), z (into the screen) axes."""
    if mirror is None:
        x = points[fr.EYE_LEFT_UPPER[0]] - points[fr.EYE_RIGHT_UPPER[0]]
    else:  # the symmetry plane's normal: mean of left-minus-mirror-partner differences
        diff = points - points[mirror]
        x = diff[diff @ (points[fr.EYE_LEFT_UPPER[0]] - points[fr.EYE_RIGHT_UPPER[0]]) > 0].mean(0)
    x /= np.linalg.norm(x)
    y = points[fr.CHIN] - points[fr.FOREHEAD_TOP]
    y -= x * (y @ x)
    y /= np.linalg.norm(y)
    return np.stack([x, y, np.cross(x, y)])


def _mirror_map(canon: np.ndarray) -> np.ndarray:
    """Index of each point's bilateral partner (itself on the midline), as a bijection."""
    flipped = canon * np.array([-1.0, 1.0, 1.0])
    cost = ((canon[:, None, :] - flipped[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    mirror = np.empty(len(canon), dtype=np.int64)
    mirror[rows] = cols
    return mirror


def _normalise(points: np.ndarray) -> np.ndarray:
    """Centre on the face oval and scale to unit face width."""
    oval = points[list(fr.FACE_OVAL)]
    centre = (oval.max(0) + oval.min(0)) / 2
    width = oval[:, 0].max() - oval[:, 0].min()
    return (points - centre) / width


def frontalise(points: np.ndarray, iterations: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Frontal, normalised shape [478,3] and its mirror map, found by alternating frame and pairing."""
    mirror = None
    for _ in range(iterations):
        canon = _normalise((points - points.mean(0)) @ _frame(points, mirror).T)
        mirror = _mirror_map(canon)
    assert mirror is not None  # iterations >= 1
    return canon, mirror


def _level(neutral: np.ndarray, tracked: list[np.ndarray]) -> np.ndarray:
    """Tilt the neutral about the x axis so the (frontal) recipe portraits read as pitch 0.

    The symmetry frame's vertical axis runs forehead → chin, which leans ~9° from the camera's
    vertical in a frontal photo; a pure pitch keeps the face exactly symmetric.
    """
    from xactor.engines.face_model import estimate_placement

    pitch = float(
        np.mean([estimate_placement(points.astype(np.float32), neutral).angles()[1] for points in tracked])
    )
    c, s = np.cos(pitch), np.sin(pitch)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    log.info("levelled the neutral face by %.1f degrees of pitch", np.degrees(pitch))
    return _normalise(neutral @ rx.T)


def build() -> tuple[np.ndarray, np.ndarray]:
    tracked = [_track(img) for img in _portraits()]
    shapes, mirrors = zip(*(frontalise(points) for points in tracked), strict=True)
    mirror = mirrors[0]
    mean = np.mean(shapes, axis=0)
    symmetric = (mean + mean[mirror] * np.array([-1.0, 1.0, 1.0])) / 2
    neutral = _level(_normalise(symmetric).astype(np.float32), tracked)
    agree = float(np.mean(mirrors[0] == mirrors[1]))
    log.info("mirror maps agree on %.1f%% of points", 100 * agree)
    return neutral.astype(np.float32), mirror


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    neutral, mirror = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez(OUT, neutral=neutral, mirror=mirror)
    log.info("wrote %s", OUT)


if __name__ == "__main__":
    main()
