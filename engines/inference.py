"""One engine interface over the runtimes: named arrays in, named arrays out.

Every model stage that runs live is an :class:`Engine`: a callable from a dict of named numpy
arrays (shapes fixed per stage and documented with it, the batch axis free) to a dict of named
numpy arrays. Backends:

* :class:`TorchEngine` — the reference: an ``nn.Module`` whose ``forward`` takes the inputs in
  order and returns the outputs in order; CPU or CUDA, fp32 or fp16, CUDA graphs on CUDA;
* :class:`OrtEngine` — an exported ONNX graph in ONNX Runtime (CPU, or CUDA where present);
* :class:`~engines.tensorrt_engine.TrtEngine` — a TensorRT plan built from the same ONNX file
  (``xactor build-engine``), where ``tensorrt`` imports and a GPU is present.

A feed that lacks an input, has an extra one or the wrong rank is refused with the names, not
with a runtime's stack trace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

PRECISIONS: tuple[str, ...] = ("fp32", "fp16")


class Engine(Protocol):
    """A stage behind a backend: named arrays in, named arrays out."""

    backend: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def check_feeds(feeds: Mapping[str, object], inputs: Sequence[str]) -> None:
    missing, extra = set(inputs) - set(feeds), set(feeds) - set(inputs)
    if missing or extra:
        raise ValueError(f"engine feeds: missing {sorted(missing)}, unexpected {sorted(extra)}")


class TorchEngine:
    """An ``nn.Module`` as an engine: the reference backend, on CPU or CUDA.

    ``precision="fp16"`` runs the module under autocast (float16 matrix products, float32
    reductions where autocast keeps them; outputs handed back as float32): the same code path on
    CPU, where it is tested against fp32, and on CUDA, where it pays. ``cuda_graphs=True`` (CUDA
    only) captures one CUDA graph per distinct input signature and replays it: a step of a few
    hundred small kernels is then launched as one, which is what makes batch 1 fast on a GPU.
    :meth:`run_tensors` keeps inputs and outputs as tensors on the engine's device, so two stages
    on one GPU hand their results over without a host round trip.
    """

    backend = "torch"

    def __init__(
        self,
        module: torch.nn.Module,
        inputs: Sequence[str],
        outputs: Sequence[str],
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        cuda_graphs: bool = False,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r}: one of {', '.join(PRECISIONS)}")
        self.device = torch.device(device)
        if cuda_graphs and self.device.type != "cuda":
            raise ValueError("CUDA graphs need a CUDA device")
        self.module = module.eval().to(self.device)
        self.inputs, self.outputs = tuple(inputs), tuple(outputs)
        self.precision, self.cuda_graphs = precision, cuda_graphs
        self._graphs: dict[tuple[tuple[tuple[int, ...], torch.dtype], ...], _CapturedGraph] = {}

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_feeds(feeds, self.inputs)
        tensors = {k: torch.from_numpy(np.ascontiguousarray(feeds[k])).to(self.device) for k in self.inputs}
        return {k: v.cpu().numpy() for k, v in self.run_tensors(tensors).items()}

    @torch.no_grad()
    def run_tensors(self, feeds: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Tensors on :attr:`device` in, float32 (or integer) tensors on :attr:`device` out."""
        check_feeds(feeds, self.inputs)
        args = [feeds[k] for k in self.inputs]
        if self.cuda_graphs:
            signature = tuple((tuple(a.shape), a.dtype) for a in args)
            if signature not in self._graphs:
                self._graphs[signature] = _CapturedGraph(self._forward, args)
            out = self._graphs[signature].replay(args)
        else:
            out = self._forward(*args)
        return dict(zip(self.outputs, out, strict=True))

    def _forward(self, *args: torch.Tensor) -> list[torch.Tensor]:
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.precision == "fp16"):
            out = self.module(*args)
        out = [out] if isinstance(out, torch.Tensor) else list(out)
        return [o.float() if o.is_floating_point() else o for o in out]


class _CapturedGraph:
    """One CUDA graph of ``forward`` over static input buffers (warmed up on a side stream first,
    as CUDA graph capture requires); replay copies the inputs in and clones the outputs out."""

    def __init__(self, forward: Callable[..., list[torch.Tensor]], example: list[torch.Tensor]) -> None:
        self.static_in = [a.clone() for a in example]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                forward(*self.static_in)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_out = forward(*self.static_in)

    def replay(self, args: list[torch.Tensor]) -> list[torch.Tensor]:
        for buffer, value in zip(self.static_in, args, strict=True):
            buffer.copy_(value)
        self.graph.replay()
        return [o.clone() for o in self.static_out]


class OrtEngine:
    """An ONNX file in ONNX Runtime; ``threads`` intra-op threads (0: the runtime's default).
    ``spin=False`` lets idle pool threads sleep instead of spinning between calls: the CPU they
    would burn is what the encoders and the event loop need on a small host."""

    backend = "onnxruntime"

    def __init__(
        self, path: Path, threads: int = 0, providers: Sequence[str] | None = None, spin: bool = True
    ) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        if not spin:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
