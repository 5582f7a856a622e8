"""The face model: motion vectors ↔ 478 face landmarks (docs/ARCHITECTURE.md §1).

Forward (``FaceModel``): a batched torch function, exportable to ONNX,

    landmarks = s_ref · e^{logScale} · R(yaw, pitch, roll) · R_ref · (neutral + Σ_k c_k B_k)
                + t_ref + s_ref · [tx, ty, 0]

where ``B`` is the procedural blendshape basis of :mod:`xactor.engines.face_basis` built from the
subject's own neutral, and (R_ref, s_ref, t_ref) is the avatar's :class:`Placement` (the pose of
its reference portrait), so zero motion reproduces the reference landmarks exactly.

Inverse (``fit_motion``): a similarity Procrustes on rigid landmarks gives the head pose; the
expression and gaze coefficients are then the bounded least-squares solution (with a small ridge,
so that near-collinear blendshapes get a unique answer) relative to the subject's neutral.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import lsq_linear
from torch import nn

from xactor.engines import face_regions as fr
from xactor.engines import motion_space as ms
from xactor.engines.face_basis import build_basis

DATA = Path(__file__).resolve().parent / "data" / "neutral_face.npz"


@lru_cache
def _neutral_data() -> dict[str, np.ndarray]:
    with np.load(DATA) as data:
        return {k: data[k] for k in data.files}


NEUTRAL_FACE: np.ndarray = _neutral_data()["neutral"]  # [478, 3] canonical frame, face widths
MIRROR: np.ndarray = _neutral_data()["mirror"]  # [478] index of each point's left/right partner


# --- rotations -------------------------------------------------------------------------------------


def euler_to_matrix(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [..., 3, 3] = Rz(roll) · Ry(yaw) · Rx(pitch) in the x-right, y-down frame.

    Positive yaw turns the nose toward image-right, positive pitch moves it down (chin down),
    positive roll turns the face clockwise in the image.
    """
    cy, sy = torch.cos(yaw), torch.sin(yaw)
    cp, sp = torch.cos(pitch), torch.sin(pitch)
    cr, sr = torch.cos(roll), torch.sin(roll)
    one, zero = torch.ones_like(yaw), torch.zeros_like(yaw)
    rx = torch.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).unflatten(-1, (3, 3))
    ry = torch.stack([cy, zero, -sy, zero, one, zero, sy, zero, cy], -1).unflatten(-1, (3, 3))
    rz = torch.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).unflatten(-1, (3, 3))
    return rz @ ry @ rx


def matrix_to_euler(rotation: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`euler_to_matrix` for one matrix: (yaw, pitch, roll) in radians."""
    r = np.asarray(rotation, dtype=np.float64)
    # R = Rz Ry Rx; R[2,0] = sy, R[2,1] = cy sp, R[2,2] = cy cp, R[0,0] = cr cy, R[1,0] = sr cy.
    yaw = math.asin(float(np.clip(r[2, 0], -1.0, 1.0)))
    pitch = math.atan2(float(r[2, 1]), float(r[2, 2]))
    roll = math.atan2(float(r[1, 0]), float(r[0, 0]))
    return yaw, pitch, roll


# --- placement -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Similarity from the canonical face frame to pixels: ``px = scale · R @ canon + translation``."""

    rotation: np.ndarray  # [3, 3]
    scale: float  # pixels per face width
    translation: np.ndarray  # [3] pixels (z in the same units as x)

    @classmethod
    def identity(cls) -> Placement:
        return cls(np.eye(3, dtype=np.float32), 1.0, np.zeros(3, dtype=np.float32))

    def to_pixels(self, canon: np.ndarray) -> np.ndarray:
        """Canonical points [..., 3] → pixels [..., 3]."""
        return (self.scale * canon @ self.rotation.T + self.translation).astype(np.float32)

    def to_canonical(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels [..., 3] → canonical points [..., 3] (pose and size removed)."""
        return ((pixels - self.translation) @ self.rotation / self.scale).astype(np.float32)

    def angles(self) -> tuple[float, float, float]:
        """(yaw, pitch, roll) of the head in radians, in the motion-space convention."""
        return matrix_to_euler(self.rotation)

    def scaled(self, factor: float) -> Placement:
        """The same placement in an image resized by ``factor`` (e.g. the 512 crop from the 256 one)."""
        return Placement(self.rotation, self.scale * factor, self.translation * factor)

    def as_dict(self) -> dict[str, np.ndarray]:
        return {
            "rotation": np.asarray(self.rotation, np.float32),
            "scale": np.asarray([self.scale], np.float32),
            "translation": np.asarray(self.translation, np.float32),
        }

    @classmethod
    def from_dict(cls, d: dict[str, np.ndarray]) -> Placement:
        return cls(
            np.asarray(d["rotation"]),
            float(np.asarray(d["scale"]).reshape(-1)[0]),
            np.asarray(d["translation"]),
        )


def estimate_placement(landmarks: np.ndarray, neutral: np.ndarray | None = None) -> Placement:
    """Similarity (Umeyama) that best maps ``neutral``'s rigid points onto ``landmarks`` [478, 3] px."""
    if landmarks.shape != (fr.NUM_LANDMARKS, 3):
        raise ValueError(f"landmarks must be [{fr.NUM_LANDMARKS}, 3], got {landmarks.shape}")
    ref = (NEUTRAL_FACE if neutral is None else neutral)[list(fr.RIGID)].astype(np.float64)
    obs = landmarks[list(fr.RIGID)].astype(np.float64)
    mu_r, mu_o = ref.mean(0), obs.mean(0)
    a, b = ref - mu_r, obs - mu_o
    u, sigma, vt = np.linalg.svd(b.T @ a / len(ref))
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt))
    rotation = u @ np.diag(d) @ vt
    scale = float((sigma * d).sum() / (a**2).sum(1).mean())
    translation = mu_o - scale * rotation @ mu_r
    return Placement(rotation.astype(np.float32), scale, translation.astype(np.float32))


# --- forward ---------------------------------------------------------------------------------------


class FaceModel(nn.Module):
    """motion [B, 40] → landmarks [B, 478, 3]; per-subject constants live in buffers.

    With a ``placement`` the output is in that image's pixels (zero motion = the landmarks the
    placement was estimated from, when ``neutral`` is that subject's canonical shape); without
    one it is in canonical face widths.
    """

    neutral: torch.Tensor  # [478, 3] canonical
    basis: torch.Tensor  # [34, 478*3]
    ref_rotation: torch.Tensor  # [3, 3]
    ref_translation: torch.Tensor  # [3] pixels
    low: torch.Tensor  # [40]
    high: torch.Tensor  # [40]

    def __init__(self, neutral: np.ndarray | None = None, placement: Placement | None = None) -> None:
        super().__init__()
        neutral = NEUTRAL_FACE if neutral is None else np.asarray(neutral, dtype=np.float32)
        placement = placement or Placement.identity()
        self.register_buffer("neutral", torch.as_tensor(neutral, dtype=torch.float32))  # [478, 3]
        basis = torch.as_tensor(build_basis(neutral))  # [34, 478, 3]
        self.register_buffer("basis", basis.flatten(1))  # [34, 478*3]
        self.register_buffer("ref_rotation", torch.as_tensor(placement.rotation, dtype=torch.float32))
        self.register_buffer("ref_translation", torch.as_tensor(placement.translation, dtype=torch.float32))
        self.ref_scale = float(placement.scale)
        self.register_buffer("low", torch.as_tensor(ms.LOW))
        self.register_buffer("high", torch.as_tensor(ms.HIGH))

    def canonical_shape(self, motion: torch.Tensor) -> torch.Tensor:
        """Expression and gaze only, no pose: [B, 40] → [B, 478, 3] canonical."""
        coeffs = motion[:, ms.DEFORM_SLICE]  # [B, 34]
        return self.neutral + (coeffs @ self.basis).unflatten(-1, (fr.NUM_LANDMARKS, 3))

    def rigid(self, motion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The head's similarity for (clamped) motion [B, 40]: rotation [B, 3, 3], scale [B] (pixels
        per face width) and translation [B, 3], so that ``px = scale · R @ canon + translation``.
        Anything rigidly attached to the head (hair, teeth of a procedural face) moves by it."""
        rot = euler_to_matrix(motion[:, 0], motion[:, 1], motion[:, 2]) @ self.ref_rotation  # [B, 3, 3]
        scale = self.ref_scale * torch.exp(motion[:, 5])  # [B]
        shift = torch.stack([motion[:, 3], motion[:, 4], torch.zeros_like(motion[:, 3])], -1)  # [B, 3]
        return rot, scale, self.ref_translation + self.ref_scale * shift

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        """motion [B, 40] (clamped to its valid range; NaN → 0) → landmarks [B, 478, 3]."""
        motion = torch.nan_to_num(motion, nan=0.0, posinf=1e4, neginf=-1e4)
        motion = torch.maximum(torch.minimum(motion, self.high), self.low)
        shape = self.canonical_shape(motion)  # [B, 478, 3]
        rot, scale, translation = self.rigid(motion)
        posed = scale[:, None, None] * (shape @ rot.transpose(1, 2))  # [B, 478, 3]
        return posed + translation[:, None, :]

    def landmarks(self, motion: np.ndarray) -> np.ndarray:
        """NumPy convenience: motion [B, 40] or [40] → landmarks [B, 478, 3] or [478, 3]."""
        single = motion.ndim == 1
        with torch.no_grad():
            out = self(torch.as_tensor(np.atleast_2d(motion), dtype=torch.float32)).numpy()
        return out[0] if single else out


# --- inverse ---------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _basis_matrix(neutral_bytes: bytes) -> np.ndarray:
    neutral = np.frombuffer(neutral_bytes, dtype=np.float32).reshape(fr.NUM_LANDMARKS, 3)
    return build_basis(neutral).reshape(len(ms.NAMES[ms.DEFORM_SLICE]), -1).T.astype(np.float64)


def fit_expression(shape: np.ndarray, neutral: np.ndarray | None = None, ridge: float = 1e-4) -> np.ndarray:
    """Expression + gaze coefficients [..., 34] that best explain canonical ``shape`` [..., 478, 3].

    Bounded least squares (coefficients within their motion-space ranges) on the displacement
    from ``neutral``, with a small ridge so near-collinear blendshapes get a unique answer.
    """
    neutral = NEUTRAL_FACE if neutral is None else np.asarray(neutral, dtype=np.float32)
    a = _basis_matrix(np.ascontiguousarray(neutral, dtype=np.float32).tobytes())  # [1434, 34]
    k = a.shape[1]
    a_aug = np.vstack([a, math.sqrt(ridge) * np.eye(k)])
    low, high = ms.LOW[ms.DEFORM_SLICE].astype(np.float64), ms.HIGH[ms.DEFORM_SLICE].astype(np.float64)
    frames = np.asarray(shape, dtype=np.float64).reshape(-1, fr.NUM_LANDMARKS * 3)
    out = np.empty((len(frames), k), dtype=np.float32)
    for i, frame in enumerate(frames):
        b = np.concatenate([frame - neutral.reshape(-1), np.zeros(k)])
        out[i] = lsq_linear(a_aug, b, bounds=(low, high), method="bvls").x
    return out.reshape(*np.shape(shape)[:-2], k)


def fit_motion(
    landmarks: np.ndarray,
    neutral: np.ndarray,
    reference: Placement | None = None,
    iterations: int = 2,
) -> np.ndarray:
    """Tracked landmarks [T, 478, 3] (pixels) → motion [T, 40] relative to a subject's ``neutral``.

    ``reference`` is the placement that zero pose means (default: the first frame's). Pose comes
    from rigid points; expression is refitted after removing it; a second pass re-estimates the
    pose from the landmarks with the expression taken out, which removes the bias that expression
    (e.g. a raised brow on the forehead points) puts into the rigid fit.
    """
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (fr.NUM_LANDMARKS, 3):
        raise ValueError(f"landmarks must be [T, {fr.NUM_LANDMARKS}, 3], got {landmarks.shape}")
    neutral = np.asarray(neutral, dtype=np.float32)
    basis = _basis_matrix(np.ascontiguousarray(neutral).tobytes()).T.reshape(-1, fr.NUM_LANDMARKS, 3)
    placements = [estimate_placement(frame, neutral) for frame in landmarks]
    reference = reference or placements[0]
    motion = ms.zeros(len(landmarks))
    for t, frame in enumerate(landmarks):
        placement = placements[t]
        for _ in range(iterations):
            coeffs = fit_expression(placement.to_canonical(frame), neutral)
            expressive = neutral + np.tensordot(coeffs, basis, axes=1).astype(np.float32)
            placement = estimate_placement(frame, expressive)
        coeffs = fit_expression(placement.to_canonical(frame), neutral)
        motion[t, ms.DEFORM_SLICE] = coeffs
        motion[t, ms.POSE_SLICE] = _relative_pose(placement, reference)
    return ms.clamp_np(motion)


def _relative_pose(placement: Placement, reference: Placement) -> np.ndarray:
    """The 6 pose values that move ``reference`` onto ``placement`` (see FaceModel.forward)."""
    delta = placement.rotation @ reference.rotation.T
    yaw, pitch, roll = matrix_to_euler(delta)
    shift = (placement.translation - reference.translation) / reference.scale
    return np.array(
        [yaw, pitch, roll, shift[0], shift[1], math.log(placement.scale / reference.scale)], np.float32
    )
