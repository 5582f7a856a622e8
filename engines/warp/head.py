"""Head motion beyond the landmarks: anchors for hair, ears and neck, and the mouth's local frame.

Landmarks only cover the face. Hair, ears and neck move with the head too, and the background
must not. Rings of *anchor* points around the face oval follow the oval point they were grown
from: fully on the hair side of the first ring, partly toward the neck (so an opening jaw stretches
the skin under the chin instead of crushing it), less on the second ring, and not at all on an
outer ring, beyond which the background stays put. Following the silhouette (rather than a rigid
fit) keeps hair and face together when a yaw slides the outline across the picture.

The mouth interior is painted in a frame fixed to the skull near the mouth: the affine map that
best carries the reference lips onto the lips of the *pose-only* target (no expression), which
follows foreshortening under yaw and pitch but not the lips' own motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from xactor.engines import face_regions as fr

Array = np.ndarray

# (ring radius in face radii, weight of the oval's motion on the hair side, on the neck side)
RINGS: tuple[tuple[float, float, float], ...] = (
    (1.25, 1.0, 0.6),
    (1.6, 0.55, 0.25),
    (2.0, 0.0, 0.0),
)
MOUTH_FRAME_POINTS: tuple[int, ...] = fr.LIPS


def _smoothstep(t: Array) -> Array:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


@dataclass
class Anchors:
    """Anchor points around the face: moving ones (each follows one oval landmark) and still ones."""

    moving: Array  # [A, 2] px
    follows: Array  # [A] landmark index of the oval point each anchor follows
    weight: Array  # [A] fraction of that point's displacement
    still: Array  # [F, 2] px


def head_anchors(landmarks: Array, size: int, margin: float) -> Anchors:
    """Rings around the face oval of reference landmarks [478, 2+]; points off the crop are dropped."""
    oval_idx = np.array(fr.FACE_OVAL)
    oval = landmarks[oval_idx, :2].astype(np.float64)
    centre = oval.mean(0)
    rel = oval - centre
    up = -rel[:, 1] / np.linalg.norm(rel, axis=1)  # 1 at the top of the head, -1 under the chin
    hair = _smoothstep((up + 0.3) / 0.6)
    moving, follows, weight, still = [], [], [], []
    for radius, w_hair, w_neck in RINGS:
        points = centre + radius * rel
        keep = np.all((points >= margin) & (points <= size - 1 - margin), axis=1)
        if w_hair == 0.0 and w_neck == 0.0:
            still.append(points[keep])
            continue
        moving.append(points[keep])
        follows.append(oval_idx[keep])
        weight.append((w_neck + (w_hair - w_neck) * hair)[keep])
    return Anchors(
        moving=np.concatenate(moving).astype(np.float32),
        follows=np.concatenate(follows).astype(np.int64),
        weight=np.concatenate(weight).astype(np.float32),
        still=np.concatenate(still).astype(np.float32) if still else np.zeros((0, 2), np.float32),
    )


def parallax_keep(landmarks: Array, floor: float = 0.15) -> Array:
    """Per landmark [478], how much of its pose *parallax* (motion beyond the skull's similarity)
    the warp keeps: 1 inside the face, down to ``floor`` on the outline.

    Near the silhouette a 3D turn folds the surface over itself in the picture (the far cheek
    slides behind its own outline); a 2D warp cannot occlude, so there the landmarks move with
    the skull instead, and the fold never happens.
    """
    oval = landmarks[list(fr.FACE_OVAL), :2].astype(np.float64)
    centre = oval.mean(0)
    rel = oval - centre
    angle, radius = np.arctan2(rel[:, 1], rel[:, 0]), np.linalg.norm(rel, axis=1)
    order = np.argsort(angle)
    pts = landmarks[:, :2] - centre
    at = np.interp(np.arctan2(pts[:, 1], pts[:, 0]), angle[order], radius[order], period=2 * np.pi)
    rho = np.linalg.norm(pts, axis=1) / at  # 0 at the centre, 1 on the outline
    return (1.0 - (1.0 - floor) * _smoothstep((rho - 0.55) / 0.45)).astype(np.float32)


def fit_similarity(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Least-squares 2D similarity [B, 2, 3] from ``source`` [R, 2] to ``target`` [B, R, 2].

    Closed form (no SVD), so it exports to ONNX; solved for the displacements (small numbers)
    so float32 rounding stays negligible.
    """
    mu_s = source.mean(0)  # [2]
    a_s = source - mu_s  # [R, 2]
    delta = target - source  # [B, R, 2]
    mu_d = delta.mean(1)  # [B, 2]
    a_d = delta - mu_d[:, None, :]  # [B, R, 2]
    denom = (a_s * a_s).sum()
    a = (a_s[None] * a_d).sum((1, 2)) / denom  # [B] (the similarity's a - 1)
    b = (a_s[None, :, 0] * a_d[..., 1] - a_s[None, :, 1] * a_d[..., 0]).sum(1) / denom  # [B]
    lin = torch.stack([torch.stack([a, -b], -1), torch.stack([b, a], -1)], -2)  # [B, 2, 2]
    shift = mu_d - (lin @ mu_s[:, None])[..., 0]  # [B, 2]
    eye = torch.eye(2, 3, dtype=target.dtype, device=target.device)
    return eye + torch.cat([lin, shift[..., None]], -1)


def affine_fit_matrix(points: Array) -> Array:
    """[3, K] pseudo-inverse of ``[x, y, 1]`` rows of fixed source points [K, 2].

    ``(P @ target).T`` is then the least-squares affine [2, 3] from the sources to ``target`` [K, 2]:
    one matrix product per frame, exportable.
    """
    x = np.concatenate([points[:, :2], np.ones((len(points), 1))], 1).astype(np.float64)
    return np.linalg.pinv(x).astype(np.float32)


def fit_affine(
    pinv: torch.Tensor, source: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(forward, inverse) affine matrices [B, 2, 3] from ``pinv`` [3, K] of ``source`` [K, 2] and
    targets [B, K, 2].

    Fitted to the *displacements* (a few pixels) rather than the positions (hundreds), so float32
    rounding stays far below a pixel, in torch and in ONNX Runtime alike.
    """
    delta = (pinv @ (target - source)).transpose(1, 2)  # [B, 2, 3]
    eye = torch.eye(2, 3, dtype=target.dtype, device=target.device)
    forward = eye + delta
    a, b, c, d = forward[:, 0, 0], forward[:, 0, 1], forward[:, 1, 0], forward[:, 1, 1]
    det = a * d - b * c
    det = torch.where(det.abs() < 1e-6, torch.full_like(det, 1e-6), det)
    inv_lin = torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2) / det[:, None, None]
    inv_shift = -(inv_lin @ forward[:, :, 2:])  # [B, 2, 1]
    return forward, torch.cat([inv_lin, inv_shift], -1)


def compose_affine(outer: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """``outer ∘ inner`` for affine matrices [B or 1, 2, 3] → [B, 2, 3]."""
    lin = outer[:, :, :2] @ inner[:, :, :2]
    shift = outer[:, :, :2] @ inner[:, :, 2:] + outer[:, :, 2:]
    return torch.cat([lin, shift], -1)


def apply_affine(matrix: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """[B, 2, 3] affine applied to points [B or 1, N, 2] → [B, N, 2]."""
    return points @ matrix[:, :, :2].transpose(1, 2) + matrix[:, None, :, 2]
