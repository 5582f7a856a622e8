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
from collections.abc import Hashable, Sequence
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

    def residual(
        self, prior: torch.Tensor, lmap: torch.Tensor, reference: list[torch.Tensor], noise: torch.Tensor
    ) -> torch.Tensor:
        """The sampled residual [B, 3, R, R] of warp priors [B, 3, R, R] (in [-1, 1]), landmark
        maps [B, 1, R, R], reference features per level [B, C, ...] and noise [B, 3, R, R].

        Every batch size runs on the same backend. Alone, torch runs a batch of two frames
        faster than ONNX Runtime (17 against 22 ms a frame here), but in the live server, beside
        the encoders and the motion model's ONNX Runtime threads, two sessions fell from 14.4 to
        7.0 fps with torch's batches (``xactor bench cpu --renderer diffusion``)."""
        if self.step is None:
            return sample_residual(self.model, prior, lmap, reference, self.steps, noise)
        step = self.step
        fixed = {"prior": prior.numpy(), "lmap": lmap.numpy()}
        fixed |= {f"ref{i}": f.contiguous().numpy() for i, f in enumerate(reference)}

        def clean(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            feeds = {**fixed, "x_t": x.contiguous().numpy(), "t": np.full(len(x), float(t), np.float32)}
            return torch.from_numpy(step(feeds)["clean"])

        return euler_flow(clean, noise, self.steps)


@dataclass(frozen=True)
class Conditioning:
    """What the denoiser needs of one avatar's frames, as tensors of ``n`` rows."""

    prior: torch.Tensor  # [n, 3, R, R] the warp prior in [-1, 1]
    lmap: torch.Tensor  # [n, 1, R, R] landmark maps
    reference: list[torch.Tensor]  # per level [n, C, ...] the avatar's reference features
    noise: torch.Tensor  # [n, 3, R, R] the avatar's fixed noise


_denoisers: dict[tuple[str, str, int], Denoiser] = {}
_denoisers_lock = threading.Lock()


def shared_denoiser(folder: Path, backend: str, threads: int = 2) -> Denoiser:
    """The denoiser of ``folder``'s student on ``backend`` (``torch`` or ``onnxruntime``), loaded
    once per process and weights file. On ONNX Runtime (about 1.6x faster here) the step graph is
    exported once per weights and code version into the ONNX cache and reused across processes,
    and runs on ``threads`` intra-op threads that sleep between calls."""
    files = (folder / f"{STUDENT}.safetensors", folder / f"{STUDENT}.json")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise RenderWeightsError(f"{', '.join(missing)}: missing")
    key = content_key((*files, Path(model_code.__file__), Path(onnx_graphs.__file__)))
    with _denoisers_lock:
        if (key, backend, threads) not in _denoisers:
            model, steps, meta = load_render_weights(folder, STUDENT)  # a clear error if corrupt
            size = int(meta.get("size", 128))
            step = None
            if backend == "onnxruntime":
                path = cached_export(
                    f"render_step_{size}", key, lambda out: onnx_graphs.export_step(model, size, out)
                )
                step = OrtEngine(path, threads=threads, providers=("CPUExecutionProvider",), spin=False)
            _denoisers[(key, backend, threads)] = Denoiser(model, steps, size, step)
        return _denoisers[(key, backend, threads)]


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

    def batch_key(self) -> Hashable:
        """Every avatar on the same denoiser (which fixes the working size) and session size
        renders in one batch (:meth:`render_together`)."""
        return ("diffusion", id(self.denoiser), self._size)

    def conditioning(self, motion: np.ndarray) -> Conditioning:
        """This avatar's denoiser inputs for ``motion`` [n, 40]: its warp prior, landmark maps,
        reference features and noise (the per-avatar tensors the shared stage gathers)."""
        n = len(motion)
        prior = self.warp.render(motion)  # [n, R, R, 3] uint8
        marks = self.face_model.landmarks(motion)  # [n, 478, 3] work px
        lmap = np.stack([landmark_map(m, self.work_size) for m in marks])[:, None]  # [n, 1, R, R]
        return Conditioning(
            prior=to_tensor(prior),
            lmap=torch.from_numpy(lmap),
            reference=[f.expand(n, -1, -1, -1) for f in self.reference],
            noise=self.noise.expand(n, -1, -1, -1),
        )

    def render(self, motion: np.ndarray) -> np.ndarray:
        single = np.ndim(motion) == 1
        out = self.render_together([(self, motion)])[0]
        return out[0] if single else out

    @torch.inference_mode()
    def render_together(self, parts: Sequence[tuple[Renderer, np.ndarray]]) -> list[np.ndarray]:
        """Frames of several avatars (all of this renderer's :meth:`batch_key`) with one denoiser
        run: each avatar's conditioning, concatenated along the batch, sampled once, split back."""
        conds = []
        for renderer, motion in parts:
            if not isinstance(renderer, DiffusionRenderer) or renderer.batch_key() != self.batch_key():
                raise ValueError("render_together needs diffusion renderers of one denoiser and size")
            conds.append(renderer.conditioning(np.atleast_2d(np.asarray(motion, np.float32))))
        prior = _batch([c.prior for c in conds])  # [B, 3, R, R]
        reference = [_batch(list(levels)) for levels in zip(*(c.reference for c in conds), strict=True)]
        residual = self.denoiser.residual(
            prior, _batch([c.lmap for c in conds]), reference, _batch([c.noise for c in conds])
        )
        out = to_images(frames_from(prior, residual, self.denoiser.model.cfg))  # [B, R, R, 3]
        if self._size != self.work_size:  # on uint8 images: a fifth of torch's float bicubic here
            size = (self._size, self._size)
            out = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_CUBIC) for f in out])
        return np.split(out, np.cumsum([len(c.prior) for c in conds])[:-1])


def _batch(parts: list[torch.Tensor]) -> torch.Tensor:
    """Parts joined along the batch; one part as it is (a session alone copies nothing: its
    reference features stay views of the avatar's)."""
    return parts[0] if len(parts) == 1 else torch.cat(parts)


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
    denoiser = shared_denoiser(weights_folder(options), options.backend, options.threads)
    return DiffusionRenderer(seed, denoiser, options.size)


register_renderer(
    RendererSpec(
        name="diffusion",
        description="learned residual over the warp prior (procedural avatars; 1-step student)",
        backends=("onnxruntime", "torch"),  # fastest first: ORT runs the denoiser 1.5–1.9x faster here
        build=build_diffusion,
    )
)
