"""The generator's streaming step on a backend, built once per process and weights file.

* ``tensorrt`` — where ``tensorrt`` imports and a GPU is present: an fp16 plan built from the
  ONNX file below on first use (:mod:`xactor.engines.tensorrt_engine`), 1–16 sessions per call;
* ``torch`` — :class:`~engines.motion_gen.step.MotionStep` in eager torch; on a CUDA host a copy
  on the GPU in fp16 with one CUDA graph per batch size;
* ``onnxruntime`` — the same step exported to ONNX (:mod:`xactor.engines.motion_gen.onnx_step`) and
  run by ONNX Runtime with one intra-op thread (a step is a few hundred small operators on 1–8 rows: threads
  cost more than they give, and the render worker's other stages want the other core). The ONNX
  file is exported on first use and cached under ``~/.cache/xactor/onnx`` (``XACTOR_CACHE_DIR``),
  named by the hash of the weights and of the step's code, so a changed file or graph is
  re-exported and never mixed up.

The engine (weights, ONNX Runtime session, plan) is shared and read-only; every session's
:class:`~engines.motion_gen.engine_stream.EngineStreamer` keeps its state in one slot of the
engine's :class:`~engines.motion_gen.engine_stream.StateSlots`.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from xactor.engines.inference import Engine, OrtEngine, TorchEngine
from xactor.engines.motion_gen import step as step_code
from xactor.engines.motion_gen.config import MotionGenConfig
from xactor.engines.motion_gen.engine_stream import StateSlots
from xactor.engines.motion_gen.onnx_step import export_step, step_module
from xactor.engines.motion_gen.step import INPUTS, OUTPUTS
from xactor.engines.motion_gen.weights import GeneratorWeights
from xactor.engines.onnx_io import cache_dir, cached_export, content_key, manifest
from xactor.engines.tensorrt_engine import BatchProfile, unavailable_reason

log = logging.getLogger(__name__)


def _present_backends() -> tuple[str, ...]:
    """The step's backends on this host, fastest first (bench/RESULTS.md): TensorRT only where it
    imports and a GPU is present."""
    return ("tensorrt", "onnxruntime", "torch") if unavailable_reason() is None else ("onnxruntime", "torch")


STEP_BACKENDS: tuple[str, ...] = _present_backends()
TRT_PROFILE = BatchProfile(min=1, opt=4, max=16)  # sessions per call a TensorRT plan serves


@dataclass(frozen=True)
class StepEngine:
    """An engine for the step and the state shapes of one session on it."""

    engine: Engine
    state_shapes: dict[str, tuple[tuple[int, ...], torch.dtype]]
    branches: int  # 2 with guidance (the cache's rows are [conditional | unconditional]), else 1
    slots: StateSlots  # every session's state on this engine, one preallocated slot each


_cache: dict[tuple[str, str], StepEngine] = {}
_lock = threading.Lock()


def graph_key(weights_files: tuple[Path, Path]) -> str:
    """The weights (tensors + JSON) and the step's source: name the exported graph."""
    return content_key((*weights_files, Path(step_code.__file__)))


def step_engine(weights: GeneratorWeights, weights_files: tuple[Path, Path], backend: str) -> StepEngine:
    """The shared step engine of these weights on ``backend`` (one of :data:`STEP_BACKENDS`)."""
    if backend not in STEP_BACKENDS:
        raise ValueError(
            f"the generator's step has no {backend} backend; it runs on: {', '.join(STEP_BACKENDS)}"
        )
    key = graph_key(weights_files)
    with _lock:
        hit = _cache.get((key, backend))
        if hit is not None:
            return hit
        step = step_module(weights)
        engine: Engine
        if backend == "torch" and not torch.cuda.is_available():
            engine = TorchEngine(step, INPUTS, OUTPUTS)
        elif backend == "torch":  # a private copy on the GPU: fp16, one CUDA graph per batch size
            gpu_step = copy.deepcopy(step)
            engine = TorchEngine(gpu_step, INPUTS, OUTPUTS, "cuda", precision="fp16", cuda_graphs=True)
        elif backend == "onnxruntime":
            engine = OrtEngine(_exported(weights, key), threads=1, providers=("CPUExecutionProvider",))
        else:
            engine = _tensorrt(weights, weights_files, key, step.branches)
        shapes = step.state_shapes(1)
        built = StepEngine(engine, shapes, step.branches, StateSlots(shapes, step.branches))
        _cache[(key, backend)] = built
        return built


def steady_feeds(
    cfg: MotionGenConfig,
    state_shapes: dict[str, tuple[tuple[int, ...], torch.dtype]],
    rng: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """Step inputs for sessions in steady state (every cache slot and the ride-along filled, no
    emotion), the batch of ``state_shapes``: zeros, or random values from ``rng`` (what a timing
    needs: the step's cost does not depend on the values)."""
    batch = state_shapes["ride_valid"][0][0]

    def values(shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape, np.float32) if rng is None else rng.normal(size=shape).astype(np.float32)

    feeds = {k: values(shape) for k, (shape, _) in state_shapes.items()}
    feeds |= {
        "audio": values((batch, cfg.chunk + cfg.audio_window - 1, cfg.audio_dim)),
        "lookahead": np.full(batch, cfg.lookahead, np.int64),
        "emotion": np.full((batch, cfg.chunk), cfg.n_emotions, np.int64),
        "intensity": np.zeros((batch, cfg.chunk), np.float32),
        "noise": values((batch, cfg.chunk, cfg.motion_dim)),
    }
    feeds["cache_valid"][:] = 1.0
    feeds["ride_valid"][:] = 1.0
    return feeds


_fastest: dict[str, str] = {}


def fastest_backend(weights: GeneratorWeights, weights_files: tuple[Path, Path], calls: int = 20) -> str:
    """The backend ``auto`` means for these weights on this machine: each of :data:`STEP_BACKENDS`
    timed on one session's step (cache full, median of ``calls``), measured once per process and
    weights file, logged. A backend that fails to build is skipped."""
    key = graph_key(weights_files)
    if key in _fastest:
        return _fastest[key]
    timings: dict[str, float] = {}
    for backend in STEP_BACKENDS:
        try:
            built = step_engine(weights, weights_files, backend)
        except Exception as exc:
            log.warning("step backend %s unavailable: %s", backend, exc)
            continue
        feeds = steady_feeds(weights.config, built.state_shapes)
        times = []
        for _ in range(calls + 2):
            t0 = time.perf_counter()
            built.engine(feeds)
            times.append(time.perf_counter() - t0)
        timings[backend] = float(np.median(times[2:])) * 1000
    if not timings:
        raise RuntimeError("no backend could run the generator's step")
    best = min(timings, key=lambda b: timings[b])
    log.info("generator step per backend (ms, one session): %s; auto = %s", timings, best)
    _fastest[key] = best
    return best


def _tensorrt(weights: GeneratorWeights, weights_files: tuple[Path, Path], key: str, branches: int) -> Engine:
    """The step as a TensorRT fp16 plan for 1–16 sessions per call, built from the cached ONNX
    file on first use (plans beside it, named by GPU architecture and TensorRT version)."""
    from xactor.engines.tensorrt_engine import TrtEngine, build_plan

    onnx_file = _exported(weights, key)
    info = manifest(onnx_file, "motion_step", weights_files, 0.0, axes={"batch": 1, "rows": branches})
    plan = build_plan(onnx_file, info, cache_dir().parent / "tensorrt", "fp16", TRT_PROFILE)
    return TrtEngine(plan, info, TRT_PROFILE.max)


def _exported(weights: GeneratorWeights, key: str) -> Path:
    """The step's ONNX file for these weights, exported (and checked against torch) on first use."""
    return cached_export("motion_step", key, lambda path: export_step(weights, path))
