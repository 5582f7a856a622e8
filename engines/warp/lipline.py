"""The inner lip lines: which side of each lip a point is on, and lips that seal.

The region between the inner lips is not skin: it is a hole the lips open and close over, and
what shows in it is painted by :mod:`xactor.engines.warp.mouth`. Two rules keep it that way, both
measured with *lip heights* in the mouth's frame (u along the mouth, v down the face): for the
upper lip ``v_upper(u) - v`` (> 0 inside the lip, < 0 below its inner edge, in the opening), for
the lower lip ``v - v_lower(u)``.

* **An opening is where both heights are negative.** Lips that pass through each other (a
  retargeted smile pressed shut overshoots, and the face model closes the corners before the
  centre) make a self-crossing inner-lip polygon whose loops the even-odd rule calls inside; they
  are closed lips, not an opening.
* **The lip layers never read the photo's opening.** A warp layer carries its lip onto the
  target; where the smooth field falls short (a lip thinner than a node spacing), a pixel at the
  target lip edge would read the photo just past the reference lip edge: the teeth of a portrait
  photographed with parted lips, a bright seam where the lips should meet. So a source point of
  the upper layer may lie no deeper in the reference than its pixel lies in the target
  (``h_ref(source) >= min(h_target(pixel), margin)``), and is pushed up along the mouth's normal
  until it does; the lower layer likewise, downward. At zero motion the two heights are equal,
  so nothing moves and the photo comes back exactly.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from xactor.engines.warp import kernels

Array = np.ndarray

# The lip band a target pixel at the lip edge reads from: this far (px at 256) inside the
# reference lip, so a closed mouth's meeting line is lip, not the lip's edge blended with teeth.
SEAL_MARGIN_PX = 1.0
CORNER_FADE = 0.2  # mouth half-widths over which the margin fades out toward each corner
_TOLERANCE = 1e-3  # px: equal heights (zero motion) never push


def contour_v(
    frame: torch.Tensor, half_width: torch.Tensor, uv: torch.Tensor, contour: torch.Tensor
) -> torch.Tensor:
    """v (px down the face) of ``contour`` [B, K, 2] (corner to corner, reference px) at each
    node's u; ``uv`` [N, 2] node coordinates in the mouth frame ``frame`` [3, 2] (centre, axis,
    normal) → [B, N]. Piecewise linear in u, level beyond either end."""
    centre, axis, normal = frame[0], frame[1], frame[2]
    rel = contour - centre  # [B, K, 2]
    cu = (rel @ axis) / half_width  # [B, K]
    cv = rel @ normal
    u = uv[:, 0].reshape(1, -1, 1)  # [1, N, 1]
    u0, u1 = cu[:, None, :-1], cu[:, None, 1:]  # [B, 1, K-1]
    v0, v1 = cv[:, None, :-1], cv[:, None, 1:]
    span = u1 - u0
    span = torch.where(span.abs() < 1e-6, torch.full_like(span, 1e-6), span)
    t = (u - u0) / span  # [B, N, K-1]
    inside = ((t >= 0.0) & (t < 1.0)).to(t.dtype)
    hits = inside.sum(-1)  # [B, N] (more than one only if the contour doubles back)
    line = (inside * (v0 + t * (v1 - v0))).sum(-1) / torch.clamp(hits, min=1.0)
    left = (u[..., 0] < cu[:, :1]).to(t.dtype)
    missed = (hits < 0.5).to(t.dtype)
    ends = left * cv[:, :1] + (1.0 - left) * cv[:, -1:]
    return line + missed * ends


def lip_heights(
    frame: torch.Tensor, half_width: torch.Tensor, uv: torch.Tensor, upper: torch.Tensor, lower: torch.Tensor
) -> torch.Tensor:
    """Heights [B, 2, N] of nodes ``uv`` [N, 2] into the upper and the lower lip (px; > 0 inside
    the lip, < 0 on the opening's side of its inner edge); contours [B, K, 2] corner to corner."""
    v = uv[:, 1][None]  # [1, N]
    up = contour_v(frame, half_width, uv, upper) - v
    low = v - contour_v(frame, half_width, uv, lower)
    return torch.stack([up, low], 1)


def seal_maps(heights: Array, u: Array, half_width: float) -> Array:
    """Per-layer reference maps [2 (upper, lower), 2, V, U] on the mouth ROI's nodes: the lip
    height, and where the rule applies.

    ``heights`` [2, V, U] from :func:`lip_heights` on the reference lips, ``u`` [V, U] the nodes'
    position along the mouth (half-widths). The rule applies between the corners (beyond them the
    lips are joined skin) and on this layer's side of the *other* lip's inner edge: what lies
    inside the other lip, or beyond it (the chin, for the upper layer), is skin and lip, not the
    opening, and is left alone (one-pixel ramps).
    """
    span = np.clip((1.0 - np.abs(u)) * half_width + 0.5, 0.0, 1.0)
    maps = [np.stack([heights[k], span * np.clip(0.5 - heights[1 - k], 0.0, 1.0)]) for k in range(2)]
    return np.stack(maps).astype(np.float32)  # [2, 2, V, U]


def seal_margin(u: Array, size: int) -> Array:
    """[V, U] px: how far inside the reference lip a target pixel at the lip edge reads. It fades
    toward the corners, where the opening narrows to nothing, so the push is continuous there."""
    t = np.clip((1.0 - np.abs(u)) / CORNER_FADE, 0.0, 1.0)
    return (SEAL_MARGIN_PX * size / 256.0 * t * t * (3.0 - 2.0 * t)).astype(np.float32)


def seal_sources(
    maps: torch.Tensor,
    to_roi: torch.Tensor,
    normal: torch.Tensor,
    sources: torch.Tensor,
    allowed: torch.Tensor,
) -> torch.Tensor:
    """Pushes the warp layers' source points out of the reference opening.

    ``maps`` [2, 2, V, U] (:func:`seal_maps`), ``to_roi`` [2, 3] reference px → ROI sampling
    coordinates, ``normal`` [2] the mouth's downward normal; ``sources`` [B, 2 (layer), 2 (xy),
    H, W] reference px per target pixel (the whole frame or the mouth's window of it);
    ``allowed`` [B, 2, H, W] the least height into the reference's upper and lower lip each
    pixel's source may have: its own height into the target's lip, at most the margin
    (:func:`seal_margin`). Returns the sources, same shape. One fused kernel on a CPU at inference
    (:mod:`xactor.engines.warp.kernels`; this code is its reference).
    """
    if kernels.enabled(maps, sources, allowed):
        return kernels.seal_sources(maps, to_roi, normal, sources, allowed, _TOLERANCE)
    batch, height, width = sources.shape[0], sources.shape[-2], sources.shape[-1]
    x, y = sources[:, :, 0], sources[:, :, 1]  # [B, 2, H, W]
    gx = to_roi[0, 0] * x + to_roi[0, 1] * y + to_roi[0, 2]
    gy = to_roi[1, 0] * x + to_roi[1, 1] * y + to_roi[1, 2]
    grid = torch.stack([gx, gy], -1).reshape(batch * 2, height, width, 2)
    planes = maps[None].expand(batch, -1, -1, -1, -1).reshape(batch * 2, 2, maps.shape[2], maps.shape[3])
    at = F.grid_sample(planes, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    at = at.reshape(batch, 2, 2, height, width)  # [B, layer, (height, weight), H, W]
    push = at[:, :, 1] * torch.relu(allowed - at[:, :, 0] - _TOLERANCE)  # [B, 2, H, W]
    way = torch.stack([-normal, normal])  # [2 (layer), 2 (xy)]: the upper lip is up
    return sources + push[:, :, None] * way[None, :, :, None, None]
