"""Face detection and meshing on real portraits."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests import fixtures_images as fx
from xactor.engines.avatar.decode import decode_image
from xactor.engines.avatar.detect import NUM_LANDMARKS, FaceBox, detect_faces, mesh_face
from xactor.engines.face_regions import CHIN, FOREHEAD_TOP, IRIS_LEFT, IRIS_RIGHT


def _pixels(data: bytes) -> np.ndarray:
    return decode_image(data, max_pixels=40_000_000).pixels


def test_one_face_in_each_portrait() -> None:
    astro = detect_faces(fx.astronaut())
    assert len(astro) == 1
    cx, cy = astro[0].centre
    assert 200 < cx < 255 and 90 < cy < 150 and 80 < astro[0].side < 130  # her face, top centre
    grace = detect_faces(fx.grace_hopper())
    assert len(grace) == 1 and grace[0].side > 150


def test_no_face_in_a_coffee_cup_or_a_flat_colour() -> None:
    assert detect_faces(_pixels(fx.no_face_jpeg())) == []
    assert detect_faces(_pixels(fx.flat_png())) == []


def test_two_faces_largest_first() -> None:
    faces = detect_faces(_pixels(fx.two_faces_png()))
    assert len(faces) == 2
    assert faces[0].centre[0] > 480 > faces[1].centre[0]  # Grace (right) is the larger
    assert faces[0].width * faces[0].height > faces[1].width * faces[1].height


def test_small_face_on_large_picture_is_found_by_tiles() -> None:
    faces = detect_faces(_pixels(fx.small_face_png(240)))
    assert len(faces) == 1
    cx, cy = faces[0].centre
    assert 500 < cx < 740 and 300 < cy < 540 and faces[0].side < 64


def test_mesh_has_478_points_on_the_face() -> None:
    image = fx.astronaut()
    face = detect_faces(image)[0]
    landmarks = mesh_face(image, face)
    assert landmarks is not None and landmarks.shape == (NUM_LANDMARKS, 3)
    assert landmarks.dtype == np.float32
    # Forehead above chin, irises between, everything near the detected box.
    assert landmarks[FOREHEAD_TOP, 1] < landmarks[IRIS_LEFT[0], 1] < landmarks[CHIN, 1]
    assert landmarks[IRIS_RIGHT[0], 0] < landmarks[IRIS_LEFT[0], 0]  # subject's right is image-left
    margin = face.side
    assert (landmarks[:, 0] > face.x0 - margin).all() and (landmarks[:, 0] < face.x1 + margin).all()
    # z is in pixels like x: the face's depth range is a fraction of its width.
    assert 0.2 * face.side < np.ptp(landmarks[:, 2]) < 1.5 * face.side


def test_mesh_returns_none_for_a_box_without_a_face() -> None:
    image = fx.astronaut()
    assert mesh_face(image, FaceBox(400, 400, 500, 500, 0.9)) is None


def test_detection_is_safe_from_several_threads() -> None:
    image = fx.grace_hopper()
    expected = detect_faces(image)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: detect_faces(image), range(8)))
    for result in results:
        assert len(result) == 1
        assert result[0].x0 == pytest.approx(expected[0].x0, abs=1e-3)
