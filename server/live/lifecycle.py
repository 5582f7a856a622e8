"""What every live session shares, whatever carries it: identity, age, its tasks, one teardown.

The session owns its sinks beyond its own client: WHEP viewers (:meth:`LiveSession.add_viewer`,
one :class:`~server.live.whep.Broadcast` made on the first) and RTMP outputs
(:meth:`LiveSession.add_rtmp_output`); routers only check requests and call these.

Subclasses (the WebRTC :class:`~server.live.session.Session`, the WebSocket
:class:`~server.live.ws_session.StreamSession`) spawn their tasks with :meth:`_spawn` and say
how to take their transport down in :meth:`_teardown`. :meth:`close` is idempotent, safe from
anywhere on the loop, and concurrent calls wait for the same teardown; every spawned task is
cancelled and awaited, and ``on_closed`` (the manager's bookkeeping) runs last.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import numpy as np

from xactor.server.live.core import SessionCore
from xactor.server.live.frames import FrameOutput, Viewer
from xactor.server.live.metrics import LiveMetrics
from xactor.server.live.options import ResolvedOptions
from xactor.server.live.rtmp import RtmpOutput
from xactor.server.live.whep import Broadcast
from xactor.server.settings import Settings

if TYPE_CHECKING:
    from xactor.server.live.tracks import AvatarVideoTrack

log = logging.getLogger(__name__)


class LiveSession(ABC):
    """Base of the live sessions (see module docstring)."""

    transport = "unknown"
    core: SessionCore  # the transport-independent pipeline (server/live/core.py)

    def __init__(
        self,
        avatar_id: str,
        options: ResolvedOptions,
        metrics: LiveMetrics,
        on_closed: Callable[[Any], Awaitable[None] | None] | None = None,
        id_prefix: str = "",
    ) -> None:
        self.id = id_prefix + uuid.uuid4().hex[:16]  # a cluster worker's prefix names the owner
        self.replica: str | None = id_prefix.rstrip("-") or None  # the cluster replica that owns it
        self.avatar_id = avatar_id
        self.options = options
        self.metrics = metrics
        self.created = time.time()
        self._t0 = time.monotonic()
        self._on_closed = on_closed
        self.close_reason: str | None = None
        self._closing: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run ``coro`` as one of this session's tasks (cancelled and awaited at teardown)."""
        task = asyncio.ensure_future(coro)
        task.set_name(f"{name}-{self.id}")
        self._tasks.append(task)

    def _spawn_close(self, reason: str) -> None:
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close(reason))

    async def close(self, reason: str = "closed") -> None:
        """Tear everything down once; later and concurrent calls wait for the same teardown."""
        self._spawn_close(reason)
        assert self._closing is not None
        await asyncio.shield(self._closing)

    @property
    def closing(self) -> bool:
        return self._closing is not None

    @property
    def closed(self) -> bool:
        return self._closing is not None and self._closing.done()

    @property
    def age_s(self) -> float:
        return round(time.monotonic() - self._t0, 2)

    async def _close(self, reason: str) -> None:
        self.close_reason = reason
        log.info("closing %s session %s: %s", self.transport, self.id, reason)
        current = asyncio.current_task()
        others = [t for t in self._tasks if t is not current]
        for task in others:
            task.cancel()
        await self._teardown(reason)
        await asyncio.gather(*others, return_exceptions=True)
        self._tasks.clear()
        if self._on_closed is not None:
            result = self._on_closed(self)
            if asyncio.iscoroutine(result):
                await result

    @abstractmethod
    async def _teardown(self, reason: str) -> None:
        """Take this session's pipeline and transport down (its tasks are already cancelled)."""

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """Live stats for ``GET /sessions`` (times in ms)."""

    @abstractmethod
    def clear(self) -> float:
        """Interrupt: drop the speech queued for the avatar (pushed audio, ``say``) and close its
        mouth on the next frame; returns the seconds dropped."""

    def shared_video(self) -> AvatarVideoTrack | None:
        """The video encode this session already makes for its own client, for its WHEP viewers to
        share; None where it makes none (the viewers' broadcast then encodes)."""
        return None

    # ---- sinks beyond the session's own client -----------------------------------------------------
    async def add_viewer(self, offer_sdp: str, settings: Settings) -> tuple[Viewer, str]:
        """A WHEP viewer for ``offer_sdp`` (already through the viewer checks): the viewer and the
        SDP answer. The viewers' :class:`~server.live.whep.Broadcast` is made on the first one, with
        the server's WebRTC settings; raises :class:`~server.live.whep.ViewerError` (or
        :class:`~server.live.whep.TooManyViewersError`) for an offer it cannot serve."""
        broadcast = self.core.broadcast
        if broadcast is None:
            broadcast = self.core.broadcast = Broadcast(
                self.id,
                self.core,
                self.options.codec,
                self.options.bitrate,
                shared=self.shared_video(),
                ice_servers=settings.rtc_ice_servers(),
                keyframe_interval_s=settings.keyframe_interval_s,
                h264_preset=settings.h264_preset,
                max_viewers=settings.max_viewers,
                connect_timeout_s=settings.connect_timeout_s,
            )
        return await broadcast.add_viewer(offer_sdp)

    async def remove_viewer(self, viewer_id: str) -> bool:
        """End one WHEP viewer; False if there is none by that id."""
        broadcast = self.core.broadcast
        return broadcast is not None and await broadcast.remove_viewer(viewer_id)

    def add_rtmp_output(self, url: str) -> FrameOutput:
        """Push this session to the RTMP ingest ``url`` (H.264 + AAC) from now on."""
        output = RtmpOutput(url, self.id, bitrate=max(self.options.bitrate, 1_000_000))
        self.core.add_output(output)
        return output

    @property
    def outputs(self) -> list[FrameOutput]:
        """The session's RTMP outputs."""
        return list(self.core.outputs.values())

    async def remove_output(self, output_id: str) -> bool:
        """Stop one output (flushes and disconnects); False if there is none by that id."""
        return await self.core.remove_output(output_id)

    @abstractmethod
    def say(self, speech: np.ndarray) -> int | None:
        """Speak 16 kHz ``speech`` (presenter mode); its segment number where the transport has
        segments."""
