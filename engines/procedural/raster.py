"""The face mesh's triangles and a vectorised z-buffer rasteriser for them (numpy, CPU).

The triangles are a Delaunay triangulation of the neutral face's frontal projection (the 468
mesh points, irises excluded), minus the triangles that cover the eye openings and the mouth
slit: those are holes through which the eyeballs and the mouth interior, drawn behind the skin,
show. Which triangles are holes is decided on a face with the mouth and eyes wide open, where the
openings are unambiguous, and holds for every expression because the topology does not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from matplotlib.path import Path as PolygonPath
from scipy.spatial import Delaunay

from xactor.engines import face_regions as fr
from xactor.engines import motion_space as ms
from xactor.engines.face_model import NEUTRAL_FACE, FaceModel

MESH_POINTS = 468  # landmarks 468..477 are the irises: not part of the skin

MOUTH_HOLE = fr.LIPS_INNER_UPPER + tuple(reversed(fr.LIPS_INNER_LOWER))
EYE_HOLES = (
    fr.EYE_RIGHT_UPPER + tuple(reversed(fr.EYE_RIGHT_LOWER)),
    fr.EYE_LEFT_UPPER + tuple(reversed(fr.EYE_LEFT_LOWER)),
)


@lru_cache(maxsize=1)
def skin_triangles() -> np.ndarray:
    """int64 [T, 3] vertex indices of the skin surface, each triangle wound the same way."""
    points = NEUTRAL_FACE[:MESH_POINTS, :2].astype(np.float64)
    tris = Delaunay(points).simplices.astype(np.int64)
    opened = FaceModel().landmarks(
        ms.from_dict({"jawOpen": 1.0, "eyeWideLeft": 1.0, "eyeWideRight": 1.0})[0]
    )[:, :2]  # canonical, mouth and eyes wide open
    centroids = opened[tris].mean(1)  # [T, 2]
    hole = np.zeros(len(tris), bool)
    for ring in (MOUTH_HOLE, *EYE_HOLES):
        members = np.isin(tris, ring).all(1)  # every corner on the opening's rim
        hole |= members & PolygonPath(opened[list(ring)]).contains_points(centroids)
    tris = tris[~hole]
    a, b, c = (points[tris[:, i]] for i in range(3))
    flip = _cross(b - a, c - a) < 0
    tris[flip] = tris[flip][:, [0, 2, 1]]
    return tris


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]


@dataclass
class Raster:
    """Per pixel: the nearest triangle (-1: none) and the barycentric weights of its corners."""

    triangle: np.ndarray  # int64 [H, W]
    weights: np.ndarray  # float32 [H, W, 3]

    @property
    def mask(self) -> np.ndarray:
        return self.triangle >= 0

    def interpolate(self, tris: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Per-vertex ``values`` [V, C] → values [P, C] at the covered pixels (row-major order,
        the order of ``np.nonzero(mask)``)."""
        covered = self.mask
        corners = values[tris[self.triangle[covered]]]  # [P, 3, C]
        return np.einsum("pk,pkc->pc", self.weights[covered], corners).astype(np.float32)


def rasterize(xy: np.ndarray, depth: np.ndarray, tris: np.ndarray, height: int, width: int) -> Raster:
    """Pixel-centre coverage of triangles ``tris`` [T, 3] with corners ``xy`` [V, 2] (pixels,
    centres at integers) and ``depth`` [V] (smaller is nearer); nearest triangle wins.

    Vectorised over triangles grouped by bounding-box size: every triangle's candidate pixels
    at once, then one sort by (pixel, depth) keeps the nearest.
    """
    corners = xy[tris].astype(np.float64)  # [T, 3, 2]
    lo = np.floor(corners.min(1)).astype(np.int64)
    hi = np.ceil(corners.max(1)).astype(np.int64)
    lo = np.clip(lo, 0, [width - 1, height - 1])
    hi = np.clip(hi, 0, [width - 1, height - 1])
    extent = (hi - lo + 1).max(1)  # [T]
    pix_all, tri_all, depth_all, w_all = [], [], [], []
    bucket = np.maximum(1, 2 ** np.ceil(np.log2(np.maximum(extent, 1)))).astype(np.int64)
    for size in np.unique(bucket):
        sel = np.nonzero(bucket == size)[0]
        oy, ox = np.divmod(np.arange(size * size), size)
        px = lo[sel, 0, None] + ox[None]  # [t, K]
        py = lo[sel, 1, None] + oy[None]
        a, b, c = (corners[sel, i, None, :] for i in range(3))  # [t, 1, 2]
        p = np.stack([px, py], -1).astype(np.float64)  # [t, K, 2]
        area = _cross(b - a, c - a)  # [t, 1]
        ok = np.abs(area) > 1e-9
        safe = np.where(ok, area, 1.0)
        w0 = _cross(c - b, p - b) / safe
        w1 = _cross(a - c, p - c) / safe
        w2 = 1.0 - w0 - w1
        inside = ok & (w0 >= -1e-7) & (w1 >= -1e-7) & (w2 >= -1e-7)
        inside &= (px <= hi[sel, 0, None]) & (py <= hi[sel, 1, None])
        z = depth[tris[sel]]  # [t, 3]
        zz = w0 * z[:, 0, None] + w1 * z[:, 1, None] + w2 * z[:, 2, None]
        t_idx = np.broadcast_to(sel[:, None], px.shape)
        pix_all.append((py * width + px)[inside])
        tri_all.append(t_idx[inside])
        depth_all.append(zz[inside])
        w_all.append(np.stack([w0, w1, w2], -1)[inside])
    pix, tri, dep, w = (np.concatenate(v) for v in (pix_all, tri_all, depth_all, w_all))
    order = np.lexsort((dep, pix))
    first = order[np.unique(pix[order], return_index=True)[1]]
    triangle = np.full(height * width, -1, np.int64)
    weights = np.zeros((height * width, 3), np.float32)
    triangle[pix[first]] = tri[first]
    weights[pix[first]] = w[first]
    return Raster(triangle.reshape(height, width), weights.reshape(height, width, 3))
