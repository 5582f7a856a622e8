"""The mouth interior: what shows between the lips when they part (docs/ARCHITECTURE.md §3).

The region inside the target inner-lip contour is not skin and is never stretched from the
reference: it is painted here and composited over the warped frame. The painting lives in a
region of interest (ROI) fixed to the *skull*: reference pixels around the mouth, carried to the
target by the head's similarity ``S`` (rigid landmarks). In that frame

* the upper teeth are still: the reference's own mouth pixels (when the portrait shows teeth) or a
  synthesised band under the reference upper lip;
* the lower teeth ride with the jaw (the chin's displacement): the reference's lower mouth pixels
  or a thinner synthesised band above the lower lip, both shifted by the jaw;
* elsewhere a dark red-brown cavity, darker the deeper inside the opening.

The opening's opacity is a soft signed-distance ramp of the target inner-lip polygon, so it fades
in as the lips part and is exactly zero when they touch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from xactor.engines import face_regions as fr
from xactor.engines.warp import kernels, lipline

Array = np.ndarray

# Inner-lip polygon: upper contour corner to corner, then the lower contour back (no repeated corners).
INNER_LIP_POLYGON: tuple[int, ...] = fr.LIPS_INNER_UPPER + fr.LIPS_INNER_LOWER[-2:0:-1]
CHIN = fr.CHIN
LOWER_LIP_CENTRE = fr.LIPS_INNER_LOWER[5]
CAVITY_RGB = np.array([0.30, 0.11, 0.10])
TEETH_RGB = np.array([0.88, 0.83, 0.72])  # warm, in the mouth's shade: not paper white
TOOTH_EDGES = (0.0, 0.22, 0.42)  # gaps between the front teeth, in mouth half-widths


def polygon_sdf(points: torch.Tensor, polygon: torch.Tensor) -> torch.Tensor:
    """Signed distance [B, P] of points [B or 1, P, 2] to closed polygons [B, V, 2]; negative inside.

    Distance to the nearest edge; inside by the even-odd crossing rule (float arithmetic only, so
    it exports to ONNX). A degenerate polygon (closed lips) has no inside.
    """
    a = polygon  # [B, V, 2]
    b = torch.roll(polygon, shifts=-1, dims=1)
    e = b - a  # [B, V, 2]
    w = points[:, :, None, :] - a[:, None, :, :]  # [B, P, V, 2]
    t = torch.clamp((w * e[:, None]).sum(-1) / ((e * e).sum(-1)[:, None] + 1e-9), 0.0, 1.0)  # [B, P, V]
    d2 = ((w - t[..., None] * e[:, None]) ** 2).sum(-1)
    dist = torch.sqrt(torch.amin(d2, dim=-1) + 1e-12)  # [B, P]
    py, px = points[:, :, None, 1], points[:, :, None, 0]  # [B, P, 1]
    ay, by, ax, ex, ey = (q[:, None, :] for q in (a[..., 1], b[..., 1], a[..., 0], e[..., 0], e[..., 1]))
    straddle = (ay > py) != (by > py)  # [B, P, V]
    safe_ey = torch.where(ey.abs() < 1e-9, torch.full_like(ey, 1e-9), ey)
    x_cross = ax + (py - ay) * ex / safe_ey
    crossings = (straddle & (px < x_cross)).to(points.dtype).sum(-1)  # [B, P]
    inside = crossings - 2.0 * torch.floor(crossings / 2.0)
    return dist * (1.0 - 2.0 * inside)


def _smoothstep(t: Array) -> Array:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


@dataclass
class MouthConstants:
    """Per-avatar mouth tensors; the ROI is an axis-aligned box of reference pixels."""

    nodes: Array  # [V, U, 2] ROI node positions (px, on whole pixels); V, U odd
    coarse_nodes: Array  # [(V+1)/2, (U+1)/2, 2] every other node: per-frame geometry lives here
    coarse_uv: Array  # [.., .., 2] those in the mouth's frame: u (half-widths), v (px, down)
    frame: Array  # [3, 2] mouth centre, axis (corner to corner), normal (down)
    half_width: Array  # [] half the inner mouth width (px)
    to_roi: Array  # [2, 3] affine: reference px → ROI grid_sample coordinates (align_corners=True)
    ref_sdf: Array  # [V, U] signed distance to the reference inner-lip polygon (reuse where < 0)
    own: Array  # [3, V, U] the reference crop at the nodes (its own teeth, where it shows them)
    teeth_up: Array  # [V, U] skull-fixed upper-teeth opacity
    gum: Array  # [V, U] skull-fixed gum opacity (above the upper teeth)
    jaw_maps: Array  # [2, V, U] jaw-fixed (read shifted by the jaw): lower-teeth, tongue opacity
    side_shade: Array  # [V, U] darkening toward the mouth corners
    teeth_shade: Array  # [V, U] the same, with thin dark gaps between the teeth
    seal: Array  # [2, 2, V, U] reference lip heights and where they apply, per layer (lipline.seal_maps)
    seal_margin: Array  # [V, U] px (lipline.seal_margin)
    cavity: Array  # [3]
    teeth: Array  # [3]
    tongue: Array  # [3]
    gum_rgb: Array  # [3]
    depth_scale: float  # px: depth at which the cavity is darkest
    softness: float  # px: width of the opening's edge ramp


def mouth_constants(crop: Array, landmarks: Array, size: int) -> MouthConstants:
    """Measure the mouth of a reference crop [S, S, 3] uint8 with landmarks [478, 2+] (px)."""
    lm = landmarks[:, :2].astype(np.float64)
    spacing = 1.0  # whole pixels at any crop size: an unmoved mouth reads its own pixels exactly
    upper, lower = lm[list(fr.LIPS_INNER_UPPER)], lm[list(fr.LIPS_INNER_LOWER)]
    outer = lm[list(fr.LIPS_OUTER_UPPER + fr.LIPS_OUTER_LOWER)]
    corner_r, corner_l = lm[fr.LIPS_INNER_UPPER[0]], lm[fr.LIPS_INNER_UPPER[-1]]
    width = float(np.linalg.norm(corner_l - corner_r))
    centre = 0.5 * (corner_l + corner_r)
    axis = (corner_l - corner_r) / width
    normal = np.array([-axis[1], axis[0]])
    normal = normal if normal[1] > 0 else -normal

    # Room for every opening the face model can make: the upper lip rises a little, the jaw drops
    # a third of a mouth width. Odd node counts, so the coarse (every other node) grid spans it.
    x0 = np.floor(outer[:, 0].min() - 0.3 * width)
    y0 = np.floor(outer[:, 1].min() - 0.25 * width)
    n_x = 2 * int(np.ceil((outer[:, 0].max() + 0.3 * width - x0) / (2 * spacing))) + 1
    n_y = 2 * int(np.ceil((outer[:, 1].max() + 0.6 * width - y0) / (2 * spacing))) + 1
    xs, ys = x0 + spacing * np.arange(n_x), y0 + spacing * np.arange(n_y)
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    nodes = np.stack([gx, gy], -1)  # [V, U, 2]
    sx, sy = 2.0 / (xs[-1] - xs[0]), 2.0 / (ys[-1] - ys[0])
    to_roi = np.array([[sx, 0.0, -sx * xs[0] - 1.0], [0.0, sy, -sy * ys[0] - 1.0]])

    # Mouth-aligned coordinates of every node: u in half-widths from the centre, v in px down.
    rel = nodes - centre
    u = (rel @ axis) / (0.5 * width)
    v = rel @ normal

    def lip_v(contour: Array) -> Array:
        cu, cv = ((contour - centre) @ axis) / (0.5 * width), (contour - centre) @ normal
        order = np.argsort(cu)
        return np.interp(u, cu[order], cv[order])

    v_upper, v_lower = lip_v(upper), lip_v(lower)
    soft = size / 256.0  # edge ramp: a pixel at 256, two at 512
    arch = np.sqrt(np.clip(1.0 - (u / 0.9) ** 2, 0.0, 1.0))
    sides = _smoothstep((0.85 - np.abs(u)) / 0.25)  # teeth fade into the dark corners
    teeth_up = _smoothstep((v_upper + 0.11 * width * arch - v) / soft + 0.5) * sides
    # Above the teeth, behind the upper lip: gum, seen when the lip is raised.
    gum = _smoothstep(((v_upper - 0.07 * width) - v) / (2 * soft) + 0.5) * sides
    teeth_low = _smoothstep((v - (v_lower - 0.05 * width * arch)) / soft + 0.5) * _smoothstep(
        (0.75 - np.abs(u)) / 0.1
    )
    tongue_r = np.sqrt((u / 0.6) ** 2 + ((v - (v_lower - 0.05 * width)) / (0.14 * width)) ** 2)
    tongue = _smoothstep((1.0 - tongue_r) / 0.25)
    ref_polygon = torch.as_tensor(lm[list(INNER_LIP_POLYGON)], dtype=torch.float64)[None]
    ref_sdf = polygon_sdf(torch.as_tensor(nodes.reshape(1, -1, 2)), ref_polygon)[0].numpy().reshape(u.shape)

    scale = _exposure(crop, lm)
    teeth_rgb = TEETH_RGB * scale
    inside = ref_sdf < -0.5
    if inside.sum() >= 12:  # the portrait shows its teeth: take their colour from the brighter part
        px = crop[_raster(inside, nodes, crop.shape[:2])].astype(np.float64) / 255.0
        bright = px[px.mean(1) >= np.percentile(px.mean(1), 60)]
        if bright.mean() > 0.35:
            teeth_rgb = np.median(bright, axis=0)
    side_shade = 1.0 - 0.6 * np.clip(np.abs(u), 0, 1) ** 2
    lip_points = 0.5 * (lm[list(fr.LIPS_OUTER_LOWER[2:-2])] + lm[list(fr.LIPS_INNER_LOWER[2:-2])])
    lip_rgb = np.median(_sample_crop(crop, lip_points[None]).reshape(3, -1), axis=1)
    frame = np.stack([centre, axis, normal]).astype(np.float32)
    seal = lipline.seal_maps(
        _reference_heights(frame, 0.5 * width, np.stack([u, v], -1)[::2, ::2], lm, u.shape), u, 0.5 * width
    )
    return MouthConstants(
        nodes=nodes.astype(np.float32),
        coarse_nodes=nodes[::2, ::2].astype(np.float32),
        coarse_uv=np.stack([u, v], -1)[::2, ::2].astype(np.float32),
        frame=frame,
        half_width=np.array(0.5 * width, np.float32),
        to_roi=to_roi.astype(np.float32),
        ref_sdf=ref_sdf.astype(np.float32),
        own=_sample_crop(crop, nodes).astype(np.float32),
        teeth_up=teeth_up.astype(np.float32),
        gum=gum.astype(np.float32),
        jaw_maps=np.stack([teeth_low, tongue]).astype(np.float32),
        side_shade=side_shade.astype(np.float32),
        teeth_shade=(side_shade * _tooth_gaps(u, width, spacing)).astype(np.float32),
        seal=seal,
        seal_margin=lipline.seal_margin(u, size),
        cavity=(CAVITY_RGB * scale).astype(np.float32),
        teeth=np.clip(teeth_rgb, 0, 1).astype(np.float32),
        tongue=(0.7 * lip_rgb).astype(np.float32),
        gum_rgb=np.clip(1.05 * lip_rgb, 0, 1).astype(np.float32),
        depth_scale=0.12 * width,
        softness=soft,
    )


def _reference_heights(
    frame: Array, half_width: float, coarse_uv: Array, lm: Array, shape: tuple[int, ...]
) -> Array:
    """The reference's lip heights [2, V, U], computed exactly as a frame's are (float32, coarse
    nodes, upsampled), so at zero motion both agree to rounding and the seal moves nothing."""
    c = {
        "frame": torch.as_tensor(frame),
        "half_width": torch.tensor(half_width, dtype=torch.float32),
        "coarse_uv": torch.as_tensor(coarse_uv, dtype=torch.float32),
    }
    polygon = torch.as_tensor(lm[list(INNER_LIP_POLYGON)], dtype=torch.float32)[None]  # [1, 20, 2]
    heights = _coarse_heights(c, *_split_contours(polygon))  # [1, 2, V', U']
    full = F.interpolate(heights, size=shape, mode="bilinear", align_corners=True)
    return full[0].numpy()


def _tooth_gaps(u: Array, width: float, spacing: float) -> Array:
    """Shading [V, U] in (0, 1]: about one pixel of shadow at each gap between teeth."""
    sigma = 0.6 * spacing / (0.5 * width)  # a pixel, in half-widths
    gaps = sum(np.exp(-(((np.abs(u) - e) / sigma) ** 2)) for e in TOOTH_EDGES)
    return 1.0 - 0.15 * np.clip(gaps, 0.0, 1.0)


def _raster(mask: Array, nodes: Array, shape: tuple[int, ...]) -> tuple[Array, Array]:
    """Crop pixel indices (rows, cols) of ROI nodes where ``mask`` holds."""
    pts = np.round(nodes[mask]).astype(int)
    rows = np.clip(pts[:, 1], 0, shape[0] - 1)
    cols = np.clip(pts[:, 0], 0, shape[1] - 1)
    return rows, cols


def _sample_crop(crop: Array, nodes: Array) -> Array:
    """Bilinear colours [3, V, U] in [0, 1] of the crop at node positions [V, U, 2]."""
    image = torch.from_numpy(np.array(crop, dtype=np.float32)).permute(2, 0, 1)[None] / 255.0
    size = torch.tensor([crop.shape[1], crop.shape[0]], dtype=torch.float32)
    grid = (2.0 * torch.as_tensor(nodes, dtype=torch.float32) + 1.0) / size - 1.0
    out = F.grid_sample(image, grid[None], mode="bilinear", padding_mode="border", align_corners=False)
    return out[0].numpy()


def _exposure(crop: Array, lm: Array) -> float:
    """Brightness of the portrait's cheeks relative to a typical exposure (scales synthetic colours)."""
    cheeks = [lm[205], lm[425], lm[50], lm[280]]
    patches = [crop[max(int(y) - 2, 0) : int(y) + 3, max(int(x) - 2, 0) : int(x) + 3] for x, y in cheeks]
    px = np.concatenate([p.reshape(-1, 3) for p in patches])
    lum = float(px.mean()) / 255.0 if len(px) else 0.6
    return float(np.clip(lum / 0.6, 0.5, 1.3))


def _below_midline(
    c: dict[str, torch.Tensor], upper: torch.Tensor, lower: torch.Tensor, soft: float
) -> torch.Tensor:
    """[B, 1, V, U] in [0, 1]: 1 below the target mouth line (between the inner lips), 0 above.

    ``upper``/``lower`` [B, K, 2]: the inner-lip contours in the ROI frame, corner to corner.
    Past the corners the line continues level (there both warp layers agree anyway).
    """
    uv = c["coarse_uv"]  # [V, U, 2]
    n_v, n_u = uv.shape[0], uv.shape[1]
    flat = uv.reshape(-1, 2)  # [N, 2]
    line = lipline.contour_v(c["frame"], c["half_width"], flat, 0.5 * (upper + lower))  # [B, N]
    below = torch.clamp(0.5 + (flat[:, 1][None] - line) / soft, 0.0, 1.0)
    return below.reshape(-1, 1, n_v, n_u)


def _split_contours(polygon: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inner-lip polygons [B, 20, 2] (:data:`INNER_LIP_POLYGON` order) → upper and lower
    contours [B, 11, 2], each corner to corner."""
    k = len(fr.LIPS_INNER_UPPER)
    upper = polygon[:, :k]
    lower = torch.cat([polygon[:, :1], polygon[:, k:].flip(1), polygon[:, k - 1 : k]], 1)
    return upper, lower


def _coarse_heights(c: dict[str, torch.Tensor], upper: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
    """Lip heights [B, 2, V', U'] on the coarse nodes (:func:`lipline.lip_heights`)."""
    uv = c["coarse_uv"]  # [V', U', 2]
    heights = lipline.lip_heights(c["frame"], c["half_width"], uv.reshape(-1, 2), upper, lower)  # [B, 2, N]
    return heights.reshape(-1, 2, uv.shape[0], uv.shape[1])


def mouth_layer(
    c: dict[str, torch.Tensor],
    polygon: torch.Tensor,
    jaw_shift: torch.Tensor,
    depth_scale: float,
    softness: float,
) -> torch.Tensor:
    """The mouth interior on the ROI [B, 7, V, U]: premultiplied RGB, opacity, which side of the
    target mouth line each node is on (selects the lower warp layer), and the least height into
    the reference's upper and lower lip a warp layer may read there (the node's height into the
    target's lips, at most the seal margin; px; :mod:`xactor.engines.warp.lipline`).

    ``polygon`` [B, 20, 2]: target inner lips carried back into the reference (skull) frame
    (:data:`INNER_LIP_POLYGON` order); ``jaw_shift`` [B, 2]: the lower lip's displacement in that
    frame (px). Inside the reference's own opening the portrait's mouth (its teeth) is used as is,
    skull-fixed; elsewhere the synthesised interior. On a CPU at inference all of it is one fused
    kernel (:mod:`xactor.engines.warp.kernels`; this code is its reference).
    """
    if kernels.enabled(polygon, jaw_shift):
        return kernels.mouth_layer(c, polygon, jaw_shift, depth_scale, softness)
    nodes, coarse = c["nodes"], c["coarse_nodes"]  # [V, U, 2], [V', U', 2]
    n_v, n_u = nodes.shape[0], nodes.shape[1]
    batch = polygon.shape[0]
    # Geometry on every other node (the SDF and the mouth line are smooth), then upsampled.
    sdf = polygon_sdf(coarse.reshape(1, -1, 2), polygon).reshape(batch, 1, coarse.shape[0], coarse.shape[1])
    upper, lower = _split_contours(polygon)
    below = _below_midline(c, upper, lower, softness)
    heights = _coarse_heights(c, upper, lower)  # [B, 2, V', U']
    geometry = torch.cat([sdf, below, heights], 1)
    geometry = F.interpolate(geometry, size=(n_v, n_u), mode="bilinear", align_corners=True)
    below, heights = geometry[:, 1:2], geometry[:, 2:4]
    # Open only where the node is below the upper lip *and* above the lower one: lips that pass
    # through each other make a self-crossing polygon whose loops count as inside (lipline.py).
    # Inside a proper opening the vertical heights are never nearer zero than the SDF, so the
    # opening's edge is unchanged there.
    sdf = torch.maximum(geometry[:, 0:1], torch.amax(heights, 1, keepdim=True))
    depth = torch.clamp(-sdf / depth_scale, 0.0, 1.0)

    # Jaw-fixed maps, read where the node was before the jaw moved.
    to_roi = c["to_roi"]  # [2, 3]
    moved = nodes[None] - jaw_shift[:, None, None, :]  # [B, V, U, 2]
    coords = moved @ to_roi[:, :2].T + to_roi[:, 2]
    jaw = F.grid_sample(
        c["jaw_maps"][None].expand(batch, -1, -1, -1),
        coords,
        mode="bilinear",
        padding_mode="border",
        align_corners=True,
    )  # [B, 2, V, U]

    shade = c["side_shade"][None, None]  # [1, 1, V, U]
    lip_shadow = 0.78 + 0.22 * torch.clamp(depth * 3.0, 0.0, 1.0)
    colour = c["cavity"][None, :, None, None] * (1.0 - 0.55 * depth) * shade  # back of the mouth
    tongue = c["tongue"][None, :, None, None] * (1.0 - 0.4 * depth) * shade
    colour = colour + jaw[:, 1:2] * (tongue - colour)
    teeth = c["teeth"][None, :, None, None] * c["teeth_shade"][None, None] * lip_shadow
    colour = colour + jaw[:, 0:1] * (0.85 * teeth - colour)  # lower teeth, a little shaded
    colour = colour + c["teeth_up"][None, None] * (teeth - colour)
    colour = colour + c["gum"][None, None] * (c["gum_rgb"][None, :, None, None] * shade - colour)
    # Openings thinner than a pixel are not painted (the seam of closed lips); the portrait's own
    # mouth is reused only where it is open by more than that too, so the seam never shows inside
    # a larger opening, yet an unmoved mouth is exactly the reference (same SDF at every node:
    # reuse is 1 wherever alpha > 0, and the nodes sit on the crop's pixels).
    inset = 0.5 * softness
    alpha = torch.clamp((-sdf - inset) / softness, 0.0, 1.0)
    reuse = torch.clamp((-c["ref_sdf"][None, None] - inset) / (0.5 * softness) + 1.0, 0.0, 1.0)
    colour = colour + reuse * (c["own"][None] - colour)
    allowed = torch.minimum(heights, c["seal_margin"][None, None])
    return torch.cat([colour * alpha, alpha, below, allowed], 1)
