"""The render worker: one thread per process that runs every session's motion source and renderer.

Sessions do not own threads. Each live session hands the worker a :class:`FrameStream` (its audio
inbox, motion source, shared renderer and a delivery callback); the worker, woken whenever audio
arrives, runs turns of two phases:

1. *ingest* — for every stream: drain its inbox into its motion source; then the model steps
   every batchable source queued (the generator on a step engine) run together, one batch per
   :meth:`~xactor.engines.motion_source.base.BatchMember.batch_key` (for the generator: one call
   per shared engine and round, rows of any age), the source's own business; then each stream keeps
   only the newest complete motion frame (older ones are counted as ``worker_behind``). Every
   stream's audio is processed every turn, so motion state (VAD, prosody, blinks) never skips audio;
2. *render* — the streams with a new frame, least recently served first: ingest once more (the
   freshest audio at the last moment), render the newest frame, hand it to the event loop.

When the machine is oversubscribed a turn takes longer than a frame, frames of every stream are
skipped in turn (least recently served goes first), so all sessions lose frames evenly and each
rendered frame is the newest one: latency stays bounded instead of queueing. A stream is only
rendered once it is ``active`` (its peer connection is up): half-open sessions cost nothing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np

from xactor.engines import timebase
from xactor.engines.motion_source.base import BatchMember, MotionFrame, MotionSource
from xactor.engines.render.base import Renderer
from xactor.server.live.audio_in import AudioInbox
from xactor.server.live.hush import Hush
from xactor.server.live.metrics import LiveMetrics
from xactor.server.live.timing import ArrivalLog, Rolling

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderedFrame:
    """A rendered picture with the timing it carries to the encoder."""

    index: int  # motion frame index (25 fps since session start)
    image: np.ndarray  # [S, S, 3] uint8 RGB
    newest_sample: int  # newest 16 kHz input sample the frame depended on
    audio_arrival: float | None  # monotonic time that sample reached the server
    own_audio_arrival: float | None  # arrival of the frame's own last sample, (index + 1) * 640 - 1
    rendered_at: float  # monotonic time the picture was ready
    speech: float  # VAD speech weight 0..1
    motion: np.ndarray  # [40] the motion frame the picture shows (engines.motion_space order)
    # The first frame after an interruption: stream audio before this sample not yet played is muted.
    mute_until: int | None = None
    clears_seen: int = 0  # interruptions the worker had taken into account when it took the frame


class FrameStream:
    """One session's share of the render worker. Its source is touched only by the worker thread."""

    def __init__(
        self,
        name: str,
        inbox: AudioInbox,
        source: MotionSource,
        renderer: Renderer,
        deliver: Callable[[RenderedFrame], None],
        loop: asyncio.AbstractEventLoop,
        metrics: LiveMetrics | None = None,
        rolling: Rolling | None = None,
    ) -> None:
        self.name = name
        self.inbox = inbox
        self.source = source
        self.renderer = renderer
        self._deliver = deliver
        self._loop = loop
        self._metrics = metrics
        self.rolling = rolling or Rolling()
        self._arrivals = ArrivalLog()
        self._pending: MotionFrame | None = None
        self.hush = Hush()  # an interruption's closed mouth (server.live.hush)
        self._mute_until: int | None = None  # for the next delivered frame
        self._motion_s = 0.0  # push + pull time since the last rendered frame
        self.active = False  # rendered only once True (the session's connection is up)
        self.closed = False
        self.last_served = 0.0  # monotonic time of the last render (fairness order)
        self.frames_rendered = 0
        self.frames_skipped = 0
        self.errors = 0
        self.last_error: str | None = None

    def _observe(self, stage: str, seconds: float) -> None:
        self.rolling.add(stage, seconds)
        if self._metrics is not None:
            self._metrics.stage_seconds.labels(stage).observe(seconds)

    def fail(self, exc: Exception) -> None:
        """An error of this stream's (its source, its render, its part in a batch) stays in the
        stream: log it (the first few, then every 100th), count it, carry on."""
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self.errors <= 3 or self.errors % 100 == 0:
            log.error("stream %s: error #%d", self.name, self.errors, exc_info=exc)

    def _deliver_if_open(self, frame: RenderedFrame) -> None:
        """On the event loop: hand ``frame`` over unless the stream was removed meanwhile."""
        if not self.closed:
            self._deliver(frame)

    @property
    def has_frame(self) -> bool:
        return self._pending is not None

    def ingest(self) -> None:
        """Push all queued audio into the motion source; keep the newest complete frame."""
        if self.feed():
            self.collect()

    def feed(self) -> bool:
        """Push all queued audio into the motion source; True if there was any."""
        chunks = self.inbox.take_all(timeout=0.0)
        if not chunks:
            return False
        try:
            t0 = time.perf_counter()
            for chunk in chunks:
                self._arrivals.add(chunk.samples.size, chunk.arrival)
                self.source.push_audio(chunk.samples)
            self._motion_s += time.perf_counter() - t0
        except Exception as exc:
            self.fail(exc)
            return False
        return True

    def add_motion_seconds(self, seconds: float) -> None:
        """This stream's share of a batched model call (counted in its ``motion`` stage)."""
        self._motion_s += seconds

    def collect(self) -> None:
        """Pull the motion source's complete frames (running what a batch did not); keep the newest."""
        try:
            t0 = time.perf_counter()
            frames = self.source.pull()
            self._motion_s += time.perf_counter() - t0
        except Exception as exc:
            self.fail(exc)
            return
        if not frames:
            return
        skipped = len(frames) - 1 + (self._pending is not None)
        if skipped:
            self.frames_skipped += skipped
            if self._metrics is not None:
                self._metrics.frames_dropped.labels("worker_behind").inc(skipped)
        self._pending = frames[-1]

    def render_pending(self) -> bool:
        """Render the newest pending frame and hand it to the event loop; False if none or failed."""
        frame = self.take_pending()
        return frame is not None and self.render_frame(frame)

    def render_frame(self, frame: MotionFrame) -> bool:
        """Render one taken frame alone and hand it to the event loop; False if it failed."""
        try:
            t1 = time.perf_counter()
            motion = np.asarray(frame.motion, dtype=np.float32)[None]  # [1, 40]
            image = np.ascontiguousarray(self.renderer.render(motion)[0])  # [S, S, 3]
        except Exception as exc:
            self.fail(exc)
            return False
        return self.deliver_rendered(frame, image, time.perf_counter() - t1)

    def take_pending(self) -> MotionFrame | None:
        """The newest pending frame, taken (its motion-stage timings recorded, an interruption's
        hush applied); None if none."""
        frame, self._pending = self._pending, None
        if frame is None:
            return None
        if self.hush.active:
            hushed = self.hush.apply(frame)
            frame = hushed.frame
            if hushed.mute_until is not None:
                self._mute_until = max(hushed.mute_until, self._mute_until or 0)
        try:
            parts = self.source.pop_stage_seconds()
        except Exception as exc:  # a faulty source must not stop the turn for every session
            self.fail(exc)
            parts = {}
        for stage, seconds in parts.items():
            self._observe(stage, seconds)
        self._observe("motion", max(self._motion_s - sum(parts.values()), 0.0))
        self._motion_s = 0.0
        return frame

    def deliver_rendered(self, frame: MotionFrame, image: np.ndarray, render_s: float) -> bool:
        """Count and hand a rendered picture [S, S, 3] of ``frame`` to the event loop."""
        self._observe("render", render_s)
        self.frames_rendered += 1
        self.last_served = time.monotonic()
        out = RenderedFrame(
            index=frame.index,
            image=image,
            newest_sample=frame.newest_sample,
            audio_arrival=self._arrivals.arrival_of(frame.newest_sample),
            own_audio_arrival=self._arrivals.arrival_of(timebase.frame_end_sample(frame.index)),
            rendered_at=self.last_served,
            speech=float(frame.speech),
            motion=frame.motion,
            mute_until=self._mute_until,
            clears_seen=self.hush.seen,
        )
        self._mute_until = None
        if self.closed:
            return False
        try:
            self._loop.call_soon_threadsafe(self._deliver_if_open, out)
        except RuntimeError:  # loop closed: the session is going away
            self.closed = True
            return False
        return True


class RenderWorker:
    """The process's render thread; sessions ``add`` and ``remove`` their streams while it runs."""

    def __init__(self, name: str = "render", torch_threads: int = 0) -> None:
        self._name = name
        self._torch_threads = torch_threads
        self.batched_calls = 0  # batched model runs so far (one per batch key and turn)
        self.largest_batch = 0  # most sessions one of them carried
        self.batched_renders = 0  # render calls that carried more than one session's frame
        self.largest_render_batch = 0
        self.threads_in_use: int | None = None  # torch's intra-op threads as the worker thread sees them
        self._streams: dict[int, FrameStream] = {}
        self._retired: list[FrameStream] = []  # removed; their sources closed by the next turn
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.turns = 0
        self.last_turn_at = time.monotonic()  # the health check's: a thread that stopped turning is stuck
        self.busy_s = 0.0  # seconds of turns that served streams, so far
        # Told each turn's seconds (turns with streams only), on the worker's thread: the watchdog's.
        self.on_turn: Callable[[float], None] | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the thread (within one turn); True when it has ended."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                return False
        self._close_retired()
        return True

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def add(self, stream: FrameStream) -> None:
        """Serve ``stream`` from the next turn on; its inbox wakes the worker on every put."""
        stream.inbox.on_put = self._wake.set
        with self._lock:
            self._streams[id(stream)] = stream
        self._wake.set()

    def remove(self, stream: FrameStream) -> None:
        """Stop serving ``stream``; nothing is delivered for it afterwards. Its source is closed by
        the worker's thread at the start of the next turn (or at stop), after any turn that was
        still using it, so a pool slot it gives back is never written by a late batch."""
        stream.closed = True
        stream.inbox.on_put = None
        with self._lock:
            if self._streams.pop(id(stream), None) is not None:
                self._retired.append(stream)
        self._wake.set()

    def _close_retired(self) -> None:
        with self._lock:
            retired, self._retired = self._retired, []
        for stream in retired:
            try:
                stream.source.close()
            except Exception:
                log.exception("closing a finished session's motion source failed")

    def __len__(self) -> int:
        return len(self._streams)

    def turn(self) -> int:
        """One ingest + render turn over every stream; returns frames rendered (tests call it)."""
        t0 = time.perf_counter()
        self._close_retired()
        with self._lock:
            streams = list(self._streams.values())
        fed = [stream for stream in streams if stream.feed()]
        self._run_batches(fed)
        for stream in fed:
            stream.collect()
        due = sorted((s for s in streams if s.active and s.has_frame), key=lambda s: s.last_served)
        groups: dict[Hashable, list[FrameStream]] = {}  # streams whose renderers batch together
        for stream in due:
            try:
                key = stream.renderer.batch_key()
            except Exception as exc:
                stream.fail(exc)
                continue
            groups.setdefault(key, []).append(stream)
        rendered = 0
        for group in groups.values():
            live = [s for s in group if not s.closed]
            if len(live) == 1:
                live[0].ingest()
                rendered += live[0].render_pending()
            elif live:
                rendered += self._render_batch(live)
        self.turns += 1
        self.last_turn_at = time.monotonic()
        if streams:
            self.busy_s += self.last_turn_at - t0  # the live capacity's: the thread's share per session
        if streams and self.on_turn is not None:
            self.on_turn(time.perf_counter() - t0)
        return rendered

    def _render_batch(self, streams: list[FrameStream]) -> int:
        """Streams whose renderers share a batch key (the same avatar and size; for the diffusion
        renderer any avatar on its denoiser): the freshest audio in, then their newest frames
        rendered in one :meth:`~engines.render.base.Renderer.render_together` call, each stream
        charged its share. If the batch fails, each frame is rendered alone, so one bad frame only
        costs its own stream."""
        taken = []
        for stream in streams:
            stream.ingest()
            frame = stream.take_pending()
            if frame is not None:
                taken.append((stream, frame))
        if not taken:
            return 0
        try:
            t0 = time.perf_counter()
            parts = [
                (s.renderer, np.asarray(f.motion, dtype=np.float32)[None]) for s, f in taken
            ]  # [1, 40] each
            images = taken[0][0].renderer.render_together(parts)  # [1, S, S, 3] each
            share = (time.perf_counter() - t0) / len(taken)
        except Exception:
            log.exception("batched render of %d frames failed; rendering them one by one", len(taken))
            return sum(stream.render_frame(frame) for stream, frame in taken)
        self.batched_renders += 1
        self.largest_render_batch = max(self.largest_render_batch, len(taken))
        return sum(
            stream.deliver_rendered(frame, np.ascontiguousarray(images[i][0]), share)
            for i, (stream, frame) in enumerate(taken)
        )

    def _run_batches(self, streams: list[FrameStream]) -> None:
        """Every batchable source's waiting model steps, one batch per key
        (:class:`~xactor.engines.motion_source.base.BatchMember`); each stream is charged its
        share of the batch's time. A failed batch is one error of each of its streams; their steps
        stay queued and each stream's ``collect`` runs its own (one bad row cannot silence the
        others)."""
        groups: dict[Hashable, list[tuple[FrameStream, BatchMember]]] = {}
        for stream in streams:
            try:
                member = stream.source.batch_member()
                if member is None or not member.has_work():
                    continue
                key = member.batch_key()
            except Exception as exc:
                stream.fail(exc)
                continue
            groups.setdefault(key, []).append((stream, member))
        for members in groups.values():
            t0 = time.perf_counter()
            try:
                members[0][1].run_batch([member for _, member in members])
            except Exception as exc:
                for stream, _ in members:
                    stream.fail(exc)
                continue
            share = (time.perf_counter() - t0) / len(members)
            for stream, _ in members:
                stream.add_motion_seconds(share)
            self.batched_calls += 1
            self.largest_batch = max(self.largest_batch, len(members))

    def _run(self) -> None:
        import torch

        if self._torch_threads:  # per thread: torch's setting follows the thread that makes it
            torch.set_num_threads(self._torch_threads)
        self.threads_in_use = torch.get_num_threads()
        while not self._stop.is_set():
            self._wake.wait(0.25)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.turn()
            except Exception:  # a bug here must not kill every session's video
                log.exception("render worker turn failed")
        log.debug("render worker %s finished", self._name)
