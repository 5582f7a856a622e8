"""The WebSocket session's wire format (``WS /sessions/stream``), shared by server and clients.

Client → server
  1. first message, text: a :class:`StreamRequest` as JSON (avatar, options, input rate, output kinds);
  2. then binary messages: PCM16 little-endian mono at ``sample_rate`` (any length);
  3. text controls: ``{"type": "end_of_segment"}`` (what was sent so far is one utterance: a
     ``segment_end`` comes when its last frame is out), ``{"type": "clear_buffer"}`` (interrupt:
     queued speech is dropped at once; the next frame listens with its mouth closed, see
     :attr:`StreamRequest.on_clear`).

Server → client
  * text ``{"type": "session", ...}`` once: id, frame size, fps, the audio rate of frames;
  * binary, one per frame: a 20-byte header (:data:`HEADER`), then ``audio_samples`` PCM16 mono
    at 16 kHz (the stream audio up to the end of this frame: play it as it comes and picture and
    sound stay in sync), then the picture (``video``: ``jpeg``, ``rgb24`` rows, or nothing);
  * text events: ``segment_end`` (segment, position_s, interrupted), ``cleared`` (dropped_s),
    ``motion`` (with ``"motion": true``: :func:`xactor.engines.offline.motion_file.motion_record`),
    ``warning``, ``error`` (then the socket closes).

Every JSON text message a client sends goes through :func:`read_json` (size and nesting caps);
the request's unknown fields are refused.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from xactor.engines.timebase import SAMPLE_RATE
from xactor.server.live.options import SessionOptions

MAGIC = b"XAV1"
HEADER = struct.Struct("<4sIIHHI")  # magic, frame index, audio samples, width, height, video kind
VIDEO_KINDS: dict[str, int] = {"none": 0, "rgb24": 1, "jpeg": 2}

MAX_REQUEST_CHARS = 64 * 1024  # the first message (a request is well under 1 KiB)
MAX_CONTROL_CHARS = 4 * 1024  # a control message (``{"type": "clear_buffer"}``)
MAX_JSON_DEPTH = 16  # arrays and objects nested; a request needs 2


class WireError(ValueError):
    """A text message that is not acceptable JSON: ``bad_request`` (too long, too deep) or
    ``invalid_request`` (not JSON at all), the codes the session's refusals use."""

    def __init__(self, message: str, code: str = "bad_request") -> None:
        super().__init__(message)
        self.code = code


def read_json(text: str, max_chars: int) -> Any:
    """Parse a client's JSON text message, refusing what could hurt the server: more than
    ``max_chars`` characters, or more than :data:`MAX_JSON_DEPTH` levels of nesting (Python's
    parser recurses, so ``[[[[...`` 100,000 deep would otherwise raise ``RecursionError``)."""
    if len(text) > max_chars:
        raise WireError(f"message too long ({len(text)} characters; at most {max_chars})")
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _depth(text) > MAX_JSON_DEPTH:
        raise WireError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"not JSON: {exc}"[:160], "invalid_request") from None


def _depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` outside strings (a linear scan, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


class StreamRequest(BaseModel):
    """The first message of a WebSocket session. Unknown fields are refused: a typo such as
    ``"avatar"`` for ``"avatar_id"`` would otherwise animate the default avatar without a word."""

    model_config = ConfigDict(extra="forbid")

    avatar_id: str = Field("default", max_length=64, description="Avatar to animate")
    options: SessionOptions = Field(default_factory=SessionOptions)
    sample_rate: int = Field(
        SAMPLE_RATE, ge=8000, le=48000, description="Rate of the PCM16 mono the client sends"
    )
    video: Literal["jpeg", "rgb24", "none"] = Field("jpeg", description="Picture format of frames")
    jpeg_quality: int = Field(85, ge=10, le=100)
    motion: bool = Field(False, description="Also send each frame's motion as a 'motion' event")
    on_clear: Literal["close_mouth", "natural"] = Field(
        "close_mouth",
        description="At clear_buffer: 'close_mouth' (the next frame listens, mouth closed, and speech "
        "released but not yet played is muted) or 'natural' (the motion source closes the mouth "
        "itself over 2-4 frames; that speech still plays)",
    )


def encode_frame(out: Any, video: str, jpeg_quality: int = 85) -> bytes:
    """One frame message: header + PCM16 audio + picture (``out`` is a core ``FrameOut``)."""
    image: np.ndarray = out.frame.image  # [S, S, 3] RGB
    audio = (np.clip(out.audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    if video == "jpeg":
        ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        if not ok:  # pragma: no cover - OpenCV fails only on empty images
            raise ValueError("JPEG encoding failed")
        picture = buf.tobytes()
    elif video == "rgb24":
        picture = np.ascontiguousarray(image).tobytes()
    else:
        picture = b""
    h, w = image.shape[:2]
    header = HEADER.pack(MAGIC, out.frame.index, len(audio) // 2, w, h, VIDEO_KINDS[video])
    return header + audio + picture


def decode_frame(message: bytes) -> tuple[int, np.ndarray, np.ndarray | None]:
    """A frame message → (frame index, 16 kHz float32 audio, RGB picture [H, W, 3] or None)."""
    magic, index, n_audio, w, h, kind = HEADER.unpack_from(message)
    if magic != MAGIC:
        raise ValueError(f"not a frame message (magic {magic!r})")
    start = HEADER.size
    audio = np.frombuffer(message, "<i2", n_audio, start).astype(np.float32) / 32768.0
    payload = message[start + 2 * n_audio :]
    picture: np.ndarray | None = None
    if kind == VIDEO_KINDS["rgb24"]:
        picture = np.frombuffer(payload, np.uint8).reshape(h, w, 3)
    elif kind == VIDEO_KINDS["jpeg"]:
        decoded = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR)
        picture = decoded[:, :, ::-1].copy()
    return index, audio, picture
