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

import numpy as np

from xactor.engines.inference import OrtEngine
from xactor.engines.onnx_io import export_and_check
from xactor.engines.warp.renderer import AvatarRenderer, WarpRenderer, probe_motion


class OrtAvatarRenderer(AvatarRenderer):
    """:class:`AvatarRenderer` whose frames come from ONNX Runtime (same inputs, same outputs)."""

    def __init__(
        self,
        module: WarpRenderer,
        crop_to_source: np.ndarray | None = None,
        source: np.ndarray | None = None,
        trace: bool = False,
    ) -> None:
        del trace  # the base's constructor signature; ONNX Runtime runs the graph, nothing is traced
        super().__init__(module, crop_to_source, source, trace=False)
        self._folder = tempfile.TemporaryDirectory(prefix="xactor-warp-onnx-")
        self._engines: dict[int, OrtEngine] = {}
        self._engine_lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """The module's buffers, plus each exported graph (ORT holds its weights once more)."""
        graphs = sum(p.stat().st_size for p in Path(self._folder.name).glob("*.onnx"))
        return super().nbytes + graphs

    def render(self, motion: np.ndarray) -> np.ndarray:
        single = np.ndim(motion) == 1
        batch = np.ascontiguousarray(np.atleast_2d(motion), dtype=np.float32)  # [B, 40]
        out = self._engine(batch.shape[0])({"motion": batch})["frames"]  # [B, 3, S, S] in [0, 1]
        frames = np.clip(out.transpose(0, 2, 3, 1) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return frames[0] if single else frames

    def _engine(self, batch: int) -> OrtEngine:
        with self._engine_lock:
            if batch not in self._engines:
                path = Path(self._folder.name) / f"warp_b{batch}.onnx"
                export_and_check(self.module, {"motion": probe_motion(batch)}, ["frames"], path)
                self._engines[batch] = OrtEngine(path, threads=0, providers=("CPUExecutionProvider",))
            return self._engines[batch]
