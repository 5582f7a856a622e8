"""Pieces of the live path on their own: inbox, silence clock, arrival log, encoder, tracks, jitter buffer."""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket

from bench.live_client import SignalTrack
from server.live.audio_in import AudioChunk, AudioFeed, AudioInbox
from server.live.encoding import VideoEncoder, negotiated_video_codec, video_codec_preferences
from server.live.timing import ArrivalLog, Rolling
from server.live.tracks import AvatarVideoTrack, DelayedAudioTrack
from server.live.transport import (
    JITTER_ATTR,
    ImmediateAudioJitterBuffer,
    configure_audio_receivers,
    make_audio_jitter_buffer,
)
from server.live.worker import RenderedFrame


def _chunk(n: int, t: float = 0.0, value: float = 0.0) -> AudioChunk:
    return AudioChunk(np.full(n, value, np.float32), t, silence=False)


def test_inbox_is_bounded_and_drops_oldest() -> None:
    inbox = AudioInbox(max_samples=1000)
    for i in range(5):
        inbox.put(_chunk(300, value=i))
    got = inbox.take_all(timeout=0)
    assert [float(c.samples[0]) for c in got] == [2.0, 3.0, 4.0]
    assert inbox.dropped_samples == 600
    assert inbox.take_all(timeout=0.01) == []
    inbox.close()
    t = time.monotonic()
    assert inbox.take_all(timeout=5) == [] and time.monotonic() - t < 1


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class _PassThrough:
    def resample(self, frame: av.AudioFrame) -> np.ndarray:
        return frame.to_ndarray().reshape(-1).astype(np.float32) / 32768.0


def _mic_frame(n: int = 320) -> av.AudioFrame:
    f = av.AudioFrame.from_ndarray(np.full((1, n), 1000, np.int16), format="s16", layout="mono")
    f.sample_rate = 16000
    return f


def test_feed_fills_silence_at_real_time_while_the_mic_stalls() -> None:
    clock = _Clock()
    got: list[AudioChunk] = []
    feed = AudioFeed(_PassThrough(), [got.append], stall_s=0.1, clock=clock)
    # Before any mic audio: silence from the start, at the real-time rate.
    for _ in range(10):
        clock.t += 0.02
        feed.tick()
    assert sum(c.samples.size for c in got) == 3200 and all(c.silence for c in got)
    # Mic audio flows: no filling while packets come within stall_s.
    got.clear()
    for _ in range(10):
        clock.t += 0.02
        feed.push_frame(_mic_frame())
        feed.tick()
    assert all(not c.silence for c in got) and sum(c.samples.size for c in got) == 3200
    # Mic stalls: nothing for 0.1 s, then the whole gap at once, then real time again.
    got.clear()
    for _ in range(4):
        clock.t += 0.02
        feed.tick()
    assert got == []
    clock.t += 0.03
    feed.tick()
    assert len(got) == 1 and got[0].silence and got[0].samples.size == round(0.11 * 16000)
    clock.t += 0.02
    feed.tick()
    assert got[-1].samples.size == 320
    assert feed.silence_samples == 3200 + round(0.11 * 16000) + 320


def test_arrival_log_maps_samples_to_chunk_arrival() -> None:
    log = ArrivalLog()
    log.add(640, 1.0)
    log.add(320, 2.0)
    log.add(960, 3.0)
    assert log.arrival_of(0) == 1.0 and log.arrival_of(639) == 1.0
    assert log.arrival_of(640) == 2.0 and log.arrival_of(959) == 2.0
    assert log.arrival_of(960) == 3.0 and log.arrival_of(1919) == 3.0
    assert log.arrival_of(1920) is None and log.arrival_of(-1) is None
    assert log.arrival_of(1000) == 3.0 and log.arrival_of(700) == 2.0  # any order: lookups do not consume
    small = ArrivalLog(max_chunks=2)
    for t in (1.0, 2.0, 3.0):
        small.add(100, t)
    assert small.arrival_of(250) == 3.0 and small.arrival_of(150) is None  # forgotten, not misattributed


def test_rolling_percentiles() -> None:
    r = Rolling(size=100)
    for i in range(200):
        r.add("x", i / 1000)
    s = r.summary("x")
    assert s is not None and s["n"] == 100 and s["max"] == 199.0 and 145 < s["p50"] < 155
    assert r.summary("missing") is None


def _moving(i: int, size: int = 128) -> np.ndarray:
    rng = np.random.default_rng(i)
    img = np.full((size, size, 3), 80, np.uint8)
    img[(i * 3) % size :, :, 0] = 200
    img[:, : (i * 5) % size, 1] = rng.integers(0, 255, dtype=np.uint8)
    return img


@pytest.mark.parametrize("codec", ["h264", "vp8"])
def test_encoder_packets_decode_with_keyframes_and_pts(codec: str) -> None:
    enc = VideoEncoder(codec, 300_000, keyframe_interval_s=0.4)  # type: ignore[arg-type]  # keyframe every 10 frames
    dec = av.CodecContext.create("h264" if codec == "h264" else "libvpx", "r")
    keys = []
    for i in range(25):
        packet = enc.encode(_moving(i), pts=i * 3600)
        assert packet is not None and packet.pts == i * 3600
        assert packet.time_base == fractions.Fraction(1, 90000)
        keys.append(packet.is_keyframe)
        frames = dec.decode(av.Packet(bytes(packet)))
        assert len(frames) == 1 and (frames[0].width, frames[0].height) == (128, 128)
    assert [i for i, k in enumerate(keys) if k] == [0, 10, 20]


def test_encoder_bitrate_setting_is_honoured() -> None:
    sizes = {}
    for bitrate in (150_000, 1_200_000):
        enc = VideoEncoder("h264", bitrate)
        total = 0
        for i in range(50):
            rng = np.random.default_rng(i)
            packet = enc.encode(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8), pts=i * 3600)
            total += packet.size if packet else 0
        sizes[bitrate] = total * 8 / 2.0  # bits per second over 2 s
    assert sizes[150_000] < 0.5 * sizes[1_200_000]
    assert sizes[150_000] < 3 * 150_000


def test_encoder_rejects_unknown_codec() -> None:
    with pytest.raises(ValueError):
        VideoEncoder("h265", 1_000_000)  # type: ignore[arg-type]


def test_codec_preferences_order() -> None:
    h264 = [c.mimeType.lower() for c in video_codec_preferences("h264")]
    vp8 = [c.mimeType.lower() for c in video_codec_preferences("vp8")]
    assert h264[0] == "video/h264" and "video/vp8" in h264 and h264[-1] == "video/rtx"
    assert vp8[0] == "video/vp8" and "video/h264" in vp8


@pytest.mark.anyio
@pytest.mark.parametrize("preferred", ["h264", "vp8"])
async def test_codec_negotiation_follows_preference(preferred: str) -> None:
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # loopback: no public STUN
    answerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        offerer.addTransceiver("video", direction="recvonly")
        await offerer.setLocalDescription(await offerer.createOffer())
        tx = answerer.addTransceiver("video", direction="sendonly")
        tx.setCodecPreferences(video_codec_preferences(preferred))  # type: ignore[arg-type]
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        assert negotiated_video_codec(answerer.localDescription.sdp) == preferred
    finally:
        await offerer.close()
        await answerer.close()


def _rtp(seq: int, ts: int) -> RtpPacket:
    p = RtpPacket(payload_type=96, sequence_number=seq, timestamp=ts)
    p.payload = bytes([seq % 256])
    p._data = p.payload  # type: ignore[attr-defined]  # what the receiver's depayloader sets
    return p


def test_immediate_jitter_buffer_releases_at_once_and_drops_late() -> None:
    jb = ImmediateAudioJitterBuffer()
    out = [jb.add(_rtp(s, s * 960))[1] for s in (65534, 65535, 0, 2, 1, 2, 3)]
    released = [f.timestamp if f is not None else None for f in out]
    assert released == [65534 * 960, 65535 * 960, 0, 2 * 960, None, None, 3 * 960]
    assert jb.dropped_late == 2
    # aiortc's own buffer holds the first packet until the next one (prefetch 0) or 4 more.
    stock = make_audio_jitter_buffer(1)
    assert stock.add(_rtp(10, 0))[1] is None and stock.add(_rtp(11, 960))[1] is not None


@pytest.mark.anyio
async def test_receiver_jitter_buffer_is_replaceable_in_this_aiortc() -> None:
    """Guards the one private attribute we touch: an aiortc upgrade that renames it fails here."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no public STUN
    try:
        tx = pc.addTransceiver("audio", direction="recvonly")
        assert isinstance(getattr(tx.receiver, JITTER_ATTR), JitterBuffer)
        assert configure_audio_receivers(pc, 0) == 1
        assert isinstance(getattr(tx.receiver, JITTER_ATTR), ImmediateAudioJitterBuffer)
    finally:
        await pc.close()


def _rendered(index: int, value: int = 0) -> RenderedFrame:
    now = time.monotonic()
    return RenderedFrame(
        index=index,
        image=np.full((64, 64, 3), value, np.uint8),
        newest_sample=(index + 2) * 640 - 1,
        audio_arrival=now,
        own_audio_arrival=now,
        rendered_at=now,
        speech=0.0,
    )


@pytest.mark.anyio
async def test_video_track_sends_on_arrival_and_repeats_when_late() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        assert AvatarVideoTrack(VideoEncoder("vp8", 300_000), pool)._late == 0.5  # the default keep-alive
        track = AvatarVideoTrack(VideoEncoder("vp8", 300_000), pool, repeat_after_s=0.06)
        track.offer(_rendered(0))
        t0 = time.monotonic()
        first = await track.recv()
        assert first.pts == 0 and track.frames_sent == 1
        # Nothing new: the last picture goes again repeat_after_s later instead of blocking.
        second = await track.recv()
        waited = time.monotonic() - t0
        assert 0.05 < waited < 0.2, waited
        assert first.pts is not None and second.pts is not None
        assert track.frames_repeated == 1 and second.pts > first.pts
        # Two frames offered before the next send: the newest wins, the other counts as superseded.
        track.offer(_rendered(1, 50))
        track.offer(_rendered(2, 100))
        await track.recv()
        assert track.frames_superseded == 1 and track._last is not None and track._last.index == 2
        track.stop()
        with pytest.raises(MediaStreamError):
            await track.recv()


@pytest.mark.anyio
async def test_return_audio_is_released_with_its_video_frame() -> None:
    track = DelayedAudioTrack()
    ramp = (np.arange(3200, dtype=np.float32) % 640) / 640 * 0.5  # 5 video frames of audio
    track.feed(AudioChunk(ramp, 0.0, silence=False))
    pending = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0.05)
    assert not pending.done()  # frame 0 not sent yet: its audio waits
    t_sent = time.monotonic()
    track.video_sent(0, t_sent)
    first = await asyncio.wait_for(pending, 1)
    second = await track.recv()  # the second 20 ms half of frame 0 goes 20 ms later
    t_second = time.monotonic()
    assert first.sample_rate == 48000 and first.samples == 960 and first.layout.name == "stereo"
    assert first.pts == 0 and second.pts == 960
    assert 0.015 < t_second - t_sent < 0.05
    pcm = np.concatenate([first.to_ndarray()[0, ::2], second.to_ndarray()[0, ::2]]) / 32767.0
    expect = np.interp(np.arange(1920) / 3.0, np.arange(3200), ramp)  # 16 kHz ramp at 48 kHz
    lag = int(np.argmax(np.correlate(pcm[100:1800], expect[100:1800], "full"))) - 1699
    assert abs(lag) <= 16  # at most the 16-sample pad (0.3 ms) late
    # Frame 2 sent while frame 1 was skipped: frame 1's audio goes at once, in order.
    track.video_sent(2, time.monotonic())
    third = await asyncio.wait_for(track.recv(), 1)
    assert third.pts == 2 * 960
    track.stop()


@pytest.mark.anyio
async def test_signal_track_is_paced_in_real_time() -> None:
    track = SignalTrack(np.zeros(48000, np.float32))
    t0 = time.monotonic()
    for _ in range(10):
        await track.recv()
    assert 0.16 < time.monotonic() - t0 < 0.3


@pytest.mark.anyio
async def test_connect_race_of_a_closing_peer_connection_is_quiet_and_others_are_not() -> None:
    from aiortc.exceptions import InvalidStateError

    from server.live.transport import install_connect_race_filter

    loop = asyncio.get_running_loop()
    seen: list[dict[str, object]] = []
    original = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        install_connect_race_filter(loop)

        class RTCPeerConnection:  # the name aiortc's task coroutine carries
            async def __connect(self) -> None:
                raise InvalidStateError("RTCIceTransport is closed")

            def start(self) -> asyncio.Task[None]:
                return asyncio.ensure_future(self.__connect())

        race = RTCPeerConnection().start()
        other = asyncio.ensure_future(asyncio.sleep(0, result=None))
        await asyncio.gather(race, other, return_exceptions=True)
        handler = loop.get_exception_handler()
        assert handler is not None
        handler(loop, {"message": "x", "exception": race.exception(), "task": race})
        assert seen == []  # the race is logged at debug level, nothing reaches the old handler
        boom = asyncio.ensure_future(_raise(RuntimeError("boom")))
        await asyncio.gather(boom, return_exceptions=True)
        handler(loop, {"message": "y", "exception": boom.exception(), "task": boom})
        assert [c["message"] for c in seen] == ["y"]  # anything else goes through
    finally:
        loop.set_exception_handler(original)


async def _raise(exc: Exception) -> None:
    raise exc
