"""A live session over one WebSocket: PCM in, frames with their audio out (no WebRTC).

For pipelines that do not speak WebRTC: a TTS stream, a voice agent framework's avatar plugin, a
game engine. Audio is *pushed* (usually faster than real time) and played out at real time
(:class:`~server.live.core.Playout`); each frame goes out with the stream audio it shows, so the
client plays both in sync without a clock of its own. The wire format is :mod:`xactor.server.live.wire`.

The session ends when the socket closes (the client vanished), on ``DELETE /sessions/{id}``, on
server shutdown, or when the client stops reading (its send queue fills): nothing outlives it.
When the server ends it, the session is torn down and its slot freed *before* the socket is
hung up, and the hang-up is bounded (:data:`HANGUP_TIMEOUT_S`): a peer that stopped reading
cannot keep a slot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import soxr

from xactor.engines import timebase
from xactor.engines.motion_source.base import MotionSource
from xactor.engines.offline.motion_file import motion_record
from xactor.engines.render.base import Renderer
from xactor.server.live.audio_in import SAMPLE_RATE
from xactor.server.live.core import SegmentEnd, SessionCore
from xactor.server.live.frames import FrameOut
from xactor.server.live.lifecycle import LiveSession
from xactor.server.live.metrics import LiveMetrics
from xactor.server.live.options import ResolvedOptions
from xactor.server.live.timing import RateMeter
from xactor.server.live.wire import StreamRequest, encode_frame
from xactor.server.live.worker import RenderWorker

log = logging.getLogger(__name__)

Send = Callable[[bytes | dict[str, Any]], Awaitable[None]]
Hangup = Callable[[str], Awaitable[None]]

HANGUP_TIMEOUT_S = 2.0  # the most a server-side end waits for the socket after the slot is free


class PcmInput:
    """PCM16 mono at the client's rate → 16 kHz float32 (soxr's streaming resampler, no clicks
    between messages)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._rs = self._new_stream()
        self._odd = b""  # half a sample left over from the last message

    def _new_stream(self) -> soxr.ResampleStream | None:
        if self.rate == SAMPLE_RATE:
            return None
        return soxr.ResampleStream(self.rate, SAMPLE_RATE, 1, dtype="float32")

    def flush(self) -> np.ndarray:
        """The samples the resampler still holds (the end of an utterance), and a fresh start."""
        if self._rs is None:
            return np.zeros(0, np.float32)
        tail = self._rs.resample_chunk(np.zeros(0, np.float32), last=True)
        self._rs, self._odd = self._new_stream(), b""
        return tail

    def reset(self) -> None:
        """Forget held samples (an interruption)."""
        self._rs, self._odd = self._new_stream(), b""

    def convert(self, data: bytes) -> np.ndarray:
        data = self._odd + data
        whole = len(data) // 2 * 2
        self._odd = data[whole:]
        samples = np.frombuffer(data[:whole], "<i2").astype(np.float32) / 32768.0
        return samples if self._rs is None else self._rs.resample_chunk(samples)


class StreamSession(LiveSession):
    """One WebSocket session; same life-cycle surface as the WebRTC :class:`~server.live.session.Session`
    (``id``, ``close``, ``closed``, ``stats``) so the manager treats both alike."""

    transport = "websocket"

    def __init__(
        self,
        avatar_id: str,
        options: ResolvedOptions,
        request: StreamRequest,
        source: MotionSource,
        renderer: Renderer,
        metrics: LiveMetrics,
        worker: RenderWorker,
        send: Send,
        hangup: Hangup | None = None,
        *,
        send_queue: int = 50,
        on_closed: Callable[[StreamSession], Awaitable[None] | None] | None = None,
        id_prefix: str = "",
    ) -> None:
        super().__init__(avatar_id, options, metrics, on_closed, id_prefix)
        self.request = request
        self._send = send
        self._hangup = hangup
        self.core = SessionCore(self.id, source, renderer, metrics, worker, with_tape=True)
        self.playout = self.core.use_playout()
        self.core.add_sink(self._on_frame)
        self.core.segment_sinks.append(self._on_segment)
        self.pcm = PcmInput(request.sample_rate)
        self._outbox: asyncio.Queue[bytes | dict[str, Any]] = asyncio.Queue(maxsize=send_queue)
        self.fps = RateMeter()
        self.frames_sent = 0
        self.bytes_sent = 0
        self.motion_source = source.describe()

    # ---- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Join the worker and start the playout clock and the sender (the socket is open)."""
        self._queue(self.hello())
        self.core.attach()
        prime = self.core.prime_samples(self.options.lookahead)
        self._spawn(self.core.run_playout(prime), "playout")
        self._spawn(self._sender(), "sender")
        self.metrics.sessions_started.inc()

    def hello(self) -> dict[str, Any]:
        """The first message the client gets: what its frames will be."""
        return {
            "type": "session",
            "session_id": self.id,
            "avatar_id": self.avatar_id,
            "width": self.options.resolution,
            "height": self.options.resolution,
            "fps": timebase.FPS,
            "audio_rate": SAMPLE_RATE,
            "video": self.request.video,
            "options": self.options.model_dump(),
            "motion_source": self.motion_source,
        }

    async def _teardown(self, reason: str) -> None:
        await self.core.close()

    async def _close(self, reason: str) -> None:
        """The session first (pipeline, tasks, the manager's slot), then the socket: hanging up
        waits on the peer, which must never delay freeing the slot."""
        await super()._close(reason)
        if self._hangup is None:
            return
        try:  # ended by the server: the socket goes too
            await asyncio.wait_for(self._hangup(reason), HANGUP_TIMEOUT_S)
        except TimeoutError:
            log.warning("stream session %s: hanging up took over %g s; gave up", self.id, HANGUP_TIMEOUT_S)
        except Exception:  # already closed by the client
            log.debug("stream session %s: socket already closed", self.id)

    # ---- input (the socket's reader calls these) ----------------------------------------------------
    def push_pcm(self, data: bytes) -> None:
        dropped = self.playout.push(self.pcm.convert(data))
        if dropped:
            self.metrics.audio_dropped_samples.inc(dropped)
            self.warn(f"audio queue full: {dropped} samples dropped")

    def warn(self, message: str) -> None:
        self._queue({"type": "warning", "message": message})

    def say(self, speech: np.ndarray) -> int | None:
        """16 kHz speech from the server's TTS, queued after what the client pushed, as one
        segment (with whatever the client pushed since its last ``end_of_segment``)."""
        self.playout.push(speech)
        return self.playout.end_segment()

    def end_segment(self) -> int:
        self.playout.push(self.pcm.flush())  # the resampler's last few ms belong to this utterance
        return self.playout.end_segment()

    def clear(self) -> float:
        """The ``clear_buffer`` control (or ``POST /sessions/{id}/clear``)."""
        self.pcm.reset()
        dropped = self.core.clear_buffer(close_mouth=self.request.on_clear == "close_mouth")
        self._queue({"type": "cleared", "dropped_s": round(dropped, 3)})
        return dropped

    # ---- output -------------------------------------------------------------------------------------
    def _on_frame(self, out: FrameOut) -> None:
        if self.request.motion:
            self._queue(motion_record(out.frame.index, out.frame.motion))
        self._queue(encode_frame(out, self.request.video, self.request.jpeg_quality))

    def _on_segment(self, end: SegmentEnd) -> None:
        self._queue(
            {
                "type": "segment_end",
                "segment": end.segment,
                "position_s": round(end.position_s, 3),
                "interrupted": end.interrupted,
            }
        )

    def _queue(self, message: bytes | dict[str, Any]) -> None:
        if self.closing:
            return
        try:
            self._outbox.put_nowait(message)
        except asyncio.QueueFull:
            self.metrics.sessions_rejected.labels("client_not_reading").inc()
            self._spawn_close("the client stopped reading")

    async def _sender(self) -> None:
        while True:
            message = await self._outbox.get()
            await self._send(message)
            if isinstance(message, bytes):
                self.frames_sent += 1
                self.bytes_sent += len(message)
                self.fps.tick(time.monotonic())

    # ---- stats --------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        now = time.monotonic()
        r = self.core.rolling
        stages = {s: r.summary(s) for s in ("vad", "features", "motion", "render")}
        return {
            "id": self.id,
            "replica": self.replica,
            "transport": self.transport,
            "avatar_id": self.avatar_id,
            "options": self.options.model_dump(),
            "stream": self.request.model_dump(),
            "motion_source": self.motion_source,
            "created": self.created,
            "age_s": self.age_s,
            "closing": self.closing,
            "fps": self.fps.rate(now),
            "frames_sent": self.frames_sent,
            "frames_dropped": {
                "worker_behind": self.core.stream.frames_skipped,
                "at_clear": self.core.frames_dropped_at_clear,
            },
            "stages_ms": {k: s for k, s in stages.items() if s is not None},
            "audio": {
                "queued_s": round(self.playout.queued_s, 3),
                "speech_s": round(self.core.feed.mic_samples / SAMPLE_RATE, 2),
                "dropped_samples": self.playout.dropped_samples,
                "speech": round(self.core.last_speech, 3),
            },
            "kbps": round(self.bytes_sent * 8 / 1000 / max(now - self._t0, 1e-3), 1),
            "errors": {"render": self.core.stream.errors, "last": self.core.stream.last_error},
            "viewers": self.core.viewer_stats(),
            "outputs": [o.describe() for o in self.outputs],
        }
