"""How many live sessions this machine can render at 25 fps, measured at start-up.

Admission by a fixed number is wrong on every machine but one: a 2-core VM renders two 256 px
sessions at full rate, a GPU server dozens. The server measures instead: one frame's compute of
each stage a session needs — motion source, renderer (the default avatar, through the shared
pool, which also leaves its cache warm for the first session) and video encoder — on the
configured stages, then admits as many sessions as fit in a share of the 40 ms frame budget:

    sessions = max(1, floor(budget_share × 40 ms / (motion + render + encode)))

The render worker is one thread, so renders of different sessions do not overlap; encoding runs
on the sessions' own threads, but on a small machine it competes for the same cores, so it is
counted in full. ``budget_share`` (0.75) leaves room for the event loop's own work (RTP, SRTP,
Opus decoding). An operator who knows better sets ``max_sessions``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from xactor.engines import timebase
from xactor.engines.motion_source.base import MotionSource
from xactor.engines.render.base import Renderer
from xactor.server.live.encoding import VideoEncoder

log = logging.getLogger(__name__)

BUDGET_SHARE = 0.75


@dataclass(frozen=True)
class Capacity:
    """The measurement and the session count it allows."""

    sessions: int
    motion_ms: float  # median compute per frame
    render_ms: float
    encode_ms: float
    frame_ms: float  # their sum
    budget_share: float
    took_s: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise with a syllable-rate envelope and a voiced component: exercises VAD, features, mouth."""
    rng = np.random.default_rng(seed)
    n = int(seconds * timebase.SAMPLE_RATE)
    t = np.arange(n) / timebase.SAMPLE_RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t)
    voiced = np.sin(2 * np.pi * 140.0 * t) + 0.5 * np.sin(2 * np.pi * 280.0 * t)
    return (0.2 * envelope * (voiced + 0.3 * rng.standard_normal(n))).astype(np.float32)


def _median_ms(times: list[float]) -> float:
    return float(np.median(times)) * 1000.0 if times else 0.0


def measure_capacity(
    renderer: Renderer,
    make_source: Callable[[], MotionSource],
    make_encoder: Callable[[], VideoEncoder] | None,
    frames: int = timebase.FPS,
    budget_share: float = BUDGET_SHARE,
) -> Capacity:
    """Time ``frames`` frames of each stage (after one warm-up frame) and derive the session count."""
    start = time.perf_counter()
    source = make_source()
    audio = _speech_like((frames + 2 + source.lookahead_frames) * timebase.FRAME_SECONDS)
    motion_s: list[float] = []
    motions: list[np.ndarray] = []
    spf = timebase.SAMPLES_PER_FRAME
    for i in range(0, audio.size - spf + 1, spf):
        t0 = time.perf_counter()
        source.push_audio(audio[i : i + spf])
        pulled = source.pull()
        motion_s.append(time.perf_counter() - t0)
        motions.extend(f.motion for f in pulled)
    motions = motions or [np.zeros(40, dtype=np.float32)]
    render_s: list[float] = []
    images: list[np.ndarray] = []
    renderer.render(np.asarray(motions[0], dtype=np.float32)[None])  # warm-up
    for k in range(frames):
        m = np.asarray(motions[k % len(motions)], dtype=np.float32)[None]  # [1, 40]
        t0 = time.perf_counter()
        images.append(renderer.render(m)[0])
        render_s.append(time.perf_counter() - t0)
    encode_s: list[float] = []
    if make_encoder is not None:
        encoder = make_encoder()
        try:
            encoder.encode(images[0], 0, keyframe=True)  # warm-up: opens the codec
            for k, image in enumerate(images, start=1):
                t0 = time.perf_counter()
                encoder.encode(image, k * 3600)
                encode_s.append(time.perf_counter() - t0)
        finally:
            encoder.close()
    motion_ms, render_ms, encode_ms = _median_ms(motion_s), _median_ms(render_s), _median_ms(encode_s)
    frame_ms = motion_ms + render_ms + encode_ms
    sessions = max(1, math.floor(budget_share * timebase.FRAME_SECONDS * 1000.0 / max(frame_ms, 1e-3)))
    capacity = Capacity(
        sessions=sessions,
        motion_ms=round(motion_ms, 2),
        render_ms=round(render_ms, 2),
        encode_ms=round(encode_ms, 2),
        frame_ms=round(frame_ms, 2),
        budget_share=budget_share,
        took_s=round(time.perf_counter() - start, 2),
    )
    log.info(
        "capacity: %d sessions at 25 fps (per frame: motion %.1f + render %.1f + encode %.1f = %.1f ms)",
        sessions,
        motion_ms,
        render_ms,
        encode_ms,
        frame_ms,
    )
    return capacity
