"""A plain aiortc client for the live server: sends a signal as its microphone, receives the video.

Used by the latency probe (bench/latency.py) and by the server's tests. It records when every
20 ms audio frame left (so a known speech onset has a send time) and when every video frame came
back, with the decoded picture, on the same ``time.monotonic`` clock (system-wide on Linux, so
the server's timestamps compare too when it runs on the same machine).
"""

from __future__ import annotations

import asyncio
import fractions
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.rtp import RtpPacket

log = logging.getLogger(__name__)

RATE = 48000
FRAME = 960  # 20 ms at 48 kHz


class SignalTrack(MediaStreamTrack):
    """A mono float signal at 48 kHz sent as 20 ms s16 frames paced by pts; silence after its end.

    ``sent[i]`` is the monotonic time frame ``i`` (samples ``[i * 960, (i + 1) * 960)``) was handed
    to the encoder.
    """

    kind = "audio"

    def __init__(self, signal: np.ndarray, loop_signal: bool = False) -> None:
        super().__init__()
        self.signal = np.asarray(signal, dtype=np.float32)
        self.loop_signal = loop_signal
        self.sent: list[float] = []
        self._start: float | None = None
        self._n = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._n * FRAME / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        i0 = self._n * FRAME
        if self.loop_signal and self.signal.size:
            idx = (np.arange(i0, i0 + FRAME)) % self.signal.size
            chunk = self.signal[idx]
        else:
            chunk = self.signal[i0 : i0 + FRAME]
            chunk = np.pad(chunk, (0, FRAME - chunk.size))
        pcm = (np.clip(chunk, -1, 1) * 32767).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = i0
        frame.time_base = fractions.Fraction(1, RATE)
        self.sent.append(time.monotonic())
        self._n += 1
        return frame

    def send_time(self, sample_48k: int) -> float | None:
        """When the frame holding 48 kHz sample ``sample_48k`` was sent (None if not yet)."""
        i = sample_48k // FRAME
        return self.sent[i] if i < len(self.sent) else None


class MarkerVideoJitterBuffer(JitterBuffer):
    """Client-side video buffer that releases a frame when its last packet (RTP marker) is in.

    aiortc's receiver only learns a video frame is complete when the *next* frame's first packet
    arrives, one frame interval (40 ms at 25 fps) later; browsers go by the marker bit. The probe
    installs this so it measures what a browser would see, not aiortc's client-side wait (both
    modes are reported in bench/RESULTS.md). Uses JitterBuffer's internals (``_origin``,
    ``_packets``, ``remove``): bench code only.
    """

    def __init__(self) -> None:
        super().__init__(capacity=512, is_video=True)

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        pli, frame = super().add(packet)
        if frame is not None or not packet.marker or self._origin is None:
            return pli, frame
        packets = []
        for count in range(self.capacity):
            p = self._packets[(self._origin + count) % self.capacity]
            if p is None or p.timestamp != packet.timestamp:
                return pli, None  # a gap or an older unfinished frame: leave it to the stock logic
            packets.append(p)
            if p.sequence_number == packet.sequence_number:
                self.remove(count + 1)
                data = b"".join(getattr(x, "_data", x.payload) for x in packets)
                return pli, JitterFrame(data=data, timestamp=packet.timestamp)
        return pli, None


async def procedural_avatar_ids(http: httpx.AsyncClient, count: int, timeout_s: float = 120.0) -> list[str]:
    """The ids of ``count`` procedural avatars of the server behind ``http``, waiting while it
    prepares them at start-up (RuntimeError when fewer appear within ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        listed = (await http.get("/avatars")).json()["avatars"]
        ids = [a["id"] for a in listed if a["procedural_seed"] is not None]
        if len(ids) >= count:
            return ids[:count]
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server prepared {len(ids)} procedural avatars, not {count}")
        await asyncio.sleep(0.2)


def use_marker_video_buffer(pc: RTCPeerConnection) -> int:
    """Install :class:`MarkerVideoJitterBuffer` on every video receiver of ``pc``; returns how many."""
    done = 0
    for transceiver in pc.getTransceivers():
        attr = "_RTCRtpReceiver__jitter_buffer"
        if transceiver.kind == "video" and isinstance(
            getattr(transceiver.receiver, attr, None), JitterBuffer
        ):
            setattr(transceiver.receiver, attr, MarkerVideoJitterBuffer())
            done += 1
    return done


@dataclass
class ReceivedFrame:
    t: float  # monotonic receive (decode) time
    image: np.ndarray | None  # RGB [H, W, 3] (kept only when ``keep_images``)
    value: Any = None  # what ``analyse`` returned for it
    pts: int | None = None  # the sender's RTP timestamp (90 kHz)


@dataclass
class LiveClient:
    """One session against a server at ``base_url`` (or an ``httpx.AsyncClient`` you pass)."""

    base_url: str = "http://127.0.0.1:8000"
    token: str | None = None
    http: httpx.AsyncClient | None = None
    keep_images: bool = True
    analyse: Callable[[np.ndarray], Any] | None = None  # run on every received picture
    marker_video_buffer: bool = True  # release video frames on the marker bit, like a browser
    # STUN/TURN URLs. Empty: host candidates only, since aiortc without a configuration asks a
    # public STUN server, and a benchmark must never reach the internet unasked.
    ice_servers: list[str | RTCIceServer] = field(default_factory=list)
    relay_only: bool = False  # ICE transport policy "relay": every packet through the TURN server
    frames: list[ReceivedFrame] = field(default_factory=list)
    answer: dict[str, Any] = field(default_factory=dict)
    offer_done: float | None = None  # monotonic time the answer was applied
    pc: RTCPeerConnection | None = None
    audio_frames: int = 0
    audio_peaks: list[tuple[float, float]] = field(default_factory=list)  # (arrival, peak 0..1) per frame
    motion_channel: bool = False  # open the "motion" data channel: each frame's motion as JSON
    motion: list[dict[str, Any]] = field(default_factory=list)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _client(self) -> httpx.AsyncClient:
        if self.http is None:
            self.http = httpx.AsyncClient(base_url=self.base_url, timeout=30.0)
        return self.http

    async def start(
        self, track: MediaStreamTrack, avatar_id: str = "default", options: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Offer, POST /sessions, apply the answer; video frames then collect in ``frames``."""
        servers = [RTCIceServer(urls=s) if isinstance(s, str) else s for s in self.ice_servers]
        policy = RTCIceTransportPolicy.RELAY if self.relay_only else RTCIceTransportPolicy.ALL
        config = RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)
        pc = self.pc = RTCPeerConnection(config)
        pc.addTransceiver(track, direction="sendrecv")
        pc.addTransceiver("video", direction="recvonly")
        if self.marker_video_buffer:
            use_marker_video_buffer(pc)
        if self.motion_channel:
            channel = pc.createDataChannel("motion")
            channel.on("message", lambda message: self.motion.append(json.loads(message)))

        @pc.on("track")
        def on_track(remote: MediaStreamTrack) -> None:
            reader = self._read_video(remote) if remote.kind == "video" else self._read_audio(remote)
            self._tasks.append(asyncio.ensure_future(reader))

        await pc.setLocalDescription(await pc.createOffer())
        body: dict[str, Any] = {"sdp": pc.localDescription.sdp, "type": "offer", "avatar_id": avatar_id}
        if options:
            body["options"] = options
        r = await self._client().post("/sessions", json=body, headers=self._headers())
        if r.status_code != 201:
            await pc.close()
            raise RuntimeError(f"POST /sessions: {r.status_code} {r.text}")
        self.answer = r.json()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=self.answer["sdp"], type=self.answer["type"]))
        self.offer_done = time.monotonic()
        return self.answer

    def __post_init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    async def _read_video(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                t = time.monotonic()
                assert isinstance(frame, av.VideoFrame)
                if not self.keep_images and self.analyse is None:  # nothing looks: skip the conversion
                    self.frames.append(ReceivedFrame(t, None, pts=frame.pts))
                    continue
                image = frame.to_ndarray(format="rgb24")
                value = self.analyse(image) if self.analyse is not None else None
                self.frames.append(ReceivedFrame(t, image if self.keep_images else None, value, frame.pts))
        except MediaStreamError:
            pass

    async def _read_audio(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                self.audio_frames += 1
                if isinstance(frame, av.AudioFrame):  # the returned voice (return_audio sessions)
                    peak = float(np.abs(frame.to_ndarray()).max()) / 32768.0
                    self.audio_peaks.append((time.monotonic(), peak))
        except MediaStreamError:
            pass

    async def wait_frames(self, n: int, timeout: float = 10.0) -> None:
        """Wait until ``n`` video frames have arrived (TimeoutError otherwise)."""
        end = time.monotonic() + timeout
        while len(self.frames) < n:
            if time.monotonic() > end:
                raise TimeoutError(f"{len(self.frames)} of {n} video frames after {timeout} s")
            await asyncio.sleep(0.02)

    async def stats(self) -> dict[str, Any]:
        """The server's GET /sessions/{id} for this session."""
        r = await self._client().get(f"/sessions/{self.answer['session_id']}", headers=self._headers())
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    async def stop(self, delete: bool = True) -> None:
        """DELETE the session (unless told not to), close the peer connection, end the readers."""
        if delete and self.answer:
            try:
                await self._client().delete(f"/sessions/{self.answer['session_id']}", headers=self._headers())
            except httpx.HTTPError as exc:
                log.warning("DELETE failed: %s", exc)
        if self.pc is not None:
            await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def aclose(self) -> None:
        await self.stop()
        if self.http is not None:
            await self.http.aclose()
