"""``xactor bench cluster``: the Ray Serve cluster against single-process ``xactor serve``, in
one run on one machine, at equal load: offer -> answer and answer -> first frame (sessions opened
one after another), then frame rate with ``sessions`` live at once, and where they landed.

What the cluster costs is the difference: one more hop for signalling (proxy -> ingress ->
worker) and Ray's own processes; the media path is the same (straight to the process that owns
the session).
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
from xactor.bench.latency import local_server, percentiles
from xactor.bench.live_client import LiveClient, SignalTrack

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterBenchConfig:
    replicas: int = 2
    sessions: int = 2  # live at once, in both modes
    offers: int = 10  # sessions opened one after another for the signalling times
    duration_s: float = 15.0
    resolution: int = 256
    start_s: float = 180.0  # a local Ray instance and its replicas take a while on a small machine


def _track() -> SignalTrack:
    return SignalTrack(_speech_like(3.0), loop_signal=True)


async def _wait_ready(
    http: httpx.AsyncClient, replicas: int | None, timeout: float = 180.0
) -> dict[str, Any]:
    """Until the server is ready to admit: every replica listed (cluster) or the capacity measured."""
    end = time.monotonic() + timeout
    while True:
        health: dict[str, Any] = (await http.get("/health")).json()
        if replicas is None and health.get("capacity"):
            return health
        if replicas is not None and len(health.get("replicas", [])) >= replicas:
            return health
        if time.monotonic() > end:
            raise TimeoutError(f"not ready after {timeout:g} s: {health}")
        await asyncio.sleep(1.0)


async def _signalling(http: httpx.AsyncClient, cfg: ClusterBenchConfig) -> dict[str, Any]:
    """``offers`` sessions one after another: offer -> answer (the client's whole exchange: offer,
    ``POST /sessions``, answer applied), the POST alone, and answer -> first frame (after one
    uncounted session per replica: a replica's first session may still build its renderer)."""
    offer_ms: list[float] = []
    post_ms: list[float] = []
    first_frame_ms: list[float] = []
    warmup = cfg.replicas
    posted: list[float] = []

    async def timed(response: httpx.Response) -> None:
        if response.request.method == "POST" and response.request.url.path == "/sessions":
            await response.aread()
            posted.append(response.elapsed.total_seconds() * 1000)

    http.event_hooks["response"].append(timed)
    for i in range(cfg.offers + warmup):
        client = LiveClient(http=http, keep_images=False)
        t0 = time.monotonic()
        try:
            await client.start(_track(), options={"resolution": cfg.resolution})
            answered = time.monotonic()
            await client.wait_frames(1, 30)
            if i >= warmup:
                offer_ms.append((answered - t0) * 1000)
                post_ms.append(posted[-1])
                first_frame_ms.append((client.frames[0].t - answered) * 1000)
        finally:
            await client.stop()
        await asyncio.sleep(0.5)
    http.event_hooks["response"].remove(timed)
    return {
        "offer_to_answer_ms": percentiles(offer_ms),
        "post_sessions_ms": percentiles(post_ms),
        "answer_to_first_frame_ms": percentiles(first_frame_ms),
    }


async def _load(http: httpx.AsyncClient, cfg: ClusterBenchConfig) -> dict[str, Any]:
    """``sessions`` speaking at once for ``duration_s``: received fps and the owner of each."""
    clients = [LiveClient(http=http, keep_images=False) for _ in range(cfg.sessions)]
    answers = await asyncio.gather(
        *(c.start(_track(), options={"resolution": cfg.resolution}) for c in clients), return_exceptions=True
    )
    live = [c for c, a in zip(clients, answers, strict=True) if not isinstance(a, BaseException)]
    failed = [repr(a) for a in answers if isinstance(a, BaseException)]
    try:
        await asyncio.sleep(2.0)  # past the first frames
        t0 = time.monotonic()
        await asyncio.sleep(cfg.duration_s)
        elapsed = time.monotonic() - t0
        fps = [sum(1 for f in c.frames if f.t >= t0) / elapsed for c in live]
        owners: dict[str, int] = {}
        for c in live:
            tag = c.answer["session_id"].partition("-")[0] if "-" in c.answer["session_id"] else "single"
            owners[tag] = owners.get(tag, 0) + 1
    finally:
        await asyncio.gather(*(c.stop() for c in live), return_exceptions=True)
    return {
        "sessions": len(live),
        "failed": failed,
        "fps_received": {
            "min": round(min(fps), 1) if fps else None,
            "median": round(float(np.median(fps)), 1) if fps else None,
        },
        "sessions_per_replica": owners,
    }


async def _mode(
    name: str, args: tuple[str, ...], env: dict[str, str], cfg: ClusterBenchConfig
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"xactor-bench-{name}-") as tmp:
        async with (
            local_server(Path(tmp), env=env, args=args, start_s=cfg.start_s) as url,
            httpx.AsyncClient(base_url=url, timeout=60.0) as http,
        ):
            started = time.monotonic()
            await _wait_ready(http, cfg.replicas if args else None)
            ready_s = time.monotonic() - started
            log.info("%s: ready; signalling", name)
            signalling = await _signalling(http, cfg)
            log.info("%s: %d sessions at once", name, cfg.sessions)
            load = await _load(http, cfg)
            return {"mode": name, "ready_after_health_s": round(ready_s, 1), **signalling, **load}


async def run(cfg: ClusterBenchConfig) -> dict[str, Any]:
    """Single process first, then the cluster, one after the other on the same machine."""
    per_replica = -(-cfg.sessions // cfg.replicas)  # ceil
    single = await _mode("single", (), {"XACTOR_MAX_SESSIONS": str(cfg.sessions)}, cfg)
    cluster_args = ("--ray", "local", "--replicas", str(cfg.replicas))
    cluster = await _mode("cluster", cluster_args, {"XACTOR_MAX_SESSIONS": str(per_replica)}, cfg)
    return {
        "config": cfg.__dict__,
        "modes": [single, cluster],
        "cluster_adds_offer_ms_p50": _difference(single, cluster, "offer_to_answer_ms"),
        "cluster_adds_post_ms_p50": _difference(single, cluster, "post_sessions_ms"),
        "fps_ratio_cluster_to_single": _ratio(
            single["fps_received"]["median"], cluster["fps_received"]["median"]
        ),
    }


def _difference(single: dict[str, Any], cluster: dict[str, Any], key: str) -> float | None:
    """Cluster p50 less single-process p50 of ``key`` (None where either is missing)."""
    a, b = (single.get(key) or {}).get("p50"), (cluster.get(key) or {}).get("p50")
    return None if a is None or b is None else round(b - a, 1)


def _ratio(single: float | None, cluster: float | None) -> float | None:
    return None if not single or cluster is None else round(cluster / single, 3)


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Cluster against one process (same machine, same load)")
    for column in ("", *(m["mode"] for m in result["modes"])):
        table.add_column(column)

    def pct(m: dict[str, Any], key: str, q: str) -> str:
        v = (m.get(key) or {}).get(q)
        return "-" if v is None else f"{v:.0f}"

    rows = [
        (
            "offer -> answer p50 / p95 ms",
            lambda m: f"{pct(m, 'offer_to_answer_ms', 'p50')} / {pct(m, 'offer_to_answer_ms', 'p95')}",
        ),
        (
            "POST /sessions alone p50 / p95 ms",
            lambda m: f"{pct(m, 'post_sessions_ms', 'p50')} / {pct(m, 'post_sessions_ms', 'p95')}",
        ),
        (
            "answer -> first frame p50 / p95 ms",
            lambda m: (
                f"{pct(m, 'answer_to_first_frame_ms', 'p50')} / {pct(m, 'answer_to_first_frame_ms', 'p95')}"
            ),
        ),
        ("sessions at once (failed)", lambda m: f"{m['sessions']} ({len(m['failed'])})"),
        (
            "fps received, median (min)",
            lambda m: f"{m['fps_received']['median']} ({m['fps_received']['min']})",
        ),
        (
            "sessions per replica",
            lambda m: ", ".join(f"{k}: {v}" for k, v in sorted(m["sessions_per_replica"].items())),
        ),
    ]
    for label, cell in rows:
        table.add_row(label, *(cell(m) for m in result["modes"]))
    console = Console()
    console.print(table)
    console.print(
        f"cluster adds {result['cluster_adds_offer_ms_p50']} ms to offer -> answer p50 "
        f"({result['cluster_adds_post_ms_p50']} ms to the POST alone); "
        f"fps ratio cluster / single {result['fps_ratio_cluster_to_single']}"
    )
