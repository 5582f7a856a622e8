"""Audio into a session's core: 16 kHz mono float32 PCM, and time kept when the input stalls.

The core takes 16 kHz PCM only; each transport converts its own input before pushing it (the
WebRTC session's track reader resamples aiortc's frames, :mod:`xactor.server.live.mic`; the
WebSocket session resamples its client's PCM with soxr). Nothing here imports aiortc or ``av``.

* :class:`AudioInbox` is the hand-off from the event loop to the shared render worker thread: a
  bounded list of 16 kHz chunks that the worker drains whole on every turn (so it never holds more
  than one turn's worth of audio); when it is full the oldest audio goes, and is counted. Every put
  calls ``on_put`` (the worker's wake-up).
* :class:`AudioFeed` takes the transport's 16 kHz samples (:meth:`AudioFeed.push_samples`) and
  hands them on. ``run_clock`` ticks every 20 ms and, while no audio has come for ``stall_s``
  (before the first packet, or a stalled / muted mic), feeds silence at the real-time rate, so
  motion frames and video keep coming and the portrait listens. The session starts the clock
  when its peer connection is up (:meth:`AudioFeed.start_clock`): the stream's time begins
  there, and a connection that never comes up costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from xactor.engines import timebase
from xactor.server.live.metrics import LiveMetrics
from xactor.server.live.timing import Rolling

log = logging.getLogger(__name__)

SAMPLE_RATE = timebase.SAMPLE_RATE
TICK_S = 0.02


@dataclass(frozen=True)
class AudioChunk:
    """A run of 16 kHz mono float32 samples, all available to the server at ``arrival``."""

    samples: np.ndarray  # [N] float32
    arrival: float  # time.monotonic() when the server had them
    silence: bool  # True when fed by the stall clock, not the mic


class Resampler(Protocol):
    """A transport's converter of its decoded audio frames (aiortc's ``av.AudioFrame`` for the
    WebRTC track reader, :mod:`xactor.server.live.mic`) to 16 kHz mono float32. The core never
    calls one; it is named here, typed loosely, because the session factories hand one over."""

    def resample(self, frame: Any, /) -> np.ndarray: ...


class SampleQueue:
    """A FIFO of 16 kHz float32 samples kept as the chunks they came in (no copy on push): the
    pushed-speech playout, the ``say`` overlay and the audio tape all take from the front."""

    def __init__(self) -> None:
        self._chunks: deque[np.ndarray] = deque()
        self.size = 0  # samples held

    def push(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, np.float32).reshape(-1)
        if samples.size:
            self._chunks.append(samples)
            self.size += samples.size

    def take(self, n: int) -> np.ndarray:
        """Up to ``n`` samples from the front, as one array (fewer when fewer are held)."""
        parts, taken = [], 0
        while self._chunks and taken < n:
            head = self._chunks[0]
            part = head[: n - taken]
            if part.size == head.size:
                self._chunks.popleft()
            else:
                self._chunks[0] = head[part.size :]
            parts.append(part)
            taken += part.size
        self.size -= taken
        if not parts:
            return np.zeros(0, np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def drop_oldest(self, keep: int) -> int:
        """Drop whole chunks from the front while more than ``keep`` samples are held (the newest
        chunk always stays); returns the samples dropped."""
        dropped = 0
        while self.size > keep and len(self._chunks) > 1:
            old = self._chunks.popleft()
            self.size -= old.size
            dropped += old.size
        return dropped

    def silence_front(self, n: int) -> int:
        """Replace the first ``n`` held samples with zeros (without writing into pushed arrays,
        which may be views of someone else's); returns how many were silenced."""
        taken = self.take(n)
        if taken.size:
            self._chunks.appendleft(np.zeros(taken.size, np.float32))
            self.size += taken.size
        return int(taken.size)

    def clear(self) -> int:
        """Drop everything; returns the samples dropped."""
        dropped, self.size = self.size, 0
        self._chunks.clear()
        return dropped


class AudioInbox:
    """Thread-safe, bounded FIFO of :class:`AudioChunk`; drop rule: oldest audio goes first."""

    def __init__(self, max_samples: int = SAMPLE_RATE) -> None:
        self._max = max_samples
        self._chunks: deque[AudioChunk] = deque()
        self._n = 0
        self._closed = False
        self._cond = threading.Condition()
        self.dropped_samples = 0
        self.on_put: Callable[[], None] | None = None

    def put(self, chunk: AudioChunk) -> int:
        """Append; returns how many samples had to be dropped to stay under the bound."""
        dropped = 0
        with self._cond:
            if self._closed:
                return 0
            self._chunks.append(chunk)
            self._n += chunk.samples.size
            while self._n > self._max and len(self._chunks) > 1:
                old = self._chunks.popleft()
                self._n -= old.samples.size
                dropped += old.samples.size
            self.dropped_samples += dropped
            self._cond.notify()
        wake = self.on_put
        if wake is not None:
            wake()
        return dropped

    def take_all(self, timeout: float) -> list[AudioChunk]:
        """Everything queued (waits up to ``timeout`` s for something); empty when closed or timed out."""
        with self._cond:
            if not self._chunks and not self._closed:
                self._cond.wait(timeout)
            out = list(self._chunks)
            self._chunks.clear()
            self._n = 0
            return out

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class AudioFeed:
    """The session's 16 kHz input stream: mic audio while it flows, silence at real time while it does not.

    Every chunk goes to each sink in order (the worker's inbox, the return-audio track). All
    methods run on the event loop.
    """

    def __init__(
        self,
        sinks: list[Callable[[AudioChunk], None]],
        metrics: LiveMetrics | None = None,
        rolling: Rolling | None = None,
        stall_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sinks = sinks
        self._metrics = metrics
        self._rolling = rolling
        self._stall_s = stall_s
        self._clock = clock
        self._last_audio = clock()
        self._filling = True  # no mic audio yet: the portrait listens from the start
        self._fill_from = self._last_audio
        self._fill_carry = 0.0
        self.mic_samples = 0
        self.silence_samples = 0
        self.first_mic_sample: int | None = None  # stream position of the first mic sample
        self._overlay = SampleQueue()  # speech mixed over the input (``say``)

    def now(self) -> float:
        """The feed's clock (``time.monotonic`` unless a test gives another)."""
        return self._clock()

    def push_samples(self, samples: np.ndarray, now: float | None = None, silence: bool = False) -> None:
        """Hand on 16 kHz mono float32 samples, the only audio the core takes (a pushed-audio
        playout, or a mic frame its transport resampled): they count as input audio, so no
        silence is filled."""
        now = self._clock() if now is None else now
        self._last_audio = now
        self._filling = False
        if samples.size:
            if silence:
                self.silence_samples += samples.size
            else:
                if self.first_mic_sample is None:
                    self.first_mic_sample = self.stream_samples
                self.mic_samples += samples.size
            self._emit(AudioChunk(samples.astype(np.float32, copy=False), now, silence=silence))

    @property
    def stream_samples(self) -> int:
        """Samples handed on so far, mic and silence: the stream index of the next one."""
        return self.mic_samples + self.silence_samples

    def start_clock(self, prime_samples: int = 0) -> None:
        """Begin the stream's time now (the connection is up): silence is filled from here on.

        ``prime_samples`` of silence go out at once: the first frame needs its own 40 ms plus the
        lookahead before it can exist, and at the start of a session that wait is pure delay
        before the first picture. Priming shifts the frame grid, not the latency of later audio:
        every frame is still made as soon as its newest sample arrives.
        """
        now = self._clock()
        self._last_audio = now
        if self._filling:
            self._fill_from = now
            self._fill_carry = 0.0
        if prime_samples > 0:
            self.silence_samples += prime_samples
            self._emit(AudioChunk(np.zeros(prime_samples, dtype=np.float32), now, silence=True))

    @property
    def last_mic_audio(self) -> float:
        """Monotonic time of the last mic frame (session start before the first)."""
        return self._last_audio

    def tick(self) -> None:
        """Feed silence when the mic has been quiet for ``stall_s``: first the gap, then real time."""
        now = self._clock()
        if not self._filling:
            if now - self._last_audio < self._stall_s:
                return
            self._filling = True
            self._fill_from = self._last_audio
            self._fill_carry = 0.0
        exact = (now - self._fill_from) * SAMPLE_RATE + self._fill_carry
        n = max(round(exact), 0)
        self._fill_carry = exact - n  # keeps the long-run rate exact
        self._fill_from = now
        if n > 0:
            self.silence_samples += n
            if self._metrics is not None:
                self._metrics.silence_samples.inc(n)
            self._emit(AudioChunk(np.zeros(n, dtype=np.float32), now, silence=True))

    def add_sink(self, sink: Callable[[AudioChunk], None]) -> None:
        """Also hand every later chunk to ``sink``."""
        self._sinks.append(sink)

    def overlay(self, samples: np.ndarray) -> None:
        """Queue 16 kHz speech to be mixed over the input as it passes (mic audio or filled
        silence), so it plays at the stream's own real-time pace: presenter mode on a mic session."""
        self._overlay.push(samples)

    def clear_overlay(self) -> int:
        """Drop the ``say`` speech not yet mixed in (an interruption); returns samples dropped."""
        return self._overlay.clear()

    @property
    def overlay_queued(self) -> int:
        """Samples of ``say`` speech not yet mixed in."""
        return self._overlay.size

    def _mix_overlay(self, chunk: AudioChunk) -> AudioChunk:
        speech = self._overlay.take(chunk.samples.size)
        mixed = np.array(chunk.samples, np.float32)
        mixed[: speech.size] += speech
        return AudioChunk(np.clip(mixed, -1.0, 1.0), chunk.arrival, silence=False)

    def _emit(self, chunk: AudioChunk) -> None:
        if self._overlay.size:
            chunk = self._mix_overlay(chunk)
        for sink in self._sinks:
            sink(chunk)

    async def run_clock(self, prime_samples: int = 0) -> None:
        """Start the clock, then tick every 20 ms forever (cancelled by the session on close)."""
        self.start_clock(prime_samples)
        while True:
            self.tick()
            await asyncio.sleep(TICK_S)
