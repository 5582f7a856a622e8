"""TensorRT backend: plans built from the exported ONNX graphs, run on device buffers.

Written to the TensorRT 10 Python API. Building (:func:`build_plan`):

* the ONNX file is parsed into an explicit-batch network;
* fp16 (``BuilderFlag.FP16``) or strict fp32 (TF32 off, so fp32 parity holds on Ampere and later);
* one optimisation profile over the batch sizes served: every symbolic axis of the manifest's
  inputs is ``axes[symbol] × batch`` (``batch`` for per-session rows, ``rows`` = branches × batch
  for the guided KV cache);
* a timing cache per GPU architecture and TensorRT version, read before and written after, so a
  rebuild (new weights, new profile) reuses the kernel timings;
* the plan is named by the ONNX file's hash, the GPU architecture, the TensorRT version, the
  precision and the profile (:func:`plan_name`), so a new GPU or a new TensorRT rebuilds it and
  an old plan is never loaded by a runtime that cannot run it.

Running (:class:`TrtEngine`): one execution context, device buffers allocated once at the
profile's largest shapes (each call uses a contiguous view of the size it needs), inputs bound by
address, ``execute_async_v3`` on the engine's own CUDA stream. :meth:`TrtEngine.run_tensors` takes
and returns CUDA tensors, so the motion stage's output can feed the renderer without a trip
through host memory; ``__call__`` is the numpy :class:`~engines.inference.Engine` interface.

Where ``tensorrt`` cannot be imported or there is no CUDA device, :func:`unavailable_reason`
says so in one line, and the stage lists no ``tensorrt`` backend.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xactor.engines.inference import PRECISIONS, check_feeds

log = logging.getLogger(__name__)


@functools.cache
def unavailable_reason() -> str | None:
    """Why TensorRT cannot run here (None where it can): the import, or no CUDA device."""
    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:
        return f"the tensorrt package cannot be imported ({exc}); install TensorRT 10 on a CUDA machine"
    if not torch.cuda.is_available():
        return "TensorRT needs a CUDA GPU and torch sees none"
    return None


@dataclass(frozen=True)
class BatchProfile:
    """The batch sizes a plan serves: any from ``min`` to ``max``, tuned for ``opt``."""

    min: int = 1
    opt: int = 4
    max: int = 16

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise ValueError(f"batch profile needs 1 <= min <= opt <= max, got {self}")


def input_shapes(manifest: dict[str, Any], batch: int) -> dict[str, tuple[int, ...]]:
    """Every input's concrete shape at ``batch`` sessions: symbolic axes scaled by the manifest's
    ``axes`` (rows per session of that axis; 1 where the manifest does not say)."""
    per_session = manifest.get("axes", {})
    shapes = {}
    for name, spec in manifest["inputs"].items():
        shapes[name] = tuple(
            int(per_session.get(d, 1)) * batch if isinstance(d, str) else int(d) for d in spec["shape"]
        )
    return shapes


def plan_name(
    onnx_sha256: str, gpu_arch: str, trt_version: str, precision: str, profile: BatchProfile
) -> str:
    """The plan's file name: everything that makes a plan unusable elsewhere is in it."""
    return (
        f"{onnx_sha256[:16]}-{gpu_arch}-trt{trt_version}-{precision}"
        f"-b{profile.min}_{profile.opt}_{profile.max}.plan"
    )


def gpu_arch(device: int = 0) -> str:
    """``sm_XY`` of the CUDA device (plans are specific to it)."""
    major, minor = torch.cuda.get_device_capability(device)
    return f"sm_{major}{minor}"


def build_plan(
    onnx_path: Path,
    manifest: dict[str, Any],
    out_dir: Path,
    precision: str = "fp16",
    profile: BatchProfile = BatchProfile(),
    workspace_gib: float = 4.0,
) -> Path:
    """The plan for ``onnx_path`` in ``out_dir``, built unless a plan of the same name exists.

    Raises ``RuntimeError`` with the reason where TensorRT is unavailable or the build fails
    (with the parser's messages for an unparsable graph).
    """
    reason = unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: one of {', '.join(PRECISIONS)}")
    import tensorrt as trt

    onnx_bytes = Path(onnx_path).read_bytes()
    arch = gpu_arch()
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = out_dir / plan_name(
        hashlib.sha256(onnx_bytes).hexdigest(), arch, trt.__version__, precision, profile
    )
    if plan.is_file():
        return plan
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch: the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    else:
        config.clear_flag(trt.BuilderFlag.TF32)
    timing_file = out_dir / f"timing-{arch}-trt{trt.__version__}.cache"
    timing = config.create_timing_cache(timing_file.read_bytes() if timing_file.is_file() else b"")
    config.set_timing_cache(timing, ignore_mismatch=False)
    shapes = [input_shapes(manifest, b) for b in (profile.min, profile.opt, profile.max)]
    trt_profile = builder.create_optimization_profile()
    for name in manifest["inputs"]:
        trt_profile.set_shape(name, shapes[0][name], shapes[1][name], shapes[2][name])
    config.add_optimization_profile(trt_profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT could not build a plan for {onnx_path} (see its log above)")
    timing_file.write_bytes(memoryview(config.get_timing_cache().serialize()))
    tmp = plan.with_suffix(".tmp")
    tmp.write_bytes(memoryview(serialized))
    tmp.replace(plan)
    log.info("built %s", plan)
    return plan


class TrtEngine:
    """A TensorRT plan as an :class:`~engines.inference.Engine`, on its own CUDA stream."""

    backend = "tensorrt"

    def __init__(self, plan: Path, manifest: dict[str, Any], max_batch: int) -> None:
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        import tensorrt as trt

        self._trt = trt
        self.max_batch = max_batch
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self._runtime.deserialize_cuda_engine(Path(plan).read_bytes())
        if self.engine is None:
            raise RuntimeError(f"{plan}: not a plan this TensorRT and GPU can load")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        mode = trt.TensorIOMode.INPUT
        self.inputs = tuple(n for n in names if self.engine.get_tensor_mode(n) == mode)
        self.outputs = tuple(n for n in names if self.engine.get_tensor_mode(n) != mode)
        self.stream = torch.cuda.Stream()
        largest = input_shapes(manifest, max_batch)
        for name in self.inputs:
            self.context.set_input_shape(name, largest[name])
        self._buffers = {  # flat device storage at the largest shapes, allocated once
            name: torch.empty(
                int(np.prod(self._shape(name, largest))), dtype=self._dtype(name), device="cuda"
            )
            for name in names
        }

    def _dtype(self, name: str) -> torch.dtype:
        trt = self._trt
        table = {
            trt.DataType.FLOAT: torch.float32,
            trt.DataType.HALF: torch.float16,
            trt.DataType.INT32: torch.int32,
            trt.DataType.INT64: torch.int64,
            trt.DataType.BOOL: torch.bool,
        }
        return table[self.engine.get_tensor_dtype(name)]

    def _shape(self, name: str, inputs: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
        return inputs[name] if name in inputs else tuple(self.context.get_tensor_shape(name))

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_feeds(feeds, self.inputs)
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)).cuda() for k, v in feeds.items()}
        return {k: v.cpu().numpy() for k, v in self.run_tensors(tensors).items()}

    def run_tensors(self, feeds: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """CUDA tensors in (any batch within the profile), CUDA tensors out (copies: the engine's
        buffers are reused by the next call)."""
        check_feeds(feeds, self.inputs)
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.stream):
            for name in self.inputs:
                value = feeds[name]
                self.context.set_input_shape(name, tuple(value.shape))
                view = self._view(name, tuple(value.shape))
                view.copy_(value.to(view.dtype), non_blocking=True)
                self.context.set_tensor_address(name, view.data_ptr())
            outs = {}
            for name in self.outputs:
                outs[name] = self._view(name, tuple(self.context.get_tensor_shape(name)))
                self.context.set_tensor_address(name, outs[name].data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execution failed (see its log)")
            result = {k: v.float().clone() if v.is_floating_point() else v.clone() for k, v in outs.items()}
        torch.cuda.current_stream().wait_stream(self.stream)
        return result

    def _view(self, name: str, shape: tuple[int, ...]) -> torch.Tensor:
        flat = self._buffers[name]
        size = int(np.prod(shape))
        if size > flat.numel():
            raise ValueError(f"engine input {name!r}: shape {shape} is past the plan's largest batch")
        return flat[:size].view(shape)
