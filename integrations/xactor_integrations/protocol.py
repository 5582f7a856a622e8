"""The WebSocket session's frame message, read on the client side (no server code needed).

Mirrors ``server/live/wire.py`` (a test in the server's suite checks the two agree): a 20-byte
header ``<4sIIHHI`` (``XAV1``, frame index, audio samples, width, height, video kind), the frame's
audio as PCM16 mono at 16 kHz, then the picture (kind 1: RGB rows; 2: JPEG; 0: none).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = b"XAV1"
HEADER = struct.Struct("<4sIIHHI")
VIDEO_KINDS: dict[str, int] = {"none": 0, "rgb24": 1, "jpeg": 2}
AUDIO_RATE = 16000
FPS = 25


@dataclass(frozen=True)
class AvatarFrame:
    """One frame of the avatar with the audio that goes with it."""

    index: int  # frame number on the session's 25 fps clock
    audio: bytes  # PCM16 mono at 16 kHz: the stream audio up to the end of this frame
    image: bytes  # the picture (RGB rows for rgb24, a JPEG file for jpeg, empty for none)
    width: int
    height: int
    kind: int

    @property
    def audio_samples(self) -> int:
        return len(self.audio) // 2


def parse_frame(message: bytes) -> AvatarFrame:
    magic, index, n_audio, width, height, kind = HEADER.unpack_from(message)
    if magic != MAGIC:
        raise ValueError(f"not an xactor frame message (magic {magic!r})")
    start = HEADER.size
    end = start + 2 * n_audio
    return AvatarFrame(index, message[start:end], message[end:], width, height, kind)
