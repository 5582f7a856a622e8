"""xactor as a pipecat video service: TTS audio in, the avatar's frames and synced audio out.

Put it after the TTS service and before the output transport::

    pipeline = Pipeline([transport.input(), stt, context_aggregator.user(), llm, tts,
                         XactorVideoService(url="ws://127.0.0.1:8000"),
                         transport.output(), context_aggregator.assistant()])

with ``video_out_enabled=True`` and ``video_out_width``/``video_out_height`` of the session
(256 by default) in the transport's params. The TTS audio is *consumed*: what goes downstream
is the audio that comes back with each avatar frame, so picture and sound leave together. An
``InterruptionFrame`` clears the avatar's queued speech at once; ``TTSStoppedFrame`` marks the
end of an utterance (``on_segment_end`` fires when its last frame is out).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
    OutputImageRawFrame,
    StartFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor, FrameProcessorSetup

from xactor_integrations.client import SpeechGate, XactorStream, mono_pcm16
from xactor_integrations.protocol import AUDIO_RATE, AvatarFrame


class XactorVideoService(FrameProcessor):
    """See module docstring. ``options`` are the session's (resolution, motion_source, ...)."""

    def __init__(
        self,
        *,
        url: str = "ws://127.0.0.1:8000",
        token: str | None = None,
        avatar_id: str = "default",
        options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._stream = XactorStream(url, token=token, avatar_id=avatar_id, options=options)
        self._resampler = create_stream_resampler()
        self._receiver: asyncio.Task[None] | None = None
        self.session: dict[str, Any] = {}
        self.segments_ended: list[dict[str, Any]] = []
        self._gate = SpeechGate()
        self._tts_rate: int | None = None
        self._register_event_handler("on_segment_end")

    async def setup(self, setup: FrameProcessorSetup) -> None:
        await super().setup(setup)
        self._tts_rate = setup.audio_out_sample_rate  # the pipeline's TTS rate: the session's

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            await self._start(self._tts_rate or AUDIO_RATE)
        elif isinstance(frame, TTSAudioRawFrame):
            await self._send(frame)  # consumed: the avatar's own audio goes downstream instead
        elif isinstance(frame, TTSStoppedFrame):
            await self._stream.end_segment()
            await self.push_frame(frame, direction)
        elif isinstance(frame, InterruptionFrame):
            await self._stream.clear_buffer()
            await self.push_frame(frame, direction)
        elif isinstance(frame, (EndFrame, CancelFrame)):
            await self._stop()
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    async def _start(self, tts_rate: int) -> None:
        """Open the session at the pipeline's TTS rate: the server resamples (and flushes its
        resampler at each utterance's end, so no tail of speech is held back)."""
        self._stream.request["sample_rate"] = tts_rate
        try:
            self.session = await self._stream.connect()
        except Exception as exc:
            await self.push_error_frame(ErrorFrame(f"xactor: cannot start a session: {exc}", fatal=True))
            return
        self._receiver = self.create_task(self._receive())

    async def _send(self, frame: TTSAudioRawFrame) -> None:
        audio = mono_pcm16(frame.audio, frame.num_channels)
        rate = self._stream.request["sample_rate"]
        if frame.sample_rate != rate:  # a TTS that does not use the pipeline's rate
            audio = await self._resampler.resample(audio, frame.sample_rate, rate)
        if audio:
            await self._stream.send_audio(audio)

    async def _receive(self) -> None:
        async for message in self._stream.messages():
            if isinstance(message, AvatarFrame):
                audio = self._gate.audio(message)
                if audio:
                    await self.push_frame(
                        TTSAudioRawFrame(audio=audio, sample_rate=AUDIO_RATE, num_channels=1)
                    )
                if message.image:
                    await self.push_frame(
                        OutputImageRawFrame(
                            image=message.image, size=(message.width, message.height), format="RGB"
                        )
                    )
            else:
                self._gate.event(message)
                if message.get("type") == "segment_end":
                    self.segments_ended.append(message)
                    await self._call_event_handler("on_segment_end", message)

    async def _stop(self) -> None:
        if self._receiver is not None:
            await self.cancel_task(self._receiver)
            self._receiver = None
        await self._stream.close()
