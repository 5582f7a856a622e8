"""Offline video: rendered frames (and optional speech) → an H.264 MP4 through PyAV.

Video is libx264, yuv420p, at the motion frame rate. Audio, when given, is decoded with PyAV from
any format FFmpeg reads, resampled to 48 kHz stereo, encoded as AAC and interleaved with the
video as the frames come (each frame's audio is written right after it), then trimmed to the
video's length. :func:`render_video` drives any renderer (the :class:`xactor.engines.render.base.Renderer`
contract) batch by batch into such a file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np

from xactor.engines.timebase import FPS

if TYPE_CHECKING:
    from xactor.engines.render.base import Renderer

log = logging.getLogger(__name__)

AUDIO_RATE = 48_000


def read_audio(path: Path, rate: int = AUDIO_RATE) -> np.ndarray:
    """All audio of ``path`` as float32 [2, N] at ``rate`` (stereo; mono is duplicated)."""
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
    chunks = []
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError(f"{path} has no audio stream")
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    if not chunks:
        return np.zeros((2, 0), np.float32)
    return np.concatenate(chunks, axis=1).astype(np.float32)


class Mp4Writer:
    """Write RGB frames [H, W, 3] uint8 (and audio) to an MP4; use as a context manager."""

    def __init__(
        self,
        path: Path,
        size: tuple[int, int],
        fps: int = FPS,
        audio: np.ndarray | None = None,
        crf: int = 18,
    ) -> None:
        """``size`` is (width, height), both even; ``audio`` float32 [2, N] at 48 kHz or None."""
        if size[0] % 2 or size[1] % 2:
            raise ValueError(f"H.264 yuv420p needs even sides, got {size}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self.container = av.open(str(self.path), mode="w")
        self.video = self.container.add_stream("libx264", rate=fps, options={"crf": str(crf)})
        self.video.width, self.video.height = size
        self.video.pix_fmt = "yuv420p"
        self.video.codec_context.time_base = Fraction(1, fps)
        self.audio_samples = audio
        self.audio_stream = None
        self.audio_pos = 0
        if audio is not None:
            self.audio_stream = self.container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
            self.audio_stream.codec_context.time_base = Fraction(1, AUDIO_RATE)
        self.frames = 0

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, frame: np.ndarray) -> None:
        """Append one RGB frame [H, W, 3] uint8, then the audio up to its end time."""
        image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        image.pts = self.frames
        self.container.mux(self.video.encode(image))
        self.frames += 1
        self._write_audio_until(self.frames * AUDIO_RATE // self.fps)

    def write_all(self, frames: Iterable[np.ndarray]) -> None:
        for frame in frames:
            self.write(frame)

    def _write_audio_until(self, end: int, final: bool = False) -> None:
        if self.audio_stream is None or self.audio_samples is None:
            return
        end = min(end, self.audio_samples.shape[1])
        chunk = 1024  # AAC frame
        while self.audio_pos + (0 if final else chunk) <= end and self.audio_pos < end:
            stop = min(self.audio_pos + chunk, end)
            samples = np.ascontiguousarray(self.audio_samples[:, self.audio_pos : stop])
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
            frame.sample_rate = AUDIO_RATE
            frame.pts = self.audio_pos
            self.container.mux(self.audio_stream.encode(frame))
            self.audio_pos = stop

    def close(self) -> None:
        """Flush both encoders (audio trimmed to the video's length) and finish the file."""
        if self.container is None:
            return
        self._write_audio_until(self.frames * AUDIO_RATE // self.fps, final=True)
        self.container.mux(self.video.encode(None))
        if self.audio_stream is not None:
            self.container.mux(self.audio_stream.encode(None))
        self.container.close()
        self.container = None  # type: ignore[assignment]
        sound = ", with audio" if self.audio_stream else ""
        log.info("wrote %s: %d frames at %d fps%s", self.path, self.frames, self.fps, sound)


def write_mp4(
    path: Path,
    frames: Iterable[np.ndarray],
    size: tuple[int, int],
    fps: int = FPS,
    audio_path: Path | None = None,
) -> int:
    """Write ``frames`` (RGB uint8) to ``path``; mux ``audio_path`` when given. Returns the frame count."""
    audio = read_audio(audio_path) if audio_path is not None else None
    with Mp4Writer(path, size, fps, audio) as writer:
        writer.write_all(frames)
        return writer.frames


def render_video(
    path: Path,
    renderer: Renderer,
    motion: np.ndarray,
    fps: int = FPS,
    audio: np.ndarray | None = None,
    batch: int = 8,
    paste: Callable[[np.ndarray], np.ndarray] | None = None,
    on_frames: Callable[[int], None] | None = None,
) -> int:
    """Render ``motion`` [T, 40] with ``renderer``, ``batch`` frames per call, into an MP4 at ``path``.

    ``paste`` maps each rendered crop [S, S, 3] to the picture to write (e.g. the crop pasted back
    into the whole portrait); the video takes the size of the first such picture, cut to even
    sides for yuv420p. ``audio`` is float32 [2, N] at 48 kHz (see :func:`read_audio`).
    ``on_frames(n)`` is called after each batch is written (progress bars). Returns the number of
    frames written.
    """
    if len(motion) == 0:
        raise ValueError("no motion frames to render")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    writer: Mp4Writer | None = None
    width = height = 0
    try:
        for start in range(0, len(motion), batch):
            images = renderer.render(motion[start : start + batch])
            for image in images:
                picture = paste(image) if paste is not None else image
                if writer is None:
                    height, width = (side - side % 2 for side in picture.shape[:2])
                    writer = Mp4Writer(path, (width, height), fps, audio)
                writer.write(picture[:height, :width])
            if on_frames is not None:
                on_frames(len(images))
    finally:
        if writer is not None:
            writer.close()
    assert writer is not None  # motion is not empty
    return writer.frames
