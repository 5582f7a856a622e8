"""The worker deployment: one replica per device, each running the whole single-process app.

A replica owns its sessions' peer connections (their media goes straight to this process, never
through the ingress), KV caches, avatar renderers and the batched render worker. It tells Serve's
router its free slots (``record_routing_stats``), fails ``check_health`` when its render thread
stops turning, and on shutdown (a redeploy, a scale-down) lets its sessions finish first.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from xactor.server.cluster.calls import HttpCall, HttpReply, Route, SocketFeed, SocketOpen
from xactor.server.cluster.tunnel import AsgiTunnel

log = logging.getLogger(__name__)

RENDER_STALL_S = 10.0  # the render thread turns every 0.25 s even when idle
DRAIN_POLL_S = 0.5


def gone_reply(tag: str, owner: str) -> HttpReply:
    """410 in the API's error shape: the replica that owned the session is gone with its sessions."""
    from xactor.server.errors import ErrorDetail, ErrorResponse

    body = ErrorResponse(
        detail=ErrorDetail(
            code="session_gone",
            message=f"The worker that owned this session ({owner}) is gone, and the session with it; "
            "start a new session (POST /sessions).",
        )
    )
    return HttpReply(410, (("content-type", "application/json"),), body.model_dump_json().encode(), tag)


def health_problem(render_alive: bool, last_turn_age_s: float) -> str | None:
    """Why this replica cannot serve (None when it can): Serve replaces a replica that says so."""
    if not render_alive:
        return "the render thread is not running"
    if last_turn_age_s > RENDER_STALL_S:
        return f"the render thread has not turned for {last_turn_age_s:.0f} s"
    return None


class Worker:
    """The deployment's class (wrapped by ``serve.deployment`` in :mod:`.launch`)."""

    async def __init__(self, settings: dict[str, Any], drain_s: float = 60.0) -> None:  # type: ignore[misc]
        from ray import serve

        from xactor.server.app import create_app
        from xactor.server.settings import Settings

        self.tag = serve.get_replica_context().replica_id.unique_id
        self.settings = Settings(**{**settings, "session_id_prefix": f"{self.tag}-"})
        self.app = create_app(self.settings)
        self.tunnel = AsgiTunnel(self.app, self.tag)
        await self.tunnel.start()
        self.drain_s = drain_s
        self.draining = False
        self.stopped = False
        self._seq = 0
        log.info("worker %s ready (pid %d)", self.tag, os.getpid())

    # ---- the API, tunnelled -------------------------------------------------------------------
    async def http(self, call: HttpCall) -> HttpReply:
        if call.route.owner is not None and call.route.owner != self.tag:
            return gone_reply(self.tag, call.route.owner)
        return await self.tunnel.http(call)

    async def socket(self, opening: SocketOpen) -> AsyncIterator[dict[str, Any]]:
        async for message in self.tunnel.socket(opening):
            yield message

    async def feed(self, feed: SocketFeed) -> bool:
        return self.tunnel.feed(feed)

    # ---- what Serve asks ------------------------------------------------------------------------
    def describe(self, route: Route | None = None) -> dict[str, Any]:
        """Sessions, slots and the start-up measurement: the routing stats and ``/health``'s row."""
        manager = self.app.state.sessions
        capacity = manager.capacity
        self._seq += 1
        return {
            "tag": self.tag,
            "seq": self._seq,
            "at": time.time(),  # when it was taken: the router counts its own placements after it
            "sessions": len(manager),
            "limit": manager.limit,
            "free": 0 if self.draining else manager.free_slots,
            "frame_ms": None if capacity is None else round(capacity.frame_ms, 2),
            "draining": self.draining,
            "ready": bool(self.app.state.ready),  # its start-up warm-up is over (its own GET /ready)
            "pid": os.getpid(),
            "node": _node_address(),
            "node_id": _node_id(),
        }

    async def record_routing_stats(self) -> dict[str, Any]:
        return self.describe()

    async def check_health(self) -> None:
        worker = self.app.state.sessions.worker
        problem = health_problem(worker.alive, time.monotonic() - worker.last_turn_at)
        if problem is not None:
            log.error("worker %s unhealthy: %s", self.tag, problem)
            raise RuntimeError(problem)

    def __del__(self) -> Coroutine[Any, Any, None] | None:
        """Serve's stop hook: it calls this, and awaits what it returns, once it has stopped routing
        to the replica. The garbage collector calls it again later: by then there is nothing to do
        (an ``async def __del__`` would leave an un-awaited coroutine behind on that call)."""
        if getattr(self, "stopped", True):
            return None
        self.stopped = True
        return self.drain()

    async def drain(self) -> None:
        """Report no free slots, wait (up to ``drain_s``) for the sessions to end, shut the app down."""
        self.draining = True
        manager = self.app.state.sessions
        deadline = time.monotonic() + self.drain_s
        if len(manager):
            log.info("worker %s draining: %d sessions, up to %.0f s", self.tag, len(manager), self.drain_s)
        while len(manager) and time.monotonic() < deadline:
            await asyncio.sleep(DRAIN_POLL_S)
        await self.tunnel.stop()


def _node_address() -> str:
    import ray

    return str(ray.util.get_node_ip_address())


def _node_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())
