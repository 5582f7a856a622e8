"""Overload: what sessions get when there are more of them than the machine can render.

The server admits as many sessions as it measured it can render at 25 fps (``/health``
``capacity``). This benchmark starts a local server that admits more (``XACTOR_MAX_SESSIONS``),
then for each multiple of the capacity (1×, 2×, 4×) runs that many speaking sessions at once for
``duration`` seconds and reads every session's server-side stats: frames a second, frames
dropped, and audio-to-frame latency (arrival of the newest audio sample a frame used → the frame
reaching the encoder; p50 / p95 over the session's last 250 frames). The goal: latency stays
bounded (p95 ≤ 250 ms) at any load, frames are dropped instead, and evenly across sessions.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from xactor.bench.churn import _speech_like
from xactor.bench.live_client import LiveClient, SignalTrack

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadConfig:
    multiples: tuple[float, ...] = (1.0, 2.0, 4.0)
    duration_s: float = 15.0
    max_admitted: int = 64  # what the spawned server admits (well above its capacity)
    data_dir: Path | None = None


async def _capacity(http: httpx.AsyncClient, timeout: float = 120.0) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        health = (await http.get("/health")).json()
        if health.get("capacity"):
            capacity: dict[str, Any] = health["capacity"]
            return capacity
        await asyncio.sleep(0.5)
    raise TimeoutError("the server did not measure its capacity")


async def run_level(http: httpx.AsyncClient, sessions: int, duration_s: float) -> dict[str, Any]:
    """``sessions`` speaking clients at once for ``duration_s``; server-side stats of each."""
    clients = [LiveClient(http=http, keep_images=False) for _ in range(sessions)]
    started = await asyncio.gather(
        *(c.start(SignalTrack(_speech_like(3.0), loop_signal=True)) for c in clients), return_exceptions=True
    )
    failed = [repr(s) for s in started if isinstance(s, BaseException)]
    live = [c for c, s in zip(clients, started, strict=True) if not isinstance(s, BaseException)]
    t0 = time.monotonic()
    await asyncio.sleep(duration_s)
    stats = await asyncio.gather(*(c.stats() for c in live), return_exceptions=True)
    elapsed = time.monotonic() - t0
    received_fps = [len([f for f in c.frames if f.t >= t0]) / elapsed for c in live]
    await asyncio.gather(*(c.stop() for c in live), return_exceptions=True)
    per_session = []
    for s, fps_in in zip(stats, received_fps, strict=True):
        if isinstance(s, BaseException):
            failed.append(repr(s))
            continue
        lat = s["latency_ms"]["audio_to_encoder"] or {}
        own = s["latency_ms"]["own_audio_to_encoder"] or {}
        per_session.append(
            {
                "fps": s["fps"],
                "fps_received": round(fps_in, 1),
                "dropped_worker_behind": s["frames_dropped"]["worker_behind"],
                "audio_to_frame_p50_ms": lat.get("p50"),
                "audio_to_frame_p95_ms": lat.get("p95"),
                "own_audio_to_frame_p95_ms": own.get("p95"),
                "render_p50_ms": (s["stages_ms"].get("render") or {}).get("p50"),
            }
        )

    def spread(key: str) -> dict[str, float] | None:
        values = [p[key] for p in per_session if p[key] is not None]
        if not values:
            return None
        return {
            "min": round(min(values), 1),
            "median": round(float(np.median(values)), 1),
            "max": round(max(values), 1),
        }

    return {
        "sessions": sessions,
        "failed": failed,
        "fps": spread("fps"),
        "fps_received": spread("fps_received"),
        "audio_to_frame_p95_ms": spread("audio_to_frame_p95_ms"),
        "audio_to_frame_p50_ms": spread("audio_to_frame_p50_ms"),
        "own_audio_to_frame_p95_ms": spread("own_audio_to_frame_p95_ms"),
        "render_p50_ms": spread("render_p50_ms"),
        "per_session": per_session,
    }


async def load(cfg: LoadConfig) -> dict[str, Any]:
    from xactor.bench.latency import local_server

    with tempfile.TemporaryDirectory(prefix="xactor-load-") as tmp:
        env = {"XACTOR_MAX_SESSIONS": str(cfg.max_admitted)}
        async with (
            local_server(cfg.data_dir or Path(tmp), env=env) as url,
            httpx.AsyncClient(base_url=url, timeout=60.0) as http,
        ):
            capacity = await _capacity(http)
            levels = []
            for multiple in cfg.multiples:
                n = max(1, round(capacity["sessions"] * multiple))
                log.info("load: %d sessions (%.0f× capacity %d)", n, multiple, capacity["sessions"])
                level = await run_level(http, n, cfg.duration_s)
                levels.append({"multiple": multiple, **level})
                await asyncio.sleep(2.0)  # let the sessions close
            return {"capacity": capacity, "duration_s": cfg.duration_s, "levels": levels}


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    cap = result["capacity"]
    console.print(
        f"capacity {cap['sessions']} sessions (per frame: motion {cap['motion_ms']} + render "
        f"{cap['render_ms']} + encode {cap['encode_ms']} ms)"
    )
    table = Table(title="sessions at multiples of the capacity (min / median / max over sessions)")
    for col in (
        "×",
        "sessions",
        "fps sent",
        "fps received",
        "audio→frame p50 ms",
        "audio→frame p95 ms",
        "failed",
    ):
        table.add_column(col, justify="right")

    def fmt(d: dict[str, float] | None) -> str:
        return "-" if d is None else f"{d['min']} / {d['median']} / {d['max']}"

    for level in result["levels"]:
        table.add_row(
            f"{level['multiple']:g}",
            str(level["sessions"]),
            fmt(level["fps"]),
            fmt(level["fps_received"]),
            fmt(level["audio_to_frame_p50_ms"]),
            fmt(level["audio_to_frame_p95_ms"]),
            str(len(level["failed"])),
        )
    console.print(table)
