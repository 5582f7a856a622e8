"""FastAPI application factory."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from engines.avatar.store import AvatarStore
from server.routers import avatars, health
from server.settings import Settings, get_settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; state (settings, stores) hangs off ``app.state``, never module globals."""
    settings = settings or get_settings()
    app = FastAPI(title="xactor", version="0.1.0", summary="Real-time streaming avatar server")
    app.state.settings = settings
    app.state.avatar_store = AvatarStore(
        settings.data_dir / "avatars",
        max_image_pixels=settings.max_image_pixels,
        min_face_px=settings.min_face_px,
    )
    app.include_router(health.router)
    app.include_router(avatars.router)
    return app
