"""``xactor export motion``: the generator's streaming step as ONNX, checked for TensorRT.

The graph itself is :mod:`engines.motion_gen.onnx_step`'s (the runtime exports the same file on
first use); here it is also checked against the operators TensorRT 10 parses.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from engines.motion_gen.onnx_step import export_step
from engines.motion_gen.weights import GeneratorWeights
from export.onnx_warp import TENSORRT_OPS, graph_ops

# The step's extra operators beyond the renderer's, all in TensorRT 10's ONNX parser matrix.
MOTION_TENSORRT_OPS = TENSORRT_OPS | frozenset(
    ("Erf", "LayerNormalization", "Softmax", "Trilu", "Range", "Sigmoid", "Split", "Tanh", "Xor")
)


def manifest(path: Path, weights_files: tuple[Path, Path], error: float) -> dict[str, Any]:
    """What a consumer of the ONNX file needs without opening it: inputs and outputs (shape with
    symbolic axes, dtype), opset, the file's and the source weights' SHA-256, the parity error."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)

    def describe(values: Any) -> dict[str, Any]:
        out = {}
        for v in values:
            t = v.type.tensor_type
            dims = [d.dim_param or d.dim_value for d in t.shape.dim]
            out[v.name] = {"shape": dims, "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name}
        return out

    return {
        "graph": path.name,
        "stage": "motion_step",
        "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "inputs": describe(model.graph.input),
        "outputs": describe(model.graph.output),
        "sha256": _sha256(path),
        "weights": {f.name: _sha256(f) for f in weights_files},
        "max_rel_error_vs_torch": error,
        "operators": sorted(graph_ops(path)),
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_motion_step(weights: GeneratorWeights, path: Path, rtol: float = 1e-4) -> float:
    """Write ``path``; return ONNX Runtime's max relative error vs torch (batch 3 of mixed ages).

    Raises ``AssertionError`` past ``rtol`` or when the graph uses an operator TensorRT cannot parse.
    """
    error = export_step(weights, path, rtol)
    unsupported = graph_ops(path) - MOTION_TENSORRT_OPS
    if unsupported:
        raise AssertionError(f"{path.name} uses operators TensorRT cannot parse: {sorted(unsupported)}")
    return error
