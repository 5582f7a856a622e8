"""What a session's core emits to its sinks, and the shapes of the sinks it owns.

The core (:mod:`xactor.server.live.core`) delivers every rendered frame, with the stream audio up to
its end, to its frame sinks: the WebRTC tracks, the WebSocket, WHEP viewers, RTMP outputs, the
motion channel. The sinks import these types; the core knows them only by the protocols below, so
no sink module and the core import each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from xactor.server.live.worker import RenderedFrame


@dataclass(frozen=True)
class FrameOut:
    """What a frame sink receives: the frame and the stream audio up to its end (16 kHz float32;
    it also covers any frames the worker skipped, so the audio has no gap)."""

    frame: RenderedFrame
    audio: np.ndarray  # [N] float32, the stream samples since the previous FrameOut
    # On the first frame after an interruption: the stream samples [start, end) a sink holding
    # audio of its own (the WebRTC return audio) must silence; the tape's are silenced already.
    muted: tuple[int, int] | None = None


FrameSink = Callable[[FrameOut], None]


class FrameOutput(Protocol):
    """A sink with a life of its own (an RTMP push): listed, described and stopped by id."""

    id: str

    def __call__(self, out: FrameOut) -> None: ...

    def stop(self, timeout: float = ...) -> None:
        """Flush and disconnect; blocking (called off the event loop)."""

    def describe(self) -> dict[str, Any]: ...


class Viewer(Protocol):
    id: str


class ViewerGroup(Protocol):
    """A session's WHEP viewers (:class:`xactor.server.live.whep.Broadcast`)."""

    async def add_viewer(self, offer_sdp: str) -> tuple[Viewer, str]: ...

    async def remove_viewer(self, viewer_id: str) -> bool: ...

    def stats(self) -> dict[str, object]: ...

    async def close(self) -> None: ...
