"""engines/warp/field_blocks.py: the block-sparse node-field product equals the dense one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xactor.engines.warp import AvatarRenderer
from xactor.engines.warp.field_blocks import FieldBlocks, apply_blocks


def test_blocks_give_the_dense_product_in_their_order() -> None:
    rng = np.random.default_rng(0)
    nodes, controls = 16, 30
    # Each node follows the controls near it, as a node field's do.
    node_xy = np.stack(np.meshgrid(np.arange(nodes), np.arange(nodes), indexing="xy"), -1).reshape(-1, 2)
    control_xy = rng.uniform(0, nodes - 1, size=(controls, 2))
    near = np.linalg.norm(node_xy[:, None] - control_xy[None], axis=-1) < 5.0  # [G, M]
    weights = (rng.normal(size=near.shape) * near).astype(np.float32)
    blocks = FieldBlocks.split(weights, nodes, tile=4, buckets=3, tolerance=0.0)
    assert sorted(blocks.order.tolist()) == list(range(nodes * nodes))
    d = rng.normal(size=(5, controls)).astype(np.float32)
    got = apply_blocks(
        [torch.as_tensor(c) for c in blocks.columns],
        [torch.as_tensor(b) for b in blocks.blocks],
        torch.as_tensor(d),
    )
    np.testing.assert_allclose(got.numpy(), (d @ weights.T)[:, blocks.order], atol=1e-5)
    assert sum(b.size for b in blocks.blocks) < weights.size  # it left the zeros out


def test_a_grid_that_does_not_tile_is_refused() -> None:
    with pytest.raises(ValueError, match="tiles"):
        FieldBlocks.split(np.zeros((100, 3), np.float32), 10, tile=4)


def test_the_portraits_field_is_read_in_a_fraction_of_its_bytes(astronaut_renderer: AvatarRenderer) -> None:
    module = astronaut_renderer.module
    stored = sum(b.numel() for name, b in module.named_buffers() if name.startswith("field_blocks_"))
    assert stored < 0.5 * module.nodes**2 * len(module.control_idx)
