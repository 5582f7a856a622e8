"""Aligned crops and paste-back."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from tests import fixtures_images as fx
from xactor.engines.avatar.align import (
    CENTRE_Y,
    FACE_FRACTION,
    Alignment,
    align_face,
    eye_roll,
    feather_mask,
    paste_back,
    warp_crop,
)
from xactor.engines.avatar.detect import detect_faces, mesh_face
from xactor.engines.face_model import estimate_placement
from xactor.engines.face_regions import CHIN, FACE_OVAL, FOREHEAD_TOP


@pytest.fixture(scope="module")
def tilted() -> tuple[np.ndarray, np.ndarray]:
    """Grace Hopper rotated 20 degrees in a larger canvas, and her landmarks there."""
    grace = fx.grace_hopper()
    canvas = np.full((900, 900, 3), 90, np.uint8)
    canvas[150:750, 194:706] = grace
    rot = cv2.getRotationMatrix2D((450, 450), 20, 1.0)
    image = cv2.warpAffine(canvas, rot, (900, 900), borderMode=cv2.BORDER_REPLICATE)
    landmarks = mesh_face(image, detect_faces(image)[0])
    assert landmarks is not None
    return image, landmarks


@pytest.mark.parametrize("size", [256, 512])
def test_crop_levels_eyes_and_frames_the_face(tilted: tuple[np.ndarray, np.ndarray], size: int) -> None:
    _, landmarks = tilted
    assert abs(eye_roll(landmarks)) > math.radians(15)  # really tilted to begin with
    width = estimate_placement(landmarks).scale
    alignment = align_face(landmarks, size, face_width=width)
    crop_lm = alignment.to_crop(landmarks)
    assert abs(eye_roll(crop_lm)) < math.radians(1.0)
    assert estimate_placement(crop_lm).scale == pytest.approx(FACE_FRACTION * size, rel=0.02)
    oval = crop_lm[list(FACE_OVAL), :2]
    centre = (oval.min(0) + oval.max(0)) / 2
    assert centre[0] == pytest.approx(size / 2, abs=size * 0.01)
    assert centre[1] == pytest.approx(CENTRE_Y * size, abs=size * 0.01)
    # Room for hair above the forehead and for the chin below.
    assert crop_lm[FOREHEAD_TOP, 1] > 0.15 * size
    assert crop_lm[CHIN, 1] < 0.88 * size


def test_transform_round_trip_and_pixels_agree(tilted: tuple[np.ndarray, np.ndarray]) -> None:
    image, landmarks = tilted
    alignment = align_face(landmarks, 256)
    back = alignment.to_source(alignment.to_crop(landmarks))
    np.testing.assert_allclose(back, landmarks, atol=1e-3)
    crop = warp_crop(image, alignment)
    # Sample the source at the crop's landmark positions mapped back: same colours as the crop.
    pts = alignment.to_crop(landmarks)[:, :2]
    inside = (pts > 2).all(1) & (pts < 253).all(1)
    src_px = landmarks[inside, :2].round().astype(int)
    crop_px = pts[inside].round().astype(int)
    src_colours = image[src_px[:, 1], src_px[:, 0]].astype(int)
    crop_colours = crop[crop_px[:, 1], crop_px[:, 0]].astype(int)
    assert np.median(np.abs(src_colours - crop_colours)) < 25


def test_reduced_warp_matches_direct_warp_on_a_big_picture() -> None:
    big = cv2.resize(fx.grace_hopper(), (2048, 2400), interpolation=cv2.INTER_CUBIC)
    matrix = np.array([[0.2, 0.0, -80.0], [0.0, 0.2, -100.0]])
    alignment = Alignment(256, matrix, cv2.invertAffineTransform(matrix))
    reduced = warp_crop(big, alignment).astype(float)
    direct = cv2.warpAffine(
        cv2.GaussianBlur(big, (0, 0), 2.0), matrix, (256, 256), flags=cv2.INTER_LINEAR
    ).astype(float)
    assert np.abs(reduced - direct).mean() < 6.0


def test_feather_mask_is_one_inside_zero_at_the_border() -> None:
    mask = feather_mask(256)
    assert mask[128, 128] == 1.0 and mask[0, 0] < 0.01 and mask[0, 128] < 0.01
    assert (np.diff(mask[128, :128]) >= 0).all()
    assert not mask.flags.writeable


def test_paste_back_puts_the_crop_where_it_came_from(tilted: tuple[np.ndarray, np.ndarray]) -> None:
    image, landmarks = tilted
    alignment = align_face(landmarks, 256)
    crop = warp_crop(image, alignment)
    unchanged = paste_back(crop, image, alignment.crop_to_source)
    assert unchanged.shape == image.shape and unchanged.dtype == np.uint8
    assert np.abs(unchanged.astype(int) - image).mean() < 2.0  # pasting the same crop changes ~nothing

    red = np.zeros_like(crop)
    red[..., 0] = 255
    pasted = paste_back(red, image, alignment.crop_to_source)
    nose = landmarks[4, :2].round().astype(int)
    assert tuple(pasted[nose[1], nose[0]]) == (255, 0, 0)
    corners = alignment.to_source(np.array([[0, 0], [256, 0], [0, 256], [256, 256]], float))
    x0, y0 = np.floor(corners.min(0)).astype(int)
    outside = np.ones(image.shape[:2], bool)
    outside[max(y0, 0) :, max(x0, 0) :] = False  # everything above-left of the crop's bounds
    assert (pasted[outside] == image[outside]).all()
    with_mask = paste_back(red, image, alignment.crop_to_source, mask=np.zeros((256, 256)))
    assert (with_mask == image).all()
