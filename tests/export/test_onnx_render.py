"""``xactor export render``: the diffusion renderer's reference encoder and denoising step as ONNX
with manifests, matching torch on fresh inputs (fp32 ≤ 1e-4 relative), TensorRT-parsable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from typer.testing import CliRunner

from xactor.cli.main import app
from xactor.engines.diffusion.model import RenderDenoiser, RenderModelConfig
from xactor.engines.diffusion.weights import save_render_weights
from xactor.engines.inference import OrtEngine
from xactor.engines.onnx_io import graph_ops
from xactor.export.onnx_render import RENDER_TENSORRT_OPS


def test_export_render_graphs_match_torch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = RenderDenoiser(RenderModelConfig(widths=(16, 32, 32)))
    for p in model.parameters():  # zero-initialised branches would hide a wrong export
        torch.nn.init.normal_(p, std=0.05)
    save_render_weights(tmp_path / "w", "render_student", model, 1, {"size": 64})
    out = tmp_path / "onnx"
    result = CliRunner().invoke(
        app, ["export", "render", "--weights-dir", str(tmp_path / "w"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    step_info = json.loads((out / "render_step.json").read_text())
    assert step_info["stage"] == "render_step" and step_info["inputs"]["x_t"]["shape"] == ["batch", 3, 64, 64]
    assert step_info["max_rel_error_vs_torch"] <= 1e-4
    for graph in ("render_reference.onnx", "render_step.onnx"):
        assert graph_ops(out / graph) <= RENDER_TENSORRT_OPS

    gen = torch.Generator().manual_seed(5)  # fresh inputs, another batch size
    reference = torch.rand(3, 3, 64, 64, generator=gen) * 2 - 1
    feats = OrtEngine(out / "render_reference.onnx")({"reference": reference.numpy()})
    with torch.no_grad():
        want_feats = model.encode_reference(reference)
    for i, want in enumerate(want_feats):
        np.testing.assert_allclose(feats[f"ref{i}"], want.numpy(), rtol=1e-4, atol=1e-4)
    feeds = {
        "x_t": torch.randn(3, 3, 64, 64, generator=gen).numpy(),
        "t": np.array([0.1, 0.5, 1.0], np.float32),
        "prior": reference.numpy(),
        "lmap": torch.rand(3, 1, 64, 64, generator=gen).numpy(),
        **feats,
    }
    got = OrtEngine(out / "render_step.onnx")(feeds)["clean"]
    with torch.no_grad():
        want = model(
            *(torch.from_numpy(feeds[k]) for k in ("x_t", "t", "prior", "lmap")), list(want_feats)
        ).numpy()
    assert np.abs(got - want).max() / np.abs(want).max() <= 1e-4
