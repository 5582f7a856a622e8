"""Liveness (``/health``), readiness (``/ready``), and what the server can take: session capacity
(measured) and the renderer cache.

Liveness and readiness differ at start-up: the server answers at once, but its first seconds go to
warming up (the default avatar's renderer built and traced, its compiled kernels loaded, the motion
source's backend chosen, the capacity measured), and a session that arrives then waits for that
work (about 6 s on 2 cores). An orchestrator routes to ``/ready``'s 200 and restarts on ``/health``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from xactor.server import __version__
from xactor.server.errors import ErrorDoc, api_error, error_responses
from xactor.server.process_stats import process_stats

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    ready: bool = Field(
        description="The start-up warm-up is over: a session is answered without waiting for it."
    )
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
        ready=request.app.state.ready,
        sessions=len(manager),
        max_sessions=manager.limit,
        capacity=None if capacity is None else capacity.as_dict(),
        live_capacity=None if manager.live.estimate is None else manager.live.estimate.as_dict(),
        motion_source=manager.default_motion_source,
        renderer_cache=request.app.state.renderers.stats(),
        process=process_stats(),
    )


class Readiness(BaseModel):
    ready: bool = Field(description="The start-up warm-up is over.")
    capacity_measured: bool = Field(
        description="The warm-up measured the session capacity (false: it failed, and the log says why; "
        "the server serves at its configured limit)."
    )


WARMING_UP = ErrorDoc(
    503,
    "warming_up",
    "The start-up warm-up is still running (the default avatar's renderer, the motion source, the "
    "capacity measurement); sessions are accepted but the first waits for it",
    "Warming up: the capacity measurement is still running.",
    headers=(("Retry-After", "Seconds to wait before asking again"),),
)


@router.get("/ready", response_model=Readiness, responses=error_responses(WARMING_UP))
async def ready(request: Request) -> Readiness:
    """200 once the start-up warm-up is over, 503 before: a readiness probe's route (alive or not is
    ``/health``'s)."""
    if not request.app.state.ready:
        raise api_error(503, WARMING_UP.code, WARMING_UP.example, headers={"Retry-After": "1"})
    return Readiness(ready=True, capacity_measured=request.app.state.sessions.capacity is not None)
