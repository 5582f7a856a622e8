"""Draw a procedural identity for any motion: the exact ground-truth frame of that motion.

The face is the identity's face model (the same :class:`~engines.face_model.FaceModel` the warp
renderer uses, placed in the crop the way portraits are aligned), so a frame's landmarks are known
exactly. Layers, back to front (each at 2× and box-filtered down, for anti-aliasing):

1. background: a two-colour gradient;
2. back hair, rigid with the head;
3. torso and clothes (still), neck from the torso to the jaw (follows the head);
4. ears, rigid with the head;
5. behind the skin's holes: the mouth interior (cavity, tongue, lower teeth riding on the jaw,
   upper teeth rigid with the head) and the eyeballs (sclera, iris and pupil at the iris
   landmarks, so gaze moves them; a highlight);
6. the skin: the mesh z-buffered, textured in the neutral face plane (:mod:`.texture`) and lit
   (Lambert with the identity's light); its eye and mouth holes show layer 5 exactly as far as
   the lids and lips are open, so occlusion is correct for every expression (nearly closed lips,
   within ``SEAL`` of meeting, are drawn meeting: :func:`_sealed`);
7. lashes along the upper lids, then the fringe over the forehead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw
from scipy.ndimage import map_coordinates

from xactor.engines import face_regions as fr
from xactor.engines import motion_space as ms
from xactor.engines.avatar.align import CENTRE_Y, FACE_FRACTION
from xactor.engines.face_model import FaceModel, Placement, euler_to_matrix
from xactor.engines.procedural.identity import FaceIdentity
from xactor.engines.procedural.raster import EYE_HOLES, MESH_POINTS, MOUTH_HOLE, rasterize, skin_triangles
from xactor.engines.procedural.texture import skin_texture, uv_pixels
from xactor.engines.warp.renderer import AvatarRenderer

SUPERSAMPLE = 2
Pose = tuple[np.ndarray, float, np.ndarray]  # the head's rotation [3, 3], scale, translation [3]
ToPixels = Callable[[np.ndarray], np.ndarray]  # crop px [N, >=2] -> supersampled px [N, 2]
JAW_POINTS = (152, 148, 377, 176, 400)  # chin: the lower teeth and tongue ride on these
SEAL = (0.01, 0.02)  # inner-lip gaps (face widths): drawn sealed up to the first, true from the second


def reference_placement(identity: FaceIdentity, size: int) -> Placement:
    """Where the identity's face sits in a ``size`` crop: aligned like a prepared portrait
    (face width ``FACE_FRACTION`` of the side, centre at ``CENTRE_Y``), in its reference pose."""
    angles = [torch.tensor(a, dtype=torch.float32) for a in (identity.yaw, identity.pitch, identity.roll)]
    rotation = euler_to_matrix(*angles).numpy()
    centre = np.array([(size - 1) / 2, CENTRE_Y * size, 0.0], np.float32)
    return Placement(rotation.astype(np.float32), FACE_FRACTION * size, centre)


@dataclass
class _Shapes:
    """Canonical helper shapes of one identity, posed each frame with the head."""

    skull: np.ndarray  # [N, 3]
    back_hair: np.ndarray | None
    fringe: np.ndarray | None
    ears: tuple[np.ndarray, np.ndarray]
    upper_teeth: np.ndarray
    lower_teeth: np.ndarray
    tongue: np.ndarray
    neck_top: np.ndarray  # [4, 3]


def _ellipse(centre: tuple[float, float, float], radii: tuple[float, float], n: int = 24) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x = centre[0] + radii[0] * np.cos(t)
    y = centre[1] + radii[1] * np.sin(t)
    return np.stack([x, y, np.full(n, centre[2])], 1)


def _around(points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """``points`` [N, >=2] ordered around ``centre`` from the subject's right, over the top, to
    its left (the angle is measured from straight up, so the open end is at the bottom)."""
    angle = np.arctan2(points[:, 0] - centre[0], centre[1] - points[:, 1])
    return points[np.argsort(angle)]


def _skull(oval: np.ndarray, centre: np.ndarray, push: float) -> np.ndarray:
    """The head's outline above ``y = 0.3`` [N, 3]: the face oval pushed out by ``push`` and the
    top raised to a skull (the mesh stops at the hairline), ordered right → top → left."""
    upper = _around(oval[oval[:, 1] < 0.3], centre)
    radial = upper[:, :2] - centre[:2]
    unit = radial / np.linalg.norm(radial, axis=1, keepdims=True)
    lift = 0.16 * np.clip(-upper[:, 1] / 0.56, 0, 1) ** 1.5  # 0 at the temples, most at the top
    xy = upper[:, :2] + unit * push - np.stack([np.zeros_like(lift), lift], 1)
    return np.concatenate([xy, upper[:, 2:] + 0.08], 1)


def _shapes(identity: FaceIdentity) -> _Shapes:
    n = identity.neutral.astype(np.float64)
    oval = n[list(fr.FACE_OVAL)]
    centre = np.array([0.0, 0.05, 0.0])
    style, volume = identity.hair_style, identity.hair_volume
    skull = _skull(oval, centre, 0.01)
    back_hair = fringe = None
    if style != "bald":
        outline = _skull(oval, centre, volume)
        bottom = {"short": 0.0, "fringe": 0.1, "bob": 0.5, "long": 1.0}[style]
        sides = np.array([[outline[0, 0], bottom, 0.3], [outline[-1, 0], bottom, 0.3]])
        back_hair = np.concatenate([sides[:1], outline, sides[1:]])
        # The fringe: from the hair's outline down to a wavy edge across the forehead, just in
        # front of the skin (its depth from the nearest neutral landmark, so it turns with the head).
        top = outline[outline[:, 1] < identity.fringe]
        xs = np.linspace(top[0, 0], top[-1, 0], 16) * 0.98  # the subject's right to left
        edge_y = identity.fringe + 0.025 * np.sin(xs * 19.0 + identity.seed) - 0.08 * (xs / 0.5) ** 2
        nearest = np.argmin(((n[None, :468, :2] - np.stack([xs, edge_y], 1)[:, None]) ** 2).sum(-1), 1)
        z = n[nearest, 2] - 0.02  # a shell just in front of the forehead
        crown = np.interp(xs, top[:, 0], top[:, 1])  # the hair's outline above each point
        edge = np.stack([xs, edge_y, z], 1)[::-1]
        fringe = np.concatenate([np.stack([xs, crown, z], 1), edge])
    ear_y = float(n[234, 1]) + 0.02
    ears = (
        _ellipse((float(n[234, 0]) - 0.02, ear_y, 0.25), (0.06, 0.13)),
        _ellipse((float(n[454, 0]) + 0.02, ear_y, 0.25), (0.06, 0.13)),
    )
    top_lip = float(n[13, 1])
    low_lip = float(n[14, 1])
    half = 0.55 * float(n[291, 0] - n[61, 0]) / 2
    xs = np.linspace(-half, half, 9)
    curve = 0.03 * (xs / half) ** 2
    z = float(n[13, 2]) + 0.04
    upper = np.concatenate(
        [
            np.stack([xs, top_lip - 0.04 + curve], 1),
            np.stack([xs[::-1], top_lip + 0.04 + curve[::-1] * 0.5], 1),
        ]
    )
    lower = np.concatenate(
        [
            np.stack([xs, low_lip - 0.015 + curve * 0.5], 1),
            np.stack([xs[::-1], low_lip + 0.06 + curve[::-1]], 1),
        ]
    )
    return _Shapes(
        skull=skull,
        back_hair=back_hair,
        fringe=fringe,
        ears=ears,
        upper_teeth=np.concatenate([upper, np.full((len(upper), 1), z)], 1),
        lower_teeth=np.concatenate([lower, np.full((len(lower), 1), z)], 1),
        tongue=_ellipse((0.0, low_lip + 0.02, z + 0.05), (half * 1.3, 0.05)),
        neck_top=np.array([[-0.27, 0.3, 0.2], [-0.2, 0.6, 0.15], [0.2, 0.6, 0.15], [0.27, 0.3, 0.2]]),
    )


class ProceduralFace:
    """One identity drawn at ``size`` px (see module docstring). ``face_model`` is its face model
    placed in the crop: the warp renderer built on ``render(zeros)`` uses exactly this one."""

    def __init__(self, identity: FaceIdentity, size: int = 256) -> None:
        self.identity, self.size = identity, size
        self.placement = reference_placement(identity, size)
        self.face_model = FaceModel(identity.neutral, self.placement)
        self.triangles = skin_triangles()
        self.texture = skin_texture(identity)
        self.uv = uv_pixels(identity.neutral[:MESH_POINTS, :2])  # [V, 2] texture pixels
        self.shapes = _shapes(identity)
        self._jaw_neutral = identity.neutral[list(JAW_POINTS)].mean(0)

    # --- geometry --------------------------------------------------------------------------------

    def _pose(self, motion: np.ndarray) -> Pose:
        """The head's rotation [3, 3], scale (px per face width) and translation [3] for ``motion``
        (clamped), from the face model itself: the extra shapes move exactly as the landmarks."""
        with torch.no_grad():
            rot, scale, shift = self.face_model.rigid(torch.as_tensor(motion[None]))
        return rot[0].numpy(), float(scale[0]), shift[0].numpy()

    def _posed(self, canon: np.ndarray, pose: Pose) -> np.ndarray:
        rot, scale, shift = pose
        return scale * canon @ rot.T + shift  # [N, 3] crop px

    # --- drawing ---------------------------------------------------------------------------------

    def render(self, motion: np.ndarray) -> np.ndarray:
        """motion [40] (absolute; clamped like the face model) → uint8 [S, S, 3]."""
        motion = ms.clamp_np(np.asarray(motion, np.float32).reshape(ms.MOTION_DIM))
        ss, size = SUPERSAMPLE, self.size
        big = size * ss
        landmarks = self.face_model.landmarks(motion)  # [478, 3] crop px
        canon = self.face_model.canonical_shape(torch.as_tensor(motion[None]))[0].numpy()
        pose = self._pose(motion)

        def up(points: np.ndarray) -> np.ndarray:  # crop px → supersampled px (pixel centres)
            return (points[:, :2] + 0.5) * ss - 0.5

        ident = self.identity
        img = self._background(big)
        shapes = self.shapes
        if shapes.back_hair is not None:
            img = _fill(img, up(self._posed(shapes.back_hair, pose)), ident.hair * 0.8)
        img = self._torso(img, up(self._posed(shapes.neck_top, pose)), big)
        img = _fill(img, up(self._posed(shapes.skull, pose)), ident.skin * 0.9)
        for ear in shapes.ears:
            img = _fill(img, up(self._posed(ear, pose)), ident.skin * 0.82)
        img = self._mouth(img, landmarks, canon, pose, up)
        img = self._eyes(img, landmarks, up)
        img = self._skin(img, _sealed(landmarks, pose[1]), big)
        for upper in (fr.EYE_RIGHT_UPPER, fr.EYE_LEFT_UPPER):
            img = _line(img, up(landmarks[list(upper)]), (0.06, 0.04, 0.04), width=max(2, round(1.2 * ss)))
        if shapes.fringe is not None:
            img = _fill(img, up(self._posed(shapes.fringe, pose)), ident.hair)
        small = img.reshape(size, ss, size, ss, 3).mean((1, 3))  # box filter: anti-aliasing
        return np.clip(small * 255 + 0.5, 0, 255).astype(np.uint8)

    def _background(self, big: int) -> np.ndarray:
        a, b = self.identity.background
        t = np.linspace(0, 1, big)[:, None, None]
        return np.broadcast_to(a * (1 - t) + b * t, (big, big, 3)).astype(np.float32).copy()

    def _torso(self, img: np.ndarray, neck_top: np.ndarray, big: int) -> np.ndarray:
        ident, scale = self.identity, self.placement.scale * SUPERSAMPLE
        cx = (big - 1) / 2
        neck_bottom = np.array([[cx + 0.3 * scale, big + 2], [cx - 0.3 * scale, big + 2]])
        img = _fill(img, np.concatenate([neck_top, neck_bottom]), ident.skin * 0.72)
        t = np.linspace(np.pi, 2 * np.pi, 25)  # points on the shoulders: not the time base
        shoulders = np.stack([cx + 0.62 * big * np.cos(t), big * 1.13 + 0.3 * big * np.sin(t)], 1)
        img = _fill(img, shoulders, ident.clothes)
        collar = np.array(
            [[cx - 0.26 * scale, big * 0.86], [cx + 0.26 * scale, big * 0.86], [cx, big * 0.97]]
        )
        return _fill(img, collar, ident.skin * 0.7)

    def _mouth(
        self, img: np.ndarray, landmarks: np.ndarray, canon: np.ndarray, pose: Pose, up: ToPixels
    ) -> np.ndarray:
        ring = landmarks[list(MOUTH_HOLE)]
        centre = ring.mean(0)
        img = _fill(img, up(centre + (ring - centre) * 1.4), (0.22, 0.05, 0.06))
        jaw = canon[list(JAW_POINTS)].mean(0) - self._jaw_neutral  # the jaw's canonical displacement
        s = self.shapes
        img = _fill(img, up(self._posed(s.tongue + jaw, pose)), (0.72, 0.32, 0.33))
        img = _fill(img, up(self._posed(s.lower_teeth + jaw, pose)), (0.9, 0.88, 0.82))
        return _fill(img, up(self._posed(s.upper_teeth, pose)), (0.95, 0.93, 0.88))

    def _eyes(self, img: np.ndarray, landmarks: np.ndarray, up: ToPixels) -> np.ndarray:
        for ring_ids, iris_ids in zip(EYE_HOLES, (fr.IRIS_RIGHT, fr.IRIS_LEFT), strict=True):
            ring = landmarks[list(ring_ids)]
            centre = ring.mean(0)
            img = _fill(img, up(centre + (ring - centre) * 1.5), (0.9, 0.87, 0.84))
            iris = up(landmarks[list(iris_ids)])
            c, r = iris[0], float(np.linalg.norm(iris[1:] - iris[0], axis=1).mean())
            img = _disc(img, c, r, self.identity.eyes * 0.6)
            img = _disc(img, c, r * 0.82, self.identity.eyes)
            img = _disc(img, c, r * 0.42, (0.03, 0.03, 0.03))
            img = _disc(img, c - 0.35 * r, r * 0.16, (1.0, 1.0, 1.0))
        return img

    def _skin(self, img: np.ndarray, landmarks: np.ndarray, big: int) -> np.ndarray:
        ss = SUPERSAMPLE
        verts = landmarks[:MESH_POINTS]
        xy = (verts[:, :2] + 0.5) * ss - 0.5
        raster = rasterize(xy, verts[:, 2], self.triangles, big, big)
        if not raster.mask.any():
            return img
        normals = _vertex_normals(verts, self.triangles)
        n = raster.interpolate(self.triangles, normals)  # [P, 3] at the covered pixels
        n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-6)
        uv = raster.interpolate(self.triangles, self.uv)  # [P, 2] texture px
        albedo = np.stack(
            [map_coordinates(self.texture[..., c], [uv[:, 1], uv[:, 0]], order=1) for c in range(3)], -1
        )
        ident = self.identity
        shade = ident.ambient + (1 - ident.ambient) * np.clip(n @ ident.light, 0, 1)
        img[raster.mask] = albedo * shade[:, None]
        return img


def _sealed(landmarks: np.ndarray, scale: float) -> np.ndarray:
    """``landmarks`` [478, 3] with nearly closed lips drawn closed: each facing pair of inner-lip
    points whose gap (across the mouth line, in face widths: px / ``scale``) is at most
    ``SEAL[0]`` meets at its midpoint; gaps up to ``SEAL[1]`` ramp linearly from 0 back to their
    true size; lips pressed over each other (gap < 0) meet too instead of folding the mesh.

    A rest face keeps its lips up to ``SEAL[0]`` apart (:func:`.identity._close_lips`) and a
    bilabial closure leaves some pairs a hair apart: drawn as is, such a slit shows a seam of the
    teeth behind it (Face Mesh read 3 to 8 % of the mouth width where photos read under 1 %)."""
    upper, lower = list(fr.LIPS_INNER_UPPER[1:-1]), list(fr.LIPS_INNER_LOWER[1:-1])
    out = landmarks.copy()
    pts = landmarks[:, :2]
    along = pts[fr.LIPS_INNER_UPPER[-1]] - pts[fr.LIPS_INNER_UPPER[0]]
    along = along / max(float(np.linalg.norm(along)), 1e-9)
    down = np.array([-along[1], along[0]])  # image y grows downwards
    gap = (pts[lower] - pts[upper]) @ down / scale  # [9] face widths
    lo, hi = SEAL
    drawn = np.where(gap <= lo, 0.0, np.where(gap < hi, (gap - lo) * hi / (hi - lo), gap))
    shift = (gap - drawn) / 2 * scale  # px each lip moves toward the other
    out[upper, :2] += shift[:, None] * down
    out[lower, :2] -= shift[:, None] * down
    return out


def _vertex_normals(verts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Unit normals [V, 3] facing the camera (−z), area-weighted over each vertex's triangles."""
    a, b, c = (verts[tris[:, i]] for i in range(3))
    face = np.cross(b - a, c - a)  # [T, 3]
    normals = np.zeros_like(verts, dtype=np.float64)
    for i in range(3):
        np.add.at(normals, tris[:, i], face)
    if normals[:, 2].sum() > 0:
        normals = -normals
    return (normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)).astype(np.float32)


def _fill(img: np.ndarray, points: np.ndarray, colour: object) -> np.ndarray:
    """``img`` with polygon ``points`` [N, 2] (px) filled with ``colour``."""
    mask = Image.new("L", (img.shape[1], img.shape[0]), 0)
    ImageDraw.Draw(mask).polygon([(float(x), float(y)) for x, y in points], fill=255)
    return _blend(img, mask, colour)


def _disc(img: np.ndarray, centre: np.ndarray, radius: float, colour: object) -> np.ndarray:
    mask = Image.new("L", (img.shape[1], img.shape[0]), 0)
    x, y = float(centre[0]), float(centre[1])
    ImageDraw.Draw(mask).ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return _blend(img, mask, colour)


def _line(img: np.ndarray, points: np.ndarray, colour: object, width: int) -> np.ndarray:
    mask = Image.new("L", (img.shape[1], img.shape[0]), 0)
    ImageDraw.Draw(mask).line([(float(x), float(y)) for x, y in points], fill=255, width=width, joint="curve")
    return _blend(img, mask, colour)


def _blend(img: np.ndarray, mask: Image.Image, colour: object) -> np.ndarray:
    """``img`` (modified in place and returned) covered by ``colour`` where ``mask`` says."""
    box = mask.getbbox()
    if box is None:
        return img
    x0, y0, x1, y1 = box
    a = np.asarray(mask.crop(box), np.float32)[..., None] / 255.0
    patch = img[y0:y1, x0:x1]
    img[y0:y1, x0:x1] = patch + a * (np.asarray(colour, np.float32) - patch)
    return img


def reference_and_warp(face: ProceduralFace, trace: bool = True) -> tuple[np.ndarray, AvatarRenderer]:
    """The identity's reference portrait (motion zero) and the warp renderer built on it with the
    identity's own face model (exact geometry: no landmark detection involved). ``trace=False``
    for one-off renderers (data generation): a trace per identity at batch 64 kept about 1 GB per
    shard of 8 identities."""
    reference = face.render(np.zeros(ms.MOTION_DIM, np.float32))
    return reference, AvatarRenderer.from_crop(reference, face.face_model, trace=trace)
