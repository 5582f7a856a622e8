"""The diffusion renderer as a live renderer: warp prior → learned residual, on procedural avatars.

Per avatar (once, shared by every session on it, like the warp renderer's cache): the identity
redrawn from the bundle's seed at the weights' training size R (128 px by default), the warp
renderer on that reference portrait, the reference features of the denoiser, and one fixed noise
image. Per frame batch: warp prior [B, R, R] → landmark maps from the identity's face model →
``steps`` Euler steps of the denoiser from the fixed noise (one for the shipped student; fixed
noise keeps consecutive frames from flickering) → upsampled to the session's size.

Only avatars of the weights' domain are accepted: the shipped weights learned procedural
identities, so a photo avatar is refused with a clear message (use ``warp``), never rendered
badly.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from engines.diffusion.maps import landmark_map
from engines.diffusion.model import (
    RenderDenoiser,
    euler_flow,
    frames_from,
    sample_residual,
    to_images,
    to_tensor,
)
from engines.diffusion.onnx_graphs import export_render
from engines.diffusion.weights import SHIPPED_DIR, STUDENT, load_render_weights
from engines.inference import OrtEngine
from engines.render.base import Renderer, RendererOptions, RendererSpec, register_renderer

if TYPE_CHECKING:
    from engines.avatar.bundle import AvatarBundle


class DiffusionRenderer(Renderer):
    """See module docstring. Thread-safe: inference only, no per-session state."""

    def __init__(
        self, seed: int, model: RenderDenoiser, steps: int, work_size: int, size: int, backend: str = "torch"
    ) -> None:
        from engines.procedural.identity import sample_identity
        from engines.procedural.render import ProceduralFace, reference_and_warp

        face = ProceduralFace(sample_identity(seed), work_size)
        reference, self.warp = reference_and_warp(face)
        self.face_model = face.face_model
        self.model, self.steps, self.work_size, self._size = model.eval(), steps, work_size, size
        with torch.no_grad():
            self.reference = model.encode_reference(
                to_tensor(reference[None])
            )  # [1, C, ...] per level, once per avatar
        gen = torch.Generator().manual_seed(seed)
        self.noise = torch.randn((1, 3, work_size, work_size), generator=gen)
        self.backend = backend
        self._step: OrtEngine | None = None
        if backend == "onnxruntime":  # the denoising step as an exported graph (about 1.6x faster here)
            self._folder = tempfile.TemporaryDirectory(prefix="xactor-diffusion-onnx-")
            export_render(model, work_size, Path(self._folder.name))
            self._step = OrtEngine(
                Path(self._folder.name) / "render_step.onnx", threads=1, providers=("CPUExecutionProvider",)
            )

    @property
    def size(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        params = sum(p.numel() * p.element_size() for p in self.model.parameters())
        feats = sum(f.numel() * f.element_size() for f in self.reference)
        return params + feats + self.warp.nbytes

    @torch.inference_mode()
    def render(self, motion: np.ndarray) -> np.ndarray:
        single = np.ndim(motion) == 1
        batch = np.atleast_2d(np.asarray(motion, np.float32))  # [B, 40]
        b = len(batch)
        prior = self.warp.render(batch)  # [B, R, R, 3] uint8
        marks = self.face_model.landmarks(batch)  # [B, 478, 3] work px
        lmap = np.stack([landmark_map(m, self.work_size) for m in marks])[:, None]  # [B, 1, R, R]
        prior_t = to_tensor(prior)
        reference = [f.expand(b, -1, -1, -1) for f in self.reference]
        noise = self.noise.expand(b, -1, -1, -1)
        if self._step is None:
            residual = sample_residual(
                self.model, prior_t, torch.from_numpy(lmap), reference, self.steps, noise
            )
        else:
            residual = self._sample_onnx(prior_t, lmap, reference, noise)
        frames = frames_from(prior_t, residual, self.model.cfg)  # [B, 3, R, R] in [-1, 1]
        if self._size != self.work_size:
            frames = F.interpolate(frames, size=(self._size, self._size), mode="bicubic", align_corners=False)
        out = to_images(frames)
        return out[0] if single else out

    def _sample_onnx(
        self, prior: torch.Tensor, lmap: np.ndarray, reference: list[torch.Tensor], noise: torch.Tensor
    ) -> torch.Tensor:
        """:func:`~engines.diffusion.model.sample_residual` with each step on ONNX Runtime."""
        assert self._step is not None
        step = self._step
        fixed = {"prior": prior.numpy(), "lmap": lmap}
        fixed |= {f"ref{i}": f.contiguous().numpy() for i, f in enumerate(reference)}

        def clean(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            feeds = {**fixed, "x_t": x.contiguous().numpy(), "t": np.full(len(x), float(t), np.float32)}
            return torch.from_numpy(step(feeds)["clean"])

        return euler_flow(clean, noise, self.steps)


def weights_folder(options: RendererOptions) -> Path:
    """The folder with ``render_student``: the configured weights folder when it has one, else the
    shipped weights."""
    if options.weights_dir is not None and (options.weights_dir / f"{STUDENT}.safetensors").is_file():
        return options.weights_dir
    return SHIPPED_DIR


def build_diffusion(bundle: AvatarBundle, options: RendererOptions) -> DiffusionRenderer:
    seed = bundle.meta.procedural_seed
    if seed is None:
        raise ValueError(
            f"the diffusion renderer's weights were trained on procedural identities; avatar "
            f"{bundle.id} ({bundle.name}) is a photo: use the warp renderer for it"
        )
    model, steps, meta = load_render_weights(weights_folder(options), STUDENT)
    return DiffusionRenderer(seed, model, steps, int(meta.get("size", 128)), options.size, options.backend)


register_renderer(
    RendererSpec(
        name="diffusion",
        description="learned residual over the warp prior (procedural avatars; 1-step student)",
        backends=("onnxruntime", "torch"),  # fastest first: ORT runs the denoiser 1.5–1.9x faster here
        build=build_diffusion,
    )
)
