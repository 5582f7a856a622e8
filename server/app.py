"""FastAPI application factory."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from server.routers import health
from server.settings import Settings, get_settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; state (settings, stores) hangs off ``app.state``, never module globals."""
    settings = settings or get_settings()
    app = FastAPI(title="xactor", version="0.1.0", summary="Real-time streaming avatar server")
    app.state.settings = settings
    app.include_router(health.router)
    return app
