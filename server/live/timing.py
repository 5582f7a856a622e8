"""Latency bookkeeping: when each input sample arrived, and rolling percentiles per session.

Every frame records the arrival time of the newest audio sample it used (looked up here from its
``MotionFrame.newest_sample``) and the time it reached the encoder; their difference is the
server-side audio-in -> frame-out latency.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np


class ArrivalLog:
    """Arrival time of every 16 kHz sample position, kept per pushed chunk (bounded, oldest forgotten).

    Chunk ``i`` covers stream samples ``[end_{i-1}, end_i)``; all its samples arrived at ``t_i``.
    Single-threaded: owned by the render worker, which pushes the audio and looks frames up.
    """

    def __init__(self, max_chunks: int = 1024) -> None:
        self._chunks: deque[tuple[int, float]] = deque(maxlen=max_chunks)  # (end sample, arrival s)
        self.total = 0  # samples logged so far (= stream position of the next sample)

    def add(self, n_samples: int, arrival: float) -> None:
        self.total += int(n_samples)
        self._chunks.append((self.total, arrival))

    def arrival_of(self, sample: int) -> float | None:
        """Arrival time of stream sample ``sample``; None if not logged (yet, or forgotten)."""
        if sample < 0 or sample >= self.total:
            return None
        # Lookups are for recent samples: walk back from the newest chunk.
        found: float | None = None
        for end, t in reversed(self._chunks):
            if end <= sample:
                break
            found = t
        else:
            if self._chunks and len(self._chunks) == self._chunks.maxlen:
                return None  # older than the oldest chunk kept (its start is unknown)
        return found


class Rolling:
    """Thread-safe window of the last ``size`` values of named series, with percentiles."""

    def __init__(self, size: int = 250) -> None:
        self._size = size
        self._series: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def add(self, name: str, value: float) -> None:
        with self._lock:
            series = self._series.get(name)
            if series is None:
                series = self._series[name] = deque(maxlen=self._size)
            series.append(float(value))

    def values(self, name: str) -> np.ndarray:
        with self._lock:
            return np.array(self._series.get(name, ()), dtype=np.float64)

    def summary(self, name: str, scale: float = 1000.0) -> dict[str, float] | None:
        """``{"p50", "p95", "max", "n"}`` of a series (times scaled to ms by default); None if empty."""
        v = self.values(name)
        if v.size == 0:
            return None
        p50, p95 = np.percentile(v, [50, 95])
        return {
            "p50": round(float(p50) * scale, 2),
            "p95": round(float(p95) * scale, 2),
            "max": round(float(v.max()) * scale, 2),
            "n": int(v.size),
        }

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._series)


class RateMeter:
    """Events per second over the last ``window_s`` seconds (frames per second, for stats)."""

    def __init__(self, window_s: float = 2.0) -> None:
        self._window = window_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, t: float) -> None:
        with self._lock:
            self._times.append(t)
            self._trim(t)

    def rate(self, now: float) -> float:
        with self._lock:
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            span = max(self._times[-1] - self._times[0], 1e-6)
            return round((len(self._times) - 1) / span, 2)

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self._window:
            self._times.popleft()
