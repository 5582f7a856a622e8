"""Python's garbage collector, timed and kept off the live path's back.

A full (generation 2) collection walks every tracked object of the process, and this process
holds millions of them once torch, MediaPipe and the models are loaded: the soak saw the event
loop and the render worker stop together for 170–390 ms every minute or two, which is such a
pass (it holds the GIL in whichever thread triggered it). Two remedies, both standard for
long-lived servers:

* :func:`freeze_startup_objects`: once start-up has loaded everything, ``gc.freeze()`` moves the
  objects alive then into a permanent generation that collections no longer walk; only what
  sessions allocate since is scanned;
* :class:`GcPauses`: every collection timed (``gc.callbacks``) and exported as
  ``xactor_gc_pause_seconds{generation}``, with a warning for one over the stall threshold, so a
  pause is visible and attributable in production.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from xactor.server.live.metrics import LiveMetrics
from xactor.server.watchdog import RateLimit

log = logging.getLogger(__name__)


class GcPauses:
    """Times each collection through ``gc.callbacks`` (installed by :meth:`start`)."""

    def __init__(self, metrics: LiveMetrics, warn_s: float = 0.1, log_every_s: float = 10.0) -> None:
        self.metrics = metrics
        self.warn_s = warn_s
        self.longest_s = 0.0
        self._started: float | None = None
        self._limit = RateLimit(log_every_s)

    def start(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def stop(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        if self._started is None:
            return
        seconds, self._started = time.perf_counter() - self._started, None
        generation = int(info.get("generation", -1))
        self.metrics.gc_pause_seconds.labels(str(generation)).observe(seconds)
        self.longest_s = max(self.longest_s, seconds)
        if seconds >= self.warn_s and self._limit.due():
            log.warning(
                "garbage collection of generation %d took %.0f ms (%d objects collected)",
                generation, seconds * 1000, info.get("collected", 0),
            )  # fmt: skip


def freeze_startup_objects() -> int:
    """Collect once, then exempt everything alive from later collections; returns how many."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("gc: %d objects alive after start-up frozen out of later collections", frozen)
    return frozen
