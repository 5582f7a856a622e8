"""An interruption's hush: the next frame the worker takes has its jaw and lips closed, the source's
own mouth comes back over a short ramp, and the first hushed frame says what audio to mute."""

from __future__ import annotations

import numpy as np
import pytest

from xactor.engines import motion_space as ms
from xactor.engines import timebase
from xactor.engines.motion_source.base import MotionFrame
from xactor.server.live.audio_in import AudioChunk, SampleQueue
from xactor.server.live.core import AudioTape
from xactor.server.live.hush import MAX_HOLD_FRAMES, RAMP_FRAMES, Hush

SPF = timebase.SAMPLES_PER_FRAME


def _speaking(index: int, jaw: float = 0.5) -> MotionFrame:
    motion = np.full(ms.MOTION_DIM, 0.5, np.float32)  # every channel busy
    motion[ms.INDEX["jawOpen"]] = jaw
    return MotionFrame(index=index, motion=motion, newest_sample=(index + 2) * SPF - 1, speech=0.9)


def test_no_request_leaves_frames_alone() -> None:
    hush = Hush()
    frame = _speaking(3)
    out = hush.apply(frame)
    assert out.frame is frame and out.mute_until is None and not hush.active


def test_the_next_frame_listens_then_the_source_comes_back() -> None:
    hush = Hush()
    cut = 10 * SPF + 100  # the clear came 100 samples into frame 10's audio
    hush.request(cut)
    assert hush.active
    first = hush.apply(_speaking(9))  # the worker was still on frame 9 (its lookahead heard speech)
    assert first.mute_until == cut
    art = ms.ARTICULATION_INDEX
    others = np.setdiff1d(np.arange(ms.MOTION_DIM), art)
    assert (first.frame.motion[art] == 0).all() and first.frame.speech == 0
    np.testing.assert_array_equal(first.frame.motion[others], 0.5)  # blinks, head, brows, smiles stay
    assert ms.INDEX["jawOpen"] in art and ms.INDEX["mouthSmileLeft"] not in art
    # Frame 10 still holds audio from before the clear: closed. From 11 on the ramp gives the
    # source its mouth back, and then the hush is over.
    jaws = []
    for index in range(10, 10 + RAMP_FRAMES + 3):
        out = hush.apply(_speaking(index))
        assert out.mute_until is None
        jaws.append(float(out.frame.motion[ms.INDEX["jawOpen"]]))
    assert jaws[0] == 0.0
    assert np.all(np.diff(jaws) >= 0) and jaws[1] > 0 and jaws[RAMP_FRAMES + 1] == 0.5
    assert not hush.active


def test_the_hush_waits_for_the_source_to_close_its_jaw_unless_speech_resumes() -> None:
    """No twitch: while the source (fed silence) is still closing its jaw the mouth stays shut;
    then the ramp. New speech (the source's jaw rising) starts the ramp at once."""
    hush = Hush()
    hush.request(2 * SPF)
    closing = [0.4, 0.3, 0.2, 0.1, 0.05, 0.01, 0.01, 0.01, 0.01]
    jaws = [
        float(hush.apply(_speaking(2 + i, jaw)).frame.motion[ms.INDEX["jawOpen"]])
        for i, jaw in enumerate(closing)
    ]
    assert jaws[:5] == [0.0] * 5 and 0 < jaws[5] < 0.01 and jaws[-1] == pytest.approx(0.01)
    hush.request(20 * SPF)
    hush.apply(_speaking(19, 0.4))  # heard pre-clear speech: shut
    opening = [
        float(hush.apply(_speaking(20 + i, jaw)).frame.motion[ms.INDEX["jawOpen"]])
        for i, jaw in enumerate([0.2, 0.3, 0.4])
    ]
    assert opening[0] == 0.0 and 0 < opening[1] < 0.3  # fell once (closing), then rose: ramp
    # A source that keeps closing slowly is not waited for beyond MAX_HOLD_FRAMES.
    hush.request(40 * SPF)
    slow = [
        float(hush.apply(_speaking(40 + i, 0.5 - 0.01 * i)).frame.motion[ms.INDEX["jawOpen"]])
        for i in range(MAX_HOLD_FRAMES + 2)
    ]
    assert slow[MAX_HOLD_FRAMES - 1] == 0.0 and slow[MAX_HOLD_FRAMES] > 0


def test_a_second_clear_extends_the_hush() -> None:
    hush = Hush()
    hush.request(5 * SPF)
    hush.apply(_speaking(4))
    hush.request(8 * SPF)
    out = hush.apply(_speaking(6))
    assert out.mute_until == 8 * SPF and out.frame.motion[ms.INDEX["jawOpen"]] == 0
    assert hush.apply(_speaking(7)).frame.motion[ms.INDEX["jawOpen"]] == 0


def test_the_tape_mutes_unplayed_speech_without_touching_the_pushed_arrays() -> None:
    tape = AudioTape()
    speech = np.full(3 * SPF, 0.5, np.float32)
    tape.feed(AudioChunk(speech, 0.0, silence=False))
    assert tape.take_until(SPF).max() == 0.5  # frame 0 was shown before the clear
    assert tape.mute_until(2 * SPF) == SPF  # frame 1's audio had not been played
    assert tape.take_until(2 * SPF).max() == 0.0
    assert tape.take_until(3 * SPF).max() == 0.5  # after the cut: untouched
    assert speech.min() == 0.5


def test_sample_queue_silences_its_front() -> None:
    queue = SampleQueue()
    queue.push(np.ones(5, np.float32))
    queue.push(np.ones(5, np.float32))
    assert queue.silence_front(7) == 7 and queue.size == 10
    np.testing.assert_array_equal(queue.take(10), [0] * 7 + [1] * 3)
    assert queue.silence_front(3) == 0


# ---- through the session core ------------------------------------------------------------------
class _Core:
    """A session core on a scripted source (jawOpen = the frame's mean |sample|) and a worker whose
    turns the test runs; 0.4 s of "speech" pushed as one segment."""

    def __init__(self) -> None:
        from tests.server.live.test_worker import Recorder, ScriptedSource
        from xactor.server.live.core import SegmentEnd, SessionCore
        from xactor.server.live.frames import FrameOut
        from xactor.server.live.metrics import LiveMetrics
        from xactor.server.live.worker import RenderWorker

        self.worker = RenderWorker(name="render-unused-hush")  # never started
        self.core = SessionCore(
            "t",
            ScriptedSource(lookahead=1),
            Recorder(),
            LiveMetrics(),
            self.worker,
            with_tape=True,
        )
        self.outs: list[FrameOut] = []
        self.ends: list[SegmentEnd] = []
        self.core.add_sink(self.outs.append)
        self.core.segment_sinks.append(self.ends.append)
        self.playout = self.core.use_playout()
        self.core.stream.active = True
        self.worker.add(self.core.stream)
        self.prime = self.core.prime_samples(1)
        self.core.feed.start_clock(self.prime)
        self.playout.push(np.full(10 * SPF, 0.5, np.float32))
        self.playout.end_segment()
        self.t = 100.0

    def tick(self) -> None:
        self.playout.tick(self.t)
        self.t += 0.04


@pytest.mark.anyio
async def test_core_clear_mutes_what_no_frame_showed_and_cuts_the_segment_it_ended() -> None:
    """All of a segment released, its last frames not yet shown, then ``clear_buffer``: the
    segment ends interrupted at the position shown, and the next frame is closed and silent."""
    import asyncio

    c = _Core()
    for step in range(12):  # 0.44 s of ticks: everything is released...
        c.tick()
        if step < 6:  # ...but the worker shows only the first frames
            c.worker.turn()
            await asyncio.sleep(0)
    assert c.outs and max(np.abs(o.audio).max() for o in c.outs) == 0.5 and not c.ends
    shown = c.core.shown_until
    assert c.playout.due  # the segment's end was released, no frame has shown it
    c.core.clear_buffer()
    assert len(c.ends) == 1 and c.ends[0].interrupted
    assert c.ends[0].position_s == pytest.approx((shown - c.prime) / timebase.SAMPLE_RATE)
    before = len(c.outs)
    c.worker.turn()
    await asyncio.sleep(0)
    after = c.outs[before:]
    assert len(after) == 1 and after[0].frame.motion[ms.INDEX["jawOpen"]] == 0.0
    assert after[0].audio.size > 0 and np.abs(after[0].audio).max() == 0.0  # the cut speech is muted
    assert len(c.ends) == 1  # no second (uninterrupted) end for it later


@pytest.mark.anyio
async def test_core_drops_frames_rendered_before_the_clear() -> None:
    """A frame the worker rendered before the clear but the event loop delivers after it showed
    interrupted speech: it is dropped, and its audio goes muted with the next frame."""
    import asyncio

    c = _Core()
    for _ in range(6):
        c.tick()
        c.worker.turn()
        await asyncio.sleep(0)
    c.tick()
    c.worker.turn()  # rendered, handed to the loop...
    c.core.clear_buffer()  # ...which runs the clear first
    shown = len(c.outs)
    await asyncio.sleep(0)
    assert len(c.outs) == shown and c.core.frames_dropped_at_clear == 1
    c.tick()
    c.worker.turn()
    await asyncio.sleep(0)
    out = c.outs[-1]
    assert len(c.outs) == shown + 1 and out.frame.motion[ms.INDEX["jawOpen"]] == 0.0
    assert out.audio.size >= 2 * SPF and np.abs(out.audio).max() == 0.0  # the dropped frame's audio too
