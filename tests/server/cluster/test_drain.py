"""Draining: a worker Serve is stopping (a redeploy, a scale-down) reports no free slots and lets
its sessions finish before it shuts its app down (bounded by ``drain_s``)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pytest

from tests.server.live.conftest import make_app
from xactor.server.cluster.calls import Route, SocketFeed, SocketOpen
from xactor.server.cluster.tunnel import AsgiTunnel
from xactor.server.cluster.worker import Worker

pytestmark = [pytest.mark.anyio, pytest.mark.ray]  # Ray's threads stay: run last


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _worker(data_dir: Path, drain_s: float) -> Worker:
    """A worker as Serve would build it, without Serve (its constructor asks Serve for its tag)."""
    worker = Worker.__new__(Worker)
    worker.tag = "r1"
    worker.app = make_app(data_dir, max_sessions=2, session_id_prefix="r1-")
    worker.tunnel = AsgiTunnel(worker.app, "r1")
    worker.drain_s, worker.draining, worker.stopped, worker._seq = drain_s, False, False, 0
    await worker.tunnel.start()
    return worker


async def _open_session(worker: Worker) -> tuple[object, str]:
    stream = worker.tunnel.socket(SocketOpen(Route(place=True), "k", "/sessions/stream"))
    await anext(stream)  # tunnel.open
    await anext(stream)  # websocket.accept
    request = {"avatar_id": "default", "sample_rate": 16000, "video": "none"}
    pcm = np.zeros(3200, dtype=np.int16).tobytes()
    messages = (
        {"type": "websocket.receive", "text": json.dumps(request)},
        {"type": "websocket.receive", "bytes": pcm},
    )
    worker.tunnel.feed(SocketFeed(Route(owner="r1"), "k", messages))
    session = json.loads((await asyncio.wait_for(anext(stream), 30))["text"])
    return stream, session["session_id"]


async def test_a_stopping_worker_waits_for_its_sessions_within_its_bound(tmp_path: Path) -> None:
    """One worker, two drains: a session that ends is waited for; one that never ends is closed
    at the bound (``drain_s``)."""
    worker = await _worker(tmp_path, drain_s=20.0)
    stream, session_id = await _open_session(worker)
    assert worker.describe()["free"] == 1
    t0 = time.monotonic()
    stopping = asyncio.ensure_future(worker.drain())
    await asyncio.sleep(1.0)
    assert not stopping.done(), "shut down with a session still live"
    row = worker.describe()
    assert row["draining"] and row["free"] == 0 and row["sessions"] == 1
    worker.tunnel.feed(SocketFeed(Route(owner="r1"), "k", ({"type": "websocket.disconnect", "code": 1000},)))
    await asyncio.wait_for(stopping, 10)
    assert time.monotonic() - t0 >= 1.0
    assert len(worker.app.state.sessions) == 0 and session_id.startswith("r1-")
    await stream.aclose()

    # The bound: start the app again, and drain with a session that never ends.
    worker.drain_s, worker.draining = 1.0, False
    await worker.tunnel.start()
    stream, _ = await _open_session(worker)
    t0 = time.monotonic()
    await asyncio.wait_for(worker.__del__(), 15)  # type: ignore[arg-type]  # what Serve awaits
    assert 1.0 <= time.monotonic() - t0 < 10
    assert len(worker.app.state.sessions) == 0
    assert worker.__del__() is None  # the collector's later call: nothing left to do
    await stream.aclose()
