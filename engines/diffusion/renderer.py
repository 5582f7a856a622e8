"""The diffusion renderer as a live renderer: warp prior → learned residual, on procedural avatars.

Per avatar (once, shared by every session on it, like the warp renderer's cache): the identity
redrawn from the bundle's seed at the weights' training size R (128 px by default), the warp
renderer on that reference portrait, the reference features of the denoiser, and one fixed noise
image. Per frame batch: warp prior [B, R, R] → landmark maps from the identity's face model →
``steps`` Euler steps of the denoiser from the fixed noise (one for the shipped student; fixed
noise keeps consecutive frames from flickering) → upsampled to the session's size.

The denoiser itself (weights, and its step graph on ONNX Runtime) is loaded once per process and
shared by every avatar (:func:`shared_denoiser`); its ONNX file is cached on disk by the hash of
the weights and the code that exports them, so only the first start after new weights exports.

Only avatars of the weights' domain are accepted: the shipped weights learned procedural
identities, so a photo avatar is refused with a clear message (use ``warp``), never rendered
badly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from xactor.engines.diffusion import model as model_code
from xactor.engines.diffusion import onnx_graphs
from xactor.engines.diffusion.maps import landmark_map
from xactor.engines.diffusion.model import (
    RenderDenoiser,
    euler_flow,
    frames_from,
    sample_residual,
    to_images,
    to_tensor,
)
from xactor.engines.diffusion.weights import SHIPPED_DIR, STUDENT, RenderWeightsError, load_render_weights
from xactor.engines.inference import OrtEngine
from xactor.engines.onnx_io import cached_export, content_key
from xactor.engines.render.base import Renderer, RendererOptions, RendererSpec, register_renderer

if TYPE_CHECKING:
    from xactor.engines.avatar.bundle import AvatarBundle


@dataclass(frozen=True)
class Denoiser:
    """One weights file's denoiser as the live renderer runs it; shared by every avatar and
    session (inference only). ``step`` is the denoising step on ONNX Runtime, or None for torch."""

    model: RenderDenoiser
    steps: int
    work_size: int
    step: OrtEngine | None = None


_denoisers: dict[tuple[str, str], Denoiser] = {}
_denoisers_lock = threading.Lock()


def shared_denoiser(folder: Path, backend: str) -> Denoiser:
    """The denoiser of ``folder``'s student on ``backend`` (``torch`` or ``onnxruntime``), loaded
    once per process and weights file. On ONNX Runtime (about 1.6x faster here) the step graph is
    exported once per weights and code version into the ONNX cache and reused across processes."""
    files = (folder / f"{STUDENT}.safetensors", folder / f"{STUDENT}.json")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise RenderWeightsError(f"{', '.join(missing)}: missing")
    key = content_key((*files, Path(model_code.__file__), Path(onnx_graphs.__file__)))
    with _denoisers_lock:
        if (key, backend) not in _denoisers:
            model, steps, meta = load_render_weights(folder, STUDENT)  # a clear error if corrupt
            size = int(meta.get("size", 128))
            step = None
            if backend == "onnxruntime":
                path = cached_export(
                    f"render_step_{size}", key, lambda out: onnx_graphs.export_step(model, size, out)
                )
                step = OrtEngine(path, threads=2, providers=("CPUExecutionProvider",), spin=False)
            _denoisers[(key, backend)] = Denoiser(model, steps, size, step)
        return _denoisers[(key, backend)]


class DiffusionRenderer(Renderer):
    """See module docstring. Thread-safe: inference only, no per-session state."""

    def __init__(self, seed: int, denoiser: Denoiser, size: int) -> None:
        from xactor.engines.procedural.identity import sample_identity
        from xactor.engines.procedural.render import ProceduralFace, reference_and_warp

        work_size = denoiser.work_size
        face = ProceduralFace(sample_identity(seed), work_size)
        reference, self.warp = reference_and_warp(face)
        self.face_model = face.face_model
        self.denoiser, self.work_size, self._size = denoiser, work_size, size
        with torch.no_grad():
            self.reference = denoiser.model.encode_reference(
                to_tensor(reference[None])
            )  # [1, C, ...] per level, once per avatar
        gen = torch.Generator().manual_seed(seed)
        self.noise = torch.randn((1, 3, work_size, work_size), generator=gen)

    @property
    def backend(self) -> str:
        return "torch" if self.denoiser.step is None else "onnxruntime"

    @property
    def size(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        """This avatar's own memory: its reference features and warp prior (the denoiser is shared)."""
        feats = sum(f.numel() * f.element_size() for f in self.reference)
        return feats + self.warp.nbytes

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
        if self.denoiser.step is None:
            residual = sample_residual(
                self.denoiser.model, prior_t, torch.from_numpy(lmap), reference, self.denoiser.steps, noise
            )
        else:
            residual = self._sample_onnx(self.denoiser.step, prior_t, lmap, reference, noise)
        out = to_images(frames_from(prior_t, residual, self.denoiser.model.cfg))  # [B, R, R, 3]
        if self._size != self.work_size:  # on uint8 images: a fifth of torch's float bicubic here
            size = (self._size, self._size)
            out = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_CUBIC) for f in out])
        return out[0] if single else out

    def _sample_onnx(
        self,
        step: OrtEngine,
        prior: torch.Tensor,
        lmap: np.ndarray,
        reference: list[torch.Tensor],
        noise: torch.Tensor,
    ) -> torch.Tensor:
        """:func:`~engines.diffusion.model.sample_residual` with each step on ONNX Runtime."""
        fixed = {"prior": prior.numpy(), "lmap": lmap}
        fixed |= {f"ref{i}": f.contiguous().numpy() for i, f in enumerate(reference)}

        def clean(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            feeds = {**fixed, "x_t": x.contiguous().numpy(), "t": np.full(len(x), float(t), np.float32)}
            return torch.from_numpy(step(feeds)["clean"])

        return euler_flow(clean, noise, self.denoiser.steps)


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
    return DiffusionRenderer(seed, shared_denoiser(weights_folder(options), options.backend), options.size)


register_renderer(
    RendererSpec(
        name="diffusion",
        description="learned residual over the warp prior (procedural avatars; 1-step student)",
        backends=("onnxruntime", "torch"),  # fastest first: ORT runs the denoiser 1.5–1.9x faster here
        build=build_diffusion,
    )
)
