"""The session manager on its own (no HTTP): admission, the measured limit, open, timeouts, shutdown."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from tests.server.live.conftest import BAR, BarRenderer
from xactor.bench.live_client import SignalTrack
from xactor.engines.avatar.bundle import AvatarBundle
from xactor.engines.avatar.store import AvatarStore
from xactor.engines.render.base import RendererOptions
from xactor.engines.render.pool import RendererPool
from xactor.server.live.capacity import Capacity
from xactor.server.live.manager import CapacityError, SessionManager
from xactor.server.live.metrics import LiveMetrics
from xactor.server.live.options import OptionError, ResolvedOptions, SessionOptions
from xactor.server.live.session import Session
from xactor.server.settings import Settings

pytestmark = pytest.mark.anyio


def _capacity(sessions: int) -> Capacity:
    return Capacity(
        sessions=sessions,
        motion_ms=1.0,
        render_ms=2.0,
        encode_ms=3.0,
        frame_ms=6.0,
        budget_share=0.75,
        took_s=0.1,
    )


def _manager(data_dir: Path, **overrides: object) -> SessionManager:
    overrides.setdefault("motion_source", "heuristic")  # cheap and independent of the shipped weights
    settings = Settings(data_dir=data_dir, renderer=BAR.name, **overrides)  # type: ignore[arg-type]
    return SessionManager(settings, LiveMetrics(), RendererPool(max_bytes=64_000_000))


def _rejected(manager: SessionManager, reason: str) -> float | None:
    return manager.metrics.registry.get_sample_value("xactor_sessions_rejected_total", {"reason": reason})


@pytest.fixture
async def manager(data_dir: Path) -> AsyncIterator[SessionManager]:
    m = _manager(data_dir, max_sessions=2, connect_timeout_s=10.0)
    try:
        yield m
    finally:
        await m.close_all()


@pytest.fixture
def bundle(data_dir: Path) -> AvatarBundle:
    return AvatarStore(data_dir / "avatars").ensure_default()


class Client:
    """An aiortc client peer: microphone out, video in (no public STUN)."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTransceiver(
            SignalTrack(np.zeros(48000, np.float32), loop_signal=True), direction="sendrecv"
        )
        self.pc.addTransceiver("video", direction="recvonly")

    async def offer(self) -> RTCSessionDescription:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        local = self.pc.localDescription
        return RTCSessionDescription(sdp=local.sdp, type=local.type)

    async def close(self) -> None:
        await self.pc.close()


async def _open(
    manager: SessionManager, bundle: AvatarBundle, options: ResolvedOptions | None = None
) -> tuple[Client, Session, RTCSessionDescription]:
    client = Client()
    offer = await client.offer()
    manager.reserve()
    session, answer = await manager.open(offer, bundle, options or manager.options_for_default())
    return client, session, answer


def _pending(manager: SessionManager) -> int:
    """Slots reserved and not yet opened or released (probed through the public API)."""
    taken = 0
    try:
        while True:
            manager.reserve()
            taken += 1
    except CapacityError:
        pass
    for _ in range(taken):
        manager.release()
    return manager.limit - len(manager) - taken


# ---- admission -------------------------------------------------------------------------------------
async def test_reserve_admits_max_sessions_then_refuses(tmp_path: Path) -> None:
    manager = _manager(tmp_path, max_sessions=3, retry_after_s=7)
    assert manager.limit == 3
    for _ in range(3):
        manager.reserve()
    with pytest.raises(CapacityError) as err:
        manager.reserve()
    assert err.value.retry_after == 7 and "3" in str(err.value)
    assert _rejected(manager, "capacity") == 1
    manager.release()
    manager.reserve()  # a released slot is free again
    with pytest.raises(CapacityError):
        manager.reserve()
    assert _rejected(manager, "capacity") == 2
    for _ in range(5):  # releasing more than reserved never makes room beyond the limit
        manager.release()
    assert _pending(manager) == 0
    for _ in range(3):
        manager.reserve()
    with pytest.raises(CapacityError):
        manager.reserve()


async def test_limit_follows_the_measured_capacity(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    assert manager.settings.max_sessions is None and manager.limit == 1
    manager.reserve()
    with pytest.raises(CapacityError):
        manager.reserve()
    manager.release()
    waiting = asyncio.ensure_future(manager.wait_measured(timeout=30))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # offers wait for the measurement
    manager.set_capacity(_capacity(3))
    await asyncio.wait_for(waiting, 5)
    assert manager.limit == 3 and manager.capacity is not None and manager.capacity.render_ms == 2.0
    assert manager.metrics.registry.get_sample_value("xactor_capacity_sessions") == 3
    for _ in range(3):
        manager.reserve()
    with pytest.raises(CapacityError):
        manager.reserve()
    manager.set_capacity(None)  # a failed measurement admits one
    assert manager.limit == 1 and manager.metrics.registry.get_sample_value("xactor_capacity_sessions") == 1
    await asyncio.wait_for(manager.wait_measured(timeout=30), 1)  # measured (failed): no wait


async def test_wait_measured_gives_up_after_its_timeout(tmp_path: Path) -> None:
    manager = _manager(tmp_path)
    t0 = time.monotonic()
    await asyncio.wait_for(manager.wait_measured(timeout=0.1), 10)  # does not raise
    assert 0.05 < time.monotonic() - t0 < 5 and manager.limit == 1


async def test_wait_measured_returns_at_once_when_max_sessions_is_set(tmp_path: Path) -> None:
    manager = _manager(tmp_path, max_sessions=4)
    t0 = time.monotonic()
    await asyncio.wait_for(manager.wait_measured(timeout=30), 2)
    assert time.monotonic() - t0 < 1 and manager.limit == 4
    manager.set_capacity(_capacity(9))  # the setting wins over a measurement
    assert manager.limit == 4


# ---- open / close ------------------------------------------------------------------------------------
async def test_open_shares_the_pool_renderer_and_close_all_stops_everything(
    manager: SessionManager, bundle: AvatarBundle
) -> None:
    options = manager.options_for_default()
    key_options = RendererOptions(options.resolution, options.backend, manager.settings.weights_dir)
    assert manager.pool.peek(BAR.name, bundle, key_options) is None
    client1, s1, answer1 = await _open(manager, bundle, options)
    client2, s2, answer2 = await _open(manager, bundle, options)
    try:
        for answer in (answer1, answer2):
            assert answer.type == "answer" and "m=video" in answer.sdp and "m=audio" in answer.sdp
        assert manager.get(s1.id) is s1 and manager.get(s2.id) is s2 and len(manager) == 2
        assert _pending(manager) == 0
        renderer = manager.pool.peek(BAR.name, bundle, key_options)
        assert isinstance(renderer, BarRenderer) and renderer.size == options.resolution
        assert s1.core.stream.renderer is renderer and s2.core.stream.renderer is renderer
        assert manager.pool.builds == 1
        assert s1.core.stream.source is not s2.core.stream.source  # motion state is per session
        assert len(manager.worker) == 2 and manager.worker.alive
        assert [s["id"] for s in manager.stats()] == [s1.id, s2.id]
        with pytest.raises(CapacityError):  # max_sessions=2, both taken
            manager.reserve()
        # The first client connects: its stream goes live and renders through the shared renderer.
        await client1.pc.setRemoteDescription(answer1)
        deadline = time.monotonic() + 20
        while s1.core.stream.frames_rendered < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert s1.core.stream.active and s1.core.stream.frames_rendered >= 3
        assert s2.core.stream.frames_rendered == 0  # never connected: never rendered
        thread = manager.worker._thread
        assert thread is not None and thread in threading.enumerate()
        await manager.close_all("test over")
        assert len(manager) == 0 and len(manager.worker) == 0
        assert not manager.worker.alive and thread not in threading.enumerate()
        for s in (s1, s2):
            assert s.closed and s.close_reason == "test over" and s.core.stream.closed
            assert [t.name for t in threading.enumerate() if s.id in t.name] == []
        assert manager.metrics.registry.get_sample_value("xactor_sessions_active") == 0
    finally:
        await client1.close()
        await client2.close()


async def test_unprepared_resolution_is_refused_and_releases_the_slot(
    manager: SessionManager, bundle: AvatarBundle
) -> None:
    assert 128 not in bundle.sizes
    # The API refuses 128 in its schema; the manager still checks what the bundle has.
    options = SessionOptions().resolve(manager.settings).model_copy(update={"resolution": 128})
    client = Client()
    try:
        offer = await client.offer()
        manager.reserve()
        with pytest.raises(OptionError, match="128"):
            await manager.open(offer, bundle, options)
    finally:
        await client.close()
    assert len(manager) == 0 and _pending(manager) == 0 and manager.pool.builds == 0
    assert len(manager.worker) == 0


async def test_session_whose_peer_never_connects_is_closed(data_dir: Path, bundle: AvatarBundle) -> None:
    manager = _manager(data_dir, max_sessions=1, connect_timeout_s=0.5)
    try:
        t0 = time.monotonic()
        client, session, _ = await _open(manager, bundle)
        await client.close()  # the answer never reaches the client: ICE cannot complete
        while manager.get(session.id) is not None and time.monotonic() - t0 < 10:
            await asyncio.sleep(0.05)
        waited = time.monotonic() - t0
        assert manager.get(session.id) is None and len(manager) == 0 and len(manager.worker) == 0
        assert session.closed and "peer connection" in (session.close_reason or "")
        assert 0.5 <= waited < 10  # not before connect_timeout_s
        assert session.connected_at is None and not session.core.stream.active
        assert session.core.stream.frames_rendered == 0
        assert _rejected(manager, "connect_timeout") == 1
        manager.reserve()  # its slot is free again
        manager.release()
    finally:
        await manager.close_all()
    assert not manager.worker.alive
