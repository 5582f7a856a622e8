"""Admission from what live sessions cost now, not only the start-up probe."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.live.conftest import make_app, serving
from xactor.server.live.live_capacity import LiveCapacity

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def feed(
    live: LiveCapacity, seconds: int, sessions: int, cpu_rate: float, busy_rate: float, t0: float = 0.0
) -> None:
    """Samples every second: CPU and render-thread seconds growing at the given rates."""
    for k in range(seconds + 1):
        t = t0 + k
        live.observe(cpu_s=cpu_rate * t, busy_s=busy_rate * t, sessions=sessions, t=t)


def test_no_estimate_before_a_steady_window() -> None:
    live = LiveCapacity(budget_share=0.75, window_s=10, cores=2)
    feed(live, 5, sessions=1, cpu_rate=0.4, busy_rate=0.3)
    assert live.estimate is None
    feed(live, 20, sessions=0, cpu_rate=0.01, busy_rate=0.0)
    assert live.estimate is None  # nothing runs: nothing measured


def test_the_render_thread_or_the_cores_bound_the_sessions() -> None:
    # 2 sessions using 0.6 core and 30 % of the render thread in all: 0.3 core and 15 % each.
    live = LiveCapacity(budget_share=0.75, window_s=10, cores=2)
    feed(live, 12, sessions=2, cpu_rate=0.6, busy_rate=0.3)
    est = live.estimate
    assert est is not None and est.measured_with == 2
    assert est.cpu_per_session == pytest.approx(0.3) and est.thread_share_per_session == pytest.approx(0.15)
    assert est.sessions == 5  # by cores: 0.75 * 2 / 0.3 = 5; by the thread: 0.75 / 0.15 = 5
    # A busier host: each session now costs twice the CPU (same render-thread share): fewer fit.
    feed(live, 12, sessions=3, cpu_rate=1.8, busy_rate=0.45, t0=100)
    assert live.estimate is not None and live.estimate.cpu_per_session == pytest.approx(0.6)
    assert live.estimate.sessions == 2  # by cores: 0.75 * 2 / 0.6 = 2.5; by the thread: 5


def test_a_change_in_sessions_restarts_the_window() -> None:
    live = LiveCapacity(budget_share=0.75, window_s=10, cores=2)
    feed(live, 8, sessions=1, cpu_rate=0.3, busy_rate=0.2)
    feed(live, 8, sessions=2, cpu_rate=0.6, busy_rate=0.4, t0=9)
    assert live.estimate is None


async def test_health_shows_both_and_the_live_figure_sets_the_limit(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    manager = app.state.sessions
    async with serving(app) as http:
        await manager.wait_measured()
        body = (await http.get("/health")).json()
        assert body["capacity"] is not None and body["live_capacity"] is None
        assert body["max_sessions"] == manager.capacity.sessions
        feed(manager.live, 12, sessions=1, cpu_rate=0.05, busy_rate=0.02)  # a cheap session
        body = (await http.get("/health")).json()
        assert body["live_capacity"]["sessions"] == body["max_sessions"] == manager.limit
        assert body["max_sessions"] >= 20  # the live cost, not the probe, sets it
