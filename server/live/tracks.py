"""The session's outgoing WebRTC tracks: the avatar video and, optionally, the input audio returned in sync.

:class:`AvatarVideoTrack` sends each rendered frame as soon as it exists: rendering is driven by
the audio, which arrives at 25 frames' worth a second, so waiting for a fixed 40 ms slot would only
add up to 40 ms of latency. Its pts is the send time on the 90 kHz clock. When nothing new comes
for ``repeat_after_s`` (0.5 s) it repeats the last picture, a keep-alive for the receiver; it does
not fill every late slot, because a repeat costs a whole encode and on an oversubscribed machine
those encodes would take the CPU the renderer needs (measured: at 4 sessions on 2 cores, repeats
every 60 ms cut the new frames from 32 to 13 a second in all). It never sends two frames closer
than half a frame interval (newest wins). It encodes
itself (see :mod:`xactor.server.live.encoding`) on a dedicated executor thread and returns ``av.Packet``;
each packet also goes to its ``packet_taps`` (the session's WHEP viewers share this encode).

:class:`DelayedAudioTrack` returns the session's 16 kHz input stream — exactly the samples the motion
source saw, silence fill included — releasing the audio of video frame ``k`` at the moment frame
``k`` is sent (the second 20 ms half 20 ms later). Browsers synchronise audio and video of one
stream from RTCP sender reports, which map RTP time to send time, so equal send times play together.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor

import av
import numpy as np
import soxr
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from xactor.engines import timebase
from xactor.server.live.audio_in import SAMPLE_RATE, AudioChunk
from xactor.server.live.encoding import VIDEO_CLOCK, VideoEncoder
from xactor.server.live.metrics import LiveMetrics
from xactor.server.live.timing import RateMeter, Rolling
from xactor.server.live.worker import RenderedFrame

log = logging.getLogger(__name__)

SAMPLES_PER_FRAME = timebase.SAMPLES_PER_FRAME


class AvatarVideoTrack(MediaStreamTrack):
    """Rendered frames -> encoded packets, sent on arrival, repeated when late; one slot, newest wins."""

    kind = "video"

    def __init__(
        self,
        encoder: VideoEncoder,
        executor: Executor,
        fps: int = timebase.FPS,
        repeat_after_s: float = 0.5,
        metrics: LiveMetrics | None = None,
        rolling: Rolling | None = None,
        on_sent: Callable[[int, float], None] | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self._executor = executor
        self.interval = 1.0 / fps
        self._late = repeat_after_s
        self._min_gap = 0.5 * self.interval
        self._metrics = metrics
        self._rolling = rolling or Rolling()
        self._on_sent = on_sent
        self._queue: asyncio.Queue[RenderedFrame | None] = asyncio.Queue(maxsize=1)
        self._last: RenderedFrame | None = None
        self._last_sent = 0.0
        self._start: float | None = None
        self._last_pts = -1
        self.answered_at: float | None = None  # set by the session when its answer is ready
        self.first_frame_s: float | None = None
        self.frames_sent = 0
        self.frames_repeated = 0
        self.frames_superseded = 0
        self.fps_new = RateMeter()
        self.fps_all = RateMeter()
        self.packet_taps: list[Callable[[av.Packet], None]] = []  # each sent packet, on the loop

    @property
    def clock_origin(self) -> float | None:
        """The ``time.monotonic()`` reading at pts 0 (None before the first frame): a frame with pts
        ``p`` was taken for encoding at ``clock_origin + p / 90000``. Another process on the same
        host reads the same clock, so a loopback benchmark can time encode + transport + decode."""
        return self._start

    # ---- producer side (event loop, from the render worker) ---------------------------------------
    def offer(self, frame: RenderedFrame) -> None:
        """Make ``frame`` the next to send, replacing one not yet sent (counted as superseded)."""
        if self.readyState != "live":
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.frames_superseded += 1
            if self._metrics is not None:
                self._metrics.frames_dropped.labels("superseded").inc()
        self._queue.put_nowait(frame)

    def stop(self) -> None:
        if self.readyState == "live":
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(None)  # wakes a recv() that waits
        super().stop()

    # ---- consumer side (aiortc's sender) -----------------------------------------------------------
    async def _next_frame(self) -> tuple[RenderedFrame, bool]:
        """The next frame to send and whether it repeats the last one."""
        if self._last is None:
            frame = await self._queue.get()
            if frame is None:
                raise MediaStreamError
            return frame, False
        wait = self._last_sent + self._min_gap - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if self._queue.empty():
            timeout = self._last_sent + self._late - time.monotonic()
            if timeout <= 0:
                return self._last, True
            try:
                frame = await asyncio.wait_for(self._queue.get(), timeout)
            except TimeoutError:
                return self._last, True
        else:
            frame = self._queue.get_nowait()
        if frame is None:
            raise MediaStreamError
        return frame, False

    def _encode(self, image: np.ndarray, pts: int, keyframe: bool) -> tuple[float, av.Packet | None, float]:
        reach = time.monotonic()
        packet = self.encoder.encode(image, pts, keyframe)
        return reach, packet, time.monotonic() - reach

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        while True:
            frame, repeated = await self._next_frame()
            if self.readyState != "live":
                raise MediaStreamError
            now = time.monotonic()
            if self._start is None:
                self._start = now
            pts = max(round((now - self._start) * VIDEO_CLOCK), self._last_pts + 1)
            reach, packet, encode_s = await loop.run_in_executor(
                self._executor, self._encode, frame.image, pts, False
            )
            if packet is None:
                continue
            self._last_pts = pts
            self._account(frame, repeated, reach, encode_s)
            for tap in self.packet_taps:
                tap(packet)
            return packet

    def _account(self, frame: RenderedFrame, repeated: bool, reach: float, encode_s: float) -> None:
        sent = time.monotonic()
        self._last = frame
        self._last_sent = sent
        self.fps_all.tick(sent)
        self._rolling.add("encode", encode_s)
        m = self._metrics
        if m is not None:
            m.stage_seconds.labels("encode").observe(encode_s)
        if repeated:
            self.frames_repeated += 1
            if m is not None:
                m.frames_repeated.inc()
            return
        self.frames_sent += 1
        self.fps_new.tick(sent)
        if m is not None:
            m.frames.inc()
        if self.frames_sent == 1 and self.answered_at is not None:
            self.first_frame_s = sent - self.answered_at
            if m is not None:
                m.first_frame_seconds.observe(max(self.first_frame_s, 0.0))
        self._rolling.add("queue", max(reach - frame.rendered_at, 0.0))
        if frame.audio_arrival is not None:
            to_encoder = reach - frame.audio_arrival
            to_send = sent - frame.audio_arrival
            self._rolling.add("audio_to_encoder", to_encoder)
            self._rolling.add("audio_to_send", to_send)
            if m is not None:
                m.audio_to_encoder_seconds.observe(to_encoder)
                m.audio_to_send_seconds.observe(to_send)
        if frame.own_audio_arrival is not None:
            own = reach - frame.own_audio_arrival
            self._rolling.add("own_audio_to_encoder", own)
            if m is not None:
                m.own_audio_to_encoder_seconds.observe(own)
        if self._on_sent is not None:
            self._on_sent(frame.index, sent)


class DelayedAudioTrack(MediaStreamTrack):
    """The session's 16 kHz input audio, released in step with the video frames that show it.

    Sent as 48 kHz stereo s16 (upsampled with soxr's streaming "QQ" filter, 5 samples of hold,
    covered by a 16-sample pad = 0.3 ms): aiortc's Opus encoder then passes each 20 ms frame
    straight through, where a 16 kHz frame would wait 20 ms in its resampler.
    """

    kind = "audio"
    CHUNK = 320  # 20 ms at 16 kHz: one Opus packet
    RATE_OUT = 48000
    _UP = 3  # 48 kHz / 16 kHz
    _PAD = 16  # 48 kHz samples of leading silence, more than the upsampler holds back

    def __init__(self, max_buffer_s: float = 5.0) -> None:
        super().__init__()
        self._rs = soxr.ResampleStream(SAMPLE_RATE, self.RATE_OUT, 1, dtype="float32", quality="QQ")
        self._buf = np.zeros(self._PAD, dtype=np.float32)  # 48 kHz mono
        self._base = 0  # 48 kHz stream index of _buf[0]; 48 kHz index = 3 × 16 kHz index
        self._max = int(max_buffer_s * self.RATE_OUT)
        self._next = 0  # 16 kHz stream index of the next chunk to send (a multiple of CHUNK)
        self._sent: deque[tuple[int, float]] = deque(maxlen=256)  # (video frame index, send time)
        self._changed = asyncio.Event()
        self.dropped_samples = 0  # 48 kHz samples dropped because the video did not move on
        self.muted_samples = 0  # 16 kHz samples silenced by interruptions

    def feed(self, chunk: AudioChunk) -> None:
        """Append input audio (event loop); beyond ``max_buffer_s`` the oldest goes."""
        up = self._rs.resample_chunk(np.asarray(chunk.samples, dtype=np.float32))
        self._buf = np.concatenate([self._buf, up])
        excess = self._buf.size - self._max
        if excess > 0:
            self._buf = self._buf[excess:]
            self._base += excess
            self.dropped_samples += excess
            first = -(-self._base // (self._UP * self.CHUNK)) * self.CHUNK  # next whole chunk kept
            self._next = max(self._next, first)
        self._changed.set()

    def mute(self, start: int, end: int) -> None:
        """Silence the 16 kHz stream samples ``[start, end)`` not yet sent (an interruption: speech
        released before a clear that no frame showed)."""
        lo = max(self._UP * max(start, self._next) - self._base, 0)
        hi = min(self._UP * end - self._base, self._buf.size)
        if hi > lo:
            self._buf[lo:hi] = 0.0
            self.muted_samples += (hi - lo) // self._UP

    def video_sent(self, index: int, t: float) -> None:
        """Video frame ``index`` left at ``t`` (monotonic): its audio may follow."""
        self._sent.append((index, t))
        self._changed.set()

    def _release_time(self, start: int) -> float | None:
        """When the chunk starting at 16 kHz sample ``start`` may go; None while its frame is not out."""
        frame = start // SAMPLES_PER_FRAME
        offset = (start % SAMPLES_PER_FRAME) / SAMPLE_RATE  # 0 or 20 ms into the frame
        for index, t in self._sent:
            if index >= frame:  # the frame itself, or a later one if it was skipped
                return t + offset if index == frame else t
        return None

    def stop(self) -> None:
        super().stop()
        self._changed.set()

    async def recv(self) -> av.AudioFrame:
        n = self.CHUNK * self._UP
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            start = self._next
            have = self._base + self._buf.size >= self._UP * start + n
            release = self._release_time(start) if have else None
            if release is not None:
                delay = release - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if start == self._next:  # not trimmed while we slept
                    break
                continue
            self._changed.clear()
            await self._changed.wait()
        i = self._UP * start - self._base
        samples = self._buf[i : i + n]
        self._buf = self._buf[i + n :]
        self._base += i + n
        self._next = start + self.CHUNK
        pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)  # [960]
        stereo = np.repeat(pcm, 2)[None]  # [1, 1920] interleaved L R
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = self.RATE_OUT
        frame.pts = start * self._UP
        frame.time_base = fractions.Fraction(1, self.RATE_OUT)
        return frame
