"""FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from engines.avatar.store import AvatarStore
from server.auth import TokenRequired
from server.live.manager import SessionManager
from server.live.metrics import LiveMetrics
from server.routers import avatars, client_config, health, metrics, sessions
from server.settings import Settings, get_settings
from server.web import mount_web_client

log = logging.getLogger(__name__)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await app.state.sessions.close_all()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; state (settings, stores) hangs off ``app.state``, never module globals."""
    settings = settings or get_settings()
    app = FastAPI(
        title="xactor", version="0.1.0", summary="Real-time streaming avatar server", lifespan=_lifespan
    )
    app.state.settings = settings
    app.state.avatar_store = AvatarStore(
        settings.data_dir / "avatars",
        max_image_pixels=settings.max_image_pixels,
        min_face_px=settings.min_face_px,
    )
    app.state.live_metrics = LiveMetrics()
    app.state.sessions = SessionManager(settings, app.state.live_metrics)
    app.include_router(health.router)
    app.include_router(avatars.router, dependencies=[TokenRequired])
    app.include_router(sessions.router)
    app.include_router(client_config.router)
    app.include_router(metrics.router, dependencies=[TokenRequired])
    mount_web_client(app, settings.web_client_dir)  # last: it takes every path left over
    return app
