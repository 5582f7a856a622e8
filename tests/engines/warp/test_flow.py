"""The landmark flow: cut grid, interpolation, layers, Newton inversion."""

from __future__ import annotations

import numpy as np
import torch

from xactor.engines.warp import flow


def slit(band: float = 12.0) -> flow.Slit:
    upper = np.array([[100.0, 128.0], [128.0, 127.0], [156.0, 128.0]])
    return flow.Slit.from_lips(upper, upper + np.array([0.0, 1.0]), band=band)


def test_node_grid_spans_the_crop_pixel_centres() -> None:
    grid = flow.NodeGrid(256, 64)
    pos = grid.positions()
    assert pos.shape == (64 * 64, 2)
    assert np.allclose(pos[0], [0, 0]) and np.allclose(pos[-1], [255, 255])


def test_the_slit_cuts_grid_edges_across_the_mouth_only() -> None:
    grid = flow.NodeGrid(256, 64)
    lap_cut = flow.grid_laplacian(grid, slit())
    lap_full = flow.grid_laplacian(grid, None)
    index = np.arange(64 * 64).reshape(64, 64)
    # Nodes right above and below the mouth line (y = 128 lies between rows 31 and 32).
    above, below = index[31, 32], index[32, 32]
    assert lap_full[above, below] == -1 and lap_cut[above, below] == 0
    # Far from the mouth the grid is intact.
    assert lap_cut[index[10, 10], index[11, 10]] == -1
    assert (lap_full != 0).nnz - (lap_cut != 0).nnz > 0


def test_interpolation_reproduces_a_shift_at_the_controls_and_zero_at_the_border() -> None:
    grid = flow.NodeGrid(256, 64)
    rng = np.random.default_rng(0)
    points = rng.uniform(90, 170, (60, 2))
    weights = flow.solve_interpolation(grid, None, points, np.zeros(60, int), np.zeros((0, 2)))
    field = weights @ np.tile([3.0, -2.0], (60, 1))  # [G, 2]
    centre = np.argmin(((grid.positions() - 130.0) ** 2).sum(1))
    assert np.allclose(field[centre], [3.0, -2.0], atol=0.1)
    border = np.zeros((64, 64), bool)
    border[[0, -1]] = border[:, [0, -1]] = True
    assert np.abs(field[border.ravel()]).max() < 0.05


def test_upper_and_lower_lips_move_independently_across_the_cut() -> None:
    grid, cut = flow.NodeGrid(256, 64), slit()
    upper = np.array([[110.0 + 6 * k, 125.0] for k in range(8)])
    lower = upper + np.array([0.0, 6.0])
    points = np.concatenate([upper, lower])
    side = np.array([-1] * 8 + [1] * 8)
    weights = flow.solve_interpolation(grid, cut, points, side, np.zeros((0, 2)))
    disp = np.concatenate([np.zeros((8, 2)), np.tile([0.0, 10.0], (8, 1))])  # the jaw drops 10 px
    field = (weights @ disp).reshape(64, 64, 2)
    assert abs(field[30, 32, 1]) < 1.5  # just above the mouth line: still
    assert field[33, 32, 1] > 8.0  # just below: with the jaw
    up, low = flow.layer_sources(grid, cut)
    # The upper layer continues the upper lip's motion below the line, the lower one the jaw's above.
    assert abs(field.reshape(-1, 2)[up][32 * 64 + 32, 1]) < 1.5
    assert field.reshape(-1, 2)[low][31 * 64 + 32, 1] > 8.0


def test_newton_inverts_a_smooth_forward_field() -> None:
    size, g = 256, 64
    axis = torch.arange(g, dtype=torch.float32) * (size - 1) / (g - 1)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    nodes = torch.stack([xs, ys], -1)  # [g, g, 2]
    bump = 12.0 * torch.exp(-((xs - 128) ** 2 + (ys - 120) ** 2) / (2 * 35.0**2))
    field = torch.stack([bump, 0.6 * bump])[None]  # [1, 2, g, g]: strong but fold-free
    pre = flow.invert_forward(field, nodes, size, iterations=6)  # [1, g, g, 2]
    back = torch.nn.functional.grid_sample(
        field, flow.node_coords(pre, size), mode="bilinear", padding_mode="border", align_corners=True
    )
    residual = (pre + back.permute(0, 2, 3, 1) - nodes).norm(dim=-1)
    assert residual.max() < 0.05
    # The first-order guess alone would be off by pixels.
    first = nodes - field.permute(0, 2, 3, 1)
    assert (first - pre).norm(dim=-1).max() > 1.0
