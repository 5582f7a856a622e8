"""The live path: each motion source in a spawned ``xactor serve`` (loopback, no ICE servers), the
dev set's clips sent back to back as one client's microphone over WebRTC, the video received and
measured from its pixels like the offline frames.

Each clip frame's audio has a send time (the 20 ms packet holding its centre left then); the
picture a viewer had on screen at that moment is the last frame received by then. Series built
that way carry the whole mouth-to-photon delay, which the lag metric then reports, and a closure
counts only if it shows within ±1 frame of the /p b m/ *as sent from the microphone*. Frames are
kept as JPEG while the session runs (Face Mesh on the event loop would delay the frames it times)
and measured after it. Every live series goes to ``live_series.npz`` in ``--out``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import soxr

from xactor.bench.real_speech import pixels
from xactor.bench.real_speech.clips import ClipData
from xactor.bench.real_speech.offline import SIZE, PortraitRenderer, SourceFactory, portrait_id
from xactor.bench.real_speech.oracle import ORACLE
from xactor.bench.real_speech.score import score
from xactor.engines.timebase import FPS, SAMPLE_RATE

if TYPE_CHECKING:
    from xactor.bench.real_speech.config import RealEvalConfig

RATE = 48_000
LEAD_S = 1.5  # silence before the first clip (the session settles)
GAP_S = 1.0  # silence between clips


def timeline(clips: list[ClipData]) -> tuple[np.ndarray, list[int]]:
    """All clips at 48 kHz with silences between; and each clip's first sample (48 kHz)."""
    parts = [np.zeros(int(LEAD_S * RATE), np.float32)]
    starts = []
    at = parts[0].size
    for clip in clips:
        audio = soxr.resample(clip.samples, SAMPLE_RATE, RATE).astype(np.float32)
        starts.append(at)
        parts += [audio, np.zeros(int(GAP_S * RATE), np.float32)]
        at += audio.size + int(GAP_S * RATE)
    return np.concatenate(parts), starts


def on_screen(arrivals: np.ndarray, values: np.ndarray, when: np.ndarray) -> np.ndarray:
    """The value of the last frame received at or before each time of ``when`` (NaN before any)."""
    idx = np.searchsorted(arrivals, when, side="right") - 1  # [n]
    out = np.full(when.shape, np.nan)
    ok = idx >= 0
    out[ok] = values[idx[ok]]
    return out


async def session(url: str, avatar_id: str, signal: np.ndarray) -> tuple[Any, list[Any], dict[str, Any]]:
    """Send ``signal`` as one session's microphone; the track (send times), frames and stats."""
    from xactor.bench.live_client import LiveClient, SignalTrack

    def keep(image: np.ndarray) -> bytes:
        return cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()

    client = LiveClient(base_url=url, keep_images=False, analyse=keep, ice_servers=[])
    track = SignalTrack(signal)
    try:
        await client.start(track, avatar_id=avatar_id, options={"resolution": SIZE})
        await client.wait_frames(1, timeout=30.0)
        await asyncio.sleep(signal.size / RATE + 1.0)
        stats = await client.stats()
    finally:
        await client.aclose()
    return track, client.frames, stats


def series(
    clips: list[ClipData], starts: list[int], track: Any, frames: list[Any], meter: Any
) -> tuple[list[np.ndarray], float]:
    """Per clip, the on-screen opening at each clip frame's send time; and the client's fps."""
    arrivals = np.array([f.t for f in frames])
    values = np.array(
        [meter(cv2.imdecode(np.frombuffer(f.value, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]) for f in frames]
    )
    out = []
    for clip, start in zip(clips, starts, strict=True):
        centres = start + ((np.arange(clip.frames) + 0.5) * RATE / FPS).astype(int)  # 48 kHz samples
        when = np.array([track.send_time(int(s)) or np.nan for s in centres], np.float64)
        out.append(on_screen(arrivals, values, when))
    span = arrivals[-1] - arrivals[0] if arrivals.size > 1 else 0.0
    return out, (arrivals.size - 1) / span if span > 0 else float("nan")


def live(cfg: RealEvalConfig, clips: list[ClipData], progress: Callable[[str], None]) -> dict[str, Any]:
    """Pixel scores of every source on ``cfg.live_portraits`` through a spawned server."""
    from xactor.bench.latency import local_server

    factory = SourceFactory(cfg.weights_dir, lookahead=cfg.lookahead, seed=cfg.seed)
    ids = {p: portrait_id(p, cfg.data_dir) for p in cfg.live_portraits}
    meters = {p: pixels.MouthMeter(PortraitRenderer(p, cfg.data_dir).still) for p in cfg.live_portraits}
    signal, starts = timeline(clips)
    result: dict[str, Any] = {"pixels": {p: {} for p in cfg.live_portraits}, "client_fps": {}, "server": {}}
    saved: dict[str, np.ndarray] = {}  # every live series, for a later rescore
    for label in cfg.sources:
        if label == ORACLE:  # it reads the transcript: a live stream has none
            progress(f"live: {ORACLE} skipped (offline only: it needs the alignment)")
            continue
        env = {
            "XACTOR_MOTION_SOURCE": "heuristic" if label == "heuristic" else "generator",
            "XACTOR_LOOKAHEAD_FRAMES": str(cfg.lookahead),
        }
        if label != "heuristic":
            env["XACTOR_WEIGHTS_DIR"] = str(factory.folders[label])

        async def run_all(env: dict[str, str] = env) -> dict[str, tuple[Any, list[Any], dict[str, Any]]]:
            async with local_server(cfg.data_dir, env) as url:
                return {p: await session(url, ids[p], signal) for p in cfg.live_portraits}

        progress(f"live {label}: {len(cfg.live_portraits)} sessions of {signal.size / RATE:.0f} s")
        for portrait, (track, frames, stats) in asyncio.run(run_all()).items():
            openings, fps = series(clips, starts, track, frames, meters[portrait])
            for clip, opening in zip(clips, openings, strict=True):
                saved[f"live/{portrait}/{label}/{clip.id}"] = opening
            result["pixels"][portrait][label] = score(clips, openings, pixels.CLOSED)
            result["client_fps"].setdefault(portrait, {})[label] = round(fps, 2)
            result["server"].setdefault(portrait, {})[label] = {
                "latency_ms": stats.get("latency_ms"),
                "fps": stats.get("fps"),
                "motion_source": stats.get("motion_source"),
            }
    if cfg.out is not None:
        cfg.out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cfg.out / "live_series.npz", **saved)
    return result
