"""Session churn: open and close many live sessions, and watch what the server keeps.

A server that takes calls all day must give back everything a call took. This benchmark opens
``n`` sessions one after another against a server (a local ``xactor serve`` it starts, or
``--url``), each one streaming a few frames of speech-like audio, and ends them alternately with
``DELETE /sessions/{id}`` and by just closing the peer connection (a client that goes away); with
``half_open`` it also sends offers whose client never answers ICE. Between rounds it waits for the
server to report no session and reads ``/health``'s process block: resident memory, OS threads,
descriptors and asyncio tasks. It reports their growth per session (least-squares slope over the
rounds from ``warmup_sessions`` sessions on: the first 25-50 sessions pay for one-time allocations,
the shared renderer, malloc arenas of new threads, first-use caches, and RSS climbs 60-90 MB over
them, so a fit that starts inside them reads several times the steady figure) and the connect
times: offer → answer and answer → first video frame.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection

from xactor.bench.latency import percentiles
from xactor.bench.live_client import RATE, LiveClient, SignalTrack

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChurnConfig:
    url: str | None = None  # None: start a local server
    token: str | None = None
    sessions: int = 300
    frames: int = 5  # video frames each session waits for before it ends
    half_open: int = 0  # extra offers whose client never completes ICE
    round_size: int = 25  # sessions between two /health readings
    warmup_rounds: int = 1  # rounds left out of the growth fit (one-time allocations) ...
    warmup_sessions: int = 50  # ... and rounds before this many sessions (when 2+ rounds remain)
    avatar: str = "default"
    data_dir: Path | None = None


def _speech_like(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t)
    return (0.2 * envelope * np.sin(2 * np.pi * 150.0 * t)).astype(np.float32)


def _ms(seconds: list[float]) -> dict[str, float] | None:
    return percentiles([s * 1000.0 for s in seconds])


def _slope(x: list[float], y: list[float]) -> float | None:
    """Least-squares growth of y per unit of x; None with fewer than two points."""
    if len(x) < 2 or np.ptp(x) == 0:
        return None
    return float(np.polyfit(np.asarray(x, dtype=float), np.asarray(y, dtype=float), 1)[0])


async def _health(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    r = await http.get("/health", headers=headers)
    r.raise_for_status()
    result: dict[str, Any] = r.json()
    return result


async def _settle(http: httpx.AsyncClient, headers: dict[str, str], timeout: float = 30.0) -> dict[str, Any]:
    """Wait until the server reports no session (closes are asynchronous); its /health then."""
    end = time.monotonic() + timeout
    while True:
        health = await _health(http, headers)
        if health["sessions"] == 0 or time.monotonic() > end:
            await asyncio.sleep(0.3)  # let closing tasks finish their last steps
            return await _health(http, headers)
        await asyncio.sleep(0.1)


async def one_session(
    http: httpx.AsyncClient, token: str | None, avatar: str, frames: int, delete: bool
) -> tuple[float, float | None]:
    """One full session; returns (offer → answer s, answer → first frame s or None)."""
    client = LiveClient(http=http, token=token, keep_images=False)
    t0 = time.monotonic()
    await client.start(SignalTrack(_speech_like(2.0), loop_signal=True), avatar_id=avatar)
    answered = time.monotonic()
    first: float | None = None
    try:
        await client.wait_frames(frames, timeout=10.0)
        first = client.frames[0].t - answered
    except TimeoutError as exc:
        log.warning("session %s: %s", client.answer.get("session_id"), exc)
    await client.stop(delete=delete)
    return answered - t0, first


async def half_open_session(http: httpx.AsyncClient, token: str | None, avatar: str) -> None:
    """An offer whose client never applies the answer: ICE never completes on the server."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio", direction="sendrecv")
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"sdp": pc.localDescription.sdp, "type": "offer", "avatar_id": avatar}
    r = await http.post("/sessions", json=body, headers=headers)
    await pc.close()
    if r.status_code != 201:
        raise RuntimeError(f"POST /sessions: {r.status_code} {r.text}")


async def run_churn(cfg: ChurnConfig, url: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {cfg.token}"} if cfg.token else {}
    answer_s: list[float] = []
    first_s: list[float] = []
    rounds: list[dict[str, Any]] = []
    failures = 0
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
        start = await _settle(http, headers)
        rounds.append({"sessions": 0, **start["process"]})
        done = 0
        while done < cfg.sessions:
            for _ in range(min(cfg.round_size, cfg.sessions - done)):
                try:
                    a, f = await one_session(http, cfg.token, cfg.avatar, cfg.frames, delete=done % 2 == 0)
                    answer_s.append(a)
                    if f is not None:
                        first_s.append(f)
                except Exception as exc:
                    failures += 1
                    log.warning("session %d failed: %s", done, exc)
                done += 1
            health = await _settle(http, headers)
            rounds.append({"sessions": done, **health["process"]})
            log.info("after %d sessions: %s", done, health["process"])
        half_open_done = 0
        if cfg.half_open:
            for _ in range(cfg.half_open):
                await half_open_session(http, cfg.token, cfg.avatar)
                half_open_done += 1
            health = await _settle(http, headers, timeout=60.0)
            rounds.append({"sessions": done, "half_open": half_open_done, **health["process"]})
        final = await _health(http, headers)
    # The first rounds pay one-time costs (malloc arenas of new threads, caches filled on first use):
    # RSS climbs over the first 25-50 sessions whatever the round size, so the fit starts at
    # ``warmup_sessions`` when that leaves two rounds or more.
    steady = [r for r in rounds[cfg.warmup_rounds :] if "half_open" not in r]
    if len([r for r in steady if r["sessions"] >= cfg.warmup_sessions]) >= 2:
        steady = [r for r in steady if r["sessions"] >= cfg.warmup_sessions]
    xs = [float(r["sessions"]) for r in steady]
    growth = {
        key: _slope(xs, [float(r[key]) for r in steady])
        for key in ("rss_mb", "os_threads", "fds", "asyncio_tasks")
        if all(r.get(key) is not None for r in steady)
    }
    return {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "failures": failures,
        "offer_to_answer_ms": _ms(answer_s),
        "answer_to_first_frame_ms": _ms(first_s),
        "offer_to_first_frame_ms": _ms([a + f for a, f in zip(answer_s, first_s, strict=False)]),
        "growth_per_session": {k: None if v is None else round(v, 4) for k, v in growth.items()},
        "growth_fit_from_sessions": steady[0]["sessions"] if steady else None,
        "rounds": rounds,
        "server": {"capacity": final.get("capacity"), "renderer_cache": final.get("renderer_cache")},
    }


async def churn(cfg: ChurnConfig) -> dict[str, Any]:
    """Run against ``cfg.url``, or against a local server started for the run."""
    if cfg.url is not None:
        return await run_churn(cfg, cfg.url)
    from xactor.bench.latency import local_server

    with tempfile.TemporaryDirectory(prefix="xactor-churn-") as tmp:
        data_dir = cfg.data_dir or Path(tmp)
        # Half-open sessions must be released quickly; admission must not refuse the churn itself.
        env = {"XACTOR_CONNECT_TIMEOUT_S": "3", "XACTOR_MAX_SESSIONS": "64"}
        async with local_server(data_dir, env=env, ready=True) as url:
            return await run_churn(cfg, url)


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="session churn: server process after each round (all sessions closed)")
    for col in ("sessions", "rss_mb", "os_threads", "python_threads", "fds", "asyncio_tasks"):
        table.add_column(col, justify="right")
    for r in result["rounds"]:
        label = str(r["sessions"]) + (f" +{r['half_open']} half-open" if "half_open" in r else "")
        table.add_row(
            label,
            *(str(r.get(c)) for c in ("rss_mb", "os_threads", "python_threads", "fds", "asyncio_tasks")),
        )
    console.print(table)
    console.print(
        f"growth per session (least squares over the rounds from {result['growth_fit_from_sessions']} "
        f"sessions on): {result['growth_per_session']}"
    )
    for key in ("offer_to_answer_ms", "answer_to_first_frame_ms", "offer_to_first_frame_ms"):
        console.print(f"{key}: {result[key]}")
    console.print(f"failures: {result['failures']}")
