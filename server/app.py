"""FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from xactor.engines.avatar.store import AvatarStore
from xactor.server import log_redaction
from xactor.server.auth import TokenRequired
from xactor.server.errors import install_error_handlers
from xactor.server.gc_pauses import GcPauses, freeze_startup_objects
from xactor.server.live.manager import SessionManager
from xactor.server.live.metrics import LiveMetrics
from xactor.server.live.transport import install_connect_race_filter
from xactor.server.routers import avatars, client_config, health, metrics, outputs, sessions, stream, whep
from xactor.server.settings import Settings, get_settings
from xactor.server.stores import open_avatar_store, open_renderer_pool
from xactor.server.watchdog import LoopWatchdog, TurnTimer
from xactor.server.web import mount_web_client

log = logging.getLogger(__name__)


async def _measure_capacity(app: FastAPI) -> None:
    """Prepare the default avatar, build its renderer and measure the session capacity (off the loop);
    then the server is ready (``GET /ready``), whether the measurement worked or not."""
    manager: SessionManager = app.state.sessions
    store: AvatarStore = app.state.avatar_store
    try:
        bundle = await asyncio.to_thread(store.ensure_default)
        capacity = await asyncio.to_thread(manager.measure, bundle)
    except Exception:
        log.exception("measuring the session capacity failed; admitting %d", manager.limit)
        capacity = None
    if app.state.settings.gc_freeze:
        # The models and caches are loaded: later full collections skip them. Before any session is
        # admitted, since the collection that precedes the freeze stops every thread for ~0.2 s.
        freeze_startup_objects()
    manager.set_capacity(capacity)
    app.state.ready = True
    await asyncio.to_thread(_prepare_procedural, store, app.state.settings.procedural_avatars)


def _prepare_procedural(store: AvatarStore, count: int) -> None:
    """The configured number of procedural avatars, from held-out seeds (kept across restarts)."""
    from xactor.engines.procedural.avatar import TEST_SEED_BASE, add_procedural

    for k in range(count):
        try:
            bundle, created = add_procedural(store, TEST_SEED_BASE + k)
        except Exception:
            log.exception("preparing procedural avatar %d failed", TEST_SEED_BASE + k)
            continue
        if created:
            log.info("prepared procedural avatar %s (%s)", bundle.id, bundle.name)


async def _sample_live_costs(manager: SessionManager, every_s: float = 1.0) -> None:
    """The live capacity's samples (process CPU, render-thread time, sessions), every second."""
    while True:
        await asyncio.sleep(every_s)
        manager.sample_live()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    manager: SessionManager = app.state.sessions
    settings: Settings = app.state.settings
    # Kept after shutdown: a closed connection's task may be collected (and reported) later.
    install_connect_race_filter(asyncio.get_running_loop())
    watchdog = app.state.watchdog = LoopWatchdog(app.state.live_metrics, settings.loop_stall_ms / 1000)
    watchdog.start()
    gc_pauses = GcPauses(app.state.live_metrics, settings.loop_stall_ms / 1000)
    gc_pauses.start()
    manager.worker.on_turn = TurnTimer(app.state.live_metrics, settings.worker_stall_ms / 1000)
    manager.worker.start()
    measuring = asyncio.create_task(_measure_capacity(app), name="measure-capacity")
    app.state.background.add(measuring)
    measuring.add_done_callback(app.state.background.discard)
    # For the server's whole life, so not among the start-up's background tasks.
    sampler = asyncio.create_task(_sample_live_costs(manager), name="live-capacity")
    try:
        yield
    finally:
        sampler.cancel()
        for task in list(app.state.background):
            task.cancel()
        await asyncio.gather(sampler, *app.state.background, return_exceptions=True)
        await manager.close_all()
        await watchdog.stop()
        gc_pauses.stop()


OPENAPI_TAGS = [
    {
        "name": "sessions",
        "description": "Live sessions. Besides these routes, **`WS /sessions/stream`** runs a session over "
        "one WebSocket (OpenAPI cannot describe WebSockets): the first message is the request as JSON "
        '(`{"avatar_id", "options", "sample_rate", "video": "jpeg"|"rgb24"|"none", "motion"}`), then '
        "PCM16 mono as binary messages and the controls `end_of_segment` and `clear_buffer`; the server "
        "answers `session`, then one binary message per frame (20-byte header `<4sIIHHI`, the frame's "
        "16 kHz PCM16 audio, the picture) and JSON events (`segment_end`, `cleared`, `motion`, "
        "`warning`, `error`). A missing or wrong token gets HTTP 401 on the upgrade; other refusals "
        "close with 1008 (bad request) or 1013 (no free slot).",
    },
    {"name": "whep", "description": "WHEP playback of a session (RFC 9725 conventions, for egress)."},
    {"name": "outputs", "description": "RTMP pushes of a session to livestream ingests."},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; state (settings, stores) hangs off ``app.state``, never module globals."""
    settings = settings or get_settings()
    log_redaction.install(settings.token)  # before anything can log a request line with ?token=
    app = FastAPI(
        title="xactor",
        version="0.1.0",
        summary="Real-time streaming avatar server",
        lifespan=_lifespan,
        openapi_tags=OPENAPI_TAGS,
    )
    install_error_handlers(app)
    app.state.settings = settings
    app.state.avatar_store = open_avatar_store(settings)
    app.state.renderers = open_renderer_pool(settings)
    app.state.ready = False  # True once the start-up warm-up is over (GET /ready)
    app.state.background = set()  # tasks of the app (capacity measurement, renderer builds)
    app.state.live_metrics = LiveMetrics()
    app.state.sessions = SessionManager(settings, app.state.live_metrics, app.state.renderers)
    app.include_router(health.router)
    app.include_router(avatars.router, dependencies=[TokenRequired])
    app.include_router(sessions.router)
    app.include_router(stream.router)
    app.include_router(whep.router)
    app.include_router(outputs.router)
    app.include_router(client_config.router)
    app.include_router(metrics.router, dependencies=[TokenRequired])
    mount_web_client(app, settings.web_client_dir)  # last: it takes every path left over
    return app
