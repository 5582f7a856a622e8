"""How many sessions this process carries, from what its live sessions cost now.

The start-up probe (:mod:`.capacity`) times one frame of each stage on an idle machine: a guess
that a busy host (other tenants, a noisy neighbour) or a faster one proves wrong. Once sessions
run, two live costs say more:

- the **render thread's share**: the seconds its turns took over the last window, per session
  (one thread renders every session, so it fits at most ``budget_share`` of its time);
- the **process's CPU**, per session, against the host's cores (encoders, the event loop and
  the decoders run beside the render thread).

    sessions = max(1, floor(min(budget × cores / cpu_per_session, budget / thread_share_per_session)))

The estimate needs a window (``window_s``) in which the session count did not change (a
session's first seconds cost more: renderer warm-up, ICE, DTLS); until then, and whenever no
session runs, the start-up figure stands.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class LiveCost:
    """The estimate and what it comes from (``/health``'s ``live_capacity``)."""

    sessions: int  # what fits, by the live costs
    measured_with: int  # sessions running while it was measured
    cpu_per_session: float  # cores
    thread_share_per_session: float  # of the render thread's time
    cores: int
    window_s: float
    at: float  # wall-clock time of the newest sample

    def as_dict(self) -> dict[str, float | int]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class _Sample:
    t: float  # monotonic
    cpu_s: float  # process CPU seconds so far
    busy_s: float  # render-thread turn seconds so far
    sessions: int


def host_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class LiveCapacity:
    """Samples (every second or so) in; the live estimate out (None until a steady window)."""

    def __init__(self, budget_share: float, window_s: float = 10.0, cores: int | None = None) -> None:
        self.budget_share = budget_share
        self.window_s = window_s
        self.cores = cores or host_cores()
        self._samples: deque[_Sample] = deque()
        self.estimate: LiveCost | None = None

    def observe(self, cpu_s: float, busy_s: float, sessions: int, t: float | None = None) -> None:
        """One sample: process CPU seconds and render-thread busy seconds so far, sessions now."""
        now = time.monotonic() if t is None else t
        if self._samples and self._samples[-1].sessions != sessions:
            self._samples.clear()  # a steady window only: costs of a changing count mislead
        self._samples.append(_Sample(now, cpu_s, busy_s, sessions))
        while len(self._samples) > 2 and now - self._samples[1].t >= self.window_s:
            self._samples.popleft()
        first = self._samples[0]
        span = now - first.t
        if sessions == 0 or span < self.window_s:
            return
        cpu = max(cpu_s - first.cpu_s, 0.0) / span / sessions
        share = max(busy_s - first.busy_s, 0.0) / span / sessions
        by_cpu = self.budget_share * self.cores / cpu if cpu > 0 else math.inf
        by_thread = self.budget_share / share if share > 0 else math.inf
        fit = min(by_cpu, by_thread)
        self.estimate = LiveCost(
            sessions=max(1, math.floor(fit)) if math.isfinite(fit) else sessions,
            measured_with=sessions,
            cpu_per_session=cpu,
            thread_share_per_session=share,
            cores=self.cores,
            window_s=span,
            at=time.time(),
        )
