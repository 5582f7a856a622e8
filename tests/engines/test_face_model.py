"""Face model: landmark groups, neutral face, per-coefficient regions, round trip, ONNX parity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xactor.engines import face_regions as fr
from xactor.engines import motion_space as ms
from xactor.engines.face_model import (
    MIRROR,
    NEUTRAL_FACE,
    FaceModel,
    Placement,
    estimate_placement,
    euler_to_matrix,
    fit_expression,
    fit_motion,
    matrix_to_euler,
)

MOVED = 1e-3  # face widths: a visible motion (≈0.25 px on a 256 crop, far more on a face)
STILL = 1e-6

LIPS = list(fr.LIPS)
EYES = {"Left": list(fr.EYE_LEFT), "Right": list(fr.EYE_RIGHT)}
BROWS = {"Left": list(fr.BROW_LEFT), "Right": list(fr.BROW_RIGHT)}
IRISES = list(fr.IRIS_LEFT + fr.IRIS_RIGHT)
FOREHEAD = [i for i in range(468) if NEUTRAL_FACE[i, 1] < NEUTRAL_FACE[list(fr.BROW_LEFT), 1].min() - 0.08]
UPPER_FACE = sorted(set(EYES["Left"] + EYES["Right"] + BROWS["Left"] + BROWS["Right"] + IRISES + FOREHEAD))
OTHER = {"Left": "Right", "Right": "Left"}


@pytest.fixture(scope="module")
def model() -> FaceModel:
    return FaceModel()


def _displacement(model: FaceModel, name: str, value: float = 1.0) -> np.ndarray:
    moved = model.landmarks(ms.from_dict({name: value})[0])
    return np.linalg.norm(moved - NEUTRAL_FACE, axis=-1)  # [478]


def _region_rules(name: str) -> tuple[list[int], list[int]]:
    """(points that must move, points that must stay still) for one coefficient."""
    side = "Left" if name.endswith("Left") else "Right" if name.endswith("Right") else None
    if name.startswith(("jaw", "mouth")):
        return LIPS, UPPER_FACE
    if name == "cheekPuff":
        return [50, 280, 205, 425], UPPER_FACE + LIPS
    if name == "browInnerUp":
        return [107, 336, 55, 285], LIPS + EYES["Left"] + EYES["Right"] + IRISES
    if name.startswith("brow"):
        assert side
        return BROWS[side], LIPS + EYES["Left"] + EYES["Right"] + BROWS[OTHER[side]] + IRISES
    if name.startswith("eye"):
        assert side
        return EYES[side], LIPS + EYES[OTHER[side]] + BROWS["Left"] + BROWS["Right"] + IRISES
    if name.startswith("gaze"):
        return IRISES, [i for i in range(468)]
    raise AssertionError(name)


def test_landmark_groups_match_mediapipe() -> None:
    from mediapipe.python.solutions import face_mesh_connections as c

    def points(connections: frozenset[tuple[int, int]]) -> set[int]:
        return {i for pair in connections for i in pair}

    assert set(fr.LIPS) == points(c.FACEMESH_LIPS)
    assert set(fr.EYE_LEFT) == points(c.FACEMESH_LEFT_EYE)
    assert set(fr.EYE_RIGHT) == points(c.FACEMESH_RIGHT_EYE)
    assert set(fr.BROW_LEFT) == points(c.FACEMESH_LEFT_EYEBROW)
    assert set(fr.BROW_RIGHT) == points(c.FACEMESH_RIGHT_EYEBROW)
    assert set(fr.FACE_OVAL) == points(c.FACEMESH_FACE_OVAL)
    assert set(fr.IRIS_LEFT[1:]) == points(c.FACEMESH_LEFT_IRIS)
    assert set(fr.IRIS_RIGHT[1:]) == points(c.FACEMESH_RIGHT_IRIS)


def test_neutral_face_is_symmetric_and_normalised() -> None:
    assert NEUTRAL_FACE.shape == (478, 3)
    assert (MIRROR[MIRROR] == np.arange(478)).all()
    mirrored = NEUTRAL_FACE[MIRROR] * np.array([-1, 1, 1])
    np.testing.assert_allclose(mirrored, NEUTRAL_FACE, atol=1e-6)
    oval = NEUTRAL_FACE[list(fr.FACE_OVAL)]
    assert oval[:, 0].max() - oval[:, 0].min() == pytest.approx(1.0, abs=1e-5)
    # Subject-left is image-right; the chin is below the eyes.
    assert NEUTRAL_FACE[fr.MOUTH_CORNER_LEFT, 0] > 0 > NEUTRAL_FACE[fr.MOUTH_CORNER_RIGHT, 0]
    assert NEUTRAL_FACE[fr.CHIN, 1] > NEUTRAL_FACE[fr.EYE_LEFT_UPPER[0], 1]


@pytest.mark.parametrize("name", ms.NAMES[ms.DEFORM_SLICE])
def test_each_coefficient_moves_its_own_region_only(model: FaceModel, name: str) -> None:
    disp = _displacement(model, name, ms.HIGH[ms.INDEX[name]])
    must_move, must_stay = _region_rules(name)
    assert disp[must_move].max() > MOVED, f"{name} does not move its region"
    assert disp[must_stay].max() < STILL, f"{name} moves an unrelated region by {disp[must_stay].max():.2e}"


@pytest.mark.parametrize("kind", ["mouthSmile", "mouthFrown", "mouthStretch", "eyeBlink", "browOuterUp"])
def test_left_and_right_are_mirror_images(model: FaceModel, kind: str) -> None:
    left = model.landmarks(ms.from_dict({f"{kind}Left": 1.0})[0]) - NEUTRAL_FACE
    right = model.landmarks(ms.from_dict({f"{kind}Right": 1.0})[0]) - NEUTRAL_FACE
    np.testing.assert_allclose(left, right[MIRROR] * np.array([-1, 1, 1]), atol=1e-5)
    # "Left" is the subject's left, i.e. image-right (+x).
    assert np.abs(left[NEUTRAL_FACE[:, 0] > 0.05]).sum() > np.abs(left[NEUTRAL_FACE[:, 0] < -0.05]).sum()


def test_blink_closes_the_eye_and_jaw_opens_the_mouth(model: FaceModel) -> None:
    closed = model.landmarks(ms.from_dict({"eyeBlinkLeft": 1.0})[0])
    upper, lower = closed[386], closed[374]  # mid upper lid, mid lower lid
    gap_before = NEUTRAL_FACE[374, 1] - NEUTRAL_FACE[386, 1]
    assert abs(lower[1] - upper[1]) < 0.15 * gap_before
    opened = model.landmarks(ms.from_dict({"jawOpen": 1.0})[0])
    assert opened[14, 1] - opened[13, 1] > 0.08  # inner lips part by > 8% of the face width
    assert opened[fr.CHIN, 1] > NEUTRAL_FACE[fr.CHIN, 1] + 0.05


def test_pose_directions(model: FaceModel) -> None:
    nose = NEUTRAL_FACE[fr.NOSE_TIP]
    assert model.landmarks(ms.from_dict({"headYaw": 0.3})[0])[fr.NOSE_TIP, 0] > nose[0] + 0.05
    assert model.landmarks(ms.from_dict({"headPitch": 0.3})[0])[fr.NOSE_TIP, 1] > nose[1] + 0.05
    rolled = model.landmarks(ms.from_dict({"headRoll": 0.3})[0])
    assert rolled[fr.EYE_LEFT_UPPER[0], 1] > NEUTRAL_FACE[fr.EYE_LEFT_UPPER[0], 1]  # clockwise
    grown = model.landmarks(ms.from_dict({"headLogScale": 0.2})[0])
    assert np.ptp(grown[:, 0]) == pytest.approx(np.ptp(NEUTRAL_FACE[:, 0]) * math.exp(0.2), rel=1e-4)


def test_euler_round_trip() -> None:
    for yaw, pitch, roll in [(0.3, -0.2, 0.1), (-0.5, 0.35, -0.3), (0.0, 0.0, 0.0)]:
        r = euler_to_matrix(torch.tensor(yaw), torch.tensor(pitch), torch.tensor(roll)).numpy()
        assert np.allclose(matrix_to_euler(r), (yaw, pitch, roll), atol=1e-6)


def test_out_of_range_and_nan_motion_is_clamped(model: FaceModel) -> None:
    wild = np.full((3, ms.MOTION_DIM), 1e6, dtype=np.float32)
    wild[1] = -1e6
    wild[2] = np.nan
    out = model.landmarks(wild)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[0], model.landmarks(ms.HIGH.copy()), atol=1e-5)
    np.testing.assert_allclose(out[2], NEUTRAL_FACE, atol=1e-6)


def _random_motion(frames: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    motion = ms.zeros(frames)
    for t in range(frames):
        k = rng.choice(np.arange(ms.EXPRESSION_SLICE.start, ms.EXPRESSION_SLICE.stop), size=4, replace=False)
        motion[t, k] = rng.uniform(0, 1, 4)
    motion[:, ms.GAZE_SLICE] = rng.uniform(-1, 1, (frames, 2))
    motion[:, ms.POSE_SLICE] = rng.uniform(-1, 1, (frames, 6)) * np.array([0.3, 0.2, 0.2, 0.1, 0.1, 0.1])
    return motion


def test_round_trip_motion_landmarks_motion() -> None:
    """The round-trip figures in docs/motion.md ("The face model") come from this test's measurements."""
    placement = Placement(
        euler_to_matrix(torch.tensor(0.1), torch.tensor(-0.05), torch.tensor(0.03)).numpy(),
        110.0,
        np.array([128.0, 140.0, 0.0], np.float32),
    )
    model = FaceModel(NEUTRAL_FACE, placement)
    motion = _random_motion(40)
    landmarks = model.landmarks(motion)
    recovered = fit_motion(landmarks, NEUTRAL_FACE, reference=placement)
    err = np.abs(recovered - motion)
    assert err[:, ms.POSE_SLICE].max() < 1e-3
    assert err[:, ms.DEFORM_SLICE].mean() < 0.02
    rms_px = np.sqrt(((model.landmarks(recovered) - landmarks) ** 2).sum(-1).mean())
    assert rms_px < 0.05  # landmark reconstruction, pixels at 110 px per face width


def test_fit_expression_recovers_single_coefficients() -> None:
    model = FaceModel()
    for name in ("jawOpen", "mouthSmileLeft", "eyeBlinkRight", "browInnerUp", "mouthPucker"):
        shape = model.landmarks(ms.from_dict({name: 0.6})[0])
        coeffs = fit_expression(shape)
        assert coeffs[ms.INDEX[name] - ms.POSE_DIM] == pytest.approx(0.6, abs=0.03), name


def test_placement_round_trip_and_estimate() -> None:
    rot = euler_to_matrix(torch.tensor(0.2), torch.tensor(0.1), torch.tensor(-0.1)).numpy()
    placement = Placement(rot, 90.0, np.array([200.0, 180.0, 5.0], np.float32))
    px = placement.to_pixels(NEUTRAL_FACE)
    np.testing.assert_allclose(placement.to_canonical(px), NEUTRAL_FACE, atol=1e-4)
    est = estimate_placement(px)
    assert est.scale == pytest.approx(90.0, rel=1e-4)
    np.testing.assert_allclose(est.angles(), (0.2, 0.1, -0.1), atol=1e-4)
    with pytest.raises(ValueError):
        estimate_placement(px[:10])


def test_onnx_export_matches_torch(tmp_path) -> None:
    import onnxruntime as ort

    from xactor.export.onnx_face_model import export_face_model

    placement = Placement(np.eye(3, dtype=np.float32), 100.0, np.array([128.0, 128.0, 0.0], np.float32))
    model = FaceModel(NEUTRAL_FACE, placement)
    path = tmp_path / "face_model.onnx"
    assert export_face_model(model, path) <= 1e-4
    motion = _random_motion(7, seed=3)  # a batch size the export never saw
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"motion": motion})[0]
    expected = model.landmarks(motion)
    assert np.abs(got - expected).max() / np.abs(expected).max() <= 1e-4
