"""A worker replica's health: its render thread must keep turning (Serve replaces it otherwise)."""

from __future__ import annotations

import time

from xactor.server.cluster.worker import RENDER_STALL_S, gone_reply, health_problem
from xactor.server.live.worker import RenderWorker


def test_a_stopped_or_stuck_render_thread_is_unhealthy() -> None:
    assert health_problem(True, 0.3) is None
    assert "not running" in (health_problem(False, 0.0) or "")
    assert "not turned" in (health_problem(True, RENDER_STALL_S + 1) or "")


def test_an_idle_render_thread_still_turns() -> None:
    """The check relies on the idle thread waking every 0.25 s: a real worker, no sessions."""
    worker = RenderWorker()
    worker.start()
    try:
        before = worker.last_turn_at
        time.sleep(0.8)
        assert worker.alive and worker.last_turn_at > before
        assert health_problem(worker.alive, time.monotonic() - worker.last_turn_at) is None
    finally:
        worker.stop()
    assert health_problem(worker.alive, 0.0) is not None


def test_gone_is_the_documented_error_shape() -> None:
    reply = gone_reply("r1", "r2")
    assert reply.status == 410
    assert b'"code":"session_gone"' in reply.body and b"r2" in reply.body
