"""All live sessions of one app: admission by measured capacity, creation, lookup, closing them all.

The manager owns the process's shared :class:`RenderWorker` and uses the app's
:class:`RendererPool`, so a session on a prepared avatar costs only its peer connection: the
avatar's renderer was built once (at start-up for the default avatar, at upload for the others)
and is shared. Both kinds of session are admitted the same way, ``async with manager.admit() as
slot:`` around the opening (:meth:`SessionManager.admit`): the slot is reserved before any await,
so concurrent offers cannot overshoot the limit, and given back on every way out. The limit is
``Settings.max_sessions`` when set, else the capacity measured at start-up
(:mod:`xactor.server.live.capacity`); offers that arrive while it is being measured wait for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiortc import RTCSessionDescription

from xactor.engines.avatar.bundle import AvatarBundle
from xactor.engines.motion_source.base import MotionSource, MotionSourceOptions, create_motion_source
from xactor.engines.render.base import Renderer, RendererOptions
from xactor.engines.render.pool import RendererPool
from xactor.server.live.audio_in import Resampler
from xactor.server.live.capacity import BUDGET_SHARE, Capacity, measure_capacity
from xactor.server.live.encoding import VideoEncoder
from xactor.server.live.lifecycle import LiveSession
from xactor.server.live.live_capacity import LiveCapacity
from xactor.server.live.metrics import LiveMetrics
from xactor.server.live.options import OptionError, ResolvedOptions
from xactor.server.live.session import Session
from xactor.server.live.wire import StreamRequest
from xactor.server.live.worker import RenderWorker
from xactor.server.live.ws_session import Hangup, Send, StreamSession
from xactor.server.settings import Settings

log = logging.getLogger(__name__)

ResamplerFactory = Callable[[], Resampler]


class CapacityError(RuntimeError):
    """Every session slot is taken; the client should retry after ``retry_after`` seconds."""

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(f"all {limit} live sessions are in use; retry in {retry_after} s")
        self.retry_after = retry_after


class Slot:
    """One reserved session slot: given back once, by :meth:`release` (later calls do nothing).
    The session it admits takes its place in the table when it is registered."""

    def __init__(self, manager: SessionManager) -> None:
        self._manager: SessionManager | None = manager

    @property
    def held(self) -> bool:
        return self._manager is not None

    def release(self) -> None:
        manager, self._manager = self._manager, None
        if manager is not None:
            manager.release()


def default_resampler() -> Resampler:
    from xactor.engines.audio.resample import AudioResampler16k

    return AudioResampler16k()


class SessionManager:
    """Sessions by id; ``open`` admits and starts one, ``close_all`` runs on app shutdown."""

    def __init__(
        self,
        settings: Settings,
        metrics: LiveMetrics,
        pool: RendererPool,
        resampler_factory: ResamplerFactory = default_resampler,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.pool = pool
        self.resampler_factory = resampler_factory
        self.worker = RenderWorker(torch_threads=settings.torch_threads)
        self.sessions: dict[str, LiveSession] = {}
        self._pending = 0
        self.capacity: Capacity | None = None
        self.live = LiveCapacity(BUDGET_SHARE)  # what live sessions cost: replaces the probe's guess
        self._measured = asyncio.Event()
        # What the default motion source turned out to be (e.g. the heuristic standing in for a
        # generator without weights), from the start-up measurement; None until then.
        self.default_motion_source: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.sessions)

    # ---- capacity ---------------------------------------------------------------------------------
    @property
    def limit(self) -> int:
        """Sessions admitted at once: the setting; else what live sessions' costs allow, once
        measured; else the start-up measurement (1 until measured)."""
        if self.settings.max_sessions is not None:
            return self.settings.max_sessions
        if self.live.estimate is not None:
            return self.live.estimate.sessions
        return self.capacity.sessions if self.capacity is not None else 1

    def sample_live(self) -> None:
        """One sample of the live costs (the app calls it every second)."""
        self.live.observe(time.process_time(), self.worker.busy_s, len(self.sessions))
        self.metrics.capacity_sessions.set(self.limit)

    def options_for_default(self) -> ResolvedOptions:
        from xactor.server.live.options import SessionOptions

        return SessionOptions().resolve(self.settings)

    def _renderer_options(self, options: ResolvedOptions) -> RendererOptions:
        return RendererOptions(
            options.resolution, options.backend, self.settings.weights_dir, self.settings.render_threads
        )

    def renderer_for(self, bundle: AvatarBundle, options: ResolvedOptions) -> Renderer:
        """The shared renderer of ``bundle`` for these options (built on first use; blocking)."""
        return self.pool.get(options.renderer, bundle, self._renderer_options(options))

    def motion_source_for(self, options: ResolvedOptions) -> MotionSource:
        """A new motion source for a session; :class:`OptionError` when the options cannot run on
        it (e.g. a lookahead the generator's weights were not trained for). Blocking: the first
        ``generator`` source of the process loads its weights."""
        try:
            return create_motion_source(
                options.motion_source,
                MotionSourceOptions(
                    lookahead_frames=options.lookahead,
                    backend=options.backend,
                    weights_dir=self.settings.weights_dir,
                    emotion=options.emotion,
                    emotion_intensity=options.emotion_intensity,
                ),
            )
        except ValueError as exc:
            raise OptionError(str(exc)) from None

    def measure(self, bundle: AvatarBundle | None) -> Capacity:
        """Measure the capacity on ``bundle`` (the default avatar) with the default options; blocking.

        Builds the avatar's renderer in the pool as a side effect, so the first session is fast.
        """
        options = self.options_for_default()
        if bundle is None:
            raise ValueError("no avatar to measure on")
        renderer = self.renderer_for(bundle, options)

        def make_source() -> MotionSource:  # the one the default options give: note what runs
            source = self.motion_source_for(options)
            self.default_motion_source = {"configured": options.motion_source, **source.describe()}
            return source

        return measure_capacity(
            renderer,
            make_source,
            lambda: VideoEncoder(
                options.codec,
                options.bitrate,
                keyframe_interval_s=self.settings.keyframe_interval_s,
                h264_preset=self.settings.h264_preset,
            ),
        )

    async def prepare_avatar(self, bundle: AvatarBundle) -> None:
        """Build ``bundle``'s renderer for the default options now (after upload), off the loop, so
        its first session does not wait for it; a failure is logged and retried by that session."""
        options = self.options_for_default()
        if options.resolution not in bundle.sizes:
            return
        try:
            await asyncio.to_thread(self.renderer_for, bundle, options)
        except Exception:
            log.exception("preparing the renderer of avatar %s failed", bundle.id)

    def forget_avatar(self, avatar_id: str) -> int:
        """The avatar was deleted: drop its shared renderers (running sessions keep theirs)."""
        return self.pool.drop_avatar(avatar_id)

    def set_capacity(self, capacity: Capacity | None) -> None:
        """Record the measurement (None: it failed; the limit stays 1) and release waiting offers."""
        self.capacity = capacity
        self.metrics.capacity_sessions.set(self.limit)
        self._measured.set()

    async def wait_measured(self, timeout: float = 60.0) -> None:
        """Wait for the start-up measurement when the limit depends on it."""
        if self.settings.max_sessions is None and not self._measured.is_set():
            try:
                await asyncio.wait_for(self._measured.wait(), timeout)
            except TimeoutError:
                log.warning("capacity not measured after %.0f s; admitting %d", timeout, self.limit)

    # ---- admission --------------------------------------------------------------------------------
    def get(self, session_id: str) -> LiveSession | None:
        return self.sessions.get(session_id)

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[Slot]:
        """Admission for either kind of session: wait for the capacity measurement, take a slot
        (:class:`CapacityError` when none is free), and give it back when the block is left, on
        every path: ``async with manager.admit() as slot: ... await manager.open(..., slot=slot)``.
        :meth:`open` and :meth:`open_stream` hand the slot over to the session they register."""
        await self.wait_measured()
        slot = self.reserve()
        try:
            yield slot
        finally:
            slot.release()

    @property
    def free_slots(self) -> int:
        """Slots neither held by a session nor reserved by an offer being answered."""
        return max(self.limit - len(self.sessions) - self._pending, 0)

    def reserve(self) -> Slot:
        """Take a slot or raise :class:`CapacityError` (no wait); :meth:`admit` is the way in."""
        if self.free_slots == 0:
            self.metrics.sessions_rejected.labels("capacity").inc()
            raise CapacityError(self.limit, self.settings.retry_after_s)
        self._pending += 1
        return Slot(self)

    def release(self) -> None:
        """Give back a slot taken by :meth:`reserve` (a :class:`Slot` does it once for itself)."""
        self._pending = max(self._pending - 1, 0)

    def _hand_over(self, slot: Slot | None) -> None:
        """The session is in the table (or failed to get there): its slot is no longer pending.
        No ``slot``: one taken by :meth:`reserve` by hand (tests)."""
        if slot is None:
            self.release()
        else:
            slot.release()

    async def _stages(self, bundle: AvatarBundle, options: ResolvedOptions) -> tuple[Renderer, MotionSource]:
        """The avatar's shared renderer and a new motion source for a session (off the loop)."""
        if options.resolution not in bundle.sizes:
            raise OptionError(
                f"avatar {bundle.id} is prepared at sizes {list(bundle.sizes)}, not {options.resolution}"
            )
        renderer = self.pool.peek(options.renderer, bundle, self._renderer_options(options))
        if renderer is None:  # not built yet: build off the loop (about a second)
            try:
                renderer = await asyncio.to_thread(self.renderer_for, bundle, options)
            except ValueError as exc:  # it cannot run on this avatar (its domain, its weights)
                raise OptionError(str(exc)) from None
        source = await asyncio.to_thread(self.motion_source_for, options)  # may load weights
        return renderer, source

    async def open_stream(
        self,
        bundle: AvatarBundle,
        options: ResolvedOptions,
        request: StreamRequest,
        send: Send,
        hangup: Hangup | None = None,
        slot: Slot | None = None,
    ) -> StreamSession:
        """Start a WebSocket session on an admitted ``slot`` (handed over whatever happens)."""
        try:
            renderer, source = await self._stages(bundle, options)
            session = StreamSession(
                bundle.id,
                options,
                request,
                source,
                renderer,
                self.metrics,
                self.worker,
                send,
                hangup,
                on_closed=self._forget,
                id_prefix=self.settings.session_id_prefix,
            )
            self.sessions[session.id] = session
            self.metrics.sessions_active.set(len(self.sessions))
        finally:
            self._hand_over(slot)
        session.start()
        self._auto_output(session)
        log.info("stream session %s started: avatar %s, %d px", session.id, bundle.id, options.resolution)
        return session

    async def open(
        self,
        offer: RTCSessionDescription,
        bundle: AvatarBundle,
        options: ResolvedOptions,
        slot: Slot | None = None,
    ) -> tuple[Session, RTCSessionDescription]:
        """Start a session on an admitted ``slot`` (handed over whatever happens)."""
        try:
            renderer, source = await self._stages(bundle, options)
            self.worker.start()
            session = Session(
                bundle.id,
                options,
                source,
                renderer,
                self.resampler_factory(),
                self.metrics,
                self.worker,
                ice_servers=self.settings.rtc_ice_servers(),
                audio_prefetch=self.settings.audio_prefetch,
                stall_s=self.settings.mic_stall_ms / 1000.0,
                idle_timeout_s=self.settings.session_idle_timeout_s,
                connect_timeout_s=self.settings.connect_timeout_s,
                h264_preset=self.settings.h264_preset,
                keyframe_interval_s=self.settings.keyframe_interval_s,
                on_closed=self._forget,
                id_prefix=self.settings.session_id_prefix,
            )
            self.sessions[session.id] = session
            self.metrics.sessions_active.set(len(self.sessions))
        finally:
            self._hand_over(slot)
        try:
            answer = await session.start(offer)
        except BaseException:
            await session.close("start failed")
            raise
        self._auto_output(session)
        log.info(
            "session %s started: avatar %s, %s, %d px, lookahead %d, %s + %s on %s",
            session.id,
            bundle.id,
            session.codec,
            options.resolution,
            options.lookahead,
            source.name if source.name == options.motion_source else f"{source.name} (fallback)",
            options.renderer,
            options.backend,
        )
        return session, answer

    def _auto_output(self, session: LiveSession) -> None:
        """``rtmp_url`` set: every session is pushed there too (``xactor serve --rtmp``)."""
        if self.settings.rtmp_url:
            session.add_rtmp_output(self.settings.rtmp_url)

    async def _forget(self, session: LiveSession) -> None:
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
        await asyncio.to_thread(self.worker.stop)

    def stats(self) -> list[dict[str, Any]]:
        """Every session's stats (a copy of the table: sessions may close meanwhile)."""
        return [s.stats() for s in list(self.sessions.values())]
