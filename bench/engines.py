"""``xactor bench engines``: each stage by backend and batch size, and the tick that follows.

* **motion step** — the generator's streaming step (C = 1, every row's KV cache full) for B
  sessions in one call: ``torch-reference`` (the eager sampler, one session after another: what
  the server ran before the step graph), ``torch`` (the step graph, batched) and ``onnxruntime``
  (the exported step, batched, 1 thread). Median / p95 ms per call and per session.
* **render** — the warp renderer per frame (batch 1): torch (its traced module) and ONNX Runtime
  on the exported graph, at 256 and 512 px (:func:`xactor.bench.render.run`; the median per call).
* **tick** — what one 40 ms turn of the render worker costs for B sessions on the fastest motion
  backend: the batched motion step plus B renders (the worker renders each session's frame), and
  so the sessions one process holds at 25 fps on this machine (encoding not included: it runs on
  other threads, see ``xactor bench latency``).
"""

from __future__ import annotations

import copy
import logging
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xactor.bench.render import machine
from xactor.engines.inference import Engine, OrtEngine, TorchEngine
from xactor.engines.motion_gen.onnx_step import export_step, step_module
from xactor.engines.motion_gen.runtime import steady_feeds
from xactor.engines.motion_gen.sampler import Denoiser, StreamingGenerator
from xactor.engines.motion_gen.step import INPUTS, OUTPUTS
from xactor.engines.motion_gen.weights import SHIPPED_DIR, STUDENT, load_weights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnginesBenchConfig:
    weights_dir: Path | None = None
    weights: str = STUDENT
    batches: tuple[int, ...] = (1, 2, 4, 8, 16)
    render_sizes: tuple[int, ...] = (256, 512)
    repeats: int = 30
    warmup: int = 3
    worker_sessions: tuple[int, ...] = (1, 2, 4, 8, 16)
    ticks: int = 25


def _ms(values: list[float]) -> dict[str, float]:
    v = np.asarray(values) * 1000.0
    return {"p50": round(float(np.median(v)), 3), "p95": round(float(np.percentile(v, 95)), 3)}


def _timed(call: Callable[[], object], repeats: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return _ms(times)


def motion_rows(cfg: EnginesBenchConfig, onnx_dir: Path) -> list[dict[str, Any]]:
    folder = cfg.weights_dir or SHIPPED_DIR
    weights = load_weights(folder, cfg.weights)
    step = step_module(weights)
    onnx_path = onnx_dir / "motion_step.onnx"
    export_step(weights, onnx_path)
    engines: dict[str, Engine] = {
        "torch": TorchEngine(step, INPUTS, OUTPUTS),
        "onnxruntime": OrtEngine(onnx_path, threads=1, providers=("CPUExecutionProvider",)),
    }
    s, mcfg = weights.sampler, weights.config
    rows = []
    for batch in cfg.batches:
        # The eager reference: B generators with full caches, stepped one after another.
        gens = []
        audio = np.random.default_rng(1).normal(size=(mcfg.context + 1, mcfg.audio_dim)).astype(np.float32)
        with torch.inference_mode():
            first = StreamingGenerator(
                Denoiser(weights.model, s.guidance), weights.normalizer.silence(), 1, 1.0
            )
            first.push(audio)
            first.levels = StreamingGenerator(
                Denoiser(weights.model, s.guidance), weights.normalizer.silence(), s.steps, s.shift
            ).levels
            gens = [first] + [_clone(first) for _ in range(batch - 1)]

            def reference(gens: list[StreamingGenerator] = gens, row: np.ndarray = audio[:1]) -> None:
                for g in gens:
                    g.push(row)

            result = {"torch-reference": _timed(reference, cfg.repeats, cfg.warmup)}
            feeds = steady_feeds(mcfg, step.state_shapes(batch), np.random.default_rng(0))
            for name, engine in engines.items():
                result[name] = _timed(partial(engine, feeds), cfg.repeats, cfg.warmup)
        for backend, t in result.items():
            rows.append(
                {
                    "stage": "motion step",
                    "backend": backend,
                    "batch": batch,
                    **t,
                    "per_session_ms": round(t["p50"] / batch, 3),
                }
            )
    return rows


def _clone(gen: StreamingGenerator) -> StreamingGenerator:
    """Another session in the same state: the model shared, the mutable parts (audio window,
    chunk queue) its own; cache tensors are never written in place, so sharing them is safe."""
    twin = copy.copy(gen)
    twin.audio = deque(gen.audio, maxlen=gen.audio.maxlen)
    twin.queue = list(gen.queue)
    return twin


def render_rows(cfg: EnginesBenchConfig) -> list[dict[str, Any]]:
    """The warp renderer per frame (batch 1), torch (its traced module) and ONNX Runtime, per size
    (:func:`xactor.bench.render.run`, median ms per call)."""
    from xactor.bench.render import run as run_render

    rows = []
    for r in run_render(repeats=cfg.repeats, sizes=cfg.render_sizes, batches=(1,)):
        for backend, key in (("torch", "torch_ms"), ("onnxruntime", "ort_ms")):
            ms = round(float(r[key]), 3)
            rows.append(
                {
                    "stage": "render",
                    "backend": backend,
                    "size": r["size"],
                    "batch": 1,
                    "p50": ms,
                    "p95": float("nan"),
                    "per_session_ms": ms,
                }
            )
    return rows


def worker_rows(cfg: EnginesBenchConfig, onnx_dir: Path) -> list[dict[str, Any]]:
    """The real render worker's turn for N sessions: each tick every session gets 40 ms of speech-
    like audio, then one ``RenderWorker.turn()`` (motion batched, renders one by one at 256 px, the
    default avatar, the generator on ``auto``); median / p95 ms a turn, rendered frames a turn.
    Encoding is not included (it runs on the sessions' own threads)."""
    import asyncio

    from xactor.engines.avatar.store import AvatarStore
    from xactor.engines.motion_source.base import MotionSourceOptions, create_motion_source
    from xactor.engines.render import RendererOptions, create_renderer
    from xactor.engines.timebase import SAMPLES_PER_FRAME
    from xactor.server.live.audio_in import AudioChunk, AudioInbox
    from xactor.server.live.worker import FrameStream, RenderWorker

    bundle = AvatarStore(onnx_dir / "avatars").ensure_default()
    renderer = create_renderer("warp", bundle, RendererOptions(size=256))
    renderer.warm_up()
    loop = asyncio.new_event_loop()  # never run: deliveries just queue on it
    rng = np.random.default_rng(0)
    t = np.arange(SAMPLES_PER_FRAME * 50) / 16000
    speech = (0.2 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    rows = []
    try:
        for n in cfg.worker_sessions:
            worker = RenderWorker(name="bench")
            streams = []
            for i in range(n):
                options = MotionSourceOptions(weights_dir=cfg.weights_dir, seed=i)
                source = create_motion_source("generator", options)
                stream = FrameStream(f"s{i}", AudioInbox(), source, renderer, lambda f: None, loop)
                stream.active = True
                worker.add(stream)
                streams.append(stream)
            times, rendered = [], []
            for k in range(cfg.warmup + cfg.ticks):
                start = (k % 50) * SAMPLES_PER_FRAME
                for stream in streams:
                    noise = 0.01 * rng.standard_normal(SAMPLES_PER_FRAME).astype(np.float32)
                    chunk = speech[start : start + SAMPLES_PER_FRAME] + noise
                    stream.inbox.put(AudioChunk(chunk, time.monotonic(), silence=False))
                t0 = time.perf_counter()
                count = worker.turn()
                if k >= cfg.warmup:
                    times.append(time.perf_counter() - t0)
                    rendered.append(count)
            row: dict[str, Any] = {"sessions": n, **_ms(times), "frames_per_turn": float(np.mean(rendered))}
            row["backend"] = streams[0].source.describe().get("backend")
            row["holds_25fps"] = row["p50"] <= 40.0
            rows.append(row)
            log.info("worker, %d sessions: %s", n, row)
    finally:
        loop.close()
    return rows


def tick_rows(motion: list[dict[str, Any]], render: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per B: fastest batched motion step + B renders at 256 px (fastest backend)."""
    render_ms = min(r["p50"] for r in render if r["size"] == 256)
    out = []
    for batch in sorted({r["batch"] for r in motion}):
        step_ms = min(r["p50"] for r in motion if r["batch"] == batch and r["backend"] != "torch-reference")
        tick = step_ms + batch * render_ms
        out.append(
            {
                "sessions": batch,
                "motion_ms": step_ms,
                "render_ms": round(batch * render_ms, 2),
                "tick_ms": round(tick, 2),
                "holds_25fps": tick <= 40.0,
            }
        )
    return out


def run(cfg: EnginesBenchConfig) -> dict[str, Any]:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        motion = motion_rows(cfg, Path(tmp))
        worker = worker_rows(cfg, Path(tmp))
    render = render_rows(cfg)
    ticks = tick_rows(motion, render)
    held = [t["sessions"] for t in ticks if t["holds_25fps"]]
    return {
        "machine": machine(),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "motion": motion,
        "render": render,
        "tick": ticks,
        "sessions_at_25fps": max(held) if held else 0,
        "worker": worker,
        "worker_sessions_at_25fps": max([w["sessions"] for w in worker if w["holds_25fps"]], default=0),
        "wall_s": round(time.perf_counter() - start, 1),
    }


def _table(title: str, columns: tuple[str, ...], rows: list[list[str]]) -> Any:
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    return table


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    console.print(f"machine: {result['machine']}")
    stages = [
        [
            r["stage"],
            r["backend"],
            str(r.get("size", "")),
            str(r["batch"]),
            f"{r['p50']:.2f} / {r['p95']:.2f}",
            f"{r['per_session_ms']:.2f}",
        ]
        for r in [*result["motion"], *result["render"]]
    ]
    columns = ("stage", "backend", "size", "batch", "p50 / p95", "per session")
    console.print(_table("xactor bench engines (ms: p50 / p95)", columns, stages))
    ticks = [
        [
            str(t["sessions"]),
            f"{t['motion_ms']:.2f}",
            f"{t['render_ms']:.2f}",
            f"{t['tick_ms']:.2f}",
            "yes" if t["holds_25fps"] else "no",
        ]
        for t in result["tick"]
    ]
    title = "render-worker tick estimated from the stages (motion batched, renders one by one)"
    console.print(_table(title, ("sessions", "motion ms", "render ms", "tick ms", "25 fps"), ticks))
    console.print(f"sessions one process holds at 25 fps (motion + render): {result['sessions_at_25fps']}")
    turns = [
        [
            str(w["sessions"]),
            str(w["backend"]),
            f"{w['p50']:.1f} / {w['p95']:.1f}",
            f"{w['frames_per_turn']:.1f}",
            "yes" if w["holds_25fps"] else "no",
        ]
        for w in result["worker"]
    ]
    title = "the render worker's turn, measured (N sessions, 40 ms of audio each per turn)"
    turn_columns = ("sessions", "motion backend", "turn ms p50 / p95", "frames a turn", "25 fps")
    console.print(_table(title, turn_columns, turns))
    held = result["worker_sessions_at_25fps"]
    console.print(f"sessions the worker holds at 25 fps (measured turn ≤ 40 ms): {held}")
