"""A whole speech signal through a streaming motion source: motion for every frame of the file.

Offline tools (``xactor animate``) drive the same :class:`~engines.motion_source.base.MotionSource`
the live server does, the same way — push audio, pull what is ready — so a file shows what a live
session would have shown. The end needs care: frame ``k`` waits for ``L`` frames of lookahead, and
a last partial frame for the rest of its samples, so the signal is padded with silence to whole
frames plus ``L`` frames (silence is ordinary input to every source: the tail relaxes naturally).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xactor.engines import motion_space as ms
from xactor.engines import timebase
from xactor.engines.motion_source.base import MotionFrame, MotionSource

CHUNK_SAMPLES = timebase.SAMPLE_RATE  # push one second at a time (progress granularity only)


def frame_count(samples: int) -> int:
    """Frames a signal of ``samples`` samples fills: its last partial frame counts."""
    return -(-samples // timebase.SAMPLES_PER_FRAME)


def motion_from_audio(
    source: MotionSource,
    samples: np.ndarray,
    on_frames: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """16 kHz mono ``samples`` [N] -> motion [T, 40] and speech weights [T], ``T = ceil(N / 640)``.

    ``source`` is reset first; ``on_frames(n)`` is called with each batch's frame count (progress).
    """
    source.reset()
    total = frame_count(samples.size)
    padded = np.zeros((total + source.lookahead_frames) * timebase.SAMPLES_PER_FRAME, np.float32)
    padded[: samples.size] = samples
    frames: list[MotionFrame] = []
    for start in range(0, padded.size, CHUNK_SAMPLES):
        source.push_audio(padded[start : start + CHUNK_SAMPLES])
        ready = source.pull()
        frames.extend(ready)
        if on_frames is not None and ready:
            on_frames(len(ready))
    if len(frames) != total or any(f.index != k for k, f in enumerate(frames)):
        raise RuntimeError(f"motion source gave {len(frames)} frames for {total} frames of audio")
    motion = np.zeros((0, ms.MOTION_DIM), np.float32)
    if frames:
        motion = np.stack([f.motion for f in frames]).astype(np.float32)  # [T, 40]
    return motion, np.array([f.speech for f in frames], np.float32)
