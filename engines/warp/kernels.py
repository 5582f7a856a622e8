"""The warp's small-tensor stages as fused CPU kernels, registered as torch custom operators:
``xactor::mouth_layer`` (the painted mouth interior), ``xactor::eye_patches`` (lids, iris, sclera)
and ``xactor::seal_sources`` (the lip seal's push of the window's source points).

Why: on a CPU a warp frame is mostly many small torch operations, each paying dispatch and a pass
over memory. :func:`xactor.engines.warp.mouth.mouth_layer` is the worst of them: the signed
distance of ~1,400 coarse ROI nodes to the 20-edge inner-lip polygon, their heights under three
lip contours, an upsampling, a jaw-shifted read and ~30 colour operations on ~5,500 nodes, about
150 operations and 3–4 ms of a 10 ms frame for arithmetic that one loop does in a tenth of that.
Here that loop is compiled once with numba (``nogil``: the encoder and the event loop run beside
it) and registered with torch, so the TorchScript trace of
:class:`~xactor.engines.warp.module.WarpRenderer` calls it like any other operator.

The torch code in :mod:`~xactor.engines.warp.mouth` stays the reference and the path everywhere
else: autograd, CUDA, ONNX export, anything inside :func:`torch_only`, and an install without
numba. The two agree to float32 rounding (tests compare them).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np
import torch

from xactor.engines import face_regions as fr

try:  # numba is a dependency; without it (an odd install) every caller takes the torch path
    import numba
except ImportError:  # pragma: no cover - depends on the install
    numba = None

AVAILABLE = numba is not None
_state = threading.local()
_SPLIT = len(fr.LIPS_INNER_UPPER)  # the inner-lip polygon's upper contour is its first _SPLIT points

# The order of the per-avatar tensors the mouth operator takes (MouthConstants' torch tensors).
MOUTH_CONSTANTS: tuple[str, ...] = (
    "nodes", "coarse_nodes", "coarse_uv", "frame", "to_roi", "ref_sdf", "own", "teeth_up", "gum",
    "jaw_maps", "side_shade", "teeth_shade", "seal_margin", "cavity", "teeth", "tongue", "gum_rgb",
)  # fmt: skip


@contextlib.contextmanager
def torch_only() -> Iterator[None]:
    """Within this block (this thread) the warp records torch operators only: for a trace meant
    for another runtime, or to compare against the reference."""
    previous = getattr(_state, "off", False)
    _state.off = True
    try:
        yield
    finally:
        _state.off = previous


def enabled(*tensors: torch.Tensor) -> bool:
    """Whether the fused kernel serves these tensors: numba present, not inside :func:`torch_only`
    or an ONNX export, all on the CPU in float32, and no gradient wanted (it has no backward)."""
    if not AVAILABLE or getattr(_state, "off", False) or torch.is_grad_enabled():
        return False
    if torch.onnx.is_in_onnx_export():  # an exported graph holds standard operators only
        return False
    return all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


def mouth_layer(
    c: dict[str, torch.Tensor],
    polygon: torch.Tensor,
    jaw_shift: torch.Tensor,
    depth_scale: float,
    softness: float,
) -> torch.Tensor:
    """:func:`xactor.engines.warp.mouth.mouth_layer` in one call (only where :func:`enabled`)."""
    return torch.ops.xactor.mouth_layer(
        [c[k] for k in MOUTH_CONSTANTS], c["half_width"], polygon, jaw_shift, depth_scale, softness
    )


# The order of the per-avatar eye tensors the eye operator takes (EyeConstants' torch tensors).
EYE_CONSTANTS: tuple[str, ...] = (
    "upper_idx", "lower_idx", "iris_idx", "origin", "axis", "normal", "u", "v", "interp_up",
    "interp_low", "gap_up", "gap_low", "lid_up", "lid_low", "reach_up", "reach_low", "band_up",
    "band_low", "iris_centre", "iris_radius", "half_width", "sclera",
)  # fmt: skip


def eye_patches(
    c: dict[str, torch.Tensor], crop: torch.Tensor, lid_landmarks: torch.Tensor, ref_landmarks: torch.Tensor
) -> torch.Tensor:
    """:func:`xactor.engines.warp.eyelid.eye_patches` in one call (only where :func:`enabled`)."""
    return torch.ops.xactor.eye_patches([c[k] for k in EYE_CONSTANTS], crop, lid_landmarks, ref_landmarks)


def seal_sources(
    maps: torch.Tensor,
    to_roi: torch.Tensor,
    normal: torch.Tensor,
    sources: torch.Tensor,
    allowed: torch.Tensor,
    tolerance: float,
) -> torch.Tensor:
    """:func:`xactor.engines.warp.lipline.seal_sources` in one call (only where :func:`enabled`)."""
    return torch.ops.xactor.seal_sources(maps, to_roi, normal, sources, allowed, tolerance)


if AVAILABLE:
    _jit = numba.njit(cache=True, nogil=True)

    @_jit
    def _clamp01(x: float) -> float:  # pragma: no cover - compiled
        if x < 0.0:
            return 0.0
        return 1.0 if x > 1.0 else x

    @_jit
    def _contour_lines(
        frame: np.ndarray, half_width: float, u: np.ndarray, contour: np.ndarray, out: np.ndarray
    ) -> None:  # pragma: no cover - compiled
        """v of ``contour`` [K, 2] (corner to corner) at each node's u [N] → out [N]:
        :func:`xactor.engines.warp.lipline.contour_v`, piecewise linear in u, level beyond the ends."""
        k = contour.shape[0]
        cu = np.empty(k, np.float32)
        cv = np.empty(k, np.float32)
        inv_span = np.empty(k - 1, np.float32)
        for j in range(k):
            rx, ry = contour[j, 0] - frame[0, 0], contour[j, 1] - frame[0, 1]
            cu[j] = (rx * frame[1, 0] + ry * frame[1, 1]) / half_width
            cv[j] = rx * frame[2, 0] + ry * frame[2, 1]
        for j in range(k - 1):
            span = cu[j + 1] - cu[j]
            inv_span[j] = np.float32(1.0) / (span if abs(span) >= 1e-6 else np.float32(1e-6))
        for n in range(u.shape[0]):
            hits = np.float32(0.0)
            line = np.float32(0.0)
            for j in range(k - 1):
                t = (u[n] - cu[j]) * inv_span[j]
                if t >= 0.0 and t < 1.0:
                    hits += 1
                    line += cv[j] + t * (cv[j + 1] - cv[j])
            line = line / max(hits, np.float32(1.0))
            if hits < 0.5:
                line += cv[0] if u[n] < cu[0] else cv[k - 1]
            out[n] = line

    @_jit
    def _polygon_sdf(points: np.ndarray, poly: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
        """Signed distance of points [P, 2] to the closed polygon [V, 2], negative inside (even-odd):
        :func:`xactor.engines.warp.mouth.polygon_sdf`."""
        edges = poly.shape[0]
        tiny = np.float32(1e-9)
        inv_len2 = np.empty(edges, np.float32)
        for v in range(edges):
            w = v + 1 if v + 1 < edges else 0
            ex, ey = poly[w, 0] - poly[v, 0], poly[w, 1] - poly[v, 1]
            inv_len2[v] = np.float32(1.0) / (ex * ex + ey * ey + tiny)
        for p in range(points.shape[0]):
            px, py = points[p, 0], points[p, 1]
            nearest = np.float32(np.inf)
            crossings = 0
            for v in range(edges):
                w = v + 1 if v + 1 < edges else 0
                ax, ay = poly[v, 0], poly[v, 1]
                ex, ey = poly[w, 0] - ax, poly[w, 1] - ay
                wx, wy = px - ax, py - ay
                t = min(max((wx * ex + wy * ey) * inv_len2[v], np.float32(0.0)), np.float32(1.0))
                dx, dy = wx - t * ex, wy - t * ey
                nearest = min(nearest, dx * dx + dy * dy)
                if (ay > py) != (poly[w, 1] > py):
                    safe = ey if abs(ey) >= tiny else tiny
                    if px < ax + (py - ay) * ex / safe:
                        crossings += 1
            dist = np.sqrt(nearest + np.float32(1e-12))
            out[p] = -dist if crossings % 2 else dist

    @_jit
    def _tap(
        img: np.ndarray, ch: int, i0: int, i1: int, fy: float, j0: int, j1: int, fx: float
    ) -> float:  # pragma: no cover - compiled
        """img [C, H, W] interpolated between rows i0, i1 and columns j0, j1 (weights fy, fx)."""
        top = img[ch, i0, j0] * (1 - fx) + img[ch, i0, j1] * fx
        bottom = img[ch, i1, j0] * (1 - fx) + img[ch, i1, j1] * fx
        return top * (1 - fy) + bottom * fy

    @_jit
    def _bilinear(img: np.ndarray, ch: int, y: float, x: float) -> float:  # pragma: no cover
        """img [C, H, W] at (y, x) in index units, clamped to the border."""
        h, w = img.shape[1], img.shape[2]
        x = min(max(x, 0.0), w - 1.0)
        y = min(max(y, 0.0), h - 1.0)
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        return _tap(img, ch, y0, min(y0 + 1, h - 1), y - y0, x0, min(x0 + 1, w - 1), x - x0)

    @_jit
    def _geometry(
        coarse: np.ndarray,  # [V', U', 2] px
        coarse_uv: np.ndarray,  # [V', U', 2]
        frame: np.ndarray,
        half_width: float,
        poly: np.ndarray,  # [20, 2]
        split: int,
        softness: float,
        out: np.ndarray,  # [4, V', U']: sdf, below the mouth line, heights into upper and lower lip
    ) -> None:  # pragma: no cover - compiled
        n = coarse.shape[0] * coarse.shape[1]
        points = coarse.reshape(n, 2)
        uv = coarse_uv.reshape(n, 2)
        flat = out.reshape(4, n)
        _polygon_sdf(points, poly, flat[0])
        k, last = split, poly.shape[0]
        upper = poly[:k]
        lower = np.empty_like(upper)  # corner, the lower lip back to front, corner
        lower[0] = poly[0]
        for j in range(1, k - 1):
            lower[j] = poly[last - j]
        lower[k - 1] = poly[k - 1]
        u = np.ascontiguousarray(uv[:, 0])
        _contour_lines(frame, half_width, u, (np.float32(0.5) * (upper + lower)).astype(np.float32), flat[1])
        _contour_lines(frame, half_width, u, upper, flat[2])
        _contour_lines(frame, half_width, u, lower, flat[3])
        for i in range(n):
            v = uv[i, 1]
            flat[1, i] = _clamp01(0.5 + (v - flat[1, i]) / softness)
            flat[2, i] = flat[2, i] - v
            flat[3, i] = v - flat[3, i]

    @_jit
    def _mouth_layer(
        consts: tuple,  # MOUTH_CONSTANTS as arrays, in that order
        half_width: float,
        polygons: np.ndarray,  # [B, 20, 2]
        jaw_shift: np.ndarray,  # [B, 2]
        split: int,
        depth_scale: float,
        softness: float,
        out: np.ndarray,  # [B, 7, V, U]
    ) -> None:  # pragma: no cover - compiled
        (nodes, coarse, coarse_uv, frame, to_roi, ref_sdf, own, teeth_up, gum, jaw_maps, side_shade,
         teeth_shade, seal_margin, cavity, teeth_rgb, tongue_rgb, gum_rgb) = consts  # fmt: skip
        n_v, n_u = nodes.shape[0], nodes.shape[1]
        c_v, c_u = coarse.shape[0], coarse.shape[1]
        geometry = np.empty((4, c_v, c_u), np.float32)
        # Upsampling the coarse geometry (bilinear, corners aligned): each row's and column's
        # two source nodes and weight, shared by the four channels.
        rows, row_w = _upsample_taps(c_v, n_v)
        cols, col_w = _upsample_taps(c_u, n_u)
        inset = np.float32(0.5) * softness
        for b in range(polygons.shape[0]):
            _geometry(coarse, coarse_uv, frame, half_width, polygons[b], split, softness, geometry)
            for i in range(n_v):
                i0, i1, fy = rows[i, 0], rows[i, 1], row_w[i]
                for j in range(n_u):
                    j0, j1, fx = cols[j, 0], cols[j, 1], col_w[j]
                    sdf = _tap(geometry, 0, i0, i1, fy, j0, j1, fx)
                    below = _tap(geometry, 1, i0, i1, fy, j0, j1, fx)
                    h_up = _tap(geometry, 2, i0, i1, fy, j0, j1, fx)
                    h_low = _tap(geometry, 3, i0, i1, fy, j0, j1, fx)
                    sdf = max(sdf, max(h_up, h_low))
                    depth = _clamp01(-sdf / depth_scale)
                    # Jaw-fixed maps read where the node was before the jaw moved (border padding).
                    mx, my = nodes[i, j, 0] - jaw_shift[b, 0], nodes[i, j, 1] - jaw_shift[b, 1]
                    sx = mx * to_roi[0, 0] + my * to_roi[0, 1] + to_roi[0, 2]
                    sy = mx * to_roi[1, 0] + my * to_roi[1, 1] + to_roi[1, 2]
                    jx, jy = (sx + 1) / 2 * (n_u - 1), (sy + 1) / 2 * (n_v - 1)
                    lower_teeth = _bilinear(jaw_maps, 0, jy, jx)
                    tongue = _bilinear(jaw_maps, 1, jy, jx)
                    shade = side_shade[i, j]
                    lip_shadow = np.float32(0.78) + np.float32(0.22) * _clamp01(depth * 3)
                    alpha = _clamp01((-sdf - inset) / softness)
                    reuse = _clamp01((-ref_sdf[i, j] - inset) / (np.float32(0.5) * softness) + 1)
                    for ch in range(3):
                        colour = cavity[ch] * (1 - np.float32(0.55) * depth) * shade  # back of the mouth
                        tongue_colour = tongue_rgb[ch] * (1 - np.float32(0.4) * depth) * shade
                        colour = colour + tongue * (tongue_colour - colour)
                        teeth = teeth_rgb[ch] * teeth_shade[i, j] * lip_shadow
                        colour = colour + lower_teeth * (np.float32(0.85) * teeth - colour)
                        colour = colour + teeth_up[i, j] * (teeth - colour)
                        colour = colour + gum[i, j] * (gum_rgb[ch] * shade - colour)
                        colour = colour + reuse * (own[ch, i, j] - colour)
                        out[b, ch, i, j] = colour * alpha
                    out[b, 3, i, j] = alpha
                    out[b, 4, i, j] = below
                    out[b, 5, i, j] = min(h_up, seal_margin[i, j])
                    out[b, 6, i, j] = min(h_low, seal_margin[i, j])

    @_jit
    def _upsample_taps(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        """Source indices [out, 2] and weights [out] of a corners-aligned bilinear upsampling
        (F.interpolate(..., align_corners=True))."""
        scale = np.float32((size_in - 1) / (size_out - 1)) if size_out > 1 else np.float32(0.0)
        taps = np.empty((size_out, 2), np.int64)
        weights = np.empty(size_out, np.float32)
        for k in range(size_out):
            src = scale * k
            lo = min(int(src), size_in - 1)
            taps[k, 0], taps[k, 1] = lo, min(lo + 1, size_in - 1)
            weights[k] = src - lo
        return taps, weights

    def _arrays(*tensors: torch.Tensor) -> tuple[np.ndarray, ...]:
        return tuple(t.contiguous().numpy() for t in tensors)

    def _mouth_shape(constants: list[torch.Tensor], polygon: torch.Tensor) -> tuple[int, ...]:
        nodes = constants[MOUTH_CONSTANTS.index("nodes")]  # [V, U, 2]
        return (polygon.shape[0], 7, nodes.shape[0], nodes.shape[1])  # [B, 7, V, U]

    @torch.library.custom_op("xactor::mouth_layer", mutates_args=())
    def _mouth_layer_op(
        constants: list[torch.Tensor],
        half_width: torch.Tensor,
        polygon: torch.Tensor,
        jaw_shift: torch.Tensor,
        depth_scale: float,
        softness: float,
    ) -> torch.Tensor:
        out = torch.empty(_mouth_shape(constants, polygon), dtype=torch.float32)
        _mouth_layer(
            _arrays(*constants),
            float(half_width),
            *_arrays(polygon, jaw_shift),
            _SPLIT,
            float(depth_scale),
            float(softness),
            out.numpy(),
        )
        return out

    @_mouth_layer_op.register_fake
    def _(
        constants: list[torch.Tensor],
        half_width: torch.Tensor,
        polygon: torch.Tensor,
        jaw_shift: torch.Tensor,
        depth_scale: float,
        softness: float,
    ) -> torch.Tensor:
        return polygon.new_empty(_mouth_shape(constants, polygon))

    @_jit
    def _smooth(t: float) -> float:  # pragma: no cover - compiled
        t = _clamp01(t)
        return t * t * (3.0 - 2.0 * t)

    @_jit
    def _eye_patches(
        consts: tuple,  # EYE_CONSTANTS as arrays, in that order
        crop: np.ndarray,  # [3, S, S]
        lids: np.ndarray,  # [B, 478, 2]
        ref: np.ndarray,  # [478, 2]
        out: np.ndarray,  # [B, E, 3, H, W]
    ) -> None:  # pragma: no cover - compiled
        (upper_idx, lower_idx, iris_idx, origin, axis, normal, u_map, v_map, interp_up, interp_low,
         gap_up, gap_low, lid_up_map, lid_low_map, reach_up, reach_low, band_up_map, band_low_map,
         iris_centre, iris_radius, half_width, sclera_rgb) = consts  # fmt: skip
        n_e, height, width = u_map.shape
        points = upper_idx.shape[1]
        eps = 1e-3
        frac_up = np.empty(points, np.float32)
        frac_low = np.empty(points, np.float32)
        for b in range(lids.shape[0]):
            for e in range(n_e):
                nx, ny, ax, ay = normal[e, 0], normal[e, 1], axis[e, 0], axis[e, 1]
                for k in range(points):
                    i, j = upper_idx[e, k], lower_idx[e, k]
                    d_up = (lids[b, i, 0] - ref[i, 0]) * nx + (lids[b, i, 1] - ref[i, 1]) * ny
                    d_low = (lids[b, j, 0] - ref[j, 0]) * nx + (lids[b, j, 1] - ref[j, 1]) * ny
                    frac_up[k] = d_up / gap_up[e, k]
                    frac_low[k] = -d_low / gap_low[e, k]
                m = iris_idx[e]
                sx, sy = lids[b, m, 0] - ref[m, 0], lids[b, m, 1] - ref[m, 1]
                gu, gv = sx * ax + sy * ay, sx * nx + sy * ny
                cu, cv, radius = iris_centre[e, 0], iris_centre[e, 1], iris_radius[e]
                half = half_width[e] - 1.0
                for y in range(height):
                    for x in range(width):
                        n = y * width + x
                        u, v = u_map[e, y, x], v_map[e, y, x]
                        lid_up, lid_low = lid_up_map[e, y, x], lid_low_map[e, y, x]
                        band_up, band_low = band_up_map[e, y, x], band_low_map[e, y, x]
                        close_up = np.float32(0.0)
                        close_low = np.float32(0.0)
                        for k in range(points):
                            close_up += interp_up[e, n, k] * frac_up[k]
                            close_low += interp_low[e, n, k] * frac_low[k]
                        opening = lid_low - lid_up
                        new_low = lid_low - close_low * opening
                        new_up = min(lid_up + close_up * opening, new_low)
                        top, bottom = lid_up - reach_up[e, y, x], lid_low + reach_low[e, y, x]
                        # Upper lid: the lash band slides rigidly, the skin above it stretches.
                        if v >= new_up - band_up:
                            src_upper = v - (new_up - lid_up)
                        else:
                            src_upper = top + (v - top) * (lid_up - band_up - top) / max(
                                new_up - band_up - top, eps
                            )
                        m0, m1 = min(new_up, lid_up), max(new_low, lid_low)
                        src_ball = lid_up + (v - m0) * (lid_low - lid_up) / max(m1 - m0, eps)
                        if v <= new_low + band_low:
                            src_lower = v - (new_low - lid_low)
                        else:
                            stretch = (bottom - lid_low - band_low) / max(bottom - new_low - band_low, eps)
                            src_lower = bottom - (bottom - v) * stretch
                        margin = 0.8 * _clamp01(close_up + close_low)
                        src_upper -= margin * _clamp01((v - top) / max(new_up - top, eps))
                        src_lower += margin * _clamp01((bottom - v) / max(bottom - new_low, eps))
                        in_ball = new_up <= v <= new_low
                        if top <= v < new_up:
                            v_src = src_upper
                        elif in_ball:
                            v_src = src_ball
                        elif new_low < v <= bottom:
                            v_src = src_lower
                        else:
                            v_src = v
                        # Gaze: inside the new iris disc read the iris where it was.
                        dist_new = np.sqrt((u - cu - gu) ** 2 + (v_src - cv - gv) ** 2 + 1e-6)
                        dist_old = np.sqrt((u - cu) ** 2 + (v_src - cv) ** 2 + 1e-6)
                        in_new = _smooth(radius - dist_new + 0.5)
                        in_old = _smooth(radius - dist_old + 0.5)
                        ball = 1.0 if in_ball else 0.0
                        iris_v = min(max(v_src - gv, min(lid_up + 0.5, v_src)), max(lid_low - 0.5, v_src))
                        sclera = ball * _clamp01(in_old - in_new)
                        if gu < 0.0:  # the iris moved toward -u: sclera lies at +u
                            mirrored = 2.0 * (cu + radius) - u + 1.0
                        else:
                            mirrored = 2.0 * (cu - radius) - u - 1.0
                        mirrored = min(max(mirrored, -half), half)
                        u_src = u - ball * in_new * gu + sclera * (mirrored - u)
                        v_src = v_src + ball * in_new * (iris_v - v_src)
                        lid_shade = 0.8 + 0.2 * _smooth((v - new_up) / max(0.3 * (new_low - new_up), eps))
                        sclera = 0.25 * sclera
                        px = origin[e, 0] + u_src * ax + v_src * nx
                        py = origin[e, 1] + u_src * ay + v_src * ny
                        for ch in range(3):
                            read = _bilinear(crop, ch, py, px)  # border padding: it clamps
                            out[b, e, ch, y, x] = (
                                read * (1.0 - sclera) + sclera * lid_shade * sclera_rgb[e, ch]
                            )

    def _eye_shape(constants: list[torch.Tensor], lid_landmarks: torch.Tensor) -> tuple[int, ...]:
        n_e, height, width = constants[EYE_CONSTANTS.index("u")].shape
        return (lid_landmarks.shape[0], n_e, 3, height, width)  # [B, E, 3, H, W]

    @torch.library.custom_op("xactor::eye_patches", mutates_args=())
    def _eye_patches_op(
        constants: list[torch.Tensor],
        crop: torch.Tensor,
        lid_landmarks: torch.Tensor,
        ref_landmarks: torch.Tensor,
    ) -> torch.Tensor:
        out = torch.empty(_eye_shape(constants, lid_landmarks), dtype=torch.float32)
        _eye_patches(_arrays(*constants), *_arrays(crop[0], lid_landmarks, ref_landmarks), out.numpy())
        return out

    @_eye_patches_op.register_fake
    def _(
        constants: list[torch.Tensor],
        crop: torch.Tensor,
        lid_landmarks: torch.Tensor,
        ref_landmarks: torch.Tensor,
    ) -> torch.Tensor:
        return crop.new_empty(_eye_shape(constants, lid_landmarks))

    @_jit
    def _seal_sources(
        maps: np.ndarray,  # [2 (layer), 2 (height, weight), V, U]
        to_roi: np.ndarray,  # [2, 3]
        normal: np.ndarray,  # [2]
        sources: np.ndarray,  # [B, 2 (layer), 2 (xy), H, W]
        allowed: np.ndarray,  # [B, 2, H, W]
        tolerance: float,
        out: np.ndarray,  # like sources
    ) -> None:  # pragma: no cover - compiled
        n_v, n_u = maps.shape[2], maps.shape[3]
        for b in range(sources.shape[0]):
            for layer in range(2):
                sign = -1.0 if layer == 0 else 1.0  # the upper lip's sources go up, the lower's down
                for y in range(sources.shape[3]):
                    for x in range(sources.shape[4]):
                        sx, sy = sources[b, layer, 0, y, x], sources[b, layer, 1, y, x]
                        gx = to_roi[0, 0] * sx + to_roi[0, 1] * sy + to_roi[0, 2]
                        gy = to_roi[1, 0] * sx + to_roi[1, 1] * sy + to_roi[1, 2]
                        # grid_sample, corners aligned, zeros outside the ROI
                        ix, iy = (gx + 1) / 2 * (n_u - 1), (gy + 1) / 2 * (n_v - 1)
                        x0, y0 = int(np.floor(ix)), int(np.floor(iy))
                        fx, fy = ix - x0, iy - y0
                        height = 0.0
                        weight = 0.0
                        for dy in range(2):
                            row = y0 + dy
                            if row < 0 or row >= n_v:
                                continue
                            wy = fy if dy else 1.0 - fy
                            for dx in range(2):
                                col = x0 + dx
                                if col < 0 or col >= n_u:
                                    continue
                                w = wy * (fx if dx else 1.0 - fx)
                                height += w * maps[layer, 0, row, col]
                                weight += w * maps[layer, 1, row, col]
                        push = weight * max(allowed[b, layer, y, x] - height - tolerance, 0.0)
                        out[b, layer, 0, y, x] = sx + push * sign * normal[0]
                        out[b, layer, 1, y, x] = sy + push * sign * normal[1]

    @torch.library.custom_op("xactor::seal_sources", mutates_args=())
    def _seal_sources_op(
        maps: torch.Tensor,
        to_roi: torch.Tensor,
        normal: torch.Tensor,
        sources: torch.Tensor,
        allowed: torch.Tensor,
        tolerance: float,
    ) -> torch.Tensor:
        out = torch.empty_like(sources, memory_format=torch.contiguous_format)
        _seal_sources(*_arrays(maps, to_roi, normal, sources, allowed), float(tolerance), out.numpy())
        return out

    @_seal_sources_op.register_fake
    def _(
        maps: torch.Tensor,
        to_roi: torch.Tensor,
        normal: torch.Tensor,
        sources: torch.Tensor,
        allowed: torch.Tensor,
        tolerance: float,
    ) -> torch.Tensor:
        return torch.empty_like(sources)
