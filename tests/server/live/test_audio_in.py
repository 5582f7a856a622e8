"""server/live/audio_in.py: the bounded inbox and the feed that fills silence while the mic stalls;
server/live/mic.py: the WebRTC track reader that resamples into it."""

from __future__ import annotations

import time

import av
import numpy as np

from xactor.server.live.audio_in import AudioChunk, AudioFeed, AudioInbox
from xactor.server.live.metrics import LiveMetrics
from xactor.server.live.mic import MicReader
from xactor.server.live.timing import Rolling


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
    feed = AudioFeed([got.append], stall_s=0.1, clock=clock)
    rolling = Rolling()
    mic = MicReader(feed, _PassThrough(), LiveMetrics(), rolling)
    # Before any mic audio: silence from the start, at the real-time rate.
    for _ in range(10):
        clock.t += 0.02
        feed.tick()
    assert sum(c.samples.size for c in got) == 3200 and all(c.silence for c in got)
    # Mic audio flows: no filling while packets come within stall_s.
    got.clear()
    for _ in range(10):
        clock.t += 0.02
        mic.push_frame(_mic_frame())  # resampled by the reader, pushed as 16 kHz PCM
        feed.tick()
    assert all(not c.silence for c in got) and sum(c.samples.size for c in got) == 3200
    assert all(c.arrival == clock.t or c.arrival < clock.t for c in got) and mic.frames == 10
    assert rolling.summary("resample") is not None  # the resample stage is still timed
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


def test_overlay_speech_is_mixed_over_the_input_at_its_pace() -> None:
    """``say`` on a mic session: queued speech rides on the chunks that pass (mic or filled
    silence), so the stream keeps its real-time length and the speech is heard once."""

    got: list[AudioChunk] = []

    feed = AudioFeed([got.append], clock=lambda: 0.0)
    speech = np.full(1000, 0.25, np.float32)
    feed.overlay(speech)
    feed.push_samples(np.full(640, 0.1, np.float32))  # a mic chunk
    feed.push_samples(np.zeros(640, np.float32), silence=True)  # filled silence
    feed.push_samples(np.zeros(640, np.float32), silence=True)
    stream = np.concatenate([c.samples for c in got])
    assert stream.size == 3 * 640  # the stream's length is the input's
    np.testing.assert_allclose(stream[:640], 0.35, atol=1e-6)
    np.testing.assert_allclose(stream[640:1000], 0.25, atol=1e-6)
    assert not stream[1000:].any() and feed.overlay_queued == 0
    assert [c.silence for c in got] == [False, False, True]


def test_sample_queue_takes_across_chunks_and_drops_whole_old_ones() -> None:
    from xactor.server.live.audio_in import SampleQueue

    q = SampleQueue()
    for start in (0, 3, 7):
        q.push(np.arange(start, start + (3 if start < 7 else 5), dtype=np.float32))
    assert q.size == 11
    np.testing.assert_array_equal(q.take(4), [0, 1, 2, 3])  # a whole chunk and part of the next
    np.testing.assert_array_equal(q.take(2), [4, 5])
    assert q.size == 5 and q.drop_oldest(keep=0) == 0  # the newest chunk always stays
    q.push(np.ones(4, np.float32))
    assert q.drop_oldest(keep=4) == 5 and q.size == 4
    np.testing.assert_array_equal(q.take(10), np.ones(4))  # fewer when fewer are held
    assert q.take(3).size == 0 and q.clear() == 0


def test_a_closed_reader_converts_late_frames_to_nothing() -> None:
    """The reader lets go of FFmpeg's resampler at teardown; a frame still in flight adds nothing."""
    got: list[AudioChunk] = []
    feed = AudioFeed([got.append], clock=lambda: 0.0)
    mic = MicReader(feed, _PassThrough())
    mic.close()
    mic.push_frame(_mic_frame())
    assert got == [] and feed.mic_samples == 0


def test_the_core_takes_pcm_only() -> None:
    """Neither the core nor its audio input imports aiortc or av (each transport converts its own)."""
    import ast
    from pathlib import Path

    import xactor.server.live.audio_in as audio_in
    import xactor.server.live.core as core

    for module in (core, audio_in):
        tree = ast.parse(Path(module.__file__ or "").read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        roots = {name.split(".")[0] for name in names}
        assert not roots & {"av", "aiortc"}, (module.__name__, sorted(roots))
