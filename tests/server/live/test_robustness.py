"""Bad requests and bad clients: 400, 404, 503 + Retry-After, 401, and a client that vanishes mid-stream."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import sys
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from tests.server.live.conftest import make_app, serving
from xactor.bench.live_client import LiveClient, SignalTrack

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[3]


async def _offer_sdp(audio: bool = True, video: bool = True) -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no public STUN
    if audio:
        pc.addTransceiver(SignalTrack(np.zeros(4800, np.float32)), direction="sendrecv")
    if video:
        pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


async def test_malformed_sdp_is_400(live) -> None:
    app, http = live
    for sdp in ("this is not sdp", "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\nm=audio\r\n", ""):
        r = await http.post("/sessions", json={"sdp": sdp, "type": "offer"})
        assert r.status_code == 400, (sdp, r.text)
        assert r.json()["detail"]["code"] == "bad_offer"
    r = await http.post("/sessions", json={"sdp": await _offer_sdp(video=False), "type": "offer"})
    assert r.status_code == 400 and "video" in r.json()["detail"]["message"]
    r = await http.post("/sessions", json={"sdp": await _offer_sdp(audio=False), "type": "offer"})
    assert r.status_code == 400 and "audio" in r.json()["detail"]["message"]
    assert len(app.state.sessions) == 0
    assert app.state.sessions._pending == 0  # every refused offer gave its slot back


async def test_offer_rejected_by_webrtc_is_400_and_leaves_nothing(live) -> None:
    """Offers that parse but that the peer connection refuses: the half-built session is torn down."""
    app, http = live
    sdp = await _offer_sdp()
    no_mux = "".join(line for line in sdp.splitlines(keepends=True) if not line.startswith("a=rtcp-mux"))
    no_codec = sdp.replace("H264/90000", "XYZ/90000").replace("VP8/90000", "XYZ/90000")
    for bad in (no_mux, no_codec):
        r = await http.post("/sessions", json={"sdp": bad, "type": "offer"})
        assert r.status_code == 400, r.text
        assert r.json()["detail"]["code"] == "bad_offer"
    assert len(app.state.sessions) == 0 and app.state.sessions._pending == 0
    await asyncio.sleep(0.2)
    assert [t.name for t in threading.enumerate() if t.name.startswith(("render-", "encode-"))] == []


async def test_unknown_avatar_is_404(live) -> None:
    _, http = live
    sdp = await _offer_sdp()
    r = await http.post("/sessions", json={"sdp": sdp, "type": "offer", "avatar_id": "0123456789abcdef"})
    assert r.status_code == 404, r.text
    assert r.json()["detail"]["code"] == "avatar_not_found"
    # Not an id at all: refused by the schema (the pattern OpenAPI shows), naming the field.
    r = await http.post("/sessions", json={"sdp": sdp, "type": "offer", "avatar_id": "no-such-avatar"})
    assert r.status_code == 422 and r.json()["detail"]["errors"][0]["loc"] == ["body", "avatar_id"], r.text
    assert (await http.get("/sessions/0000")).status_code == 404
    assert (await http.delete("/sessions/0000")).status_code == 404


async def test_over_the_limit_is_503_with_retry_after(data_dir) -> None:
    app = make_app(data_dir, max_sessions=1, retry_after_s=7)
    async with serving(app) as http:
        client = LiveClient(http=http, keep_images=False)
        await client.start(SignalTrack(np.zeros(48000, np.float32), loop_signal=True))
        try:
            r = await http.post("/sessions", json={"sdp": await _offer_sdp(), "type": "offer"})
            assert r.status_code == 503
            assert r.headers["retry-after"] == "7"
            assert r.json()["detail"]["code"] == "too_many_sessions"
        finally:
            await client.stop()
        assert len(app.state.sessions) == 0
        metrics = (await http.get("/metrics")).text
        assert 'xactor_sessions_rejected_total{reason="capacity"} 1.0' in metrics


async def test_token_is_enforced_when_set(data_dir) -> None:
    app = make_app(data_dir, token="s3cret")
    async with serving(app) as http:
        sdp = await _offer_sdp()
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0"}):
            r = await http.post("/sessions", json={"sdp": sdp, "type": "offer"}, headers=headers)
            assert r.status_code == 401, headers
            assert r.headers["www-authenticate"] == "Bearer"
            assert (await http.get("/sessions", headers=headers)).status_code == 401
            assert (await http.get("/avatars", headers=headers)).status_code == 401
            assert (await http.get("/metrics", headers=headers)).status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        assert (await http.get("/sessions", headers=good)).json() == []
        assert (await http.get("/metrics", headers=good)).status_code == 200
        assert (await http.get("/health")).status_code == 200  # liveness stays open


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_VANISHING_CLIENT = """
import asyncio, sys, numpy as np
from xactor.bench.live_client import LiveClient, SignalTrack
async def main():
    c = LiveClient(base_url=sys.argv[1], keep_images=False)
    await c.start(SignalTrack(np.zeros(48000, np.float32), loop_signal=True))
    await c.wait_frames(10)
    print("streaming", c.answer["session_id"], flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""


@pytest.mark.slow
@pytest.mark.serial
async def test_vanished_client_is_cleaned_up(data_dir) -> None:
    import uvicorn

    app = make_app(data_dir, session_idle_timeout_s=2.0)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serve = asyncio.ensure_future(server.serve())
    proc = None
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _VANISHING_CLIENT,
            f"http://127.0.0.1:{port}",
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().split()
        assert line and line[0] == "streaming", line
        sid = line[1]
        session = app.state.sessions.get(sid)
        assert session is not None and session.video.frames_sent >= 10
        proc.send_signal(signal.SIGKILL)  # no BYE, no DTLS close: the client is simply gone
        await proc.wait()
        t_kill = time.monotonic()
        while app.state.sessions.get(sid) is not None and time.monotonic() - t_kill < 15:
            await asyncio.sleep(0.1)
        assert app.state.sessions.get(sid) is None, "session not removed"
        assert session.closed and "no audio" in (session.close_reason or "")
        assert all(t.done() for t in session._tasks)
        assert session.core.stream.closed and len(app.state.sessions.worker) == 0
        assert [t.name for t in threading.enumerate() if sid in t.name] == []
        assert session.pc.connectionState == "closed"
        assert session.video.readyState == "ended"
        ref = weakref.ref(session)
        del session
        gc.collect()
        assert ref() is None, "the closed session is still referenced somewhere"
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        server.should_exit = True
        await serve


async def test_a_resolution_no_avatar_is_prepared_at_is_422(live) -> None:
    """The schema's enum (the crop sizes avatars are prepared at) refuses it, naming the field."""
    app, http = live
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("audio", direction="sendrecv")
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        r = await http.post(
            "/sessions", json={"sdp": pc.localDescription.sdp, "options": {"resolution": 128}}
        )
    finally:
        await pc.close()
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["code"] == "invalid_request"
    assert detail["errors"][0]["loc"] == ["body", "options", "resolution"]
    assert "256" in detail["message"] and "512" in detail["message"]
    assert len(app.state.sessions) == 0 and app.state.sessions._pending == 0
