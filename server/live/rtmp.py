"""RTMP out: push a live session to a livestream platform (or any RTMP ingest) as H.264 + AAC in FLV.

An :class:`RtmpOutput` is a frame sink of the session's :class:`~server.live.core.SessionCore`:
each frame and its stream audio go into a bounded queue. The encoding and the connection run in
a child process (:mod:`xactor.server.live.rtmp_push`), a bulkhead: FFmpeg's handshake and writes keep
the GIL while they block, so in the server's own process one silent ingest froze every session.
Here one thread per output feeds the child through a non-blocking pipe and holds it to deadlines:

- the RTMP handshake must finish within ``handshake_timeout_s`` of the first frame,
- once connected, a frame must be written at least every ``write_timeout_s``.

A child that misses a deadline, fails or exits is killed and replaced after a back-off (1, 2, 4 …
``max_backoff_s`` seconds; frames meanwhile are dropped and counted; timestamps restart at 0 on
each connection), with the reason in ``last_error`` and the log. ``stop()`` closes the child's
input so it flushes and hangs up, then joins the thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import selectors
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xactor.engines.timebase import FPS
from xactor.server.live.audio_in import SAMPLE_RATE
from xactor.server.live.frames import FrameOut
from xactor.server.live.rtmp_push import CONFIG, FRAME

log = logging.getLogger(__name__)

PUSH_MODULE = __name__.rpartition(".")[0] + ".rtmp_push"


class PushFailed(Exception):
    """The push process failed or exited: the reason is the message."""


class PushStalled(PushFailed):
    """The push process missed a deadline (handshake or write)."""


@dataclass
class RtmpStats:
    connected: bool = False
    connects: int = 0
    failures: int = 0
    stalls: int = 0
    frames_written: int = 0
    frames_dropped: int = 0
    last_error: str | None = None
    since: float = field(default_factory=time.time)


class _Push:
    """One child process, one connection: a non-blocking pipe in, JSON-line reports out."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", PUSH_MODULE],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True,
        )  # fmt: skip
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin.fileno(), self.process.stdout.fileno()
        os.set_blocking(self.stdin, False)
        os.set_blocking(self.stdout, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.stdout, selectors.EVENT_READ)
        body = json.dumps(config).encode()
        self.pending = memoryview(CONFIG.pack(len(body)) + body)
        self.lines = b""
        self.connected = False
        self.sent = 0
        self.written = 0
        self.error: str | None = None
        self.eof = False

    def send(self, image: np.ndarray, audio: np.ndarray) -> None:
        """Queue one frame record behind whatever is still pending (call only when it is empty)."""
        picture = np.ascontiguousarray(image, np.uint8).tobytes()
        sound = np.ascontiguousarray(audio, np.float32).tobytes()
        record = FRAME.pack(len(picture), len(sound)) + picture + sound
        self.pending = memoryview(bytes(self.pending) + record)
        self.sent += 1

    def pump(self, wait_s: float) -> None:
        """Write what the pipe takes and read the child's reports, waiting at most ``wait_s``."""
        registered = self.stdin in self.selector.get_map()
        if self.pending and not registered:
            self.selector.register(self.stdin, selectors.EVENT_WRITE)
        elif not self.pending and registered:
            self.selector.unregister(self.stdin)
        for key, _ in self.selector.select(wait_s):
            if key.fd == self.stdout:
                self._read()
            elif key.fd == self.stdin and self.pending:
                try:
                    n = os.write(self.stdin, self.pending)
                except BlockingIOError:
                    n = 0
                except (BrokenPipeError, ConnectionResetError):
                    raise PushFailed(self.exit_reason("the push process went away")) from None
                self.pending = self.pending[n:]

    def _read(self) -> None:
        try:
            data = os.read(self.stdout, 65536)
        except BlockingIOError:
            return
        if not data:
            self.eof = True
            self.selector.unregister(self.stdout)
            return
        *lines, self.lines = (self.lines + data).split(b"\n")
        for line in lines:
            report = json.loads(line)
            if report["event"] == "connected":
                self.connected = True
            elif report["event"] == "written":
                self.written = int(report["frames"])
            elif report["event"] == "error":
                self.error = str(report["error"])

    def exit_reason(self, fallback: str) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(0.5)
        while not self.eof and self.selector.select(0):
            self._read()
        return self.error or fallback

    def finish(self, timeout: float) -> None:
        """Send what is pending, close the input (the child flushes and hangs up), and kill what is
        not done within ``timeout``."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(PushFailed):
            while self.pending and time.monotonic() < deadline:
                self.pump(0.05)
        self.kill(max(0.0, deadline - time.monotonic()))

    def kill(self, grace_s: float = 0.0) -> None:
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # type: ignore[union-attr]
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.selector.close()
        with contextlib.suppress(OSError):
            self.process.stdout.close()  # type: ignore[union-attr]


class RtmpOutput:
    """One session's push to ``url`` (see module docstring)."""

    def __init__(
        self,
        url: str,
        session_id: str,
        *,
        fps: int = FPS,
        bitrate: int = 1_500_000,
        max_backoff_s: float = 30.0,
        handshake_timeout_s: float = 5.0,
        write_timeout_s: float = 5.0,
        queue_frames: int = 50,
    ) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.url = url
        self.session_id = session_id
        self._fps, self._bitrate = fps, bitrate
        self._max_backoff = max_backoff_s
        self._handshake_timeout, self._write_timeout = handshake_timeout_s, write_timeout_s
        self._queue: queue.Queue[FrameOut | None] = queue.Queue(maxsize=queue_frames)
        self._stop = threading.Event()
        self.stats = RtmpStats()
        self.push_pid: int | None = None  # the current push process, for diagnostics
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
            "stalls": s.stalls,
            "frames_written": s.frames_written,
            "frames_dropped": s.frames_dropped,
            "last_error": s.last_error,
        }

    # ---- supervising thread -------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                self._stream()
                return  # stopped cleanly
            except Exception as exc:
                self.stats.connected = False
                self.stats.failures += 1
                self.stats.stalls += isinstance(exc, PushStalled)
                reason = str(exc) if isinstance(exc, PushFailed) else f"{type(exc).__name__}: {exc}"
                self.stats.last_error = reason.replace(self.url, _redact(self.url))
                redacted, reason = _redact(self.url), self.stats.last_error
                log.warning("rtmp %s: %s; dropped, retrying in %.0f s", redacted, reason, backoff)
            self._drain()
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, self._max_backoff)

    def _stream(self) -> None:
        """Start a push on the first frame, then feed it until stopped (raises :class:`PushFailed`)."""
        first = self._queue.get()
        if first is None:
            return
        size = first.frame.image.shape[0]  # the first frame's size is the stream's
        config = {
            "url": self.url, "size": size, "fps": self._fps, "bitrate": self._bitrate,
            "sample_rate": SAMPLE_RATE, "rw_timeout_s": self._write_timeout,
        }  # fmt: skip
        push = _Push(config)
        self.push_pid = push.process.pid
        ok = False
        try:
            push.send(first.frame.image, first.audio)
            started = progress_at = time.monotonic()
            last_written = 0
            while not self._stop.is_set():
                if not push.pending:
                    try:
                        out = self._queue.get_nowait()
                    except queue.Empty:
                        out = None
                    if out is not None:
                        push.send(out.frame.image, out.audio)
                push.pump(0.02)
                now = time.monotonic()
                if push.error or push.eof:
                    raise PushFailed(push.exit_reason("the push process exited"))
                if push.written > last_written:
                    self.stats.frames_written += push.written - last_written
                    last_written, progress_at = push.written, now
                if push.connected and not self.stats.connected:
                    self.stats.connected = True
                    self.stats.connects += 1
                    log.info("rtmp %s: connected", _redact(self.url))
                if not push.connected and now - started > self._handshake_timeout:
                    raise PushStalled(f"no RTMP handshake within {self._handshake_timeout:g} s")
                if push.sent > push.written and now - progress_at > self._write_timeout:
                    raise PushStalled(f"the ingest took nothing for {self._write_timeout:g} s")
            ok = True
        finally:
            self.stats.connected = False
            if ok and push.connected:
                push.finish(timeout=5.0)
            else:
                push.kill()

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
