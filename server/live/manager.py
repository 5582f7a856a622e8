"""All live sessions of one app: admission (limit, avatar), creation, lookup, closing them all.

Heavy per-session set-up (loading the avatar's renderer, the motion source's models) runs in a
worker thread. The slot is reserved before any await, so concurrent offers cannot overshoot
``max_sessions``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from aiortc import RTCSessionDescription

from engines.avatar.bundle import AvatarBundle
from engines.motion_source.base import MotionSource
from engines.motion_space import MOTION_DIM
from server.live.audio_in import Resampler
from server.live.metrics import LiveMetrics
from server.live.options import ResolvedOptions
from server.live.session import OfferError, Session
from server.live.worker import FrameRenderer
from server.settings import Settings

log = logging.getLogger(__name__)

RendererFactory = Callable[[AvatarBundle, int], FrameRenderer]
MotionFactory = Callable[[int], MotionSource]
ResamplerFactory = Callable[[], Resampler]


class CapacityError(RuntimeError):
    """Every session slot is taken; the client should retry after ``retry_after`` seconds."""

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(f"all {limit} live sessions are in use; retry in {retry_after} s")
        self.retry_after = retry_after


def default_renderer(bundle: AvatarBundle, size: int) -> FrameRenderer:
    from engines.warp.renderer import AvatarRenderer

    return AvatarRenderer.from_bundle(bundle, size=size)


def default_motion_source(lookahead: int) -> MotionSource:
    from engines.motion_source.heuristic import HeuristicMotionSource

    return HeuristicMotionSource(lookahead_frames=lookahead)


def default_resampler() -> Resampler:
    from engines.audio.resample import AudioResampler16k

    return AudioResampler16k()


class SessionManager:
    """Sessions by id; ``open`` admits and starts one, ``close_all`` runs on app shutdown."""

    def __init__(
        self,
        settings: Settings,
        metrics: LiveMetrics,
        renderer_factory: RendererFactory = default_renderer,
        motion_factory: MotionFactory = default_motion_source,
        resampler_factory: ResamplerFactory = default_resampler,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.renderer_factory = renderer_factory
        self.motion_factory = motion_factory
        self.resampler_factory = resampler_factory
        self.sessions: dict[str, Session] = {}
        self._pending = 0

    def __len__(self) -> int:
        return len(self.sessions)

    def get(self, session_id: str) -> Session | None:
        return self.sessions.get(session_id)

    def reserve(self) -> None:
        """Take a slot or raise :class:`CapacityError`; pair with :meth:`release` or :meth:`open`."""
        if len(self.sessions) + self._pending >= self.settings.max_sessions:
            self.metrics.sessions_rejected.labels("capacity").inc()
            raise CapacityError(self.settings.max_sessions, self.settings.retry_after_s)
        self._pending += 1

    def release(self) -> None:
        self._pending = max(self._pending - 1, 0)

    async def open(
        self, offer: RTCSessionDescription, bundle: AvatarBundle, options: ResolvedOptions
    ) -> tuple[Session, RTCSessionDescription]:
        """Start a session for a reserved slot (the slot is released whatever happens)."""
        try:
            if options.resolution not in bundle.sizes:
                raise OfferError(
                    f"avatar {bundle.id} is prepared at sizes {list(bundle.sizes)}, not {options.resolution}"
                )
            renderer, source = await asyncio.to_thread(self._build, bundle, options)
            session = Session(
                bundle.id,
                options,
                source,
                renderer,
                self.resampler_factory(),
                self.metrics,
                ice_servers=self.settings.ice_servers,
                audio_prefetch=self.settings.audio_prefetch,
                stall_s=self.settings.mic_stall_ms / 1000.0,
                idle_timeout_s=self.settings.session_idle_timeout_s,
                h264_preset=self.settings.h264_preset,
                keyframe_interval_s=self.settings.keyframe_interval_s,
                on_closed=self._forget,
            )
            self.sessions[session.id] = session
            self.metrics.sessions_active.set(len(self.sessions))
        finally:
            self.release()
        try:
            answer = await session.start(offer)
        except BaseException:
            await session.close("start failed")
            raise
        log.info(
            "session %s started: avatar %s, %s, %d px, lookahead %d",
            session.id,
            bundle.id,
            session.codec,
            options.resolution,
            options.lookahead,
        )
        return session, answer

    def _build(self, bundle: AvatarBundle, options: ResolvedOptions) -> tuple[FrameRenderer, MotionSource]:
        """Renderer and motion source for a session, warmed up before the answer: a new renderer's
        first call pays for allocations and torch's first-call work (measured ~150 ms, then ~5 ms),
        and the first frame must not."""
        renderer = self.renderer_factory(bundle, options.resolution)
        renderer.render(np.zeros((1, MOTION_DIM), dtype=np.float32))  # neutral face, result unused
        return renderer, self.motion_factory(options.lookahead)

    async def _forget(self, session: Session) -> None:
        self.sessions.pop(session.id, None)
        self.metrics.sessions_active.set(len(self.sessions))

    async def close(self, session_id: str, reason: str = "closed by client") -> bool:
        """Close one session and wait until it is gone; False if there is no such session."""
        session = self.sessions.get(session_id)
        if session is None:
            return False
        await session.close(reason)
        return True

    async def close_all(self, reason: str = "server shutting down") -> None:
        sessions = list(self.sessions.values())
        if sessions:
            log.info("closing %d live sessions", len(sessions))
        await asyncio.gather(*(s.close(reason) for s in sessions), return_exceptions=True)

    def stats(self) -> list[dict[str, Any]]:
        return [s.stats() for s in self.sessions.values()]
