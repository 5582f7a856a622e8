"""The warp renderer of an avatar: NumPy motion in, uint8 frames out, around the torch module
(:mod:`xactor.engines.warp.module`), which a *runner* runs: :class:`TorchRunner` (a TorchScript trace
per batch size, the default) or :class:`~xactor.engines.warp.onnx_renderer.OrtRunner` (ONNX Runtime).
Registered as the ``warp`` renderer.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np
import torch

from xactor.engines.face_model import FaceModel, Placement
from xactor.engines.render.base import Renderer, RendererSpec, register_renderer
from xactor.engines.warp.cache import DEFAULT_NODES, AvatarCache
from xactor.engines.warp.module import WarpRenderer, probe_motion
from xactor.engines.warp.onnx_renderer import OrtRunner
from xactor.engines.warp.retarget import own_mouth_motion

if TYPE_CHECKING:
    from xactor.engines.avatar.bundle import AvatarBundle

__all__ = ["AvatarRenderer", "FrameRunner", "TorchRunner", "WarpRenderer", "probe_motion"]

log = logging.getLogger(__name__)


def planes_to_images(frames: np.ndarray) -> np.ndarray:
    """float planes [B, 3, S, S] in [0, 1] → uint8 images [B, S, S, 3], rounded to nearest.

    OpenCV's SIMD scale-round-saturate per plane, then one interleave: 0.05 ms a 256 px frame
    against 0.4 ms for torch's multiply, add, cast and permute (a few per cent of a warp frame).
    The warp's frames are bilinear reads of a [0, 1] crop, so the absolute value it also takes
    changes nothing; above 1 saturates at 255.
    """
    batch, _, height, width = frames.shape
    out = np.empty((batch, height, width, 3), np.uint8)
    for image, planes in zip(out, np.asarray(frames, np.float32), strict=True):
        cv2.merge([cv2.convertScaleAbs(plane, alpha=255.0) for plane in planes], dst=image)
    return out


class FrameRunner(Protocol):
    """Runs a :class:`WarpRenderer`: motion [B, 40] → frames [B, 3, S, S] in [0, 1]."""

    def __call__(self, motion: torch.Tensor) -> torch.Tensor: ...

    @property
    def nbytes(self) -> int:
        """Memory the runner holds beyond the module's own buffers."""


RunnerFactory = Callable[[WarpRenderer], FrameRunner]


class TorchRunner:
    """A TorchScript trace of the module per batch size (traced on first use, about 0.1 s, checked
    against the eager module once): the same arithmetic with less per-op overhead, which is a good
    part of a 256 px frame on a CPU. ``trace=False`` runs the eager module."""

    def __init__(self, module: WarpRenderer, trace: bool = True) -> None:
        self.module = module
        self.trace = trace
        self._traced: dict[int, torch.jit.ScriptModule | WarpRenderer] = {}
        self._lock = threading.Lock()

    def __call__(self, motion: torch.Tensor) -> torch.Tensor:
        return self._runner(motion.shape[0])(motion)

    @property
    def nbytes(self) -> int:
        """Freezing copies the module's buffers into each trace's graph."""
        buffers = sum(b.numel() * b.element_size() for b in self.module.buffers())
        return buffers * len(self._traced)

    def _runner(self, batch: int) -> torch.jit.ScriptModule | WarpRenderer:
        """The traced module for this batch size (the eager one when tracing is off or fails)."""
        if not self.trace:
            return self.module
        with self._lock:
            if batch not in self._traced:
                self._traced[batch] = self._trace(batch)
            return self._traced[batch]

    def _trace(self, batch: int) -> torch.jit.ScriptModule | WarpRenderer:
        probe = probe_motion(batch)
        try:
            # TorchScript is deprecated in favour of torch.compile, which needs a compiler toolchain
            # and tens of seconds per shape; a trace is 0.1 s and falls back to eager if it goes.
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                traced = torch.jit.freeze(torch.jit.trace(self.module, (probe,), check_trace=False).eval())
                error = float((traced(probe) - self.module(probe)).abs().max())
        except Exception as exc:  # pragma: no cover - depends on the torch build
            log.warning("tracing the warp renderer failed (%s); running it eagerly", exc)
            return self.module
        if error > 1e-5:  # pragma: no cover - a trace that disagrees is never used
            log.warning("traced warp renderer differs from eager by %.1e; running it eagerly", error)
            return self.module
        return traced


class AvatarRenderer(Renderer):
    """The warp renderer of one avatar bundle: NumPy in and out around :class:`WarpRenderer`, run
    by ``runner`` (default: :class:`TorchRunner`, traced unless ``trace=False``)."""

    def __init__(
        self,
        module: WarpRenderer,
        crop_to_source: np.ndarray | None = None,
        source: np.ndarray | None = None,
        trace: bool = True,
        runner: RunnerFactory | None = None,
    ) -> None:
        self.module = module.eval()
        self.crop_to_source = crop_to_source
        self.source = source
        self.runner: FrameRunner = runner(self.module) if runner else TorchRunner(self.module, trace)

    @classmethod
    def from_bundle(
        cls,
        bundle: AvatarBundle,
        size: int = 256,
        nodes: int = DEFAULT_NODES,
        runner: RunnerFactory | None = None,
    ) -> AvatarRenderer:
        placed = bundle.placement(size)  # (writable copies: bundle arrays are read-only views)
        placement = Placement(np.array(placed.rotation), placed.scale, np.array(placed.translation))
        face_model = FaceModel(np.array(bundle.canonical_shape), placement)
        renderer = cls.from_crop(bundle.crop(size), face_model, nodes=nodes, runner=runner)
        renderer.crop_to_source, renderer.source = bundle.crop_to_source(size), bundle.source()
        return renderer

    @classmethod
    def from_crop(
        cls,
        crop: np.ndarray,
        face_model: FaceModel,
        nodes: int = DEFAULT_NODES,
        trace: bool = True,
        runner: RunnerFactory | None = None,
    ) -> AvatarRenderer:
        """The warp renderer of a crop [S, S, 3] whose face ``face_model`` describes (its neutral
        and placement in the crop). ``trace=False`` for one-off renderers: every TorchScript trace
        keeps its frozen constants in the process for good."""
        cache = AvatarCache.build(crop, face_model, nodes=nodes)
        module = WarpRenderer(cache, face_model, own_motion=own_mouth_motion(face_model))
        return cls(module, trace=trace, runner=runner)

    @property
    def own_motion(self) -> np.ndarray:
        """The portrait's own expression in absolute motion (rendering it gives the photo back)."""
        return self.module.own_motion.numpy().copy()

    def target_landmarks(self, motion: np.ndarray) -> np.ndarray:
        """Landmarks [B, 478, 2] (crop px) the warp moves the portrait's to for absolute ``motion``."""
        m = torch.as_tensor(np.atleast_2d(motion), dtype=torch.float32)
        m = torch.maximum(torch.minimum(m, self.module.high), self.module.low) - self.module.own_motion
        with torch.no_grad():
            return self.module.face_model(m)[..., :2].numpy()

    @property
    def size(self) -> int:
        return self.module.size

    @property
    def nbytes(self) -> int:
        """Buffers of the eager module, plus what the runner holds (traces, exported graphs)."""
        buffers = sum(b.numel() * b.element_size() for b in self.module.buffers())
        return buffers + self.runner.nbytes

    def render(self, motion: np.ndarray) -> np.ndarray:
        """motion [B, 40] (or [40]) → frames uint8 [B, S, S, 3] (or [S, S, 3])."""
        single = np.ndim(motion) == 1
        batch = torch.as_tensor(np.atleast_2d(motion), dtype=torch.float32)  # [B, 40]
        with torch.inference_mode():
            out = planes_to_images(self.runner(batch).numpy())  # [B, 3, S, S] → [B, S, S, 3]
        return out[0] if single else out

    def paste_back(self, frames: np.ndarray) -> np.ndarray:
        """Crop frames uint8 [B, S, S, 3] (or one) → full portraits [B, H, W, 3] (feathered seam)."""
        from xactor.engines.avatar.align import paste_back

        if self.crop_to_source is None or self.source is None:
            raise ValueError("this renderer was built without its source portrait")
        single = frames.ndim == 3
        batch = frames[None] if single else frames
        out = np.stack([paste_back(f, self.source, self.crop_to_source) for f in batch])
        return out[0] if single else out


def _build(bundle: AvatarBundle, size: int, backend: str) -> AvatarRenderer:
    return AvatarRenderer.from_bundle(
        bundle, size=size, runner=OrtRunner if backend == "onnxruntime" else None
    )


register_renderer(
    RendererSpec(
        name="warp",
        description="training-free landmark warp of the portrait with synthesised mouth and eyelids",
        backends=("torch", "onnxruntime"),  # fastest first: ORT runs its graph slower on CPU
        build=lambda bundle, o: _build(bundle, o.size, o.backend),
    )
)
