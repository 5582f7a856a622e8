"""WHEP admission: a viewer's offer gets the checks of POST /sessions (as a receiver), refusals
say what is wrong without Python's internals or a traceback, and a viewer whose connection never
comes up is released at the connect deadline, freeing its slot."""

from __future__ import annotations

import asyncio
import logging
import re
import time

import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.sdp import SessionDescription

from tests.server.live.conftest import make_app, serving
from xactor.bench.live_client import LiveClient, SignalTrack

pytestmark = pytest.mark.anyio

SDP = {"Content-Type": "application/sdp"}
_INTERNALS = re.compile(r"Error|Exception|StopIteration|NoneType|Traceback|_set_mid|attribute")


async def _viewer_offer(video: str = "recvonly", audio: str | None = "recvonly") -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no public STUN
    pc.addTransceiver("video", direction=video)
    if audio is not None:
        pc.addTransceiver("audio", direction=audio)
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


def _only(sdp: str, codec: str) -> str:
    """The offer's video section cut to one codec (its payload types and their lines)."""
    head, video = sdp[: sdp.index("m=video")], sdp[sdp.index("m=video") :]
    rest = ""
    if "m=audio" in video:
        video, rest = video[: video.index("m=audio")], video[video.index("m=audio") :]
    keep = set(re.findall(rf"a=rtpmap:(\d+) {codec}/", video))
    keep |= {rtx for rtx, apt in re.findall(r"a=fmtp:(\d+) apt=(\d+)", video) if apt in keep}
    lines = []
    for line in video.splitlines(keepends=True):
        if line.startswith("m=video"):
            fields = line.split()
            line = " ".join(fields[:3] + [p for p in fields[3:] if p in keep]) + "\r\n"
        else:
            m = re.match(r"a=(rtpmap|rtcp-fb|fmtp):(\d+)", line)
            if m and m.group(2) not in keep:
                continue
        lines.append(line)
    return head + "".join(lines) + rest


async def _session(http) -> tuple[LiveClient, str]:
    client = LiveClient(http=http, keep_images=False)
    answer = await client.start(
        SignalTrack(np.zeros(4800, np.float32), loop_signal=True), options={"codec": "h264"}
    )
    await client.wait_frames(2, timeout=10.0)
    return client, answer["session_id"]


async def test_viewer_offers_get_the_session_checks(data_dir, caplog) -> None:
    app = make_app(data_dir, session_idle_timeout_s=5.0)
    offer = await _viewer_offer()
    video = offer.index("m=video")
    bad = {
        "no fingerprint": (
            "".join(line for line in offer.splitlines(True) if "fingerprint" not in line),
            "no DTLS",
        ),
        "mid outside BUNDLE": (offer.replace("a=mid:1\r\n", "a=mid:7\r\n"), "not in the BUNDLE"),
        "video sendonly": (offer[:video] + offer[video:].replace("a=recvonly", "a=sendonly", 1), "sendonly"),
        "only an rtpmap-less payload type": (
            re.sub(r"m=video (\d+) (\S+) [\d ]+", r"m=video \1 \2 120", offer),
            "no codec we support",
        ),
        "rejected video": (re.sub(r"m=video \d+", "m=video 0", offer), "port 0"),
        "extmap 99999": (offer.replace("a=mid:0\r\n", "a=mid:0\r\na=extmap:99999 urn:x\r\n"), "out of range"),
        "not SDP": ("nonsense", "no media sections"),
        "VP8 only for an H.264 session": (_only(offer, "VP8"), "cannot receive H.264"),
    }
    caplog.set_level(logging.DEBUG)
    async with serving(app) as http:
        client, sid = await _session(http)
        try:
            for name, (sdp, expected) in bad.items():
                assert sdp != offer, name
                r = await http.post(f"/sessions/{sid}/whep", content=sdp, headers=SDP)
                assert r.status_code == 400, (name, r.text)
                detail = r.json()["detail"]
                assert detail["code"] == "bad_offer" and expected in detail["message"], (name, detail)
                assert not _INTERNALS.search(detail["message"]), (name, detail)
            session = app.state.sessions.get(sid)
            assert session.core.broadcast is None or session.core.broadcast.viewers == {}
            r = await http.post(f"/sessions/{sid}/whep", content=offer, headers=SDP)  # still admits
            assert r.status_code == 201, r.text
            answer = SessionDescription.parse(r.text)
            for o, a in zip(SessionDescription.parse(offer).media, answer.media, strict=True):
                assert {c.payloadType for c in a.rtp.codecs} <= set(o.fmt), a.kind
            assert (await http.delete(r.headers["location"])).status_code == 200
        finally:
            await client.stop()
        await asyncio.sleep(0.2)  # any never-retrieved task exception is reported by now
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith(("server", "asyncio"))]
    assert "Task exception was never retrieved" not in caplog.text


async def test_a_viewer_that_never_connects_is_released_at_the_deadline(data_dir) -> None:
    """One viewer slot: a viewer that never applies its answer (no ICE, no DTLS) holds it until the
    connect deadline, then is closed and the slot admits a real viewer."""
    app = make_app(data_dir, session_idle_timeout_s=5.0, max_viewers=1)
    deadline = 0.6
    async with serving(app) as http:
        client, sid = await _session(http)
        try:
            app.state.sessions.settings.connect_timeout_s = deadline  # viewers only: the session is up
            r = await http.post(f"/sessions/{sid}/whep", content=await _viewer_offer(), headers=SDP)
            assert r.status_code == 201, r.text
            answered = time.monotonic()
            broadcast = app.state.sessions.get(sid).core.broadcast
            (ghost,) = broadcast.viewers.values()
            r = await http.post(f"/sessions/{sid}/whep", content=await _viewer_offer(), headers=SDP)
            assert r.status_code == 503 and r.json()["detail"]["code"] == "too_many_viewers"
            while broadcast.viewers and time.monotonic() - answered < deadline + 3.0:
                await asyncio.sleep(0.05)
            released = time.monotonic() - answered
            assert broadcast.viewers == {}, "the half-open viewer is still held"
            assert deadline - 0.05 <= released <= deadline + 1.0, released
            assert ghost.pc.connectionState == "closed" and ghost.video.readyState == "ended"
            stats = (await http.get(f"/sessions/{sid}")).json()["viewers"]
            assert stats["expired"] == 1 and stats["viewers"] == 0
            r = await http.post(f"/sessions/{sid}/whep", content=await _viewer_offer(), headers=SDP)
            assert r.status_code == 201, r.text  # the slot is free again
            assert (await http.delete(r.headers["location"])).status_code == 200
        finally:
            await client.stop()
