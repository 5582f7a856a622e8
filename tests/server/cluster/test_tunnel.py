"""The worker side of the cluster, without Ray: requests and a WebSocket session run through the
ASGI tunnel against the real app behave as they do over a socket."""

from __future__ import annotations

import asyncio
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from tests.server.live.conftest import make_app
from xactor.server.cluster.calls import HttpCall, Route, SocketFeed, SocketOpen
from xactor.server.cluster.tunnel import AsgiTunnel

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_http_requests_reach_the_app_whole(tmp_path: Path) -> None:
    tunnel = AsgiTunnel(make_app(tmp_path, max_sessions=1, session_id_prefix="r7-"), "r7")
    await tunnel.start()
    try:
        health = await tunnel.http(HttpCall(Route(), "GET", "/health"))
        assert health.status == 200 and health.replica == "r7"
        assert json.loads(health.body)["max_sessions"] == 1
        bad = await tunnel.http(
            HttpCall(Route(), "POST", "/sessions", headers=(("content-type", "application/json"),), body=b"{")
        )
        assert bad.status == 400 and json.loads(bad.body)["detail"]["code"]
        missing = await tunnel.http(HttpCall(Route(), "GET", "/sessions/r7-00000000000000aa"))
        assert missing.status == 404
        page = await tunnel.http(HttpCall(Route(), "GET", "/", query=""))
        assert page.status == 200 and b"<html" in page.body.lower()
    finally:
        await tunnel.stop()


async def test_a_websocket_session_runs_through_the_tunnel(tmp_path: Path) -> None:
    """First message, PCM in, frames out; the session's id carries the replica's tag."""
    tunnel = AsgiTunnel(make_app(tmp_path, max_sessions=1, session_id_prefix="r7-"), "r7")
    await tunnel.start()
    opening = SocketOpen(Route(place=True), "k1", "/sessions/stream")
    stream = tunnel.socket(opening)
    try:
        assert (await anext(stream)) == {"type": "tunnel.open", "replica": "r7"}
        assert (await anext(stream))["type"] == "websocket.accept"
        request = {"avatar_id": "default", "sample_rate": 16000, "video": "rgb24"}
        pcm = (np.zeros(16000, dtype=np.int16)).tobytes()
        assert tunnel.feed(
            SocketFeed(
                Route(owner="r7"),
                "k1",
                (
                    {"type": "websocket.receive", "text": json.dumps(request)},
                    {"type": "websocket.receive", "bytes": pcm},
                ),
            )
        )
        session = json.loads((await asyncio.wait_for(anext(stream), 30))["text"])
        assert session["type"] == "session" and session["session_id"].startswith("r7-")
        frames = 0
        while frames < 5:
            message = await asyncio.wait_for(anext(stream), 10)
            if message.get("bytes"):
                magic = struct.unpack_from("<4s", message["bytes"])[0]
                assert len(magic) == 4
                frames += 1
        assert tunnel.sockets == 1
        bye = {"type": "websocket.disconnect", "code": 1000}
        assert tunnel.feed(SocketFeed(Route(owner="r7"), "k1", (bye,)))
    finally:
        await stream.aclose()
        await tunnel.stop()
    assert tunnel.sockets == 0
    assert not tunnel.feed(SocketFeed(Route(owner="r7"), "k1", ()))  # closed: nothing to feed
