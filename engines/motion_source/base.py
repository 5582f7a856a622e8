"""The motion-source interface: streaming 16 kHz audio in, 25 fps motion frames out (DESIGN §1, §3).

A motion source is the stage between the microphone and the renderer. The server pushes whatever
audio it has (any chunk length) and pulls every motion frame whose audio, plus the source's
lookahead, is complete. Frame ``k`` covers input samples ``[k * 640, (k + 1) * 640)`` and may look
``lookahead_frames`` frames further, so it becomes available once
``(k + 1 + lookahead_frames) * 640`` samples have been pushed.

Silence is not a pause: the server feeds silence (zeros) when the microphone is silent or stalled,
so frames keep coming and the portrait keeps listening (blinks, small head motion); it never
freezes. Implementations must treat zeros as ordinary input, not as "no data".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MotionFrame:
    """One motion frame produced by a :class:`MotionSource`."""

    index: int  # video frame number since the last reset (25 fps)
    motion: np.ndarray  # [MOTION_DIM=40] float32, inside engines.motion_space LOW/HIGH
    # Index in the 16 kHz input stream (counted from reset) of the newest audio sample this frame
    # depended on: (index + 1 + lookahead_frames) * 640 - 1. Used for latency accounting: the frame
    # can be no older than the moment that sample arrived.
    newest_sample: int
    speech: float  # 0..1 VAD speech weight at this frame


class MotionSource(ABC):
    """Push audio features, get motion frames, reset. One instance per session (it holds state)."""

    fps: int = 25
    sample_rate: int = 16000
    samples_per_frame: int = 640  # sample_rate / fps

    @property
    @abstractmethod
    def lookahead_frames(self) -> int:
        """Future frames of audio a frame needs before it can be produced (latency floor L × 40 ms)."""

    @abstractmethod
    def push_audio(self, samples: np.ndarray) -> None:
        """Append float32 16 kHz mono samples in [-1, 1], any length (zeros when the mic is silent)."""

    @abstractmethod
    def pull(self) -> list[MotionFrame]:
        """All frames whose audio plus lookahead is complete, in order; never the same frame twice."""

    @abstractmethod
    def reset(self) -> None:
        """Forget all audio and state; the next frame has index 0 and sample counting restarts."""
