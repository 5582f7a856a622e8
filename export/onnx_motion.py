"""``xactor export motion``: the generator's streaming step as ONNX, checked for TensorRT.

The graph itself is :mod:`xactor.engines.motion_gen.onnx_step`'s (the runtime exports the same file on
first use); here it is also checked against the operators TensorRT 10 parses.
"""

from __future__ import annotations

from pathlib import Path

from xactor.engines.motion_gen.onnx_step import export_step
from xactor.engines.motion_gen.weights import GeneratorWeights
from xactor.engines.onnx_io import graph_ops
from xactor.export.onnx_warp import TENSORRT_OPS

# The step's extra operators beyond the renderer's, all in TensorRT 10's ONNX parser matrix.
MOTION_TENSORRT_OPS = TENSORRT_OPS | frozenset(
    ("Erf", "LayerNormalization", "Softmax", "Trilu", "Range", "Sigmoid", "Split", "Tanh", "Xor")
)


def export_motion_step(weights: GeneratorWeights, path: Path, rtol: float = 1e-4) -> float:
    """Write ``path``; return ONNX Runtime's max relative error vs torch (batch 3 of mixed ages).

    Raises ``AssertionError`` past ``rtol`` or when the graph uses an operator TensorRT cannot parse.
    """
    error = export_step(weights, path, rtol)
    unsupported = graph_ops(path) - MOTION_TENSORRT_OPS
    if unsupported:
        raise AssertionError(f"{path.name} uses operators TensorRT cannot parse: {sorted(unsupported)}")
    return error
