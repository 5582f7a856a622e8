"""One engine interface over the runtimes: named arrays in, named arrays out.

Every model stage that runs live is an :class:`Engine`: a callable from a dict of named numpy
arrays (shapes fixed per stage and documented with it, the batch axis free) to a dict of named
numpy arrays. Backends:

* :class:`TorchEngine` — the reference: an ``nn.Module`` whose ``forward`` takes the inputs in
  order and returns the outputs in order;
* :class:`OrtEngine` — an exported ONNX graph in ONNX Runtime (CPU, or CUDA where present).

TensorRT plans are built from the same ONNX files (``xactor build-engine``) where ``tensorrt``
imports. A feed that lacks an input, has an extra one or the wrong rank is refused with the
names, not with a runtime's stack trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch


class Engine(Protocol):
    """A stage behind a backend: named arrays in, named arrays out."""

    backend: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def check_feeds(feeds: dict[str, np.ndarray], inputs: Sequence[str]) -> None:
    missing, extra = set(inputs) - set(feeds), set(feeds) - set(inputs)
    if missing or extra:
        raise ValueError(f"engine feeds: missing {sorted(missing)}, unexpected {sorted(extra)}")


class TorchEngine:
    """An ``nn.Module`` as an engine (no gradients; the module's own device and dtype)."""

    backend = "torch"

    def __init__(self, module: torch.nn.Module, inputs: Sequence[str], outputs: Sequence[str]) -> None:
        self.module = module.eval()
        self.inputs, self.outputs = tuple(inputs), tuple(outputs)

    @torch.no_grad()
    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_feeds(feeds, self.inputs)
        out = self.module(*(torch.from_numpy(np.ascontiguousarray(feeds[k])) for k in self.inputs))
        return {k: v.numpy() for k, v in zip(self.outputs, out, strict=True)}


class OrtEngine:
    """An ONNX file in ONNX Runtime; ``threads`` intra-op threads (0: the runtime's default)."""

    backend = "onnxruntime"

    def __init__(self, path: Path, threads: int = 0, providers: Sequence[str] | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        available = ort.get_available_providers()
        chosen = [
            p for p in (providers or ("CUDAExecutionProvider", "CPUExecutionProvider")) if p in available
        ]
        self.session = ort.InferenceSession(str(path), opts, providers=chosen)
        self.inputs = tuple(i.name for i in self.session.get_inputs())
        self.outputs = tuple(o.name for o in self.session.get_outputs())
        self._ranks = {i.name: len(i.shape) for i in self.session.get_inputs()}

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_feeds(feeds, self.inputs)
        for name, rank in self._ranks.items():
            if np.ndim(feeds[name]) != rank:
                raise ValueError(f"engine input {name!r}: rank {np.ndim(feeds[name])}, want {rank}")
        out = self.session.run(list(self.outputs), feeds)
        return dict(zip(self.outputs, out, strict=True))
