"""Liveness, and what the server can take: session capacity (measured) and the renderer cache."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from xactor.server import __version__
from xactor.server.process_stats import process_stats

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    sessions: int = Field(description="Live sessions now open.")
    max_sessions: int = Field(description="Sessions admitted at once (max_sessions, or measured).")
    capacity: dict[str, Any] | None = Field(
        None, description="The start-up measurement (per-frame ms of each stage); null until measured."
    )
    live_capacity: dict[str, Any] | None = Field(
        None,
        description="What live sessions cost now (CPU cores and render-thread share per session, over a "
        "steady window) and the sessions that fit by it; once measured, it sets max_sessions (unless the "
        "max_sessions setting does). Null until a session has run for a window.",
    )
    motion_source: dict[str, Any] | None = Field(
        None,
        description="The default motion source that actually runs (a 'fallback' says why it is not the "
        "configured one); null until measured.",
    )
    renderer_cache: dict[str, Any] = Field(description="Shared per-avatar renderers: entries, bytes, hits.")
    process: dict[str, Any] = Field(
        description="RSS (MB), threads, descriptors, asyncio tasks: leaks show here."
    )


@router.get("/health", response_model=Health)
async def health(request: Request) -> Health:
    manager = request.app.state.sessions
    capacity = manager.capacity
    return Health(
        status="ok",
        version=__version__,
        sessions=len(manager),
        max_sessions=manager.limit,
        capacity=None if capacity is None else capacity.as_dict(),
        live_capacity=None if manager.live.estimate is None else manager.live.estimate.as_dict(),
        motion_source=manager.default_motion_source,
        renderer_cache=request.app.state.renderers.stats(),
        process=process_stats(),
    )
