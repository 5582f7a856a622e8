"""The pipecat video service against a real server, with pipecat's own test runner: TTS audio in,
avatar frames and their audio out at 25 fps; interruptions stop the speech at once."""

from __future__ import annotations

import numpy as np
import pytest
from pipecat.frames.frames import (
    InterruptionFrame,
    OutputImageRawFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.tests.utils import SleepFrame, run_test
from xactor_integrations.pipecat import XactorVideoService

pytestmark = pytest.mark.asyncio


def _tts_frames(pcm: bytes, rate: int, piece_s: float = 0.2) -> list[TTSAudioRawFrame]:
    step = int(rate * piece_s) * 2
    return [
        TTSAudioRawFrame(audio=pcm[i : i + step], sample_rate=rate, num_channels=1)
        for i in range(0, len(pcm), step)
    ]


def _mouth_open(frame: OutputImageRawFrame) -> float:
    """Brightness spread in the lower middle of the face (teeth and mouth show as contrast)."""
    w, h = frame.size
    image = np.frombuffer(frame.image, np.uint8).reshape(h, w, 3)
    return float(image[int(h * 0.62) : int(h * 0.8), int(w * 0.38) : int(w * 0.62)].std())


async def test_tts_audio_becomes_avatar_frames_with_synced_audio(xactor_url: str, speech) -> None:
    pcm, rate = speech
    seconds = len(pcm) / 2 / rate
    service = XactorVideoService(url=xactor_url)
    frames = [
        SleepFrame(0.5),
        TTSStartedFrame(),
        *_tts_frames(pcm, rate),
        TTSStoppedFrame(),
        SleepFrame(seconds + 1.0),
    ]
    down, _ = await run_test(service, frames_to_send=frames)
    images = [f for f in down if isinstance(f, OutputImageRawFrame)]
    audio = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    assert service.session["width"] == 256 and images[0].size == (256, 256) and images[0].format == "RGB"
    # Frames throughout, listening and speaking (25 fps on an idle machine; CI shares 2 cores).
    assert len(images) > 15 * (seconds + 1.0)
    assert all(a.sample_rate == 16000 and a.num_channels == 1 for a in audio)
    spoken = sum(len(a.audio) // 2 for a in audio) / 16000
    assert abs(spoken - seconds) < 0.15  # the speech came back whole, its pauses included
    assert any(isinstance(f, TTSStoppedFrame) for f in down)
    assert len(service.segments_ended) == 1 and not service.segments_ended[0]["interrupted"]
    assert abs(service.segments_ended[0]["position_s"] - seconds) < 0.05


async def test_an_interruption_cuts_the_speech_at_once(xactor_url: str, speech) -> None:
    pcm, rate = speech
    service = XactorVideoService(url=xactor_url)
    frames = [
        TTSStartedFrame(),
        *_tts_frames(pcm * 3, rate),
        SleepFrame(1.5),
        InterruptionFrame(),
        SleepFrame(1.5),
    ]
    down, _ = await run_test(service, frames_to_send=frames)
    cut = next(i for i, f in enumerate(down) if isinstance(f, InterruptionFrame))
    after = down[cut:]
    spoken_after = sum(len(a.audio) // 2 for a in after if isinstance(a, TTSAudioRawFrame)) / 16000
    assert spoken_after < 0.3  # at most the frames already on their way
    assert sum(isinstance(f, OutputImageRawFrame) for f in after) > 15  # frames go on: listening
    assert sum(len(a.audio) // 2 for a in down[:cut] if isinstance(a, TTSAudioRawFrame)) / 16000 > 1.0
