"""Sparse landmark displacements → dense backward flow, with the mouth as a cut (docs/ARCHITECTURE.md §3).

Per avatar (numpy/scipy, once): a smooth *forward* displacement field on a coarse node grid over
the reference crop is a linear function of the control-point displacements, ``f = W @ d``. ``W``
comes from a thin-plate (bilaplacian) least-squares fit on the grid whose smoothness edges are cut
along the mouth slit, so the upper and lower lips move independently and the slit opens into a
hole instead of stretching. Two *layers* are read from that field: the upper one equals it on the
upper side of the slit and continues the upper lip's motion a few nodes below it, the lower one is
the mirror image; each layer is smooth, so each can be inverted.

Per frame (torch): the forward fields of both layers are inverted on the target grid with a few
Newton steps (``x + f(x) = p``) and upsampled to full resolution; the renderer reads the upper
layer above the target mouth line and the lower one below it (the hole between the lips is left
to the mouth synthesis).

Coordinates are crop pixels with pixel centres at integers (OpenCV); node ``j`` of ``g`` sits at
``j * (S - 1) / (g - 1)``, so ``F.interpolate(..., align_corners=True)`` upsamples node fields
to pixels exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
import torch.nn.functional as F

Array = np.ndarray


@dataclass(frozen=True)
class NodeGrid:
    """A ``nodes × nodes`` grid spanning an ``size × size`` crop (pixel centres 0 … S-1)."""

    size: int
    nodes: int

    @property
    def spacing(self) -> float:
        return (self.size - 1) / (self.nodes - 1)

    def positions(self) -> Array:
        """Node positions [g*g, 2] (x, y), row-major (row = y index)."""
        axis = np.arange(self.nodes) * self.spacing
        ys, xs = np.meshgrid(axis, axis, indexing="ij")
        return np.stack([xs.ravel(), ys.ravel()], axis=1)


@dataclass(frozen=True)
class Slit:
    """The mouth line between the lips in the reference, and the band around it where layers split.

    ``midline`` [K, 2] runs corner to corner (halfway between the inner lips); ``axis``/``normal``
    are the mouth's unit directions (normal points down the face).
    """

    midline: Array  # [K, 2] px
    axis: Array  # [2]
    normal: Array  # [2]
    band: float  # px, half-height of the band where the layers differ

    @classmethod
    def from_lips(cls, inner_upper: Array, inner_lower: Array, band: float) -> Slit:
        """Both inner-lip contours [K, 2], ordered corner to corner with shared end points."""
        midline = 0.5 * (np.asarray(inner_upper, np.float64) + np.asarray(inner_lower, np.float64))
        axis = midline[-1] - midline[0]
        axis /= np.linalg.norm(axis)
        normal = np.array([-axis[1], axis[0]])
        if normal[1] < 0:
            normal = -normal
        return cls(midline, axis, normal, band)

    def local(self, points: Array) -> tuple[Array, Array, Array]:
        """(u along the mouth, v below the midline, inside the corners' span) for points [N, 2]."""
        origin = self.midline[0]
        mu = (self.midline - origin) @ self.axis
        mv = (self.midline - origin) @ self.normal
        u = (points - origin) @ self.axis
        v = (points - origin) @ self.normal - np.interp(u, mu, mv)
        return u, v, (u > mu[0]) & (u < mu[-1])

    def side(self, points: Array) -> Array:
        """+1 below the slit, -1 above, 0 outside the band (where the layers agree)."""
        _, v, inside = self.local(points)
        in_band = inside & (np.abs(v) <= self.band)
        return np.where(in_band, np.where(v > 0, 1, -1), 0)


def _segments_cross(p0: Array, p1: Array, q0: Array, q1: Array) -> Array:
    """Whether segments p0-p1 [E, 2] cross any segment q0-q1 [K, 2]: bool [E]."""

    def orient(a: Array, b: Array, c: Array) -> Array:
        return (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (
            c[..., 0] - a[..., 0]
        )

    p0, p1 = p0[:, None, :], p1[:, None, :]
    q0, q1 = q0[None, :, :], q1[None, :, :]
    d1, d2 = orient(q0, q1, p0), orient(q0, q1, p1)
    d3, d4 = orient(p0, p1, q0), orient(p0, p1, q1)
    return (((d1 > 0) != (d2 > 0)) & ((d3 > 0) != (d4 > 0))).any(axis=1)


def grid_laplacian(grid: NodeGrid, slit: Slit | None) -> sp.csr_matrix:
    """Graph Laplacian [G, G] of the 4-neighbour node grid, with edges across the slit removed."""
    g = grid.nodes
    index = np.arange(g * g).reshape(g, g)
    pos = grid.positions()
    edges = np.concatenate(
        [
            np.stack([index[:, :-1].ravel(), index[:, 1:].ravel()], 1),  # horizontal
            np.stack([index[:-1, :].ravel(), index[1:, :].ravel()], 1),  # vertical
        ]
    )
    if slit is not None:
        line = slit.midline
        cut = _segments_cross(pos[edges[:, 0]], pos[edges[:, 1]], line[:-1], line[1:])
        edges = edges[~cut]
    n = g * g
    adj = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    adj = (adj + adj.T).tocsr()
    degree = np.asarray(adj.sum(axis=1)).ravel()
    return (sp.diags(degree) - adj).tocsr()


def bilinear_rows(grid: NodeGrid, points: Array, point_side: Array, node_side: Array) -> sp.csr_matrix:
    """[N, G] bilinear interpolation rows for ``points`` [N, 2], using only nodes on each point's side.

    ``point_side``/``node_side`` are +1 (below the slit), -1 (above) or 0 (no preference): a point
    with a side never borrows a node labelled with the other side (renormalised; nearest allowed
    node when none of its four is).
    """
    g, h = grid.nodes, grid.spacing
    pos = grid.positions()
    xy = np.clip(points / h, 0.0, g - 1 - 1e-6)
    x0, y0 = np.floor(xy[:, 0]).astype(int), np.floor(xy[:, 1]).astype(int)
    fx, fy = xy[:, 0] - x0, xy[:, 1] - y0
    cols = np.stack([y0 * g + x0, y0 * g + x0 + 1, (y0 + 1) * g + x0, (y0 + 1) * g + x0 + 1], 1)
    vals = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], 1)
    conflict = (point_side[:, None] != 0) & (node_side[cols] == -point_side[:, None])
    vals = np.where(conflict, 0.0, vals)
    total = vals.sum(1)
    for i in np.flatnonzero(total < 1e-6):  # all four on the wrong side: nearest allowed node
        allowed = node_side != -point_side[i]
        dist = np.where(allowed, ((pos - points[i]) ** 2).sum(1), np.inf)
        cols[i] = int(np.argmin(dist))
        vals[i] = [1.0, 0.0, 0.0, 0.0]
    vals /= vals.sum(1, keepdims=True)
    rows = np.repeat(np.arange(len(points)), 4)
    return sp.csr_matrix((vals.ravel(), (rows, cols.ravel())), shape=(len(points), g * g))


def solve_interpolation(
    grid: NodeGrid,
    slit: Slit | None,
    moving: Array,
    moving_side: Array,
    fixed: Array,
    smoothness: float = 0.05,
) -> Array:
    """Linear map W [G, M] from displacements of ``moving`` points [M, 2] to a node field.

    Minimises ``smoothness * |L f|^2 + sum_c |B_c f - d_c|^2`` (L: cut grid Laplacian, B: bilinear
    rows), where ``fixed`` points [F, 2] and the grid border always have displacement zero.
    """
    g = grid.nodes
    node_side = slit.side(grid.positions()) if slit is not None else np.zeros(g * g, int)
    lap = grid_laplacian(grid, slit)
    border = np.zeros((g, g), bool)
    border[[0, -1], :] = border[:, [0, -1]] = True
    border_pos = grid.positions()[border.ravel()]
    zeros = np.concatenate([fixed.reshape(-1, 2), border_pos])
    zero_side = slit.side(zeros) if slit is not None else np.zeros(len(zeros), int)
    b_move = bilinear_rows(grid, moving, moving_side, node_side)
    b_zero = bilinear_rows(grid, zeros, zero_side, node_side)
    system = (
        smoothness * (lap.T @ lap) + b_move.T @ b_move + b_zero.T @ b_zero + 1e-6 * sp.identity(g * g)
    ).tocsc()
    solve = spla.factorized(system)
    rhs = b_move.T.toarray()  # [G, M]
    return np.stack([solve(rhs[:, k]) for k in range(rhs.shape[1])], axis=1).astype(np.float32)


def layer_sources(grid: NodeGrid, slit: Slit) -> tuple[Array, Array]:
    """(up, low) [G] node indices: layer field = cut field read at these nodes.

    Each layer equals the cut field on its own side of the slit; inside the band, a node on the far
    side copies the nearest own-side node at the same position along the mouth, one node spacing
    beyond the midline: a smooth (constant-across) continuation that the Newton inversion can
    walk through. A gather, so the per-frame product is with the cut field's matrix only.
    """
    pos = grid.positions()
    side = slit.side(pos)
    _, v, _ = slit.local(pos)
    out = []
    for own in (-1, 1):
        source = np.arange(len(pos))
        own_nodes = np.flatnonzero(side != -own)
        own_pos = pos[own_nodes]
        for n in np.flatnonzero(side == -own):
            # Foot of the node on the midline, moved one node spacing into the own side.
            target = pos[n] - (v[n] + own * grid.spacing) * slit.normal
            source[n] = own_nodes[np.argmin(((own_pos - target) ** 2).sum(1))]
        out.append(source)
    return out[0], out[1]


# --- per frame (torch) ------------------------------------------------------------------------------


def node_coords(x: torch.Tensor, size: int) -> torch.Tensor:
    """Pixel coordinates [..., 2] → grid_sample coordinates for node fields (align_corners=True)."""
    return x * (2.0 / (size - 1)) - 1.0


def pixel_coords(x: torch.Tensor, size: int) -> torch.Tensor:
    """Pixel coordinates [..., 2] → grid_sample coordinates for images (align_corners=False)."""
    return (2.0 * x + 1.0) / size - 1.0


def _jacobian(field: torch.Tensor, spacing: float) -> torch.Tensor:
    """Central differences of a node field [N, 2, g, g] → [N, 4, g, g] (dfx/dx, dfx/dy, dfy/dx, dfy/dy)."""
    padded = F.pad(field, (1, 1, 1, 1), mode="replicate")
    ddx = (padded[:, :, 1:-1, 2:] - padded[:, :, 1:-1, :-2]) / (2 * spacing)  # [N, 2, g, g]
    ddy = (padded[:, :, 2:, 1:-1] - padded[:, :, :-2, 1:-1]) / (2 * spacing)
    return torch.stack([ddx[:, 0], ddy[:, 0], ddx[:, 1], ddy[:, 1]], 1)


def invert_forward(field: torch.Tensor, nodes: torch.Tensor, size: int, iterations: int = 4) -> torch.Tensor:
    """Solve ``x + f(x) = p`` at every node ``p`` for forward node fields [N, 2, g, g].

    Newton steps with the field's own Jacobian (bilinearly sampled), starting from ``p - f(p)``;
    the determinant is kept away from zero so compressed regions cannot blow up. ``nodes`` [g, g, 2]
    are the node positions (px). Returns pre-images [N, g, g, 2] in px, inside the crop.
    """
    spacing = (size - 1) / (field.shape[-1] - 1)
    jac = _jacobian(field, spacing)  # [N, 4, g, g]
    both = torch.cat([field, jac], 1)  # [N, 6, g, g]
    first = nodes - field.permute(0, 2, 3, 1)  # [N, g, g, 2] first-order inverse
    x = first
    for _ in range(iterations):
        at = node_coords(x, size)
        s = F.grid_sample(both, at, mode="bilinear", padding_mode="border", align_corners=True)
        r = x + s[:, 0:2].permute(0, 2, 3, 1) - nodes  # residual [N, g, g, 2]
        a, b, c, d = 1.0 + s[:, 2], s[:, 3], s[:, 4], 1.0 + s[:, 5]  # J = [[a, b], [c, d]]
        det = torch.clamp(a * d - b * c, min=0.5)
        rx, ry = r[..., 0], r[..., 1]
        step = torch.stack([(d * rx - b * ry) / det, (a * ry - c * rx) / det], -1)
        x = torch.clamp(x - step, 0.0, float(size - 1))
    # Where the iteration did not converge (the forward map folds there: no true inverse), fall
    # back to the first-order inverse, which is smooth; a soft switch on the final residual.
    s = F.grid_sample(field, node_coords(x, size), mode="bilinear", padding_mode="border", align_corners=True)
    residual = torch.linalg.vector_norm(x + s.permute(0, 2, 3, 1) - nodes, dim=-1, keepdim=True)
    trust = torch.clamp(2.0 - residual / (0.25 * spacing), 0.0, 1.0)  # [N, g, g, 1]
    return first + trust * (x - first)
