"""The watchdog sees a blocked event loop (while blocked, with the culprit's stack, and in the
metrics) and a slow render-worker turn; an idle loop shows lag well under the threshold."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.server.live.conftest import make_app
from xactor.server.live.metrics import LiveMetrics
from xactor.server.live.worker import RenderWorker
from xactor.server.watchdog import LoopWatchdog, TurnTimer


def _value(text: str, name: str) -> float:
    """A sample's value in Prometheus text exposition."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert match, name
    return float(match.group(1))


async def _block_the_loop() -> dict[str, bool]:
    time.sleep(0.3)  # the mistake the watchdog is for
    return {"blocked": True}


def test_a_blocking_handler_is_a_stall_in_metrics_and_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(tmp_path / "data", max_sessions=1)
    app.router.routes.insert(0, APIRoute("/test/block", _block_the_loop))  # before the web client's catch-all
    with TestClient(app) as client, caplog.at_level(logging.WARNING, logger="xactor.server.watchdog"):
        time.sleep(0.2)  # a few probes
        before = client.get("/metrics").text
        caplog.clear()
        assert client.get("/test/block").json() == {"blocked": True}
        time.sleep(0.2)  # the probe wakes (late) right after; let it record
        after = client.get("/metrics").text
    assert _value(after, "xactor_loop_stalls_total") >= _value(before, "xactor_loop_stalls_total") + 1
    assert _value(after, "xactor_loop_lag_max_seconds") >= 0.2
    over = 'xactor_loop_lag_seconds_bucket{le="0.1"}'
    total = "xactor_loop_lag_seconds_count"
    assert (_value(after, total) - _value(after, over)) > (_value(before, total) - _value(before, over))
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    caught = [m for m in messages if "blocked for" in m and "so far" in m]
    assert any("_block_the_loop" in m and "time.sleep(0.3)" in m for m in caught), messages


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_a_blocked_loop_is_logged_while_blocked_and_after(caplog: pytest.LogCaptureFixture) -> None:
    metrics = LiveMetrics()
    watchdog = LoopWatchdog(metrics, stall_s=0.1)
    watchdog.start()
    with caplog.at_level(logging.WARNING, logger="xactor.server.watchdog"):
        try:
            await asyncio.sleep(0.1)
            asyncio.get_running_loop().call_soon(time.sleep, 0.3)
            await asyncio.sleep(0.15)
        finally:
            await watchdog.stop()
    assert metrics.loop_stalls._value.get() == 1
    assert 0.2 < metrics.loop_lag_max_seconds._value.get() < 0.45
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "so far" in messages[0] and "call_soon(time.sleep, 0.3)" not in messages[0]  # the running frame
    assert "was blocked for" in messages[1]


@pytest.mark.anyio
async def test_an_idle_loop_lags_well_under_the_threshold() -> None:
    metrics = LiveMetrics()
    watchdog = LoopWatchdog(metrics, stall_s=0.1)
    watchdog.start()
    try:
        await asyncio.sleep(1.0)
    finally:
        await watchdog.stop()
    samples = {s.name: s.value for s in metrics.loop_lag_seconds.collect()[0].samples if not s.labels}
    assert samples["xactor_loop_lag_seconds_count"] >= 10
    assert metrics.loop_stalls._value.get() == 0
    assert metrics.loop_lag_max_seconds._value.get() < 0.1
    assert samples["xactor_loop_lag_seconds_sum"] / samples["xactor_loop_lag_seconds_count"] < 0.02


class _SlowStream:
    """Just enough of a FrameStream for a turn: its ``feed`` takes ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.active = False
        self.closed = False

    def feed(self) -> bool:
        time.sleep(self.seconds)
        return False


def test_a_slow_worker_turn_is_a_stall(caplog: pytest.LogCaptureFixture) -> None:
    metrics = LiveMetrics()
    worker = RenderWorker()
    worker.on_turn = TurnTimer(metrics, stall_s=0.25)
    worker.turn()  # no streams: an idle turn is not timed
    assert metrics.worker_turn_seconds.collect()[0].samples[-2].value == 0  # _count
    worker._streams[1] = _SlowStream(0.0)  # type: ignore[assignment]
    worker.turn()
    assert metrics.worker_stalls._value.get() == 0
    worker._streams[1] = _SlowStream(0.3)  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING, logger="xactor.server.watchdog"):
        worker.turn()
    assert metrics.worker_stalls._value.get() == 1
    count = {s.name: s.value for s in metrics.worker_turn_seconds.collect()[0].samples if not s.labels}
    assert count["xactor_worker_turn_seconds_count"] == 2 and count["xactor_worker_turn_seconds_sum"] >= 0.3
    assert any("render worker turn took" in r.getMessage() for r in caplog.records)
