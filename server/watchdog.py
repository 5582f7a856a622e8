"""Watch the process's two schedulers: the event loop and the render worker.

Everything live runs on one event loop (signalling, audio in, frames out, WebSockets), so one
blocking call there (a sync file read, a slow JSON dump, a stray ``time.sleep``) delays every
session at once; the render worker's turns pace every session's frames. Both are measured and
exported (``xactor_loop_*``, ``xactor_worker_*``, server/live/metrics.py), and a stall is logged:

* :class:`LoopWatchdog` times a 50 ms sleep on the loop (lag: how late it wakes), and a thread
  notices a loop that has not woken while it is *still* blocked and logs the loop thread's stack
  (``sys._current_frames``), which names the culprit; a stall is logged once more, with its
  length, when the loop resumes;
* :class:`TurnTimer` is the render worker's ``on_turn``: each turn's duration, stalls logged.

Warnings are rate-limited (:class:`RateLimit`; stacks per blocking line, so a new culprit still
shows): an overloaded loop must not also flood the log.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback

from xactor.server.live.metrics import LiveMetrics

log = logging.getLogger(__name__)

INTERVAL_S = 0.05
MAX_WINDOW_S = 60.0  # xactor_loop_lag_max_seconds covers the last one to two of these


class RateLimit:
    """At most one ``due()`` per ``every_s``; counts what it held back so the next report says so."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._last = -float("inf")
        self.held = 0

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.every_s:
            self.held += 1
            return False
        self._last = now
        return True

    def take_held(self) -> int:
        held, self.held = self.held, 0
        return held


class LoopWatchdog:
    """Event-loop lag, stalls and the stack of a blocked loop (see module docstring)."""

    def __init__(
        self,
        metrics: LiveMetrics,
        stall_s: float = 0.1,
        interval_s: float = INTERVAL_S,
        log_every_s: float = 10.0,
    ) -> None:
        self.metrics = metrics
        self.stall_s = stall_s
        self.interval_s = interval_s
        self.log_every_s = log_every_s
        self._loop_limit = RateLimit(log_every_s)
        self._stack_limits: dict[tuple[str, int], RateLimit] = {}  # per blocking line: each culprit shows
        self._beat = time.monotonic()  # the probe's last wake-up (written by the loop only)
        self._reported_beat = 0.0  # the beat whose stall the thread already logged
        self._window_start = time.monotonic()
        self._window_max = self._previous_max = 0.0
        self._loop_thread = 0
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        """Start on the running loop (the app's lifespan)."""
        self._loop_thread = threading.get_ident()
        self._beat = time.monotonic()
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(self._probe(), name="loop-watchdog")
        self._thread = threading.Thread(target=self._monitor, name="loop-watchdog", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 1.0)
        self._task = self._thread = None

    async def _probe(self) -> None:
        while True:
            asleep = time.monotonic()
            await asyncio.sleep(self.interval_s)
            self._beat = time.monotonic()
            self.record(max(self._beat - asleep - self.interval_s, 0.0))

    def record(self, lag: float) -> None:
        """One lag measurement: histogram, the recent maximum, a stall when over the threshold."""
        self.metrics.loop_lag_seconds.observe(lag)
        now = time.monotonic()
        if now - self._window_start > MAX_WINDOW_S:
            self._previous_max, self._window_max, self._window_start = self._window_max, 0.0, now
        self._window_max = max(self._window_max, lag)
        self.metrics.loop_lag_max_seconds.set(max(self._window_max, self._previous_max))
        if lag < self.stall_s:
            return
        self.metrics.loop_stalls.inc()
        if self._loop_limit.due():
            log.warning(
                "event loop was blocked for %.0f ms (stall threshold %.0f ms; %d more stalls not logged)",
                lag * 1000,
                self.stall_s * 1000,
                self._loop_limit.take_held(),
            )

    def _monitor(self) -> None:
        """On its own thread: catch the loop in the act, and say what it is running."""
        while not self._stop.wait(self.interval_s / 2):
            beat = self._beat
            blocked = time.monotonic() - beat - self.interval_s
            if blocked < self.stall_s or beat == self._reported_beat:
                continue
            self._reported_beat = beat  # once per stall
            frame = sys._current_frames().get(self._loop_thread)
            where = (frame.f_code.co_filename, frame.f_lineno) if frame is not None else ("", 0)
            if len(self._stack_limits) > 256:
                self._stack_limits.clear()
            if not self._stack_limits.setdefault(where, RateLimit(self.log_every_s)).due():
                continue
            stack = "".join(traceback.format_stack(frame)) if frame is not None else "(not found)\n"
            log.warning(
                "event loop blocked for %.0f ms so far; it is running:\n%s", blocked * 1000, stack.rstrip()
            )


class TurnTimer:
    """The render worker's ``on_turn``: turn durations and stalls (called on the worker thread)."""

    def __init__(self, metrics: LiveMetrics, stall_s: float = 0.25, log_every_s: float = 10.0) -> None:
        self.metrics = metrics
        self.stall_s = stall_s
        self._limit = RateLimit(log_every_s)

    def __call__(self, seconds: float) -> None:
        self.metrics.worker_turn_seconds.observe(seconds)
        if seconds < self.stall_s:
            return
        self.metrics.worker_stalls.inc()
        if self._limit.due():
            log.warning(
                "render worker turn took %.0f ms (stall threshold %.0f ms; %d more stalls not logged): "
                "frames of every session were late or skipped",
                seconds * 1000,
                self.stall_s * 1000,
                self._limit.take_held(),
            )
