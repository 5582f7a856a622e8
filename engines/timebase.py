"""The one time base of xactor (docs/ARCHITECTURE.md §4): 16 kHz mono audio, 25 video frames a second.

Every stage counts time in these units: input samples since the session's start, 10 ms feature
rows (``HOP`` samples) and 40 ms video frames (``SAMPLES_PER_FRAME`` samples). Frame ``k`` owns
samples ``[k * 640, (k + 1) * 640)`` and feature rows ``4k .. 4k + 3``. Nothing else in the
project may spell these numbers out.
"""

from __future__ import annotations

SAMPLE_RATE = 16000  # Hz, mono float32 in [-1, 1]
FPS = 25  # video and motion frames a second
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640 samples = 40 ms
FRAME_SECONDS = 1.0 / FPS
HOP = 160  # feature row step: 10 ms
ROWS_PER_FRAME = SAMPLES_PER_FRAME // HOP  # 4


def frame_end_sample(index: int, lookahead_frames: int = 0) -> int:
    """Index of the last input sample frame ``index`` (plus its lookahead) depends on."""
    return (index + 1 + lookahead_frames) * SAMPLES_PER_FRAME - 1


def frames_available(samples: int, lookahead_frames: int = 0) -> int:
    """How many whole frames ``samples`` pushed samples complete, keeping ``lookahead_frames`` back."""
    return max(samples // SAMPLES_PER_FRAME - lookahead_frames, 0)
