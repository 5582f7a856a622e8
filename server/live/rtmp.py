"""RTMP out: push a live session to a livestream platform (or any RTMP ingest) as H.264 + AAC in FLV.

An :class:`RtmpOutput` is a frame sink of the session's :class:`~server.live.core.SessionCore`:
each frame and its stream audio go into a bounded queue, and one thread per output encodes
(libx264 zerolatency, AAC at 48 kHz through PyAV) and writes to the server. Network trouble
never reaches the session: when connecting or writing fails, the thread closes the connection,
waits (1, 2, 4 … ``max_backoff_s`` seconds; frames meanwhile are dropped and counted) and
connects again; timestamps restart at 0 on each connection. ``stop()`` flushes the encoders,
closes the connection and joins the thread.
"""

from __future__ import annotations

import contextlib
import fractions
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import soxr

from server.live.audio_in import SAMPLE_RATE
from server.live.core import FrameOut

log = logging.getLogger(__name__)

AUDIO_RATE = 48000


@dataclass
class RtmpStats:
    connected: bool = False
    connects: int = 0
    failures: int = 0
    frames_written: int = 0
    frames_dropped: int = 0
    last_error: str | None = None
    since: float = field(default_factory=time.time)


class _Connection:
    """One FLV/RTMP connection: its muxer, encoders and clocks."""

    def __init__(self, url: str, size: int, fps: int, bitrate: int, connect_timeout_s: float) -> None:
        timeout_us = str(int(connect_timeout_s * 1_000_000))
        self.container = av.open(url, "w", format="flv", options={"rw_timeout": timeout_us})
        self.video = self.container.add_stream("libx264", rate=fps)
        self.video.width = self.video.height = size
        self.video.pix_fmt = "yuv420p"
        self.video.bit_rate = bitrate
        self.video.options = {"preset": "veryfast", "tune": "zerolatency", "g": str(2 * fps)}
        self.audio = self.container.add_stream("aac", rate=AUDIO_RATE)
        self.audio.layout = "mono"
        self.audio.bit_rate = 96_000
        self.upsample = soxr.ResampleStream(SAMPLE_RATE, AUDIO_RATE, 1, dtype="float32")
        self.time_base = fractions.Fraction(1, fps)
        self.frames = 0
        self.samples = 0

    def write(self, image: np.ndarray, audio16k: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = self.frames
        frame.time_base = self.time_base
        self.frames += 1
        for packet in self.video.encode(frame):
            self.container.mux(packet)
        pcm = self.upsample.resample_chunk(np.asarray(audio16k, np.float32))
        if pcm.size:
            sound = av.AudioFrame.from_ndarray(pcm[None].astype(np.float32), format="fltp", layout="mono")
            sound.sample_rate = AUDIO_RATE
            sound.pts = self.samples
            sound.time_base = fractions.Fraction(1, AUDIO_RATE)
            self.samples += pcm.size
            for packet in self.audio.encode(sound):
                self.container.mux(packet)

    def close(self, flush: bool) -> None:
        try:
            if flush:
                for stream in (self.video, self.audio):
                    for packet in stream.encode(None):
                        self.container.mux(packet)
        finally:
            self.container.close()


class RtmpOutput:
    """One session's push to ``url`` (see module docstring)."""

    def __init__(
        self,
        url: str,
        session_id: str,
        *,
        fps: int = 25,
        bitrate: int = 1_500_000,
        max_backoff_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        queue_frames: int = 50,
    ) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.url = url
        self.session_id = session_id
        self._fps, self._bitrate = fps, bitrate
        self._max_backoff, self._connect_timeout = max_backoff_s, connect_timeout_s
        self._queue: queue.Queue[FrameOut | None] = queue.Queue(maxsize=queue_frames)
        self._stop = threading.Event()
        self.stats = RtmpStats()
        self._thread = threading.Thread(target=self._run, name=f"rtmp-{session_id}-{self.id}", daemon=True)
        self._thread.start()

    def __call__(self, out: FrameOut) -> None:
        """The frame sink (event loop): queue the frame, or drop it when the writer is behind."""
        if self._stop.is_set():
            return
        try:
            self._queue.put_nowait(out)
        except queue.Full:
            self.stats.frames_dropped += 1

    def stop(self, timeout: float = 10.0) -> None:
        """Flush and disconnect; blocking (call off the event loop)."""
        self._stop.set()
        with contextlib.suppress(queue.Full):  # a full queue wakes the writer anyway
            self._queue.put_nowait(None)
        self._thread.join(timeout)

    def describe(self) -> dict[str, Any]:
        s = self.stats
        return {
            "id": self.id,
            "rtmp": _redact(self.url),
            "connected": s.connected,
            "connects": s.connects,
            "failures": s.failures,
            "frames_written": s.frames_written,
            "frames_dropped": s.frames_dropped,
            "last_error": s.last_error,
        }

    # ---- writer thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                self._stream()
                return  # stopped cleanly
            except Exception as exc:
                self.stats.connected = False
                self.stats.failures += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "rtmp %s: %s; retrying in %.0f s", _redact(self.url), self.stats.last_error, backoff
                )
            self._drain()
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, self._max_backoff)

    def _stream(self) -> None:
        """Connect, then write frames until stopped (raises on any connection or write error)."""
        connection: _Connection | None = None
        try:
            while not self._stop.is_set():
                out = self._queue.get()
                if out is None:
                    break
                if connection is None:  # connect on the first frame: its size is the stream's
                    size = out.frame.image.shape[0]
                    connection = _Connection(self.url, size, self._fps, self._bitrate, self._connect_timeout)
                connection.write(out.frame.image, out.audio)  # PyAV connects at the first write
                if not self.stats.connected:
                    self.stats.connected = True
                    self.stats.connects += 1
                    log.info("rtmp %s: connected", _redact(self.url))
                self.stats.frames_written += 1
        finally:
            if connection is not None:
                ok = self._stop.is_set()
                try:
                    connection.close(flush=ok)
                except Exception as exc:  # the peer went away during the flush
                    log.info("rtmp %s: closing: %s", _redact(self.url), exc)
                self.stats.connected = False

    def _drain(self) -> None:
        """Frames that came while disconnected are dropped (a livestream wants now, not backlog)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is None:
                self._stop.set()
                return
            self.stats.frames_dropped += 1


def _redact(url: str) -> str:
    """The URL without its stream key (the last path part), for logs and stats."""
    head, _, key = url.rpartition("/")
    return f"{head}/{'…' if key else ''}" if head.count("/") >= 3 else url
