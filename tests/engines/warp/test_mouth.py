"""Mouth geometry: the polygon SDF used for the opening's opacity."""

from __future__ import annotations

import torch

from xactor.engines.warp.mouth import polygon_sdf


def test_polygon_sdf_is_signed_distance_to_a_square() -> None:
    square = torch.tensor([[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]])
    points = torch.tensor([[[5.0, 5.0], [1.0, 5.0], [15.0, 5.0], [13.0, 14.0], [5.0, -2.0]]])
    sdf = polygon_sdf(points, square)[0]
    assert torch.allclose(sdf, torch.tensor([-5.0, -1.0, 5.0, 5.0, 2.0]), atol=1e-4)


def test_closed_lips_have_no_inside() -> None:
    line = torch.tensor([[[0.0, 0.0], [5.0, 1.0], [10.0, 0.0], [5.0, 1.0]]])  # upper == lower
    grid = torch.stack(torch.meshgrid(torch.arange(-2.0, 12.0), torch.arange(-3.0, 4.0), indexing="xy"), -1)
    sdf = polygon_sdf(grid.reshape(1, -1, 2), line)
    assert (sdf >= -1e-5).all()


def test_polygon_sdf_batches() -> None:
    square = torch.tensor([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
    polygons = torch.stack([square, square + 20.0])
    point = torch.tensor([[[5.0, 5.0]]])
    sdf = polygon_sdf(point, polygons)
    assert sdf[0, 0] < 0 < sdf[1, 0]
