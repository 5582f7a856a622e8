"""The node-field product ``W @ d`` with W's near-zero entries left out, in dense blocks.

Why: ``W`` [G, M] (4,096 nodes × 540 controls, 8.8 MB of float32) maps control displacements to
node displacements. Each node follows the controls near it, so per tile of nodes only a fraction
of the columns matters (about a fifth on the default portrait), yet the dense product reads all
of ``W`` every frame. Between two frames the rest of the frame evicts it from the caches, and on
a small CPU that read was the largest single op of the warp (3.5 ms a frame at 256 px against
0.5 ms when warm).

The tiles of ``tile`` × ``tile`` nodes are sorted by how many columns they need and split into
``buckets`` groups, each padded to its largest tile: per group, one gather of ``d``'s columns and
one batched matrix product. Plain dense ops, so the graph traces and exports to ONNX as before.
Entries below ``tolerance`` are dropped: at most ``tolerance`` × M px of field per px of control
displacement, far below a pixel (0.001 px measured over extreme motion).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

Array = np.ndarray

TILE = 8
BUCKETS = 3
TOLERANCE = 1e-5


@dataclass
class FieldBlocks:
    """``W`` split into groups of node tiles; the product's columns come out in ``order``."""

    columns: list[Array]  # per group [T, K] int64: the controls each tile reads (padded with 0)
    blocks: list[Array]  # per group [T, K, tile²] float32: W's entries (0 where padded)
    order: Array  # [G] node index of each output column

    @classmethod
    def split(
        cls,
        weights: Array,
        nodes: int,
        tile: int = TILE,
        buckets: int = BUCKETS,
        tolerance: float = TOLERANCE,
    ) -> FieldBlocks:
        """``weights`` [G, M] with G = ``nodes``² on a square node grid (``nodes`` divisible by
        ``tile``)."""
        if nodes % tile or weights.shape[0] != nodes * nodes:
            raise ValueError(f"{weights.shape[0]} rows are not a {nodes}² grid of {tile}² tiles")
        per_side = nodes // tile
        tiles = []
        for ty in range(per_side):
            for tx in range(per_side):
                rows = np.arange(ty * tile, (ty + 1) * tile)[:, None] * nodes + np.arange(
                    tx * tile, (tx + 1) * tile
                )
                rows = rows.reshape(-1)  # [tile²] node indices, row-major
                cols = np.flatnonzero(np.abs(weights[rows]).max(0) > tolerance)
                tiles.append((rows, cols))
        tiles.sort(key=lambda t: len(t[1]))
        columns, blocks, order = [], [], []
        for group in np.array_split(np.arange(len(tiles)), min(buckets, len(tiles))):
            width = max(1, max(len(tiles[i][1]) for i in group))
            cols = np.zeros((len(group), width), np.int64)
            block = np.zeros((len(group), width, tile * tile), np.float32)
            for j, i in enumerate(group):
                rows, used = tiles[i]
                cols[j, : len(used)] = used
                block[j, : len(used)] = weights[rows][:, used].T
                order.append(rows)
            columns.append(cols)
            blocks.append(block)
        return cls(columns, blocks, np.concatenate(order))


def apply_blocks(columns: list[torch.Tensor], blocks: list[torch.Tensor], d: torch.Tensor) -> torch.Tensor:
    """``d`` [N, M] → ``d @ W.T`` [N, G] with its columns in the blocks' ``order``."""
    parts = []
    for cols, block in zip(columns, blocks, strict=True):
        picked = d[:, cols].transpose(0, 1)  # [T, N, K]
        parts.append(torch.bmm(picked, block).transpose(0, 1).reshape(d.shape[0], -1))  # [N, T * tile²]
    return torch.cat(parts, 1)
