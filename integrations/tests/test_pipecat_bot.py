"""The example bot on pipecat's SmallWebRTC transport: an aiortc client (as a browser would) sends
speech and gets the avatar's video and audio back, with xactor doing the face."""

from __future__ import annotations

import asyncio
import fractions
import sys
from pathlib import Path

import aiohttp
import av
import numpy as np
import pytest
from aiohttp.test_utils import TestServer
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from pipecat_parrot_bot import make_app

pytestmark = pytest.mark.asyncio


class SpeechTrack(MediaStreamTrack):
    """16 kHz speech in 20 ms frames at real time, then silence."""

    kind = "audio"

    def __init__(self, pcm: np.ndarray) -> None:
        super().__init__()
        self._pcm, self._pos, self._start = pcm, 0, None

    async def recv(self) -> av.AudioFrame:
        loop = asyncio.get_running_loop()
        self._start = self._start or loop.time()
        wait = self._start + self._pos / 16000 - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        chunk = self._pcm[self._pos : self._pos + 320]
        chunk = np.pad(chunk, (0, 320 - chunk.size))
        frame = av.AudioFrame.from_ndarray(chunk[None].astype(np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 16000, self._pos, fractions.Fraction(1, 16000)
        self._pos += 320
        return frame


async def test_the_example_bot_streams_the_avatar_over_smallwebrtc(xactor_url: str, speech) -> None:
    import soxr

    pcm, rate = speech
    pcm16k = soxr.resample(np.frombuffer(pcm, np.int16).astype(np.float32), rate, 16000).astype(np.int16)
    server = TestServer(make_app(xactor_url))
    await server.start_server()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    frames: list[np.ndarray] = []
    audio_peak = 0.0

    async def read(track: MediaStreamTrack) -> None:
        nonlocal audio_peak
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame):
                    frames.append(frame.to_ndarray(format="rgb24"))
                else:
                    audio_peak = max(audio_peak, float(np.abs(frame.to_ndarray()).max()) / 32768)
        except MediaStreamError:
            pass

    readers: list[asyncio.Task[None]] = []
    pc.on("track", lambda t: readers.append(asyncio.ensure_future(read(t))))
    pc.addTrack(SpeechTrack(np.concatenate([np.zeros(8000, np.int16), pcm16k, np.zeros(16000, np.int16)])))
    pc.addTransceiver("video", direction="recvonly")
    try:
        await pc.setLocalDescription(await pc.createOffer())
        async with aiohttp.ClientSession() as http:
            r = await http.post(
                server.make_url("/api/offer"), json={"sdp": pc.localDescription.sdp, "type": "offer"}
            )
            answer = await r.json()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))
        await asyncio.sleep(len(pcm16k) / 16000 + 2.0)
    finally:
        await pc.close()
        for reader in readers:
            reader.cancel()
        await server.close()
    assert len(frames) > 25 and frames[-1].shape == (256, 256, 3)
    assert audio_peak > 0.05, audio_peak  # the avatar's audio (the parroted speech) came back
    still = frames[0].astype(np.float32)
    moved = np.array([np.abs(f.astype(np.float32) - still)[140:220, 80:176].mean() for f in frames])
    assert moved.max() > 3.0, moved.max()  # and the face moved with it (the mouth region)
