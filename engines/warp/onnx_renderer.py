"""The warp renderer on ONNX Runtime: the same module, exported per batch size and run by ORT.

For hosts where ONNX Runtime is the runtime at hand (and the path to TensorRT, which builds from
the same graphs). On this project's 2-core CPU it is about 2.5× slower than the traced torch
module (bench/RESULTS.md), so ``auto`` keeps torch; ``backend: onnxruntime`` asks for it.
Each batch size's graph is exported on first use (a few seconds) into a private temporary
folder, checked against torch right away (``xactor.engines.onnx_io``), and dropped with the renderer.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import torch

from xactor.engines.inference import OrtEngine
from xactor.engines.onnx_io import export_and_check
from xactor.engines.warp.module import WarpRenderer, probe_motion


class OrtRunner:
    """Runs a :class:`WarpRenderer` with ONNX Runtime (a runner of
    :class:`~xactor.engines.warp.renderer.AvatarRenderer`): the same inputs, the same outputs."""

    def __init__(self, module: WarpRenderer) -> None:
        self.module = module
        self._folder = tempfile.TemporaryDirectory(prefix="xactor-warp-onnx-")
        self._engines: dict[int, OrtEngine] = {}
        self._engine_lock = threading.Lock()

    def __call__(self, motion: torch.Tensor) -> torch.Tensor:
        batch = motion.detach().cpu().contiguous().numpy()  # [B, 40] float32
        return torch.from_numpy(self._engine(batch.shape[0])({"motion": batch})["frames"])  # [B, 3, S, S]

    @property
    def nbytes(self) -> int:
        """Each exported graph (ORT holds the weights once more)."""
        return sum(p.stat().st_size for p in Path(self._folder.name).glob("*.onnx"))

    def _engine(self, batch: int) -> OrtEngine:
        with self._engine_lock:
            if batch not in self._engines:
                path = Path(self._folder.name) / f"warp_b{batch}.onnx"
                export_and_check(self.module, {"motion": probe_motion(batch)}, ["frames"], path)
                self._engines[batch] = OrtEngine(path, threads=0, providers=("CPUExecutionProvider",))
            return self._engines[batch]
