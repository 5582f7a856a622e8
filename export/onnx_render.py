"""``xactor export render``: the diffusion renderer's graphs (:mod:`xactor.engines.diffusion.onnx_graphs`),
also checked against the operators TensorRT 10 parses."""

from __future__ import annotations

from pathlib import Path

from xactor.engines.diffusion.model import RenderDenoiser
from xactor.engines.diffusion.onnx_graphs import export_render as export_graphs
from xactor.engines.onnx_io import graph_ops
from xactor.export.onnx_warp import TENSORRT_OPS

RENDER_TENSORRT_OPS = TENSORRT_OPS | frozenset(
    ("Conv", "ConvTranspose", "DepthToSpace", "InstanceNormalization", "Sigmoid", "Split", "Range", "Softmax")
)


def export_render(model: RenderDenoiser, size: int, folder: Path, rtol: float = 1e-4) -> dict[str, float]:
    """Write both graphs into ``folder``; return each one's max relative error vs torch. Raises
    ``AssertionError`` past ``rtol`` or for an operator TensorRT cannot parse."""
    errors = export_graphs(model, size, folder, rtol)
    for name in errors:
        unsupported = graph_ops(folder / name) - RENDER_TENSORRT_OPS
        if unsupported:
            raise AssertionError(f"{name} uses operators TensorRT cannot parse: {sorted(unsupported)}")
    return errors
