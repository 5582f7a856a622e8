"""The generator's streaming step on a backend, built once per process and weights file.

* ``torch`` — :class:`~engines.motion_gen.step.MotionStep` in eager torch;
* ``onnxruntime`` — the same step exported to ONNX (:mod:`engines.motion_gen.onnx_step`) and run by ONNX
  Runtime with one intra-op thread (a step is a few hundred small operators on 1–8 rows: threads
  cost more than they give, and the render worker's other stages want the other core). The ONNX
  file is exported on first use and cached under ``~/.cache/xactor/onnx`` (``XACTOR_CACHE_DIR``),
  named by the hash of the weights and of the step's code, so a changed file or graph is
  re-exported and never mixed up.

Every session's :class:`~engines.motion_gen.engine_stream.EngineStreamer` holds its own state;
the engine (weights, ONNX Runtime session) is shared and read-only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engines.inference import Engine, OrtEngine, TorchEngine
from engines.motion_gen import step as step_module
from engines.motion_gen.step import INPUTS, OUTPUTS, MotionStep
from engines.motion_gen.weights import GeneratorWeights

log = logging.getLogger(__name__)

STEP_BACKENDS: tuple[str, ...] = ("onnxruntime", "torch")  # fastest first (bench/RESULTS.md)


@dataclass(frozen=True)
class StepEngine:
    """An engine for the step and the state shapes of one session on it."""

    engine: Engine
    state_shapes: dict[str, tuple[tuple[int, ...], torch.dtype]]


_cache: dict[tuple[str, str], StepEngine] = {}
_lock = threading.Lock()


def cache_dir() -> Path:
    return Path(os.environ.get("XACTOR_CACHE_DIR", Path.home() / ".cache" / "xactor")) / "onnx"


def graph_key(weights_files: tuple[Path, Path]) -> str:
    """Hash of the weights (tensors + JSON) and of the step's source: names the exported graph."""
    h = hashlib.sha256()
    for path in weights_files:
        h.update(path.read_bytes())
    h.update(Path(step_module.__file__).read_bytes())
    return h.hexdigest()[:20]


def step_engine(weights: GeneratorWeights, weights_files: tuple[Path, Path], backend: str) -> StepEngine:
    """The shared step engine of these weights on ``backend`` ("torch" or "onnxruntime")."""
    if backend not in STEP_BACKENDS:
        raise ValueError(
            f"the generator's step has no {backend} backend; it runs on: {', '.join(STEP_BACKENDS)}"
        )
    key = graph_key(weights_files)
    with _lock:
        hit = _cache.get((key, backend))
        if hit is not None:
            return hit
        s = weights.sampler
        step = MotionStep(weights.model, s.steps, s.shift, s.guidance)
        engine: Engine
        if backend == "torch":
            engine = TorchEngine(step, INPUTS, OUTPUTS)
        else:
            engine = OrtEngine(_exported(weights, key), threads=1, providers=("CPUExecutionProvider",))
        built = StepEngine(engine, step.state_shapes(1))
        _cache[(key, backend)] = built
        return built


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
        feeds = {k: np.zeros(shape, np.float32) for k, (shape, _) in built.state_shapes.items()}
        cfg = weights.config
        feeds |= {
            "audio": np.zeros((1, cfg.chunk + cfg.audio_window - 1, cfg.audio_dim), np.float32),
            "lookahead": np.array([cfg.lookahead], np.int64),
            "emotion": np.full((1, cfg.chunk), cfg.n_emotions, np.int64),
            "intensity": np.zeros((1, cfg.chunk), np.float32),
            "noise": np.zeros((1, cfg.chunk, cfg.motion_dim), np.float32),
        }
        feeds["cache_valid"][:] = 1.0  # a full cache: the steady state
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


def _exported(weights: GeneratorWeights, key: str) -> Path:
    """The step's ONNX file for these weights, exported (and checked against torch) on first use."""
    from engines.motion_gen.onnx_step import export_step

    path = cache_dir() / f"motion_step-{key}.onnx"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        error = export_step(weights, tmp)
        tmp.replace(path)
        log.info("exported the motion step to %s (max rel. error vs torch %.1e)", path, error)
    return path
