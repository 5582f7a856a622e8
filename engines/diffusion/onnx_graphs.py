"""Export the diffusion renderer's denoiser to ONNX: two graphs, as the renderer runs them.

* ``render_reference.onnx`` — ``reference`` [B, 3, S, S] in [-1, 1] → ``ref0``, ``ref1``, ``ref2``
  (one feature map per level; run once per avatar);
* ``render_step.onnx`` — ``x_t`` [B, 3, S, S], ``t`` [B], ``prior`` [B, 3, S, S],
  ``lmap`` [B, 1, S, S], ``ref0..2`` → ``clean`` [B, 3, S, S], the denoiser's estimate of the scaled
residual (one call per sampling step; the student makes one).

The batch axis is dynamic; S is fixed at export (the weights' size). Each graph is checked
against torch in ONNX Runtime right away (``export/onnx_render.py`` adds the TensorRT operator
check and manifests for ``xactor export render``; the live renderer exports through here).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from xactor.engines.diffusion.model import RenderDenoiser
from xactor.engines.onnx_io import export_and_check


class _Reference(nn.Module):
    def __init__(self, model: RenderDenoiser) -> None:
        super().__init__()
        self.model = model

    def forward(self, reference: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.model.encode_reference(reference))


class _Step(nn.Module):
    def __init__(self, model: RenderDenoiser) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        prior: torch.Tensor,
        lmap: torch.Tensor,
        *reference: torch.Tensor,
    ) -> torch.Tensor:
        return self.model(x_t, t, prior, lmap, list(reference))


def _probe(model: RenderDenoiser, size: int, batch: int = 2) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Inputs to trace and check on: a reference batch, and step inputs with its features."""
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(batch, 3, size, size, generator=gen) * 2 - 1
    with torch.no_grad():
        feats = model.encode_reference(image)
    step_inputs = {
        "x_t": torch.randn(batch, 3, size, size, generator=gen),
        "t": torch.rand(batch, generator=gen),
        "prior": image.flip(0),
        "lmap": torch.rand(batch, 1, size, size, generator=gen),
        **{f"ref{i}": f + 0.1 * torch.randn(f.shape, generator=gen) for i, f in enumerate(feats)},
    }
    return image, step_inputs


def export_step(model: RenderDenoiser, size: int, path: Path, rtol: float = 1e-4) -> float:
    """``render_step`` alone (what the live renderer runs) → its max relative error vs torch."""
    _, inputs = _probe(model.eval(), size)
    return export_and_check(
        _Step(model), inputs, ["clean"], path,
        dynamic_axes={k: {0: "batch"} for k in [*inputs, "clean"]}, rtol=rtol,
    )  # fmt: skip


def export_render(model: RenderDenoiser, size: int, folder: Path, rtol: float = 1e-4) -> dict[str, float]:
    """Write both graphs into ``folder``; return each one's max relative error vs torch."""
    model = model.eval()
    image, _ = _probe(model, size)
    ref_names = [f"ref{i}" for i in range(len(model.cfg.widths))]
    ref_path, step_path = folder / "render_reference.onnx", folder / "render_step.onnx"
    ref_axes = {k: {0: "batch"} for k in ["reference", *ref_names]}
    ref_error = export_and_check(
        _Reference(model), {"reference": image}, ref_names, ref_path, dynamic_axes=ref_axes, rtol=rtol
    )
    return {ref_path.name: ref_error, step_path.name: export_step(model, size, step_path, rtol)}
