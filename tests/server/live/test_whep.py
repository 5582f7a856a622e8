"""WHEP: viewers watch a live session (video and its audio) from one shared encode; they leave by
DELETE, and go when the session goes; bad requests get clear 4xx answers."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from tests.server.live.conftest import bar_height, make_app, serving
from xactor.bench.live_client import LiveClient, SignalTrack
from xactor.bench.viewers import whep_watch

pytestmark = pytest.mark.anyio


@dataclass
class WhepViewer:
    pc: Any = None  # RTCPeerConnection, set by _watch
    location: str = ""
    heights: list[float] = field(default_factory=list)
    audio_samples: int = 0
    audio_peak: float = 0.0
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task] = field(default_factory=list)

    async def read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame):
                    self.heights.append(bar_height(frame.to_ndarray(format="rgb24")))
                else:
                    pcm = frame.to_ndarray()
                    self.audio_samples += frame.samples
                    self.audio_peak = max(self.audio_peak, float(np.abs(pcm).max()) / 32768)
        except MediaStreamError:
            self.ended.set()


async def _watch(http, session_id: str) -> WhepViewer:
    viewer = WhepViewer()

    def on_track(track: MediaStreamTrack) -> None:
        viewer.tasks.append(asyncio.ensure_future(viewer.read(track)))

    viewer.pc, r = await whep_watch(http, session_id, {}, on_track)
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/sdp")
    assert r.headers["access-control-expose-headers"] == "Location"
    viewer.location = r.headers["location"]
    return viewer


async def test_viewers_watch_a_session_from_one_encode(live, speech) -> None:
    app, http = live
    client = LiveClient(http=http, analyse=bar_height, keep_images=False)
    answer = await client.start(SignalTrack(speech.signal), options={"codec": "h264"})
    sid = answer["session_id"]
    viewers: list[WhepViewer] = []
    try:
        await client.wait_frames(5, timeout=5.0)
        viewers = [await _watch(http, sid) for _ in range(2)]
        assert viewers[0].location.startswith(f"/sessions/{sid}/whep/")
        await asyncio.sleep(speech.seconds - 2.0)
        stats = (await http.get(f"/sessions/{sid}")).json()
        encode_threads = [t.name for t in threading.enumerate() if sid in t.name and "whep" in t.name]
        r = await http.delete(viewers[0].location)
        assert r.status_code == 200
        assert (await http.delete(viewers[0].location)).status_code == 404
        await asyncio.wait_for(viewers[0].ended.wait(), 5)
        assert stats["viewers"]["viewers"] == 2 and stats["viewers"]["codec"] == "h264"
        # A browser session's viewers get its client's packets: no second encoder, no thread for one.
        assert stats["viewers"]["encode"] == "shared with the session's client" and not encode_threads
        assert stats["viewers"]["frames_encoded"] <= stats["encoder"]["frames"]
    finally:
        await client.stop()
    await asyncio.wait_for(viewers[1].ended.wait(), 5)  # the session ended: so did its viewers
    for v in viewers:
        await v.pc.close()
    encoded = stats["viewers"]["frames_encoded"]
    for v in viewers:
        assert len(v.heights) > 50, len(v.heights)  # both watched at about the session's rate
        assert len(v.heights) <= encoded + 2  # from the one shared encode, not one each
        assert max(v.heights) > 0.2 and min(v.heights) < 0.05  # the mouth moved with the speech
        assert v.audio_samples > 16000 * 2 and v.audio_peak > 0.1  # and the speech came along
    assert app.state.sessions.get(sid) is None


async def test_viewers_of_a_vp8_session_get_its_vp8_packets(live, speech) -> None:
    """Viewers get the codec of the session's client (VP8 here), from its own encode."""
    _, http = live
    client = LiveClient(http=http, analyse=bar_height, keep_images=False)
    answer = await client.start(SignalTrack(speech.signal), options={"codec": "vp8"})
    sid = answer["session_id"]
    assert answer["codec"] == "vp8"
    try:
        await client.wait_frames(5, timeout=5.0)
        viewer = await _watch(http, sid)
        for _ in range(100):  # a keyframe on its first frame: it decodes at once
            if len(viewer.heights) > 10:
                break
            await asyncio.sleep(0.05)
        stats = (await http.get(f"/sessions/{sid}")).json()
        await viewer.pc.close()
    finally:
        await client.stop()
    assert len(viewer.heights) > 10
    assert stats["viewers"]["codec"] == "vp8"
    assert stats["viewers"]["encode"] == "shared with the session's client"


async def test_each_joining_viewer_starts_on_a_keyframe(data_dir, speech, monkeypatch) -> None:
    """Two viewers joining a browser session one after the other (inside the PLI rate limit's 0.5
    s), with the periodic keyframe 30 s off: the first packet each one is sent is a keyframe, and
    it comes on the next frame or the one after (one may have been encoding as the viewer joined)."""
    from xactor.server.live import whep

    first: dict[int, bool] = {}  # viewer track -> is the first packet it sends a keyframe
    skipped: dict[int, int] = {}
    recv = whep.PacketTrack.recv

    async def recording_recv(track: whep.PacketTrack) -> av.Packet:
        packet = await recv(track)
        first.setdefault(id(track), packet.is_keyframe)
        skipped.setdefault(id(track), track.skipped_before_keyframe)
        return packet

    monkeypatch.setattr(whep.PacketTrack, "recv", recording_recv)
    app = make_app(data_dir, keyframe_interval_s=30.0)
    async with serving(app) as http:
        client = LiveClient(http=http, analyse=bar_height, keep_images=False)
        answer = await client.start(SignalTrack(speech.signal), options={"codec": "h264"})
        try:
            await client.wait_frames(30, timeout=10.0)  # long past the session's own first keyframe
            viewers = [await _watch(http, answer["session_id"]) for _ in range(2)]
            for _ in range(500):  # the viewers' connections come up first (ICE, DTLS)
                if len(first) == 2:
                    break
                await asyncio.sleep(0.02)
            for v in viewers:
                await v.pc.close()
        finally:
            await client.stop()
    assert list(first.values()) == [True, True], first
    assert all(n <= 1 for n in skipped.values()), skipped  # the join made the next frame a keyframe


async def test_a_viewer_is_fed_only_once_connected(live, speech) -> None:
    """A viewer whose connection never comes up (it never applies the answer) is sent nothing:
    no backlog of picture or sound waits for it, and no encode runs for it."""
    app, http = live
    client = LiveClient(http=http, analyse=bar_height, keep_images=False)
    answer = await client.start(SignalTrack(speech.signal), options={"codec": "h264"})
    sid = answer["session_id"]
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        await client.wait_frames(5, timeout=5.0)
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        r = await http.post(
            f"/sessions/{sid}/whep",
            content=pc.localDescription.sdp,
            headers={"Content-Type": "application/sdp"},
        )
        assert r.status_code == 201
        frames_before = len(client.frames)
        await client.wait_frames(frames_before + 15, timeout=5.0)  # the session streams on meanwhile
        broadcast = app.state.sessions.get(sid).core.broadcast
        (viewer,) = broadcast.viewers.values()
        queued = (viewer.video._queue.qsize(), viewer.audio._queue.qsize())
        stats = (await http.get(f"/sessions/{sid}")).json()["viewers"]
    finally:
        await pc.close()
        await client.stop()
    assert queued == (0, 0) and not viewer.video.started
    assert stats["viewers"] == 1 and stats["connected"] == 0 and stats["frames_encoded"] == 0


def test_a_slow_viewer_loses_its_queue_and_restarts_on_a_keyframe() -> None:
    """Video after a gap cannot be decoded until a keyframe: a full queue is dropped whole, the
    track waits for the next keyframe and asks for one."""
    from xactor.server.live.encoding import VideoEncoder
    from xactor.server.live.whep import PacketTrack

    enc = VideoEncoder("h264", 300_000, keyframe_interval_s=30.0)
    image = np.zeros((64, 64, 3), np.uint8)
    packets = []
    for i in range(12):
        image[:, i * 4 : i * 4 + 4] = 255  # something changes: every frame has content
        packets.append(enc.encode(image, pts=i * 3600, keyframe=i == 10))
    asks: list[int] = []
    track = PacketTrack(on_gap=lambda: asks.append(1))
    track.push(packets[1])  # a P-frame first: not sent
    assert track.skipped_before_keyframe == 1 and track._queue.empty()
    track.push(packets[0])  # the keyframe starts it
    for p in packets[2:9]:
        track.push(p)  # 8 queued: full (nobody reads)
    assert track._queue.full() and not asks
    track.push(packets[9])  # overflow: the queue goes, a keyframe is asked for, the P-frame is not sent
    assert track._queue.empty() and asks == [1] and track.gaps == 1 and not track.started
    track.push(packets[10])  # the keyframe restarts it
    track.push(packets[11])
    assert track._queue.qsize() == 2 and track._queue.get_nowait().is_keyframe


async def _lose_the_picture(pc: RTCPeerConnection) -> None:
    """What a browser sends when it cannot decode: an RTCP PLI for the video it receives."""
    receiver = next(t.receiver for t in pc.getTransceivers() if t.kind == "video")
    await receiver._send_rtcp_pli(receiver.getSynchronizationSources()[0].source)


async def test_a_receiver_that_lost_the_picture_gets_a_keyframe_at_once(data_dir, speech) -> None:
    """PLI from a WHEP viewer or from the session's own client makes the encoder send a keyframe
    then, not at the next periodic one (set far off here: 30 s)."""
    app = make_app(data_dir, keyframe_interval_s=30.0)
    async with serving(app) as http:
        client = LiveClient(http=http, analyse=bar_height, keep_images=False)
        answer = await client.start(SignalTrack(speech.signal), options={"codec": "h264"})
        sid = answer["session_id"]
        try:
            await client.wait_frames(5, timeout=5.0)
            viewer = await _watch(http, sid)
            for _ in range(100):
                if len(viewer.heights) > 10:
                    break
                await asyncio.sleep(0.05)
            before = (await http.get(f"/sessions/{sid}")).json()
            await _lose_the_picture(viewer.pc)
            assert client.pc is not None
            await _lose_the_picture(client.pc)
            await asyncio.sleep(1.0)
            after = (await http.get(f"/sessions/{sid}")).json()
            await viewer.pc.close()
        finally:
            await client.stop()
    # At least: a receiver may also ask on its own when a loaded loopback loses a packet. Without
    # the hook neither count moves (the periodic keyframe is 30 s off).
    for key in ("viewers", "encoder"):
        assert after[key]["keyframes_requested"] >= before[key]["keyframes_requested"] + 1, key
        assert after[key]["keyframes"] >= before[key]["keyframes"] + 1, key


async def test_whep_refusals(live) -> None:
    _, http = live
    pre = await http.options("/sessions/abc/whep")
    assert pre.status_code == 204 and "POST" in pre.headers["access-control-allow-methods"]
    assert pre.headers["accept-post"] == "application/sdp"
    r = await http.post("/sessions/abc/whep", content="v=0", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = await http.post("/sessions/abc/whep", content="nonsense", headers={"Content-Type": "application/sdp"})
    assert r.status_code == 400 and r.json()["detail"]["code"] == "bad_offer"
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    r = await http.post(
        "/sessions/0123456789abcdef/whep",
        content=pc.localDescription.sdp,
        headers={"Content-Type": "application/sdp"},
    )
    await pc.close()
    assert r.status_code == 404 and r.json()["detail"]["code"] == "session_not_found"
    assert (await http.delete("/sessions/abc/whep/def")).status_code == 404
