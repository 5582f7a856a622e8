"""Warp renderer speed: median ms/frame at 256 and 512 px, batch 1 and 8, torch and ONNX Runtime.

torch runs what ``AvatarRenderer.render`` runs (the trace, with the fused CPU kernels of
``engines/warp/kernels.py``); beside it, interleaved call by call so the machine's drift hits both
alike, the same module traced with torch operators only (``kernels.torch_only()``).

Run: ``python -m bench.render [--repeats 40] [--markdown]`` — renders the default avatar with
varied motion (visemes, blinks, head turns from the demo script), after a warm-up, on this
machine's CPU. The time is the whole per-frame path: motion → face model → flow → frames.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from xactor.engines.avatar.store import AvatarStore
from xactor.engines.offline.demo import demo_motion
from xactor.engines.warp import AvatarRenderer, kernels
from xactor.engines.warp.renderer import TorchRunner, WarpRenderer

log = logging.getLogger(__name__)


def machine(threads: bool = True) -> str:
    """A one-line description of the CPU this ran on (``threads``: with torch's thread count, for
    benchmarks that run at one)."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    about = f"{name}, {os.cpu_count()} cores, torch {torch.__version__}"
    return f"{about}, {torch.get_num_threads()} threads" if threads else about


def timed(call: Callable[[], object], iters: int, warmup: int) -> float:
    """Median seconds of ``call`` (which must return host data: that is the synchronisation)."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(max(iters, 1)):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_calls(call: Callable[[np.ndarray], object], batches: list[np.ndarray], repeats: int) -> float:
    """Median ms per *frame* over ``repeats`` calls (after two warm-up calls)."""
    for warm in batches[:2]:
        call(warm)
    times = []
    for i in range(repeats):
        motion = batches[i % len(batches)]
        start = time.perf_counter()
        call(motion)
        times.append((time.perf_counter() - start) * 1000 / len(motion))
    return statistics.median(times)


def run(
    repeats: int = 40,
    sizes: tuple[int, ...] = (256, 512),
    batches: tuple[int, ...] = (1, 8),
    onnx: bool = True,
) -> list[dict]:
    """One row per (size, batch); ``onnx=False`` skips the export and ONNX Runtime (NaN there)."""
    motion = demo_motion(8.0)  # 200 frames of varied motion
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = AvatarStore(Path(tmp) / "avatars")
        bundle = store.ensure_default()
        for size in sizes:
            start = time.perf_counter()
            renderer = AvatarRenderer.from_bundle(bundle, size=size)
            build_s = time.perf_counter() - start
            module = renderer.module
            for batch in batches:
                chunks = [motion[i : i + batch] for i in range(0, len(motion) - batch + 1, batch)]

                runner = renderer.runner  # what render() runs: the traced module
                plain = TorchRunner(module)  # traced on its first call, below: torch operators only
                with kernels.torch_only(), torch.inference_mode():
                    plain(torch.from_numpy(chunks[0]))

                torch_ms, plain_ms = time_paired([_numpy_call(runner), _numpy_call(plain)], chunks, repeats)
                ort_ms = float("nan")
                if onnx:
                    ort_ms = _ort_ms(module, Path(tmp) / f"warp_{size}_{batch}.onnx", batch, chunks, repeats)
                rows.append(
                    dict(
                        size=size,
                        batch=batch,
                        torch_ms=torch_ms,
                        torch_plain_ms=plain_ms,
                        ort_ms=ort_ms,
                        build_s=build_s,
                    )
                )
                log.info(
                    "%d px batch %d: torch %.2f ms (%.2f without kernels), ORT %.2f ms",
                    size,
                    batch,
                    torch_ms,
                    plain_ms,
                    ort_ms,
                )
    return rows


def _numpy_call(runner: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[np.ndarray], object]:
    """``runner`` on NumPy motion, under inference mode (as ``AvatarRenderer.render`` calls it)."""

    @torch.inference_mode()
    def call(motion: np.ndarray) -> object:
        return runner(torch.from_numpy(motion))

    return call


def time_paired(
    calls: list[Callable[[np.ndarray], object]], batches: list[np.ndarray], repeats: int
) -> list[float]:
    """Median ms per frame of each call, the calls alternating on the same motion (after a warm-up
    call each): a comparison this VM's minute-to-minute drift cannot bias."""
    for call in calls:
        call(batches[0])
    times: list[list[float]] = [[] for _ in calls]
    for i in range(repeats):
        motion = batches[i % len(batches)]
        for k, call in enumerate(calls):
            start = time.perf_counter()
            call(motion)
            times[k].append((time.perf_counter() - start) * 1000 / len(motion))
    return [statistics.median(t) for t in times]


def _ort_ms(module: WarpRenderer, path: Path, batch: int, chunks: list[np.ndarray], repeats: int) -> float:
    """The module exported at ``batch`` and timed on ONNX Runtime's CPU provider (ms per frame)."""
    import onnxruntime as ort

    from xactor.export.onnx_warp import export_warp

    export_warp(module, path, batch=batch)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def ort_call(m: np.ndarray) -> object:
        return session.run(None, {"motion": m})

    return time_calls(ort_call, chunks, repeats)


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2f}"


def markdown(rows: list[dict]) -> str:
    lines = [
        f"Machine: {machine()}.",
        "",
        "| crop | batch | torch ms/frame | torch without fused kernels | ratio | ONNX Runtime ms/frame "
        "| avatar cache build (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['batch']} | {r['torch_ms']:.2f} | {r['torch_plain_ms']:.2f} | "
            f"{r['torch_ms'] / r['torch_plain_ms']:.2f}× | {_ms(r['ort_ms'])} | {r['build_s']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40, help="Timed calls per configuration.")
    parser.add_argument("--markdown", action="store_true", help="Print a Markdown table for RESULTS.md.")
    parser.add_argument("--threads", type=int, default=None, help="torch/ONNX Runtime threads.")
    parser.add_argument(
        "--no-onnx", action="store_true", help="torch only: skip the export and ONNX Runtime."
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    rows = run(args.repeats, onnx=not args.no_onnx)
    if args.markdown:
        print(markdown(rows))
        return
    table = Table(title=f"warp renderer, median ms/frame — {machine()}")
    for column in ("crop", "batch", "torch", "torch, no kernels", "ratio", "ONNX Runtime", "cache build s"):
        table.add_column(column, justify="right")
    for r in rows:
        cells = (
            f"{r['torch_ms']:.2f}",
            f"{r['torch_plain_ms']:.2f}",
            f"{r['torch_ms'] / r['torch_plain_ms']:.2f}×",
            _ms(r["ort_ms"]),
            f"{r['build_s']:.2f}",
        )
        table.add_row(str(r["size"]), str(r["batch"]), *cells)
    Console().print(table)


if __name__ == "__main__":
    main()
