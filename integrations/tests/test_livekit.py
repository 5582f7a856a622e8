"""The LiveKit avatar's VideoGenerator against a real server, with real ``livekit.rtc`` frames:
the agent's audio in, video frames and their audio out, ``AudioSegmentEnd`` when an utterance has
been shown, ``clear_buffer`` cutting it at once; the avatar token publishes on the agent's behalf.
The room path (``run_avatar`` joining a room) needs a LiveKit server: it runs when ``LIVEKIT_URL``,
``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET`` point at one (``livekit-server --dev``)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import numpy as np
import pytest
from livekit import rtc
from livekit.agents.voice.avatar import AudioReceiver, AudioSegmentEnd
from xactor_integrations.livekit import XactorAvatarSession, XactorVideoGenerator

pytestmark = pytest.mark.asyncio


def _frames(pcm: bytes, rate: int, ms: int = 100) -> list[rtc.AudioFrame]:
    """The agent's TTS as LiveKit sends it: 100 ms frames."""
    step = rate * ms // 1000
    x = np.frombuffer(pcm, np.int16)
    return [
        rtc.AudioFrame(x[i : i + step].tobytes(), rate, 1, len(x[i : i + step]))
        for i in range(0, x.size, step)
    ]


async def _collect(generator: XactorVideoGenerator, seconds: float, out: list) -> None:
    end = time.monotonic() + seconds
    async for item in generator:
        out.append((time.monotonic(), item))
        if time.monotonic() > end:
            return


async def test_generator_turns_agent_audio_into_frames_and_segment_ends(xactor_url: str, speech) -> None:
    pcm, rate = speech
    seconds = len(pcm) / 2 / rate
    generator = XactorVideoGenerator(xactor_url, sample_rate=rate)
    session = await generator.start()
    out: list = []
    reader = asyncio.create_task(_collect(generator, seconds + 1.5, out))
    try:
        await asyncio.sleep(0.3)
        for frame in _frames(pcm, rate):
            await generator.push_audio(frame)
        await generator.push_audio(AudioSegmentEnd())
        await reader
    finally:
        await generator.aclose()
    video = [i for _, i in out if isinstance(i, rtc.VideoFrame)]
    audio = [i for _, i in out if isinstance(i, rtc.AudioFrame)]
    ends = [k for k, (_, i) in enumerate(out) if isinstance(i, AudioSegmentEnd)]
    assert session["width"] == 256 and video[0].width == 256 and video[0].type == rtc.VideoBufferType.RGB24
    assert len(video) > 15 * (seconds + 1.5)
    assert all(a.sample_rate == 16000 and a.num_channels == 1 for a in audio)
    assert abs(sum(a.samples_per_channel for a in audio) / 16000 - seconds) < 0.15  # the whole utterance
    assert len(ends) == 1  # one AudioSegmentEnd, after the utterance's audio
    assert not any(isinstance(i, rtc.AudioFrame) for _, i in out[ends[0] :])


async def test_clear_buffer_cuts_the_utterance(xactor_url: str, speech) -> None:
    pcm, rate = speech
    generator = XactorVideoGenerator(xactor_url, sample_rate=rate)
    await generator.start()
    out: list = []
    reader = asyncio.create_task(_collect(generator, 3.0, out))
    try:
        for frame in _frames(pcm * 3, rate):
            await generator.push_audio(frame)
        await asyncio.sleep(1.2)
        cleared_at = time.monotonic()
        await generator.clear_buffer()
        await reader
    finally:
        await generator.aclose()
    after = [i for t, i in out if t > cleared_at + 0.3 and isinstance(i, rtc.AudioFrame)]
    assert sum(a.samples_per_channel for a in after) / 16000 < 0.1  # silence after the cut
    assert sum(isinstance(i, rtc.VideoFrame) for t, i in out if t > cleared_at) > 15  # still moving
    assert not any(isinstance(i, AudioSegmentEnd) for _, i in out)  # interrupted: no normal end


def test_avatar_token_publishes_on_behalf_of_the_agent() -> None:
    from livekit import api

    avatar = XactorAvatarSession(api_key="devkey", api_secret="secret" * 6, livekit_url="ws://x")
    jwt = avatar.avatar_token("room-1", "agent-7")
    claims = api.TokenVerifier("devkey", "secret" * 6).verify(jwt)
    assert claims.identity == "xactor-avatar" and claims.kind == "agent"
    assert claims.attributes == {"lk.publish_on_behalf": "agent-7"}
    assert claims.video.room == "room-1" and claims.video.room_join


@pytest.mark.skipif(
    not (os.environ.get("LIVEKIT_URL") and os.environ.get("LIVEKIT_API_KEY")),
    reason="no LiveKit server: set LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET (livekit-server --dev)",
)
async def test_avatar_joins_a_room_and_publishes_video(xactor_url: str) -> None:
    from livekit import api
    from xactor_integrations.livekit import run_avatar

    key, secret, url = (
        os.environ["LIVEKIT_API_KEY"],
        os.environ["LIVEKIT_API_SECRET"],
        os.environ["LIVEKIT_URL"],
    )
    viewer_token = (
        api.AccessToken(key, secret)
        .with_identity("viewer")
        .with_grants(api.VideoGrants(room_join=True, room="t"))
    ).to_jwt()
    avatar = XactorAvatarSession(api_key=key, api_secret=secret, livekit_url=url)
    worker = asyncio.create_task(run_avatar(url, avatar.avatar_token("t", "agent"), xactor_url=xactor_url))
    room = rtc.Room()
    got = asyncio.Event()
    room.on(
        "track_subscribed", lambda track, *_: got.set() if track.kind == rtc.TrackKind.KIND_VIDEO else None
    )
    try:
        await room.connect(url, viewer_token)
        await asyncio.wait_for(got.wait(), 20)
    finally:
        worker.cancel()
        await room.disconnect()


class _Publication:
    async def wait_for_subscription(self) -> None:
        return None


class _Participant:
    def __init__(self) -> None:
        self.published: list[str] = []

    async def publish_track(self, track: object, options: object) -> _Publication:
        self.published.append(type(track).__name__)
        return _Publication()


class _Room(rtc.EventEmitter):
    """The part of ``rtc.Room`` the AvatarRunner touches (no LiveKit server here)."""

    def __init__(self) -> None:
        super().__init__()
        self.local_participant = _Participant()

    def isconnected(self) -> bool:
        return True


class _AgentAudio(AudioReceiver):
    """What ``DataStreamAudioReceiver`` hands the runner, minus the network: the agent's frames, a
    segment end, ``clear_buffer`` events; it records the playback notifications that would be the
    ``lk.playback_started`` / ``lk.playback_finished`` RPCs."""

    def __init__(self) -> None:
        super().__init__()
        self.queue: asyncio.Queue[rtc.AudioFrame | AudioSegmentEnd] = asyncio.Queue()
        self.finished: list[tuple[float, bool]] = []
        self.started = 0

    def notify_playback_finished(self, playback_position: float, interrupted: bool) -> None:
        self.finished.append((playback_position, interrupted))

    def notify_playback_started(self) -> None:
        self.started += 1

    def __aiter__(self) -> Any:
        return self._frames()

    async def _frames(self) -> Any:
        while True:
            yield await self.queue.get()


async def test_avatar_runner_reports_playback_and_interruptions(xactor_url: str, speech) -> None:
    """LiveKit's own AvatarRunner over our generator: an utterance ends with playback_finished at
    its length; an lk.clear_buffer (the receiver's clear_buffer event) ends the next one as
    interrupted, at the position it had reached."""
    from livekit.agents.voice.avatar import AvatarOptions, AvatarRunner

    pcm, rate = speech
    seconds = len(pcm) / 2 / rate
    generator = XactorVideoGenerator(xactor_url, sample_rate=rate)
    session = await generator.start()
    audio, room = _AgentAudio(), _Room()
    options = AvatarOptions(session["width"], session["height"], 25, 16000, 1)
    runner = AvatarRunner(room, audio_recv=audio, video_gen=generator, options=options)  # type: ignore[arg-type]
    await runner.start()
    try:
        for frame in _frames(pcm, rate):
            audio.queue.put_nowait(frame)
        audio.queue.put_nowait(AudioSegmentEnd())
        await asyncio.sleep(seconds + 1.5)
        assert room.local_participant.published == ["LocalAudioTrack", "LocalVideoTrack"]
        assert len(audio.finished) == 1 and audio.started == 1
        position, interrupted = audio.finished[0]
        assert not interrupted and abs(position - seconds) < 0.2, audio.finished
        for frame in _frames(pcm * 3, rate):
            audio.queue.put_nowait(frame)
        await asyncio.sleep(1.5)
        audio.emit("clear_buffer")
        await asyncio.sleep(1.0)
        assert len(audio.finished) == 2, audio.finished
        position, interrupted = audio.finished[1]
        assert interrupted and 0.5 < position < 2.0, audio.finished
    finally:
        await runner.aclose()
        await generator.aclose()
