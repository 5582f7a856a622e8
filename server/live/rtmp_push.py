"""The RTMP push process: one connection to one ingest, fed frames on stdin, reporting on stdout.

Why a process: FFmpeg's RTMP handshake and its writes block inside PyAV calls that keep the GIL.
In a thread of the server, an ingest that accepts TCP and never answers froze every session and
``/health`` until it hung up. In its own process a stall costs only this push; the server's
:class:`~server.live.rtmp.RtmpOutput` watches the reports, and kills and replaces a process that
misses its deadlines.

Protocol (all little-endian):

- stdin: one :data:`CONFIG` record (``<I`` length + JSON: url, size, fps, bitrate, sample_rate,
  rw_timeout_s), then frames: ``<II`` (picture bytes, audio bytes), the RGB picture
  ``[size, size, 3]`` uint8, the audio float32 at ``sample_rate``. EOF: flush and hang up.
- stdout: JSON lines, ``{"event": "connected"}`` once the first frame is muxed (the handshake is
  done), ``{"event": "written", "frames": n}`` after every frame, and ``{"event": "error",
  "error": "..."}`` before a non-zero exit.

Run as ``python -m server.live.rtmp_push``; nothing here is imported by the server process.
"""

from __future__ import annotations

import ctypes
import fractions
import json
import signal
import struct
import sys
from typing import IO, Any

import av
import numpy as np
import soxr

AUDIO_RATE = 48000
CONFIG = struct.Struct("<I")
FRAME = struct.Struct("<II")


class Connection:
    """One FLV/RTMP connection: its muxer, encoders and clocks (timestamps start at 0)."""

    def __init__(
        self, url: str, size: int, fps: int, bitrate: int, sample_rate: int, rw_timeout_s: float
    ) -> None:
        options = {"rw_timeout": str(int(rw_timeout_s * 1_000_000))}
        self.container = av.open(url, "w", format="flv", options=options)
        self.video = self.container.add_stream("libx264", rate=fps)
        self.video.width = self.video.height = size
        self.video.pix_fmt = "yuv420p"
        self.video.bit_rate = bitrate
        self.video.options = {"preset": "veryfast", "tune": "zerolatency", "g": str(2 * fps)}
        self.audio = self.container.add_stream("aac", rate=AUDIO_RATE)
        self.audio.layout = "mono"
        self.audio.bit_rate = 96_000
        self.upsample = soxr.ResampleStream(sample_rate, AUDIO_RATE, 1, dtype="float32")
        self.time_base = fractions.Fraction(1, fps)
        self.frames = 0
        self.samples = 0

    def write(self, image: np.ndarray, audio: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = self.frames
        frame.time_base = self.time_base
        self.frames += 1
        for packet in self.video.encode(frame):
            self.container.mux(packet)  # the first mux does the RTMP handshake
        pcm = self.upsample.resample_chunk(audio)
        if pcm.size:
            sound = av.AudioFrame.from_ndarray(pcm[None].astype(np.float32), format="fltp", layout="mono")
            sound.sample_rate = AUDIO_RATE
            sound.pts = self.samples
            sound.time_base = fractions.Fraction(1, AUDIO_RATE)
            self.samples += pcm.size
            for packet in self.audio.encode(sound):
                self.container.mux(packet)

    def close(self) -> None:
        """Flush both encoders into the stream, then hang up."""
        try:
            for stream in (self.video, self.audio):
                for packet in stream.encode(None):
                    self.container.mux(packet)
        finally:
            self.container.close()


def _read_exactly(stream: IO[bytes], n: int) -> bytes | None:
    """``n`` bytes, or None at a clean EOF before the first of them."""
    data = stream.read(n)
    if not data:
        return None
    while len(data) < n:
        more = stream.read(n - len(data))
        if not more:
            raise EOFError(f"stdin ended inside a record ({len(data)} of {n} bytes)")
        data += more
    return data


def _report(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def _die_with_parent() -> None:
    """Ask Linux to kill us when the server dies: a handshake stuck with the GIL held could not
    notice by itself."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def run(stdin: IO[bytes]) -> None:
    head = _read_exactly(stdin, CONFIG.size)
    if head is None:
        return
    (length,) = CONFIG.unpack(head)
    config = json.loads(_read_exactly(stdin, length) or b"{}")
    size = int(config["size"])
    connection: Connection | None = None
    written = 0
    try:
        while (record := _read_exactly(stdin, FRAME.size)) is not None:
            picture_bytes, audio_bytes = FRAME.unpack(record)
            image = np.frombuffer(_read_exactly(stdin, picture_bytes) or b"", np.uint8)
            audio = np.frombuffer(_read_exactly(stdin, audio_bytes) or b"", np.float32)
            if connection is None:
                connection = Connection(
                    config["url"], size, int(config["fps"]), int(config["bitrate"]),
                    int(config["sample_rate"]), float(config["rw_timeout_s"]),
                )  # fmt: skip
            connection.write(image.reshape(size, size, 3), audio)  # [size*size*3] -> [size, size, 3]
            written += 1
            if written == 1:
                _report("connected")
            _report("written", frames=written)
    finally:
        if connection is not None:
            connection.close()


def main() -> None:
    _die_with_parent()
    try:
        run(sys.stdin.buffer)
    except Exception as exc:
        _report("error", error=f"{type(exc).__name__}: {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
