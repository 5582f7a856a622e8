"""The WebRTC session's audio in: read the remote aiortc track without pause and resample it to 16 kHz.

The session core takes 16 kHz mono float32 PCM only (:meth:`~server.live.audio_in.AudioFeed.push_samples`);
each transport converts its own input. Here that is the browser's mic: :class:`MicReader` awaits
every decoded frame of the remote track (aiortc's receive queue is unbounded: whoever stops reading
it builds latency), converts it with the session's :class:`~server.live.audio_in.Resampler` (FFmpeg's,
which keeps its filter state between frames), times that as the ``resample`` stage and pushes the
samples into the feed. The WebSocket session gets PCM already and resamples it with soxr itself
(:class:`~server.live.ws_session.PcmInput`).
"""

from __future__ import annotations

import logging
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from xactor.server.live.audio_in import AudioFeed, Resampler
from xactor.server.live.metrics import LiveMetrics
from xactor.server.live.timing import Rolling

log = logging.getLogger(__name__)


class _ClosedResampler:
    """Stands in for the resampler of a closed reader: late frames convert to nothing."""

    def resample(self, frame: av.AudioFrame) -> np.ndarray:
        return np.zeros(0, dtype=np.float32)


class MicReader:
    """Remote audio track -> 16 kHz samples -> the session's :class:`~server.live.audio_in.AudioFeed`."""

    def __init__(
        self,
        feed: AudioFeed,
        resampler: Resampler,
        metrics: LiveMetrics | None = None,
        rolling: Rolling | None = None,
    ) -> None:
        self._feed = feed
        self._resampler = resampler
        self._metrics = metrics
        self._rolling = rolling
        self.frames = 0  # mic frames read

    def push_frame(self, frame: av.AudioFrame) -> None:
        """Resample one decoded mic frame and push it into the feed (arrival: now)."""
        now = self._feed.now()
        t0 = time.perf_counter()
        samples = self._resampler.resample(frame)
        dt = time.perf_counter() - t0
        if self._rolling is not None:
            self._rolling.add("resample", dt)
        if self._metrics is not None:
            self._metrics.stage_seconds.labels("resample").observe(dt)
        self.frames += 1
        self._feed.push_samples(samples, now)

    async def run(self, track: MediaStreamTrack) -> None:
        """Read every frame of the remote audio track until it ends."""
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, av.AudioFrame):
                    self.push_frame(frame)
        except MediaStreamError:
            log.debug("remote audio track ended")

    def close(self) -> None:
        """Let go of the resampler now: FFmpeg's filter graph behind it holds threads, which
        would otherwise live until the garbage collector finds the closed session's cycles."""
        self._resampler = _ClosedResampler()
