"""The render worker: one thread per session running motion source and renderer off the event loop.

Each turn it drains the whole :class:`AudioInbox`, pushes the audio into the motion source, pulls
every complete motion frame, renders only the newest (older ones are counted as dropped: a worker
that fell behind skips ahead instead of building a backlog) and hands the picture to the event
loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from engines.motion_source.base import MotionSource
from server.live.audio_in import AudioInbox
from server.live.metrics import LiveMetrics
from server.live.timing import ArrivalLog, Rolling

log = logging.getLogger(__name__)


class FrameRenderer(Protocol):
    """What the worker needs from a renderer (engines.warp.renderer.AvatarRenderer has it)."""

    def render(self, motion: np.ndarray) -> np.ndarray:
        """motion [B, 40] float32 -> frames [B, S, S, 3] uint8 RGB."""
        ...


@dataclass(frozen=True)
class RenderedFrame:
    """A rendered picture with the timing it carries to the encoder."""

    index: int  # motion frame index (25 fps since session start)
    image: np.ndarray  # [S, S, 3] uint8 RGB
    newest_sample: int  # newest 16 kHz input sample the frame depended on
    audio_arrival: float | None  # monotonic time that sample reached the server
    own_audio_arrival: float | None  # arrival of the frame's own last sample, (index + 1) * 640 - 1
    rendered_at: float  # monotonic time the picture was ready
    speech: float  # VAD speech weight 0..1


class RenderWorker:
    """Owns the session's motion source and renderer; both are touched only by its thread."""

    def __init__(
        self,
        inbox: AudioInbox,
        source: MotionSource,
        renderer: FrameRenderer,
        deliver: Callable[[RenderedFrame], None],
        loop: asyncio.AbstractEventLoop,
        metrics: LiveMetrics | None = None,
        rolling: Rolling | None = None,
        name: str = "render",
    ) -> None:
        self._inbox = inbox
        self._source = source
        self._renderer = renderer
        self._deliver = deliver
        self._loop = loop
        self._metrics = metrics
        self._rolling = rolling or Rolling()
        self._stop = threading.Event()
        self._arrivals = ArrivalLog()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.frames_rendered = 0
        self.frames_skipped = 0
        self.errors = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to finish (it does within one render); see :meth:`join`."""
        self._stop.set()
        self._inbox.close()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True when it has ended."""
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _observe(self, stage: str, seconds: float) -> None:
        self._rolling.add(stage, seconds)
        if self._metrics is not None:
            self._metrics.stage_seconds.labels(stage).observe(seconds)

    def _observe_motion(self, total_s: float) -> None:
        """Split the motion source's time into vad / features / motion when it reports the parts.

        A source may offer ``pop_stage_seconds() -> {"vad": s, "features": s}`` (seconds spent since
        the last call); without it all of push + pull counts as "motion".
        """
        pop = getattr(self._source, "pop_stage_seconds", None)
        parts: dict[str, float] = pop() if callable(pop) else {}
        for stage in ("vad", "features"):
            if stage in parts:
                self._observe(stage, parts[stage])
        self._observe("motion", max(total_s - sum(parts.get(s, 0.0) for s in ("vad", "features")), 0.0))

    def _run(self) -> None:
        motion_s = 0.0  # push + pull time since the last rendered frame
        while not self._stop.is_set():
            chunks = self._inbox.take_all(timeout=0.25)
            if not chunks:
                continue
            try:
                t0 = time.perf_counter()
                for chunk in chunks:
                    self._arrivals.add(chunk.samples.size, chunk.arrival)
                    self._source.push_audio(chunk.samples)
                frames = self._source.pull()
                motion_s += time.perf_counter() - t0
                if not frames:
                    continue
                if len(frames) > 1:
                    skipped = len(frames) - 1
                    self.frames_skipped += skipped
                    if self._metrics is not None:
                        self._metrics.frames_dropped.labels("worker_behind").inc(skipped)
                self._observe_motion(motion_s)
                motion_s = 0.0
                frame = frames[-1]
                t1 = time.perf_counter()
                motion = np.asarray(frame.motion, dtype=np.float32)[None]  # [1, 40]
                image = np.ascontiguousarray(self._renderer.render(motion)[0])  # [S, S, 3]
                self._observe("render", time.perf_counter() - t1)
            except Exception as exc:  # errors stay in the session: log, count, carry on
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self.errors <= 3 or self.errors % 100 == 0:
                    log.exception("render worker error #%d", self.errors)
                continue
            self.frames_rendered += 1
            out = RenderedFrame(
                index=frame.index,
                image=image,
                newest_sample=frame.newest_sample,
                audio_arrival=self._arrivals.arrival_of(frame.newest_sample),
                own_audio_arrival=self._arrivals.arrival_of((frame.index + 1) * 640 - 1),
                rendered_at=time.monotonic(),
                speech=float(frame.speech),
            )
            try:
                self._loop.call_soon_threadsafe(self._deliver, out)
            except RuntimeError:  # loop closed: the session is going away
                break
        log.debug("render worker %s finished", self._thread.name)
