"""Export the warp renderer (one avatar baked in) to ONNX and check it against torch at once.

Graph: input ``motion`` float32 [B, 40] (any values; clamped inside) → output ``frames`` float32
[B, 3, S, S] in [0, 1]. Shapes are static: B and S are fixed at export (the avatar's crop size S,
B = ``batch``); export one file per batch size you serve. Operators stay within what TensorRT 10
parses (GridSample, Resize, MatMul/Gemm, Gather, Einsum, elementwise), opset 17.
"""

from __future__ import annotations

from pathlib import Path

import torch

from xactor.engines import motion_space as ms
from xactor.engines.onnx_io import export_and_check, graph_ops
from xactor.engines.warp.module import WarpRenderer

INPUT_NAMES = ["motion"]
OUTPUT_NAMES = ["frames"]

# ONNX operators the graph may use: all are in TensorRT 10's ONNX parser support matrix
# (onnx-tensorrt docs/operators.md), GridSample on 4D inputs, Resize linear with align_corners,
# ScatterElements without reduction (TensorRT's core scatter layer; it writes the mouth's window).
TENSORRT_OPS = frozenset(
    (
        "Abs", "Add", "And", "Cast", "Clip", "Concat", "Constant", "ConstantOfShape", "Cos", "Div",
        "Einsum", "Equal", "Exp", "Expand", "Floor", "Gather", "Gemm", "Greater", "GreaterOrEqual",
        "GridSample", "Identity", "IsInf", "IsNaN", "Less", "LessOrEqual", "MatMul", "Max", "Min", "Mod",
        "Mul", "Neg", "Not", "Or", "Pad", "Pow", "Reciprocal", "ReduceL2", "ReduceMax", "ReduceMean",
        "ReduceMin", "ReduceSum", "Relu", "Reshape", "Resize", "ScatterElements", "Shape", "Sin", "Slice",
        "Sqrt", "Squeeze", "Sub", "Tile", "Transpose", "Unsqueeze", "Where",
    )
)  # fmt: skip


def sample_motion(batch: int, seed: int = 0, pose_range: float = 0.5) -> torch.Tensor:
    """Random motion [B, 40] for parity checks: expressions and gaze over their whole ranges, head
    pose over ``pose_range`` of its range (at the extremes of every pose channel at once the 2D
    warp folds, and there its inverse, an iteration, is not a stable quantity to compare)."""
    gen = torch.Generator().manual_seed(seed)
    low, high = torch.as_tensor(ms.LOW), torch.as_tensor(ms.HIGH)
    u = torch.rand(batch, ms.MOTION_DIM, generator=gen)
    motion = low + u * (high - low)
    motion[:, ms.POSE_SLICE] *= pose_range
    return motion


def export_warp(renderer: WarpRenderer, path: Path, batch: int = 1, rtol: float = 1e-4) -> float:
    """Write ``path`` for ``batch`` frames per call; return ONNX Runtime's max relative error vs torch.

    Raises ``AssertionError`` when the error exceeds ``rtol`` or the graph uses an operator outside
    :data:`TENSORRT_OPS`.
    """
    error = export_and_check(renderer, {"motion": sample_motion(batch)}, OUTPUT_NAMES, path, rtol=rtol)
    unsupported = graph_ops(path) - TENSORRT_OPS
    if unsupported:
        raise AssertionError(f"{path.name} uses operators TensorRT cannot parse: {sorted(unsupported)}")
    return error
