"""``xactor bench motion``: what one streaming step of the motion generator costs, live-style.

For each checkpoint in the weights folder (teacher, student) and each torch thread count:

* **step, 1 session** — one frame (C = 1) through :meth:`StreamingGenerator.push` with one audio
  vector, in steady state: the KV cache is full (``context`` frames were pushed first) and a few
  warm-up steps have run. Median and p95 milliseconds.
* **8 sessions** — ``sessions`` independent generators (own cache, own noise) stepped one after
  another per frame, as the render worker steps every session each turn: the per-frame total and
  its share per session.
* **source** — the whole ``generator`` motion source per frame (front end: VAD and log-mel, plus
  the model): push 640 samples, pull one frame.

Prefilling a cache of ``context`` frames costs ``context`` steps; for an 8-step guided teacher that
is most of a minute, so the cache is filled with 1-step passes (its cost depends on its size, not
on its values) and the eight sessions start from copies of one prefilled generator.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xactor.bench.render import machine
from xactor.engines import timebase
from xactor.engines.motion_gen.sampler import Denoiser, StreamingGenerator, time_steps
from xactor.engines.motion_gen.weights import SHIPPED_DIR, STUDENT, TEACHER, GeneratorWeights, load_weights
from xactor.engines.motion_source.generator import GeneratorMotionSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MotionBenchConfig:
    weights_dir: Path | None = None  # default: the shipped weights
    threads: tuple[int, ...] = (2, 1)  # torch intra-op threads, each measured in turn
    steps: int = 60  # timed steps of the single session
    sessions: int = 8
    session_frames: int = 12  # timed frames of the multi-session loop
    source_frames: int = 30  # timed frames of the whole motion source
    warmup: int = 3
    names: tuple[str, ...] = field(default=(TEACHER, STUDENT))


def _ms(values: list[float]) -> dict[str, float]:
    """Median and p95 of durations in seconds, as milliseconds."""
    v = np.asarray(values, np.float64) * 1000.0
    return {"p50": round(float(np.median(v)), 3), "p95": round(float(np.percentile(v, 95)), 3), "n": v.size}


def _prefill(gen: StreamingGenerator, audio: np.ndarray) -> None:
    """Push ``audio`` [n, A] with 1-step passes (the cache it leaves is the same size; see module doc)."""
    levels, gen.levels = gen.levels, time_steps(1)
    try:
        gen.push(audio)
    finally:
        gen.levels = levels


def _copy(gen: StreamingGenerator, seed: int) -> StreamingGenerator:
    """An independent session starting from ``gen``'s state. The model and the cached tensors are
    shared (the generator replaces them, never writes into them); the containers it appends to
    and the noise generator are its own."""
    twin = copy.copy(gen)
    twin.audio = deque(gen.audio, maxlen=gen.audio.maxlen)
    twin.queue = list(gen.queue)
    twin.rng = torch.Generator().manual_seed(seed)
    return twin


def _speech_like(frames: int, seed: int = 0) -> np.ndarray:
    """Noise under a syllable-rate envelope: the VAD and the features do their usual work."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames * timebase.SAMPLES_PER_FRAME) / timebase.SAMPLE_RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t)
    return (0.2 * envelope * (np.sin(2 * np.pi * 140.0 * t) + 0.3 * rng.standard_normal(t.size))).astype(
        np.float32
    )


def _time_steps(weights: GeneratorWeights, cfg: MotionBenchConfig) -> dict[str, Any]:
    """Single-session and multi-session step times of one checkpoint at the current thread count."""
    mcfg, s = weights.config, weights.sampler
    rng = np.random.default_rng(0)
    gen = StreamingGenerator(
        Denoiser(weights.model, s.guidance), weights.normalizer.silence(), s.steps, s.shift, seed=0
    )
    _prefill(gen, rng.standard_normal((mcfg.context + mcfg.lookahead + 2, mcfg.audio_dim)).astype(np.float32))
    sessions = [_copy(gen, seed) for seed in range(1, cfg.sessions + 1)]
    frames = rng.standard_normal((cfg.warmup + max(cfg.steps, cfg.session_frames), 1, mcfg.audio_dim))
    frames = frames.astype(np.float32)  # [n, 1, A]: one audio vector per step
    single: list[float] = []
    for i in range(cfg.warmup + cfg.steps):
        t0 = time.perf_counter()
        gen.push(frames[i])
        if i >= cfg.warmup:
            single.append(time.perf_counter() - t0)
    total: list[float] = []
    for i in range(cfg.warmup + cfg.session_frames):
        t0 = time.perf_counter()
        for g in sessions:
            g.push(frames[i])
        if i >= cfg.warmup:
            total.append(time.perf_counter() - t0)
    return {
        "step_ms": _ms(single),
        "sessions_frame_ms": _ms(total),
        "per_session_ms": _ms([t / cfg.sessions for t in total]),
    }


def _time_source(weights: GeneratorWeights, name: str, cfg: MotionBenchConfig) -> dict[str, Any]:
    """Per-frame cost of the whole motion source (front end + model), cache full."""
    mcfg = weights.config
    source = GeneratorMotionSource(weights, seed=0, weights_label=name)
    audio = _speech_like(mcfg.context + 2 + cfg.warmup + cfg.source_frames)
    spf = timebase.SAMPLES_PER_FRAME
    generator = source.generator
    assert isinstance(generator, StreamingGenerator)  # built without an engine: the torch reference
    levels, generator.levels = generator.levels, time_steps(1)
    prefill = (mcfg.context + 2) * spf
    source.push_audio(audio[:prefill])
    source.pull()
    generator.levels = levels
    source.pop_stage_seconds()
    frame_s: list[float] = []
    front_s: list[float] = []
    for k in range(cfg.warmup + cfg.source_frames):
        start = prefill + k * spf
        t0 = time.perf_counter()
        source.push_audio(audio[start : start + spf])
        pulled = source.pull()
        took = time.perf_counter() - t0
        stages = source.pop_stage_seconds()
        assert len(pulled) == 1
        if k >= cfg.warmup:
            frame_s.append(took)
            front_s.append(sum(stages.values()))
    return {"source_ms": _ms(frame_s), "frontend_ms": _ms(front_s)}


def run(cfg: MotionBenchConfig) -> dict[str, Any]:
    """Every checkpoint found × every thread count; restores the process's thread count."""
    folder = cfg.weights_dir or SHIPPED_DIR
    found = [n for n in cfg.names if (folder / f"{n}.safetensors").is_file()]
    if not found:
        raise FileNotFoundError(f"{folder}: no generator weights ({', '.join(cfg.names)})")
    before = torch.get_num_threads()
    rows = []
    start = time.perf_counter()
    try:
        for name in found:
            weights = load_weights(folder, name)
            for threads in cfg.threads:
                torch.set_num_threads(threads)
                log.info("%s, %d threads", name, threads)
                row: dict[str, Any] = {
                    "weights": name,
                    "steps": weights.sampler.steps,
                    "guidance": weights.sampler.guidance,
                    "threads": threads,
                    "sessions": cfg.sessions,
                }
                with torch.inference_mode():
                    row |= _time_steps(weights, cfg)
                    row |= _time_source(weights, name, cfg)
                rows.append(row)
    finally:
        torch.set_num_threads(before)
    first = load_weights(folder, found[0]).config
    return {
        "machine": machine(threads=False),  # it measures several thread counts
        "weights_dir": str(folder),
        "model": {"d_model": first.d_model, "n_layers": first.n_layers, "context": first.context},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "rows": rows,
        "took_s": round(time.perf_counter() - start, 1),
    }


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def pair(stat: dict[str, float]) -> str:
        return f"{stat['p50']:.2f} / {stat['p95']:.2f}"

    model = result["model"]
    table = Table(
        title=f"motion generator, one streaming step (C = 1, cache {model['context']} full), ms p50 / p95 — "
        f"{result['machine']}"
    )
    columns = ("weights", "steps", "threads", "1 session", "N sessions / frame", "per session", "source")
    for column in columns:
        table.add_column(column, justify="right")
    for r in result["rows"]:
        table.add_row(
            r["weights"].removeprefix("motion_"),
            f"{r['steps']}" + (f" (cfg {r['guidance']:g})" if r["guidance"] != 1.0 else ""),
            str(r["threads"]),
            pair(r["step_ms"]),
            f"{pair(r['sessions_frame_ms'])} (N={r['sessions']})",
            pair(r["per_session_ms"]),
            f"{pair(r['source_ms'])} (front end {r['frontend_ms']['p50']:.2f})",
        )
    Console().print(table)
    Console().print(f"{result['weights_dir']}, took {result['took_s']} s")
