"""xactor as a LiveKit Agents avatar: the agent's TTS audio in, a talking portrait in the room.

Three pieces, as LiveKit's avatar plugins are built:

* :class:`XactorVideoGenerator` — LiveKit's ``VideoGenerator``: ``push_audio`` sends the agent's
  speech to an xactor WebSocket session, ``clear_buffer`` interrupts it, and iterating it gives
  ``rtc.VideoFrame`` / ``rtc.AudioFrame`` (the audio that goes with each frame, so the room
  hears and sees them together) and ``AudioSegmentEnd`` when an utterance has been shown;
* :func:`run_avatar` — the avatar worker: joins the room with its token and runs LiveKit's
  ``AvatarRunner`` over a ``DataStreamAudioReceiver`` (the agent's audio arrives as a data
  stream; ``lk.clear_buffer`` RPCs become ``clear_buffer``; ``lk.playback_finished`` goes back);
* :class:`XactorAvatarSession` — the agent side: mints the avatar's token with
  ``lk.publish_on_behalf`` (the avatar publishes for the agent), starts :func:`run_avatar` beside
  the agent, and routes the agent's audio to it (``DataStreamAudioOutput``).

Usage in an agent's entrypoint::

    avatar = XactorAvatarSession(xactor_url="ws://127.0.0.1:8000")
    await avatar.start(session, room=ctx.room)
    await session.start(agent=MyAgent(), room=ctx.room)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from livekit import api, rtc
from livekit.agents.types import ATTRIBUTE_PUBLISH_ON_BEHALF
from livekit.agents.voice.avatar import (
    AudioSegmentEnd,
    AvatarOptions,
    AvatarRunner,
    AvatarSession,
    DataStreamAudioOutput,
    DataStreamAudioReceiver,
    VideoGenerator,
)

from xactor_integrations.client import SpeechGate, XactorStream, mono_pcm16
from xactor_integrations.protocol import AUDIO_RATE, FPS, AvatarFrame

AVATAR_IDENTITY = "xactor-avatar"


class XactorVideoGenerator(VideoGenerator):
    """See module docstring. ``await start()`` before use, ``aclose()`` after."""

    def __init__(
        self,
        xactor_url: str = "ws://127.0.0.1:8000",
        *,
        token: str | None = None,
        avatar_id: str = "default",
        sample_rate: int = 24000,
        options: dict[str, Any] | None = None,
    ) -> None:
        self._stream = XactorStream(
            xactor_url, token=token, avatar_id=avatar_id, sample_rate=sample_rate, options=options
        )
        self.sample_rate = sample_rate
        self._resampler: rtc.AudioResampler | None = None
        self._gate = SpeechGate()
        self.session: dict[str, Any] = {}

    async def start(self) -> dict[str, Any]:
        self.session = await self._stream.connect()
        return self.session

    @property
    def width(self) -> int:
        return int(self.session.get("width", 256))

    @property
    def height(self) -> int:
        return int(self.session.get("height", 256))

    async def push_audio(self, frame: rtc.AudioFrame | AudioSegmentEnd) -> None:
        if isinstance(frame, AudioSegmentEnd):
            await self._stream.end_segment()
            return
        data = mono_pcm16(bytes(frame.data), frame.num_channels)
        if frame.sample_rate != self.sample_rate:  # a TTS at another rate than the session's
            if self._resampler is None:
                self._resampler = rtc.AudioResampler(frame.sample_rate, self.sample_rate, num_channels=1)
            out = self._resampler.push(rtc.AudioFrame(data, frame.sample_rate, 1, len(data) // 2))
            data = b"".join(bytes(f.data) for f in out)
        if data:
            await self._stream.send_audio(data)

    async def clear_buffer(self) -> None:
        await self._stream.clear_buffer()

    def __aiter__(self) -> AsyncIterator[rtc.VideoFrame | rtc.AudioFrame | AudioSegmentEnd]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[rtc.VideoFrame | rtc.AudioFrame | AudioSegmentEnd]:
        async for message in self._stream.messages():
            if isinstance(message, AvatarFrame):
                audio = self._gate.audio(message)
                if audio:
                    yield rtc.AudioFrame(audio, AUDIO_RATE, 1, len(audio) // 2)
                if message.image:
                    yield rtc.VideoFrame(
                        message.width, message.height, rtc.VideoBufferType.RGB24, message.image
                    )
            else:
                self._gate.event(message)
                if message.get("type") == "segment_end" and not message.get("interrupted"):
                    yield AudioSegmentEnd()

    async def aclose(self) -> None:
        await self._stream.close()


async def run_avatar(
    livekit_url: str,
    livekit_token: str,
    *,
    xactor_url: str = "ws://127.0.0.1:8000",
    xactor_token: str | None = None,
    avatar_id: str = "default",
    sample_rate: int = 24000,
    sender_identity: str | None = None,
) -> None:
    """The avatar worker: join the room, play the agent's audio through xactor, until it leaves."""
    generator = XactorVideoGenerator(
        xactor_url, token=xactor_token, avatar_id=avatar_id, sample_rate=sample_rate
    )
    session = await generator.start()
    room = rtc.Room()
    await room.connect(livekit_url, livekit_token)
    runner = AvatarRunner(
        room,
        audio_recv=DataStreamAudioReceiver(room, sender_identity=sender_identity),
        video_gen=generator,
        options=AvatarOptions(
            video_width=session["width"],
            video_height=session["height"],
            video_fps=FPS,
            audio_sample_rate=AUDIO_RATE,
            audio_channels=1,
        ),
    )
    try:
        await runner.start()
        await runner.wait_for_complete()
    finally:
        await runner.aclose()
        await generator.aclose()
        await room.disconnect()


class XactorAvatarSession(AvatarSession):
    """The agent side (see module docstring). LiveKit's URL, key and secret come from the
    arguments or the usual ``LIVEKIT_URL`` / ``LIVEKIT_API_KEY`` / ``LIVEKIT_API_SECRET``."""

    def __init__(
        self,
        *,
        xactor_url: str = "ws://127.0.0.1:8000",
        xactor_token: str | None = None,
        avatar_id: str = "default",
        avatar_identity: str = AVATAR_IDENTITY,
        livekit_url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        sample_rate: int = 24000,
    ) -> None:
        super().__init__()
        self._xactor = {"xactor_url": xactor_url, "xactor_token": xactor_token, "avatar_id": avatar_id}
        self._identity = avatar_identity
        self._livekit_url = livekit_url or os.environ.get("LIVEKIT_URL", "")
        self._api_key = api_key or os.environ.get("LIVEKIT_API_KEY", "")
        self._api_secret = api_secret or os.environ.get("LIVEKIT_API_SECRET", "")
        self._sample_rate = sample_rate
        self._worker: asyncio.Task[None] | None = None

    @property
    def avatar_identity(self) -> str:
        return self._identity

    @property
    def provider(self) -> str:
        return "xactor"

    def avatar_token(self, room_name: str, agent_identity: str) -> str:
        """A token for the avatar participant that publishes on behalf of the agent."""
        return (
            api.AccessToken(self._api_key, self._api_secret)
            .with_identity(self._identity)
            .with_name("xactor avatar")
            .with_kind("agent")
            .with_grants(api.VideoGrants(room_join=True, room=room_name))
            .with_attributes({ATTRIBUTE_PUBLISH_ON_BEHALF: agent_identity})
            .to_jwt()
        )

    async def start(self, agent_session: Any, room: rtc.Room) -> None:
        await super().start(agent_session, room)
        token = self.avatar_token(room.name, room.local_participant.identity)
        self._worker = asyncio.create_task(
            run_avatar(
                self._livekit_url,
                token,
                sample_rate=self._sample_rate,
                sender_identity=room.local_participant.identity,
                **self._xactor,  # type: ignore[arg-type]
            ),
            name="xactor-avatar",
        )
        agent_session.output.audio = DataStreamAudioOutput(
            room,
            destination_identity=self._identity,
            sample_rate=self._sample_rate,
            wait_remote_track=rtc.TrackKind.KIND_VIDEO,
        )

    async def aclose(self) -> None:
        await super().aclose()
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
