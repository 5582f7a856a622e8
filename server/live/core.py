"""The transport-independent heart of a live session: audio in, frames and their audio out.

A :class:`SessionCore` owns the pipeline every live session runs, whatever carries its media:

    audio (a WebRTC mic track, PCM over a WebSocket, TTS, a file)
      -> (the transport converts it to 16 kHz mono float32 PCM, the only audio the core takes)
      -> :class:`~server.live.audio_in.AudioFeed` (silence while nothing comes)
      -> the shared render worker (this session's :class:`~server.live.worker.FrameStream`)
      -> every frame sink, each frame with the audio it shows (:class:`AudioTape`)

Transports add what is theirs: the WebRTC session (``session.py``) its peer connection and tracks,
the WebSocket session (``ws_session.py``) its socket. Two ways in:

* **live audio** (a mic): pushed as it arrives; the feed's stall clock fills silence when it stops;
* **pushed audio** (:class:`Playout`): speech that arrives faster than real time (a TTS stream) is
  queued and played into the stream at real time, silence when the queue is empty.
  :meth:`SessionCore.clear_buffer` is an interruption: what is queued is dropped, frames rendered
  before the clear and not yet out are dropped, and the next frame listens, its mouth closed, with
  the speech released but not yet played muted (:mod:`xactor.server.live.hush`). A segment the client
  marks ends with a :class:`SegmentEnd` when the frame showing its last sample goes out, or at
  once with ``interrupted`` when it is cleared (its position: what had been shown).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from xactor.engines import timebase
from xactor.engines.motion_source.base import MotionSource
from xactor.engines.render.base import Renderer
from xactor.server.live.audio_in import (
    SAMPLE_RATE,
    TICK_S,
    AudioChunk,
    AudioFeed,
    AudioInbox,
    SampleQueue,
)
from xactor.server.live.frames import FrameOut, FrameOutput, FrameSink, ViewerGroup
from xactor.server.live.metrics import LiveMetrics
from xactor.server.live.timing import Rolling
from xactor.server.live.worker import FrameStream, RenderedFrame, RenderWorker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentEnd:
    """A marked speech segment has been shown (or was cut off by ``clear``)."""

    segment: int  # 0, 1, ... in the order the client marked them
    position_s: float  # how much of the segment was played, seconds
    interrupted: bool


class AudioTape:
    """The stream's 16 kHz audio as fed (speech and silence), held until a frame that shows it goes
    out: the synced return audio of sinks that are not a WebRTC track. Bounded: beyond ``max_s``
    the oldest goes (a sink that stopped taking frames must not grow it)."""

    def __init__(self, max_s: float = 10.0) -> None:
        self._held = SampleQueue()
        self._start = 0  # stream index of the first held sample
        self._max = int(max_s * SAMPLE_RATE)

    def feed(self, chunk: AudioChunk) -> None:
        self._held.push(chunk.samples)
        self._start += self._held.drop_oldest(self._max)

    def mute_until(self, end: int) -> int:
        """Silence the held samples before stream index ``end`` (speech an interruption cut off
        before it was played); returns how many."""
        return self._held.silence_front(max(end - self._start, 0))

    def take_until(self, end: int) -> np.ndarray:
        """Samples from the last taken one up to stream index ``end`` (exclusive), as far as fed."""
        out = self._held.take(max(end - self._start, 0))
        self._start += out.size
        return out


class Playout:
    """Audio pushed faster than real time, played into the feed at real time (see module docstring)."""

    def __init__(self, feed: AudioFeed, max_queue_s: float = 120.0) -> None:
        self._feed = feed
        self._queue = SampleQueue()
        self._max = int(max_queue_s * SAMPLE_RATE)
        self._t0: float | None = None
        self._released = 0  # samples released since the clock started (speech + silence)
        self._pushed = 0  # pushed samples ever (speech)
        self._played = 0  # pushed samples played
        # Marked segments not yet played out: (segment, pushed-sample start, pushed-sample end).
        self._marks: deque[tuple[int, int, int]] = deque()
        self._segment_start = 0  # where the segment being pushed now starts
        self._next_segment = 0
        self.dropped_samples = 0
        # Played segment ends by stream sample index, waiting for the frame that shows them.
        self.due: deque[tuple[int, int, float]] = deque()  # (stream end sample, segment, seconds)
        self.on_interrupted: Callable[[SegmentEnd], None] | None = None

    @property
    def queued_s(self) -> float:
        return self._queue.size / SAMPLE_RATE

    def push(self, samples: np.ndarray) -> int:
        """Queue 16 kHz mono float32 speech; returns samples dropped (the queue is bounded)."""
        samples = np.asarray(samples, np.float32).reshape(-1)
        room = self._max - self._queue.size
        dropped = max(samples.size - room, 0)
        if dropped:
            samples = samples[: samples.size - dropped]
            self.dropped_samples += dropped
        self._queue.push(samples)
        self._pushed += samples.size
        return dropped

    def end_segment(self) -> int:
        """Mark the end of what was pushed so far as the end of a segment; returns its number."""
        segment = self._next_segment
        self._marks.append((segment, self._segment_start, self._pushed))
        self._next_segment += 1
        self._segment_start = self._pushed
        return segment

    def clear(self, shown_until: int | None = None) -> float:
        """Drop everything queued now; marked segments not yet played end as interrupted. Returns
        the seconds dropped.

        ``shown_until`` (the stream index the shown frames reach) when what was released beyond it
        will be muted: segments then end at the position *shown*, including those whose end was
        released but not yet shown. None: what was released still plays and counts as played."""
        dropped = self._queue.clear()
        self._pushed = self._played  # what was never played never happened
        shown = self._played
        if shown_until is not None:
            shown -= min(max(self._feed.stream_samples - shown_until, 0), self._played)
            while self.due:  # played out, but their last frames will not be shown
                end, segment, length = self.due.popleft()
                cut = max(end - shown_until, 0) / SAMPLE_RATE
                self._interrupt(SegmentEnd(segment, max(length - cut, 0.0), interrupted=True))
        for segment, start, _ in self._marks:
            self._interrupt(SegmentEnd(segment, max(shown - start, 0) / SAMPLE_RATE, interrupted=True))
        self._marks.clear()
        self._segment_start = self._pushed
        return dropped / SAMPLE_RATE

    def _interrupt(self, end: SegmentEnd) -> None:
        if self.on_interrupted is not None:
            self.on_interrupted(end)

    def tick(self, now: float) -> None:
        """Release the samples due by ``now`` into the feed: queued speech first, then silence."""
        if self._t0 is None:
            self._t0 = now
        due = int((now - self._t0) * SAMPLE_RATE) - self._released
        if due <= 0:
            return
        speech = self._queue.take(due)
        stream_start = self._feed.stream_samples
        played_before = self._played
        self._played += speech.size
        while self._marks and self._marks[0][2] <= self._played:
            segment, start, end = self._marks.popleft()
            self.due.append((stream_start + (end - played_before), segment, (end - start) / SAMPLE_RATE))
        samples = np.concatenate([speech, np.zeros(due - speech.size, np.float32)])
        self._released += due
        self._feed.push_samples(samples, now, silence=speech.size == 0)


class SessionCore:
    """One session's pipeline (see module docstring); every method runs on the event loop."""

    def __init__(
        self,
        name: str,
        source: MotionSource,
        renderer: Renderer,
        metrics: LiveMetrics,
        worker: RenderWorker,
        *,
        stall_s: float = 0.1,
        audio_sinks: list[Callable[[AudioChunk], None]] | None = None,
        with_tape: bool = False,
    ) -> None:
        self.name = name
        self.metrics = metrics
        self.rolling = Rolling()
        self.worker = worker
        self.inbox = AudioInbox()
        self.tape = AudioTape() if with_tape else None
        sinks: list[Callable[[AudioChunk], None]] = [self._to_inbox, *(audio_sinks or [])]
        if self.tape is not None:
            sinks.append(self.tape.feed)
        self.feed = AudioFeed(sinks, metrics=metrics, rolling=self.rolling, stall_s=stall_s)
        self.stream = FrameStream(
            name,
            self.inbox,
            source,
            renderer,
            self._deliver,
            asyncio.get_running_loop(),
            metrics=metrics,
            rolling=self.rolling,
        )
        self.frame_sinks: list[FrameSink] = []
        self.segment_sinks: list[Callable[[SegmentEnd], None]] = []
        self.playout: Playout | None = None
        self.broadcast: ViewerGroup | None = None  # WHEP viewers, made on the first one
        self.outputs: dict[str, FrameOutput] = {}  # pushes to livestream ingests
        self.last_speech = 0.0
        self.shown_until = 0  # stream sample index after the last delivered frame
        self.frames_dropped_at_clear = 0  # rendered before a clear, delivered after it

    def _to_inbox(self, chunk: AudioChunk) -> None:
        dropped = self.inbox.put(chunk)
        if dropped:
            self.metrics.audio_dropped_samples.inc(dropped)

    def enable_tape(self) -> AudioTape:
        """Keep the stream audio for frame sinks from now on (a WHEP viewer joined)."""
        if self.tape is None:
            self.tape = AudioTape()
            self.feed.add_sink(self.tape.feed)
        return self.tape

    def attach(self) -> None:
        """Join the render worker (frames are made once ``stream.active`` is set)."""
        self.worker.start()
        self.worker.add(self.stream)

    def prime_samples(self, lookahead: int) -> int:
        """Silence sent at the start so frame 0 exists at once (its 40 ms plus the lookahead)."""
        return timebase.SAMPLES_PER_FRAME * (1 + lookahead)

    def use_playout(self) -> Playout:
        """Pushed audio instead of a live mic: its clock replaces the feed's stall clock."""
        self.playout = Playout(self.feed)
        self.playout.on_interrupted = self._segment_ended
        return self.playout

    async def run_playout(self, prime_samples: int) -> None:
        """Start the stream's time and play pushed audio at real time until cancelled."""
        assert self.playout is not None
        self.feed.start_clock(prime_samples)
        self.stream.active = True
        while True:
            self.playout.tick(time.monotonic())
            await asyncio.sleep(TICK_S)

    def clear_buffer(self, close_mouth: bool = True) -> float:
        """Interruption: queued speech goes now; the next frame the worker takes listens and what
        was released but not yet shown is muted (:mod:`xactor.server.live.hush`). With ``close_mouth``
        False only the queue goes: the source closes the mouth itself and what was released plays.
        On a mic session the queue is the ``say`` speech not yet mixed in (the mic goes on, and the
        mouth follows it again after the hush). Returns seconds dropped."""
        if close_mouth:
            self.stream.hush.request(self.feed.stream_samples)
        if self.playout is None:  # a mic session: what goes is the ``say`` speech not yet mixed in
            return self.feed.clear_overlay() / SAMPLE_RATE
        return self.playout.clear(self.shown_until if close_mouth else None)

    def _segment_ended(self, end: SegmentEnd) -> None:
        for sink in list(self.segment_sinks):
            sink(end)

    def _deliver(self, frame: RenderedFrame) -> None:
        if frame.clears_seen < self.stream.hush.requested:
            # Taken before the last clear: it shows the speech the user interrupted. Dropped; its
            # audio goes muted with the first frame taken after the clear.
            self.frames_dropped_at_clear += 1
            return
        self.last_speech = frame.speech
        end = timebase.frame_end_sample(frame.index) + 1
        muted = None
        if frame.mute_until is not None:
            muted = (self.shown_until, frame.mute_until)
            if self.tape is not None:
                self.tape.mute_until(frame.mute_until)
        self.shown_until = max(self.shown_until, end)
        audio = self.tape.take_until(end) if self.tape is not None else np.zeros(0, np.float32)
        out = FrameOut(frame, audio, muted)
        for sink in list(self.frame_sinks):
            sink(out)
        if self.playout is not None:
            due = self.playout.due
            while due and due[0][0] <= end:
                _, segment, length = due.popleft()
                self._segment_ended(SegmentEnd(segment, length, interrupted=False))

    def add_sink(self, sink: FrameSink) -> None:
        """Deliver every frame to ``sink`` from now on."""
        self.frame_sinks.append(sink)

    def remove_sink(self, sink: FrameSink) -> None:
        """Stop delivering to ``sink`` (nothing if it is not a sink)."""
        if sink in self.frame_sinks:
            self.frame_sinks.remove(sink)

    def add_output(self, output: FrameOutput) -> None:
        """Push this session's frames and their audio to ``output`` from now on."""
        self.enable_tape()
        self.outputs[output.id] = output
        self.add_sink(output)

    async def remove_output(self, output_id: str) -> bool:
        """Stop one output (flushes and disconnects off the loop); False if there is none."""
        output = self.outputs.pop(output_id, None)
        if output is None:
            return False
        self.remove_sink(output)
        await asyncio.to_thread(output.stop)
        return True

    def viewer_stats(self) -> dict[str, object]:
        """WHEP viewers of this session (none until the first one joins)."""
        if self.broadcast is None:
            return {"viewers": 0}
        return self.broadcast.stats()

    async def close(self) -> None:
        """Leave the worker, end the viewers and the outputs, drop the sinks (idempotent)."""
        self.worker.remove(self.stream)
        self.inbox.close()
        if self.broadcast is not None:
            await self.broadcast.close()
        await asyncio.gather(*(self.remove_output(i) for i in list(self.outputs)))
        self.frame_sinks.clear()
        self.segment_sinks.clear()
