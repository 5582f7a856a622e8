"""Procedural expression deformations of the face model: one displacement field per coefficient.

Each ARKit-named coefficient (and each gaze axis) is a linear blendshape: a displacement [478, 3]
of the neutral face at coefficient 1, built here from the mesh's landmark groups and the neutral's
own geometry (so a subject with narrow eyes gets a blink that exactly closes *its* eyes).
Displacements spread from their anchor points to nearby skin with a compactly supported fall-off,
so every coefficient moves its own region and leaves unrelated regions exactly still.

Coordinates are the canonical face frame: x image-right, y down, z into the screen, unit = face
width. "Left" is the subject's left, i.e. +x.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from xactor.engines import face_regions as fr
from xactor.engines import motion_space as ms

Array = np.ndarray
SIDES = {"Left": 1.0, "Right": -1.0}  # sign of x on the subject's side


def _idx(group: Sequence[int]) -> list[int]:
    return list(group)


def _falloff(dist: Array, radius: float) -> Array:
    """Smooth weight 1 at distance 0, exactly 0 from ``radius`` on: (1 - (d/r)^2)^2."""
    return np.clip(1.0 - (dist / radius) ** 2, 0.0, None) ** 2


def spread(
    neutral: Array,
    anchors: Sequence[int],
    anchor_disp: Array,
    radius: float,
    mask: Array | None = None,
) -> Array:
    """Interpolate anchor displacements [A,3] to all points, fading to zero ``radius`` away.

    Shepard (normalised Gaussian) interpolation in the image plane, times a compact fall-off on the
    distance to the nearest anchor; anchors keep their own displacement exactly. ``mask`` [N] in
    [0,1] scales the result for non-anchor points (e.g. to keep the other lip still).
    """
    anchors = list(anchors)
    xy = neutral[:, :2]
    d2 = ((xy[:, None, :] - xy[None, anchors, :]) ** 2).sum(-1)  # [N, A]
    d2_min = d2.min(1, keepdims=True)
    sigma2 = (0.35 * radius) ** 2
    weights = np.exp(-(d2 - d2_min) / sigma2)  # stable: nearest anchor has weight 1
    interp = weights @ anchor_disp / weights.sum(1, keepdims=True)
    out = interp * _falloff(np.sqrt(d2_min[:, 0]), radius)[:, None]
    if mask is not None:
        out *= mask[:, None]
    out[anchors] = anchor_disp
    return out


def _smoothstep(t: Array) -> Array:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


class _Geometry:
    """Measurements of one neutral face that the deformations are scaled by."""

    def __init__(self, neutral: Array) -> None:
        self.p = neutral.astype(np.float64)
        corner_l, corner_r = self.p[fr.MOUTH_CORNER_LEFT], self.p[fr.MOUTH_CORNER_RIGHT]
        self.mouth_half_width = float(corner_l[0] - corner_r[0]) / 2
        self.mouth_centre = (corner_l + corner_r) / 2
        self.upper_lip = _idx(fr.LIPS_OUTER_UPPER[1:-1]) + _idx(fr.LIPS_INNER_UPPER[1:-1])
        self.lower_lip = _idx(fr.LIPS_OUTER_LOWER[1:-1]) + _idx(fr.LIPS_INNER_LOWER[1:-1])
        self.corners = [fr.MOUTH_CORNER_RIGHT, fr.MOUTH_CORNER_LEFT, 78, 308]
        self.lips = self.upper_lip + self.lower_lip + self.corners

    def taper(self, idx: Sequence[int]) -> Array:
        """1 at the mouth's centre line, 0 at its corners (for vertical lip motions)."""
        x = (self.p[list(idx), 0] - self.mouth_centre[0]) / self.mouth_half_width
        return np.clip(1 - x**2, 0.0, 1.0)

    def side(self, idx: Sequence[int] | None, sign: float) -> Array:
        """Weight of points on one side of the mouth: 1 on that half, fading out past the middle."""
        x = self.p[:, 0] if idx is None else self.p[list(idx), 0]
        t = (sign * (x - self.mouth_centre[0]) / self.mouth_half_width + 0.35) / 0.7
        return _smoothstep(t)

    def lid_gap(self, upper: Sequence[int], lower: Sequence[int]) -> tuple[Array, Array]:
        """For each upper-lid point, the y of the lower lid below it and the x-range of the eye."""
        lx, ly = self.p[list(lower), 0], self.p[list(lower), 1]
        order = np.argsort(lx)
        lower_y = np.interp(self.p[list(upper), 0], lx[order], ly[order])
        return lower_y, np.array([lx.min(), lx.max()])


def _vertical(n: int, dy: Array | float) -> Array:
    disp = np.zeros((n, 3))
    disp[:, 1] = dy
    return disp


def _jaw_open(g: _Geometry) -> Array:
    """Rotate the jaw about a hinge in front of the ears; the upper lip and everything above stay."""
    p = g.p
    hinge = np.array([0.0, (p[234, 1] + p[454, 1]) / 2, p[:, 2].max() + 0.15])
    angle = 0.22  # radians at jawOpen = 1: lips about 0.14 face widths apart
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])  # chin goes down and back
    rotated = (p - hinge) @ rot.T + hinge
    # Weight: 1 below the mouth line, 0 above it; the line rises from the mouth corners to the hinge.
    inner_x = p[_idx(fr.LIPS_INNER_UPPER), 0]
    inner_y = (p[_idx(fr.LIPS_INNER_UPPER), 1] + p[_idx(fr.LIPS_INNER_LOWER), 1]) / 2
    edge_x = np.abs(p[454, 0] - g.mouth_centre[0])
    xs = np.concatenate([[g.mouth_centre[0] - edge_x], inner_x, [g.mouth_centre[0] + edge_x]])
    ys = np.concatenate([[hinge[1]], inner_y, [hinge[1]]])
    order = np.argsort(xs)
    line_y = np.interp(p[:, 0], xs[order], ys[order])
    weight = _smoothstep((p[:, 1] - line_y) / 0.16 + 0.2)
    weight[g.upper_lip] = 0.0
    weight[g.lower_lip] = 0.5 + 0.5 * np.sqrt(g.taper(g.lower_lip))  # no shear at the corners
    weight[g.corners] = 0.5
    weight[list(fr.IRIS_LEFT + fr.IRIS_RIGHT)] = 0.0
    return (rotated - p) * weight[:, None]


def _lips_vertical(g: _Geometry, upper_dy: float, lower_dy: float, sign: float | None = None) -> Array:
    """Move the upper lip by ``upper_dy`` and the lower lip by ``lower_dy`` (tapered to the corners)."""
    up, low = g.upper_lip, g.lower_lip
    disp_up = _vertical(len(up), upper_dy * g.taper(up))
    disp_low = _vertical(len(low), lower_dy * g.taper(low))
    if sign is not None:
        disp_up *= g.side(up, sign)[:, None]
        disp_low *= g.side(low, sign)[:, None]
    anchors = up + low + g.corners
    disp = np.concatenate([disp_up, disp_low, np.zeros((len(g.corners), 3))])
    return spread(g.p, anchors, disp, radius=0.10)


def _corner(g: _Geometry, sign: float, delta: Sequence[float], radius: float = 0.16) -> Array:
    """Pull one mouth corner by ``delta`` (x outward for +), the lips near it follow."""
    lip_idx = g.lips
    x = (g.p[lip_idx, 0] - g.mouth_centre[0]) * sign / g.mouth_half_width
    follow = np.clip(x, 0.0, 1.0) ** 1.5
    d = np.array([delta[0] * sign, delta[1], delta[2] if len(delta) > 2 else 0.0])
    return spread(g.p, lip_idx, follow[:, None] * d[None, :], radius=radius)


def _lip_roll(g: _Geometry, outer: Sequence[int], inner: Sequence[int]) -> Array:
    """Roll a lip inward: its outer contour moves most of the way onto the inner one, and back."""
    outer, inner = list(outer[1:-1]), list(inner[1:-1])
    disp_outer = 0.7 * (g.p[inner] - g.p[outer])
    disp_outer[:, 2] += 0.015
    disp_inner = np.zeros((len(inner), 3))
    disp_inner[:, 2] = 0.02
    anchors = outer + inner + g.corners
    disp = np.concatenate([disp_outer, disp_inner, np.zeros((len(g.corners), 3))])
    return spread(g.p, anchors, disp, radius=0.07)


def _funnel(g: _Geometry) -> Array:
    up, low = g.upper_lip, g.lower_lip
    d_up = _vertical(len(up), -0.035 * g.taper(up))
    d_low = _vertical(len(low), 0.035 * g.taper(low))
    corners = np.zeros((len(g.corners), 3))
    corners[:, 0] = -0.035 * np.sign(g.p[g.corners, 0] - g.mouth_centre[0])
    disp = np.concatenate([d_up, d_low, corners])
    disp[:, 2] -= 0.03
    return spread(g.p, up + low + g.corners, disp, radius=0.12)


def _pucker(g: _Geometry) -> Array:
    lips = g.lips
    disp = np.zeros((len(lips), 3))
    disp[:, 0] = -0.4 * (g.p[lips, 0] - g.mouth_centre[0])
    disp[:, 1] = -0.15 * (g.p[lips, 1] - g.mouth_centre[1])
    disp[:, 2] = -0.05
    return spread(g.p, lips, disp, radius=0.12)


def _shift_mouth(g: _Geometry, sign: float) -> Array:
    disp = np.zeros((len(g.lips), 3))
    disp[:, 0] = 0.04 * sign
    return spread(g.p, g.lips, disp, radius=0.12)


def _cheek_puff(g: _Geometry) -> Array:
    out = np.zeros_like(g.p)
    for sign in (1.0, -1.0):
        centre = np.array([g.mouth_centre[0] + sign * 0.28, g.mouth_centre[1] - 0.08])
        w = _falloff(np.linalg.norm(g.p[:, :2] - centre, axis=1), 0.18)
        out[:, 0] += sign * 0.035 * w
        out[:, 2] -= 0.03 * w
    out[g.lips] = 0.0
    return out


def _brow(g: _Geometry, upper: Sequence[int], lower: Sequence[int], dy: Array, dx: Array) -> Array:
    """Move a brow's points (ordered outer to inner) by per-point dy/dx; skin above and below follows."""
    idx = list(upper) + list(lower)
    disp = np.zeros((len(idx), 3))
    disp[:, 1] = np.concatenate([dy, dy])
    disp[:, 0] = np.concatenate([dx, dx])
    return spread(g.p, idx, disp, radius=0.11, mask=_above_eyes(g))


def _above_eyes(g: _Geometry) -> Array:
    """1 for points above the upper eyelids (brow and forehead skin), so brows never drag the eyes."""
    lids = list(fr.EYE_LEFT_UPPER + fr.EYE_RIGHT_UPPER)
    lid_y = g.p[lids, 1].min()
    mask = _smoothstep((lid_y - g.p[:, 1]) / 0.03)
    mask[list(fr.EYE_LEFT + fr.EYE_RIGHT + fr.IRIS_LEFT + fr.IRIS_RIGHT)] = 0.0  # the iris top pokes above
    return mask


def _brow_sides() -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    return {
        "Left": (fr.BROW_LEFT_UPPER, fr.BROW_LEFT_LOWER),
        "Right": (fr.BROW_RIGHT_UPPER, fr.BROW_RIGHT_LOWER),
    }


def _eye_sides() -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    return {
        "Left": (fr.EYE_LEFT_UPPER, fr.EYE_LEFT_LOWER, fr.IRIS_LEFT),
        "Right": (fr.EYE_RIGHT_UPPER, fr.EYE_RIGHT_LOWER, fr.IRIS_RIGHT),
    }


def _eyelid(g: _Geometry, side: str, upper_frac: float, lower_frac: float, radius: float = 0.07) -> Array:
    """Move one eye's upper lid by ``upper_frac`` of the lid gap (down +) and the lower lid by
    ``lower_frac`` (up +); skin between lid and brow follows, the iris and the other eye stay."""
    upper, lower, iris = (list(s) for s in _eye_sides()[side])
    lower_y, (x0, x1) = g.lid_gap(upper, lower)
    gap = lower_y - g.p[upper, 1]  # [U] >= 0
    d_up = _vertical(len(upper), upper_frac * gap)
    upper_y_at_lower = np.interp(g.p[lower, 0], *_sorted_xy(g.p[upper]))
    d_low = _vertical(len(lower), -lower_frac * (g.p[lower, 1] - upper_y_at_lower))
    d_up[[0, -1]] = 0.0  # the eye corners stay
    d_low[[0, -1]] = 0.0
    anchors = upper + lower + iris
    disp = np.concatenate([d_up, d_low, np.zeros((len(iris), 3))])
    margin = 0.04
    in_x = (g.p[:, 0] > x0 - margin) & (g.p[:, 0] < x1 + margin)
    return spread(g.p, anchors, disp, radius=radius, mask=in_x.astype(float))


def _sorted_xy(points: Array) -> tuple[Array, Array]:
    order = np.argsort(points[:, 0])
    return points[order, 0], points[order, 1]


def _gaze(g: _Geometry, axis: int) -> Array:
    out = np.zeros_like(g.p)
    for upper, lower, iris in _eye_sides().values():
        eye = g.p[list(upper + lower)]
        half_width = (eye[:, 0].max() - eye[:, 0].min()) / 2
        height = eye[:, 1].max() - eye[:, 1].min()
        out[list(iris), axis] = 0.45 * half_width if axis == 0 else 0.3 * height
    return out


def _builders() -> dict[str, Callable[[_Geometry], Array]]:
    b: dict[str, Callable[[_Geometry], Array]] = {
        "jawOpen": _jaw_open,
        "mouthFunnel": _funnel,
        "mouthPucker": _pucker,
        "mouthRollLower": partial(_lip_roll, outer=fr.LIPS_OUTER_LOWER, inner=fr.LIPS_INNER_LOWER),
        "mouthRollUpper": partial(_lip_roll, outer=fr.LIPS_OUTER_UPPER, inner=fr.LIPS_INNER_UPPER),
        "mouthLeft": partial(_shift_mouth, sign=1.0),
        "mouthRight": partial(_shift_mouth, sign=-1.0),
        "cheekPuff": _cheek_puff,
        "gazeYaw": partial(_gaze, axis=0),
        "gazePitch": partial(_gaze, axis=1),
    }

    def mouth_close(g: _Geometry) -> Array:
        # Cancel the lip part of jawOpen: the lips meet again while the jaw stays down.
        jaw_drop = _jaw_open(g)[fr.LIPS_INNER_LOWER[5], 1]
        return _lips_vertical(g, 0.5 * jaw_drop, -0.5 * jaw_drop)

    b["mouthClose"] = mouth_close

    def brow_inner_up(g: _Geometry) -> Array:
        out = np.zeros_like(g.p)
        ramp = np.array([0.15, 0.3, 0.55, 0.85, 1.0])  # outer → inner
        for upper, lower in _brow_sides().values():
            out += _brow(g, upper, lower, -0.05 * ramp, np.zeros(5))
        return out

    b["browInnerUp"] = brow_inner_up

    for side, sign in SIDES.items():
        brow_up, brow_low = _brow_sides()[side]
        b[f"mouthSmile{side}"] = partial(_corner, sign=sign, delta=(0.035, -0.04, 0.01))
        b[f"mouthFrown{side}"] = partial(_corner, sign=sign, delta=(0.005, 0.035))
        b[f"mouthStretch{side}"] = partial(_corner, sign=sign, delta=(0.045, 0.012))
        b[f"mouthPress{side}"] = partial(_lips_vertical, upper_dy=0.010, lower_dy=-0.010, sign=sign)
        b[f"mouthUpperUp{side}"] = partial(_lips_vertical, upper_dy=-0.03, lower_dy=0.0, sign=sign)
        b[f"mouthLowerDown{side}"] = partial(_lips_vertical, upper_dy=0.0, lower_dy=0.035, sign=sign)
        b[f"browDown{side}"] = partial(
            _brow, upper=brow_up, lower=brow_low, dy=np.full(5, 0.035),
            dx=-sign * np.array([0.0, 0.002, 0.005, 0.008, 0.012]),
        )  # fmt: skip
        b[f"browOuterUp{side}"] = partial(
            _brow,
            upper=brow_up,
            lower=brow_low,
            dy=-0.045 * np.array([1.0, 0.85, 0.5, 0.2, 0.05]),
            dx=np.zeros(5),
        )
        b[f"eyeBlink{side}"] = partial(_eyelid, side=side, upper_frac=1.0, lower_frac=0.1)
        b[f"eyeWide{side}"] = partial(_eyelid, side=side, upper_frac=-0.35, lower_frac=-0.1)
        b[f"eyeSquint{side}"] = partial(_eyelid, side=side, upper_frac=0.1, lower_frac=0.35)
    return b


BUILDERS = _builders()
DEFORM_NAMES: tuple[str, ...] = ms.NAMES[ms.DEFORM_SLICE]
assert set(BUILDERS) == set(DEFORM_NAMES), set(BUILDERS) ^ set(DEFORM_NAMES)


def build_basis(neutral: Array) -> Array:
    """Blendshape basis [34, 478, 3] (expressions then gaze, in motion-space order) for ``neutral``."""
    if neutral.shape != (fr.NUM_LANDMARKS, 3):
        raise ValueError(f"neutral must be [{fr.NUM_LANDMARKS}, 3], got {neutral.shape}")
    geometry = _Geometry(neutral)
    return np.stack([BUILDERS[name](geometry) for name in DEFORM_NAMES]).astype(np.float32)
