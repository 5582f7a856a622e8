"""Eyelids and irises, in the reference frame: blinks draw skin over the eye instead of squashing it.

Each eye gets a small axis-aligned patch of the reference crop (whole pixels). Per frame the patch
is re-read from the crop through a correction of where each pixel should come from, in the eye's
own frame (``u`` from the outer to the inner corner, ``v`` down the face):

* upper lid: the lash band slides down rigidly to the new lid line and the skin between it and
  ``reach_up`` above the lid stretches to follow, so the eyeball is covered (occlusion, not squash);
* lower lid: the same from below (squint, and the 10 % rise of a blink);
* wide eyes: the eyeball opening is stretched from the lid that retreats;
* gaze: inside the new iris disc the iris is read from where it was; where the iris was and no
  longer is, the avatar's sclera colour is painted.

The corrected patches are pasted back into the crop (static slices), and the main warp then reads
that per-frame crop, so the eyes move with the face at no extra full-resolution cost. The lid
motion comes from the face model with only the eyelid and gaze coefficients set and no pose,
i.e. in reference pixels. Zero motion reads every pixel from itself: the crop is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from xactor.engines import face_regions as fr
from xactor.engines.warp import kernels

Array = np.ndarray

# (upper lid outer→inner, lower lid outer→inner, iris centre first, brow lower edge)
EYES: tuple[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]], ...] = (
    (fr.EYE_RIGHT_UPPER, fr.EYE_RIGHT_LOWER, fr.IRIS_RIGHT, fr.BROW_RIGHT_LOWER),
    (fr.EYE_LEFT_UPPER, fr.EYE_LEFT_LOWER, fr.IRIS_LEFT, fr.BROW_LEFT_LOWER),
)


# Skin above the upper lid that a blink stretches over the eye, in eye openings. Short enough to
# stay below brows and the rims of glasses, long enough that the stretch stays under ~2.5x.
REACH = 0.85


def _interp_matrix(at: Array, xs: Array) -> Array:
    """Rows [len(at), len(xs)] of piecewise-linear interpolation at ``at`` (clamped at the ends)."""
    order = np.argsort(xs)
    xs_sorted = xs[order]
    out = np.zeros((len(at), len(xs)))
    for i, a in enumerate(np.clip(at, xs_sorted[0], xs_sorted[-1])):
        k = int(np.clip(np.searchsorted(xs_sorted, a) - 1, 0, len(xs) - 2))
        span = max(xs_sorted[k + 1] - xs_sorted[k], 1e-6)
        t = np.clip((a - xs_sorted[k]) / span, 0.0, 1.0)
        out[i, order[k]] += 1 - t
        out[i, order[k + 1]] += t
    return out


@dataclass
class EyeConstants:
    """Per-avatar eye tensors, both eyes stacked on the first axis (E = 2), patches [H, W] each.

    Both patches span the same rows ``y0:y0+H``; eye ``e`` spans columns ``x0[e]:x0[e]+W``.
    """

    upper_idx: Array  # [E, 7] inner upper-lid landmarks
    lower_idx: Array  # [E, 7]
    iris_idx: Array  # [E] iris centre landmark
    origin: Array  # [E, 2] px, eye-frame origin (midpoint of the corners)
    axis: Array  # [E, 2] unit, outer → inner corner
    normal: Array  # [E, 2] unit, down the face
    u: Array  # [E, H, W] eye-frame coordinates of every patch pixel
    v: Array  # [E, H, W]
    interp_up: Array  # [E, H*W, 7] closure fraction at the inner lid points → per pixel
    interp_low: Array  # [E, H*W, 7]
    gap_up: Array  # [E, 7] eye opening (px) under each inner upper-lid point
    gap_low: Array  # [E, 7] eye opening above each inner lower-lid point
    lid_up: Array  # [E, H, W] reference upper-lid v at each pixel's u
    lid_low: Array  # [E, H, W]
    reach_up: Array  # [E, H, W] stretch zone above the upper lid (px)
    reach_low: Array  # [E, H, W] stretch zone below the lower lid
    band_up: Array  # [E, H, W] lid margin (lashes) that slides rigidly
    band_low: Array  # [E, H, W]
    iris_centre: Array  # [E, 2] (u, v) of the reference iris
    iris_radius: Array  # [E]
    half_width: Array  # [E] half the corner-to-corner width (px)
    sclera: Array  # [E, 3] colour in [0, 1]
    y0: int
    x0: tuple[int, ...]


def eye_constants(crop: Array, landmarks: Array, size: int) -> EyeConstants:
    """Measure both eyes of a reference crop [S, S, 3] uint8 with landmarks [478, 2+] (px)."""
    lm = landmarks[:, :2].astype(np.float64)
    frames = []
    for upper, lower, iris, brow in EYES:
        outer, inner = lm[upper[0]], lm[upper[-1]]
        origin = 0.5 * (outer + inner)
        axis = (inner - outer) / np.linalg.norm(inner - outer)
        normal = np.array([-axis[1], axis[0]])
        normal = normal if normal[1] > 0 else -normal
        width = float(np.linalg.norm(inner - outer))

        def local(idx: tuple[int, ...], origin: Array = origin, axis: Array = axis, normal: Array = normal):
            rel = lm[list(idx)] - origin
            return rel @ axis, rel @ normal

        uu, vu = local(upper)
        ul, vl = local(lower)
        ub, vb = local(brow)
        lower_at_upper = np.interp(uu, np.sort(ul), vl[np.argsort(ul)])
        upper_at_lower = np.interp(ul, np.sort(uu), vu[np.argsort(uu)])
        opening = max(float(np.max(lower_at_upper - vu)), 0.12 * width)
        reach = REACH * opening
        u_range = np.array([-0.65 * width, 0.65 * width])
        v_range = np.array([float(np.min(vu)) - reach - 2.0, float(np.max(vl)) + 0.9 * opening + 2.0])
        corners = np.array([origin + a * axis + b * normal for a in u_range for b in v_range])
        frames.append(
            dict(
                upper=upper, lower=lower, iris=iris, origin=origin, axis=axis, normal=normal,
                uu=uu, vu=vu, ul=ul, vl=vl, ub=ub, vb=vb, lower_at_upper=lower_at_upper,
                upper_at_lower=upper_at_lower, opening=opening, box=(corners.min(0), corners.max(0)),
            )
        )  # fmt: skip
    # Patch boxes on whole pixels; both eyes share the rows and the width, each has its columns.
    y0 = int(np.clip(np.floor(min(f["box"][0][1] for f in frames)), 0, size - 2))
    y1 = int(np.clip(np.ceil(max(f["box"][1][1] for f in frames)), y0 + 1, size - 1))
    centres = [0.5 * (f["box"][0][0] + f["box"][1][0]) for f in frames]
    w = int(np.ceil(max(f["box"][1][0] - f["box"][0][0] for f in frames)))
    w = max(1, min(w, int(abs(centres[1] - centres[0])), size // 2))  # the patches never overlap
    x0 = [int(np.clip(round(cx - w / 2), 0, size - w)) for cx in centres]
    ys, xs = np.mgrid[y0 : y1 + 1, 0:w].astype(np.float64)

    per_eye = []
    for f, left in zip(frames, x0, strict=True):
        pts = np.stack([xs + left, ys], -1) - f["origin"]  # [H, W, 2]
        u, v = pts @ f["axis"], pts @ f["normal"]
        flat_u = u.ravel()
        lid_up = (_interp_matrix(flat_u, f["uu"]) @ f["vu"]).reshape(u.shape)
        lid_low = (_interp_matrix(flat_u, f["ul"]) @ f["vl"]).reshape(u.shape)
        brow_v = np.interp(u, np.sort(f["ub"]), f["vb"][np.argsort(f["ub"])])
        opening = f["opening"]
        reach_up = np.clip(np.minimum(REACH * opening, 0.7 * (lid_up - brow_v)), 0.6 * opening, None)
        lm_i = lm[f["iris"][0]] - f["origin"]
        radius = float(np.mean(np.linalg.norm(lm[list(f["iris"][1:])] - lm[f["iris"][0]], axis=1)))
        per_eye.append(
            dict(
                upper_idx=np.array(f["upper"][1:-1]),
                lower_idx=np.array(f["lower"][1:-1]),
                iris_idx=np.array(f["iris"][0]),
                origin=f["origin"],
                axis=f["axis"],
                normal=f["normal"],
                u=u,
                v=v,
                # Closure is interpolated as a *fraction of the opening* (inner points only; the
                # corners never move), so a full blink closes every column exactly.
                interp_up=_interp_matrix(flat_u, f["uu"][1:-1]),
                interp_low=_interp_matrix(flat_u, f["ul"][1:-1]),
                gap_up=np.maximum(f["lower_at_upper"] - f["vu"], 0.5)[1:-1],
                gap_low=np.maximum(f["vl"] - f["upper_at_lower"], 0.5)[1:-1],
                lid_up=lid_up,
                lid_low=lid_low,
                reach_up=reach_up,
                reach_low=np.full_like(u, 0.9 * opening),
                band_up=np.full_like(u, 0.3 * opening),
                band_low=np.full_like(u, 0.15 * opening),
                iris_centre=np.array([lm_i @ f["axis"], lm_i @ f["normal"]]),
                iris_radius=np.array(radius),
                half_width=np.array(0.5 * np.linalg.norm(lm[f["upper"][-1]] - lm[f["upper"][0]])),
                sclera=_sclera_colour(crop, lm, f["upper"], f["lower"], lm[f["iris"][0]], radius),
            )
        )
    stacked = {
        k: np.stack([e[k] for e in per_eye]).astype(np.int64 if k.endswith("idx") else np.float32)
        for k in per_eye[0]
    }
    return EyeConstants(**stacked, y0=y0, x0=tuple(x0))


def _sclera_colour(
    crop: Array, lm: Array, upper: tuple[int, ...], lower: tuple[int, ...], iris: Array, radius: float
) -> Array:
    """Colour of the visible eyeball outside the iris (median of its brighter half), in [0, 1]."""
    import cv2

    mask = np.zeros(crop.shape[:2], np.uint8)
    contour = np.concatenate([lm[list(upper)], lm[list(lower)][::-1]]).round().astype(np.int32)
    cv2.fillPoly(mask, [contour], (1,))
    cv2.circle(mask, (round(iris[0]), round(iris[1])), round(1.3 * radius), (0,), -1)
    pixels = crop[mask > 0].astype(np.float64) / 255.0
    if len(pixels) < 4:
        return np.array([0.85, 0.82, 0.80])
    lum = pixels.mean(1)
    return np.median(pixels[lum >= np.percentile(lum, 50)], axis=0)


def _smooth(t: torch.Tensor) -> torch.Tensor:
    t = torch.clamp(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def eye_patches(
    c: dict[str, torch.Tensor], crop: torch.Tensor, lid_landmarks: torch.Tensor, ref_landmarks: torch.Tensor
) -> torch.Tensor:
    """Corrected eye patches [B, E, 3, H, W] read from ``crop`` [1, 3, S, S].

    ``lid_landmarks`` [B, 478, 2]: face model output with only eyelid/gaze coefficients, no pose;
    ``ref_landmarks`` [478, 2]: the reference. ``c`` holds :class:`EyeConstants` as tensors. On a
    CPU at inference all of it is one fused kernel (:mod:`xactor.engines.warp.kernels`; this code
    is its reference).
    """
    if kernels.enabled(crop, lid_landmarks, ref_landmarks):
        return kernels.eye_patches(c, crop, lid_landmarks, ref_landmarks)
    axis, normal = c["axis"], c["normal"]  # [E, 2]
    n_e, height, width = c["u"].shape
    batch = lid_landmarks.shape[0]
    disp = lid_landmarks - ref_landmarks  # [B, 478, 2]
    d_up = (disp[:, c["upper_idx"]] * normal[None, :, None, :]).sum(-1)  # [B, E, 7] down +
    d_low = (disp[:, c["lower_idx"]] * normal[None, :, None, :]).sum(-1)
    shift = disp[:, c["iris_idx"]]  # [B, E, 2] image px
    gaze = torch.stack([(shift * axis).sum(-1), (shift * normal).sum(-1)], -1)  # [B, E, 2] (u, v)

    def per_pixel(interp: torch.Tensor, frac: torch.Tensor) -> torch.Tensor:
        return torch.einsum("enk,bek->ben", interp, frac).reshape(batch, n_e, height, width)

    u, v = c["u"][None], c["v"][None]  # [1, E, H, W]
    lid_up, lid_low = c["lid_up"][None], c["lid_low"][None]
    opening = lid_low - lid_up
    close_up = per_pixel(c["interp_up"], d_up / c["gap_up"])  # [B, E, H, W]
    close_low = per_pixel(c["interp_low"], -d_low / c["gap_low"])
    new_low = lid_low - close_low * opening
    new_up = torch.minimum(lid_up + close_up * opening, new_low)
    top, bottom = lid_up - c["reach_up"][None], lid_low + c["reach_low"][None]
    band_up, band_low = c["band_up"][None], c["band_low"][None]

    eps = 1e-3
    # Upper lid: the lash band slides rigidly, the skin above it stretches (or folds) to follow.
    rigid_up = v - (new_up - lid_up)
    stretch_up = top + (v - top) * (lid_up - band_up - top) / torch.clamp(new_up - band_up - top, min=eps)
    src_upper = torch.where(v >= new_up - band_up, rigid_up, stretch_up)
    # Eyeball: unchanged where a lid covers it; stretched from the lid that retreats (wide eyes).
    m0, m1 = torch.minimum(new_up, lid_up), torch.maximum(new_low, lid_low)
    src_ball = lid_up + (v - m0) * (lid_low - lid_up) / torch.clamp(m1 - m0, min=eps)
    # Lower lid: the mirror image of the upper one.
    rigid_low = v - (new_low - lid_low)
    stretch_low = bottom - (bottom - v) * (bottom - lid_low - band_low) / torch.clamp(
        bottom - new_low - band_low, min=eps
    )
    src_lower = torch.where(v <= new_low + band_low, rigid_low, stretch_low)
    # Closed lids read a pixel further out, so no sliver of eyeball shows along the closed line.
    margin = 0.8 * torch.clamp(close_up + close_low, 0.0, 1.0)
    ramp_up = torch.clamp((v - top) / torch.clamp(new_up - top, min=eps), 0.0, 1.0)
    ramp_low = torch.clamp((bottom - v) / torch.clamp(bottom - new_low, min=eps), 0.0, 1.0)
    src_upper = src_upper - margin * ramp_up
    src_lower = src_lower + margin * ramp_low
    in_upper = (v >= top) & (v < new_up)
    in_ball = (v >= new_up) & (v <= new_low)
    in_lower = (v > new_low) & (v <= bottom)
    v_src = torch.where(in_lower, src_lower, v)
    v_src = torch.where(in_upper, src_upper, torch.where(in_ball, src_ball, v_src))

    # Gaze: inside the new iris disc read the iris where it was (kept inside the reference opening).
    centre, radius = c["iris_centre"], c["iris_radius"][None, :, None, None]  # [E, 2], [1, E, 1, 1]
    cu, cv = centre[None, :, 0, None, None], centre[None, :, 1, None, None]  # [1, E, 1, 1]
    gu, gv = gaze[..., 0, None, None], gaze[..., 1, None, None]  # [B, E, 1, 1]
    dist_new = torch.sqrt((u - cu - gu) ** 2 + (v_src - cv - gv) ** 2 + 1e-6)
    dist_old = torch.sqrt((u - cu) ** 2 + (v_src - cv) ** 2 + 1e-6)
    in_new = _smooth(radius - dist_new + 0.5)
    in_old = _smooth(radius - dist_old + 0.5)
    ball = in_ball.to(v_src.dtype)
    # Read the moved iris from inside the reference opening (never from the lids), but never clamp
    # a point that is not moving, so zero gaze is exactly the identity.
    low = torch.minimum(lid_up + 0.5, v_src)
    high = torch.maximum(lid_low - 0.5, v_src)
    iris_v = torch.minimum(torch.maximum(v_src - gv, low), high)
    # Where the iris was and no longer is: the portrait's own sclera, mirrored across the old
    # iris edge on the side the iris left (its texture and shading), plus a little flat colour.
    sclera = ball * torch.clamp(in_old - in_new, 0.0, 1.0)  # [B, E, H, W]
    half = c["half_width"][None, :, None, None] - 1.0
    leaving_left = (gu < 0.0).to(u.dtype)  # the iris moved toward -u: sclera lies at +u
    mirrored = leaving_left * (2.0 * (cu + radius) - u + 1.0) + (1.0 - leaving_left) * (
        2.0 * (cu - radius) - u - 1.0
    )
    mirrored = torch.minimum(torch.maximum(mirrored, -half), half)
    u_src = u - ball * in_new * gu + sclera * (mirrored - u)
    v_src = v_src + ball * in_new * (iris_v - v_src)
    lid_shade = 0.8 + 0.2 * _smooth((v - new_up) / torch.clamp(0.3 * (new_low - new_up), min=eps))
    sclera = 0.25 * sclera  # the flat colour is only a tint over the mirrored sclera

    # Back to crop pixels and read the crop there.
    origin = c["origin"][None, :, None, None, :]  # [1, E, 1, 1, 2]
    along, across = axis[None, :, None, None, :], normal[None, :, None, None, :]
    src = origin + u_src[..., None] * along + v_src[..., None] * across  # [B, E, H, W, 2]
    size = crop.shape[-1]
    grid = ((2.0 * src + 1.0) / size - 1.0).reshape(batch * n_e, height, width, 2)
    source = crop.expand(batch * n_e, -1, -1, -1)
    patch = F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)
    patch = patch.reshape(batch, n_e, 3, height, width)
    paint = (sclera * lid_shade)[:, :, None] * c["sclera"][None, :, :, None, None]  # [B, E, 3, H, W]
    return patch * (1.0 - sclera[:, :, None]) + paint


def paste_patches(crop: torch.Tensor, patches: torch.Tensor, y0: int, x0: tuple[int, ...]) -> torch.Tensor:
    """The crop [1, 3, S, S] with both eye patches [B, E, 3, H, W] pasted in → [B, 3, S, S].

    Static slices and concatenations only (no scatter), so it exports cleanly.
    """
    batch, n_e, _, height, width = patches.shape
    full = crop.expand(batch, -1, -1, -1)
    strip = full[:, :, y0 : y0 + height]  # [B, 3, H, S]
    pieces, cursor = [], 0
    for e in sorted(range(n_e), key=lambda k: x0[k]):
        pieces += [strip[..., cursor : x0[e]], patches[:, e]]
        cursor = x0[e] + width
    pieces.append(strip[..., cursor:])
    return torch.cat([full[:, :, :y0], torch.cat(pieces, -1), full[:, :, y0 + height :]], 2)
