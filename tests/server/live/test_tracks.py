"""server/live/tracks.py: the avatar video track and the returned audio track."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from xactor.server.live.audio_in import AudioChunk
from xactor.server.live.encoding import VideoEncoder
from xactor.server.live.tracks import AvatarVideoTrack, DelayedAudioTrack
from xactor.server.live.worker import RenderedFrame


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
        motion=np.zeros(40, np.float32),
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
async def test_return_audio_mutes_what_was_not_sent_yet() -> None:
    """An interruption silences released speech no frame showed; what went out stays as it was."""
    track = DelayedAudioTrack()
    track.feed(AudioChunk(np.full(3200, 0.5, np.float32), 0.0, silence=False))  # 5 frames of speech
    track.video_sent(0, time.monotonic())
    sent = [await asyncio.wait_for(track.recv(), 1) for _ in range(2)]  # frame 0's two 20 ms chunks
    track.mute(0, 3 * 640)  # frames 1 and 2 were never shown (the clear came)
    track.video_sent(3, time.monotonic())
    later = [await asyncio.wait_for(track.recv(), 1) for _ in range(6)]  # frames 1, 2, 3
    track.stop()

    def level(frame) -> float:
        return float(np.abs(frame.to_ndarray()).max()) / 32767

    assert min(level(f) for f in sent[1:]) > 0.4  # frame 0 kept its sound
    assert max(level(f) for f in later[:4]) == 0.0  # frames 1-2 muted
    assert min(level(f) for f in later[4:]) > 0.4  # frame 3, after the cut, untouched
