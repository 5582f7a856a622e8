"""The render worker on its own, pipecat ``run_test`` style: script audio per stream, run turns, check
what each stream's ``deliver`` received.

``run_worker_test`` builds one :class:`FrameStream` per script (a :class:`ScriptedSource` that emits
one frame per 640 pushed samples with jawOpen = the mean |sample| of the frame, and a
:class:`Recorder` that draws it as a bar), puts each turn's chunks into the inboxes, calls
``worker.turn()`` on the test's event loop (no thread) and lets the loop run the deliveries.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest

from tests.server.live.conftest import JAW, BarRenderer, bar_height
from xactor.engines import timebase
from xactor.engines.motion_source.base import BatchMember, MotionFrame, MotionSource
from xactor.server.live import worker as worker_module
from xactor.server.live.audio_in import AudioChunk, AudioInbox
from xactor.server.live.metrics import LiveMetrics
from xactor.server.live.worker import FrameStream, RenderedFrame, RenderWorker

pytestmark = pytest.mark.anyio

SPF = timebase.SAMPLES_PER_FRAME  # 640
SIZE = 32


# ---- test doubles --------------------------------------------------------------------------------
class FakeClock:
    """Stands in for ``time.perf_counter`` in the worker: moves only when a stage "spends" time."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class ScriptedSource(MotionSource):
    """Frame ``k`` = samples ``[k * 640, (k + 1) * 640)``; jawOpen = their mean |value|.

    Records every chunk it was pushed; ``pop_stage_seconds`` reports ``stages`` every call.
    """

    def __init__(
        self,
        lookahead: int = 0,
        stages: dict[str, float] | None = None,
        push_cost_s: float = 0.0,
        fail_on_push: set[int] | None = None,
        clock: FakeClock | None = None,
    ) -> None:
        self._lookahead = lookahead
        self._clock = clock
        self._stages = dict(stages or {})
        self._push_cost_s = push_cost_s
        self._fail_on_push = fail_on_push or set()
        self.pushes = 0
        self.seen: list[np.ndarray] = []
        self._audio = np.zeros(0, np.float32)
        self.emitted = 0
        self.stage_pops = 0

    @property
    def lookahead_frames(self) -> int:
        return self._lookahead

    @property
    def total(self) -> int:
        return self._audio.size

    def push_audio(self, samples: np.ndarray) -> None:
        self.pushes += 1
        if self._push_cost_s:
            if self._clock is not None:
                self._clock.advance(self._push_cost_s)
            else:
                time.sleep(self._push_cost_s)
        if self.pushes in self._fail_on_push:
            raise ValueError(f"bad push {self.pushes}")
        self.seen.append(np.array(samples, copy=True))
        self._audio = np.concatenate([self._audio, samples.astype(np.float32)])

    def pull(self) -> list[MotionFrame]:
        n = timebase.frames_available(self.total, self._lookahead)
        out = []
        for k in range(self.emitted, n):
            jaw = float(np.abs(self._audio[k * SPF : (k + 1) * SPF]).mean())
            motion = np.zeros(40, np.float32)
            motion[JAW] = jaw
            out.append(MotionFrame(k, motion, timebase.frame_end_sample(k, self._lookahead), jaw))
        self.emitted = max(self.emitted, n)
        return out

    def reset(self) -> None:
        self._audio = np.zeros(0, np.float32)
        self.emitted = 0

    def pop_stage_seconds(self) -> dict[str, float]:
        self.stage_pops += 1
        return dict(self._stages)


class Recorder(BarRenderer):
    """BarRenderer that records what it drew (jawOpen per call), can cost time, fail or run a hook."""

    def __init__(
        self,
        size: int = SIZE,
        cost_s: float = 0.0,
        fail: Callable[[int], bool] = lambda call: False,
        hook: Callable[[Recorder], None] | None = None,
    ) -> None:
        super().__init__(size)
        self.cost_s = cost_s
        self.fail = fail
        self.hook = hook
        self.jaws: list[float] = []
        self.stream: FrameStream | None = None  # set by run_worker_test

    def render(self, motion: np.ndarray) -> np.ndarray:
        if self.hook is not None:
            self.hook(self)
        if self.cost_s:
            time.sleep(self.cost_s)
        out = super().render(motion)
        if self.fail(self.calls):
            raise RuntimeError(f"boom {self.calls}")
        self.jaws.append(float(motion[0, JAW]))
        return out


def chunk(n: int, value: float = 0.0, arrival: float = 0.0) -> AudioChunk:
    return AudioChunk(np.full(n, value, np.float32), arrival, silence=False)


def frames_of(*values: float, arrival: float = 0.0) -> list[AudioChunk]:
    """One 640-sample chunk per value (one motion frame each)."""
    return [chunk(SPF, v, arrival) for v in values]


# ---- the harness ---------------------------------------------------------------------------------
@dataclass
class StreamScript:
    """One stream: the chunks put into its inbox before each turn, its source and renderer."""

    turns: list[list[AudioChunk]]
    source: ScriptedSource = field(default_factory=ScriptedSource)
    renderer: Recorder = field(default_factory=Recorder)
    active: bool = True


@dataclass
class WorkerRun:
    worker: RenderWorker
    streams: dict[str, FrameStream]
    delivered: dict[str, list[RenderedFrame]]
    rendered: list[int] = field(default_factory=list)  # worker.turn() per turn

    def indices(self, name: str) -> list[int]:
        return [f.index for f in self.delivered[name]]


async def run_worker_test(
    scripts: dict[str, StreamScript],
    *,
    turns: int | None = None,
    before_turn: Callable[[int, WorkerRun], None] | None = None,
    metrics: LiveMetrics | None = None,
) -> WorkerRun:
    """Feed every stream its chunks turn by turn, run ``worker.turn()``, return what was delivered."""
    loop = asyncio.get_running_loop()
    worker = RenderWorker(name=f"render-unused-{uuid.uuid4().hex[:6]}")  # never started
    run = WorkerRun(worker, {}, {name: [] for name in scripts})
    for name, script in scripts.items():
        stream = FrameStream(
            name, AudioInbox(), script.source, script.renderer, run.delivered[name].append, loop, metrics
        )
        stream.active = script.active
        script.renderer.stream = stream
        worker.add(stream)
        run.streams[name] = stream
    n_turns = turns if turns is not None else max(len(s.turns) for s in scripts.values())
    for i in range(n_turns):
        if before_turn is not None:
            before_turn(i, run)
        for name, script in scripts.items():
            for c in script.turns[i] if i < len(script.turns) else ():
                run.streams[name].inbox.put(c)
        run.rendered.append(worker.turn())
        await asyncio.sleep(0)  # the deliveries (call_soon_threadsafe) run here
    await asyncio.sleep(0)
    assert worker.turns == n_turns and not worker.alive
    return run


# ---- tests -----------------------------------------------------------------------------------------
async def test_frames_come_out_in_order_with_index_and_picture() -> None:
    values = [0.125, 0.25, 0.5, 0.75, 1.0, 0.375]
    # Half a frame per turn with lookahead 1: frame k is complete once (k + 2) * 640 samples are in.
    turns = [[chunk(SPF // 2, v), chunk(SPF // 2, v)] for v in values]
    run = await run_worker_test({"a": StreamScript(turns, source=ScriptedSource(lookahead=1))})
    out = run.delivered["a"]
    assert run.rendered == [0, 1, 1, 1, 1, 1]
    assert [f.index for f in out] == [0, 1, 2, 3, 4]
    for f, v in zip(out, values, strict=False):
        assert f.image.shape == (SIZE, SIZE, 3) and f.image.dtype == np.uint8
        assert bar_height(f.image) == pytest.approx(v, abs=1 / SIZE)
        assert f.newest_sample == (f.index + 2) * SPF - 1
        assert f.speech == pytest.approx(v)
    assert all(a.rendered_at <= b.rendered_at for a, b in itertools.pairwise(out))
    stream = run.streams["a"]
    assert stream.frames_rendered == 5 and stream.frames_skipped == 0 and stream.errors == 0


async def test_inactive_stream_is_not_rendered_but_its_audio_is_consumed() -> None:
    values = [0.125, 0.25, 0.5, 0.75]
    scripts = {
        "up": StreamScript([frames_of(v) for v in values]),
        "half-open": StreamScript([frames_of(v) for v in values], active=False),
    }
    run = await run_worker_test(scripts)
    idle = run.streams["half-open"]
    assert run.indices("up") == [0, 1, 2, 3]
    assert run.delivered["half-open"] == [] and scripts["half-open"].renderer.calls == 0
    assert scripts["half-open"].source.total == 4 * SPF  # motion state saw every sample
    assert idle.inbox.take_all(timeout=0) == []
    assert idle.has_frame and idle.frames_skipped == 3 and idle.frames_rendered == 0
    # Once the connection is up, the newest frame (not the backlog) is the first rendered.
    idle.active = True
    assert run.worker.turn() == 1
    await asyncio.sleep(0)
    assert run.indices("half-open") == [3]
    assert bar_height(run.delivered["half-open"][0].image) == pytest.approx(0.75, abs=1 / SIZE)


async def test_failing_stream_counts_errors_and_keeps_going_alone() -> None:
    values = [0.125, 0.25, 0.5, 0.75, 1.0]
    scripts = {
        "bad-render": StreamScript(
            [frames_of(v) for v in values], renderer=Recorder(fail=lambda call: call in (2, 3))
        ),
        "bad-source": StreamScript([frames_of(v) for v in values], source=ScriptedSource(fail_on_push={2})),
        "good": StreamScript([frames_of(v) for v in values]),
    }
    run = await run_worker_test(scripts)
    bad = run.streams["bad-render"]
    assert run.indices("bad-render") == [0, 3, 4]
    assert bad.errors == 2 and bad.last_error == "RuntimeError: boom 3" and bad.frames_rendered == 3
    assert [bar_height(f.image) for f in run.delivered["bad-render"]] == pytest.approx(
        [0.125, 0.75, 1.0], abs=1 / SIZE
    )
    src = run.streams["bad-source"]
    assert src.errors == 1 and src.last_error == "ValueError: bad push 2"
    assert run.indices("bad-source") == [0, 1, 2, 3]  # the failed push's audio is lost, nothing else
    assert run.indices("good") == [0, 1, 2, 3, 4] and run.streams["good"].errors == 0
    assert run.rendered == [3, 1, 2, 3, 3]


async def test_only_the_newest_complete_frame_is_rendered() -> None:
    metrics = LiveMetrics()
    run = await run_worker_test(
        {"a": StreamScript([frames_of(0.125, 0.25, 0.375), frames_of(0.5), [], frames_of(0.625, 0.75)])},
        metrics=metrics,
    )
    out = run.delivered["a"]
    assert [f.index for f in out] == [2, 3, 5]
    assert [bar_height(f.image) for f in out] == pytest.approx([0.375, 0.5, 0.75], abs=1 / SIZE)
    stream = run.streams["a"]
    assert stream.frames_skipped == 3 and stream.frames_rendered == 3
    dropped = metrics.registry.get_sample_value("xactor_frames_dropped_total", {"reason": "worker_behind"})
    assert dropped == 3


async def test_audio_arriving_during_a_turn_is_used_before_rendering() -> None:
    """The render phase ingests once more: a frame completed while another stream rendered wins."""
    late = frames_of(0.75)

    def feed_b(renderer: Recorder) -> None:
        if renderer.calls == 0:  # a's first render: audio for b arrives meanwhile
            run_streams["b"].inbox.put(late[0])

    run_streams: dict[str, FrameStream] = {}
    scripts = {
        "a": StreamScript([frames_of(0.25)], renderer=Recorder(hook=feed_b)),
        "b": StreamScript([frames_of(0.5)]),
    }
    run = await run_worker_test(
        scripts, before_turn=lambda i, r: run_streams.update(r.streams) if i == 0 else None
    )
    assert run.indices("a") == [0] and run.indices("b") == [1]
    assert bar_height(run.delivered["b"][0].image) == pytest.approx(0.75, abs=1 / SIZE)
    assert run.streams["b"].frames_skipped == 1


async def test_source_failing_to_report_stages_only_hurts_its_own_stream() -> None:
    class BadStages(ScriptedSource):
        def pop_stage_seconds(self) -> dict[str, float]:
            raise RuntimeError("no stages")

    values = [0.25, 0.5, 0.75]
    scripts = {
        "bad": StreamScript([frames_of(v) for v in values], source=BadStages()),
        "good": StreamScript([frames_of(v) for v in values]),
    }
    run = await run_worker_test(scripts)
    assert run.indices("good") == [0, 1, 2]
    assert run.streams["bad"].errors == 3 and run.streams["bad"].last_error == "RuntimeError: no stages"


async def test_least_recently_served_goes_first() -> None:
    order: list[list[str]] = [[]]

    def log(name: str) -> Callable[[Recorder], None]:
        return lambda r: order[-1].append(name)

    scripts = {
        name: StreamScript(turns, renderer=Recorder(hook=log(name)))
        for name, turns in (
            ("a", [frames_of(0.1), frames_of(0.1), frames_of(0.1), [], frames_of(0.1)]),
            ("b", [frames_of(0.2), frames_of(0.2), frames_of(0.2), frames_of(0.2), frames_of(0.2)]),
            ("c", [frames_of(0.3), [], frames_of(0.3), frames_of(0.3), frames_of(0.3)]),
        )
    }
    await run_worker_test(scripts, before_turn=lambda i, r: order.append([]) if i else None)
    assert order == [["a", "b", "c"], ["a", "b"], ["c", "a", "b"], ["c", "b"], ["a", "c", "b"]]


async def test_oversubscribed_streams_share_renders_evenly() -> None:
    """N streams all due every turn, a render of T ms during which 25 ms of audio arrives for every
    stream (the machine is 2.5x too slow): each stream renders once per turn, least recently served
    first, always its newest frame, and skips its share of frames."""
    n, turns, cost_s = 4, 30, 0.002
    streams: dict[str, FrameStream] = {}
    order: list[list[str]] = []
    served_before: list[list[float]] = []
    newest_at_render: dict[str, list[int]] = {}

    def arrive(renderer: Recorder) -> None:
        stream = renderer.stream
        assert stream is not None
        order[-1].append(stream.name)
        served_before[-1].append(stream.last_served)
        src = stream.source
        assert isinstance(src, ScriptedSource)
        newest_at_render.setdefault(stream.name, []).append(src.emitted - 1)
        for s in streams.values():  # 25 ms of audio reaches every stream while this render runs
            s.inbox.put(chunk(400, 0.5))

    def start_turn(i: int, run: WorkerRun) -> None:
        streams.update(run.streams)
        order.append([])
        served_before.append([])

    scripts = {
        f"s{k}": StreamScript([frames_of(0.5)], renderer=Recorder(cost_s=cost_s, hook=arrive))
        for k in range(n)
    }
    run = await run_worker_test(scripts, turns=turns, before_turn=start_turn)
    counts = [len(run.delivered[name]) for name in scripts]
    assert max(counts) - min(counts) <= 1 and sum(counts) == n * turns
    assert run.rendered == [n] * turns
    for before in served_before:
        assert before == sorted(before)  # least recently served first
    assert all(o == order[0] for o in order[1:])  # so the rotation is stable
    skipped = [run.streams[name].frames_skipped for name in scripts]
    assert min(skipped) > turns  # ~1.5 frames a turn each: the work really was oversubscribed
    assert max(skipped) - min(skipped) <= 2
    for name, stream in run.streams.items():
        src = scripts[name].source
        assert [f.index for f in run.delivered[name]] == newest_at_render[name]  # always the newest
        assert stream.frames_rendered + stream.frames_skipped + stream.has_frame == src.emitted


async def test_removed_stream_gets_nothing_afterwards() -> None:
    def remove_b(i: int, run: WorkerRun) -> None:
        if i == 2:
            run.worker.remove(run.streams["b"])

    scripts = {name: StreamScript([frames_of(0.25) for _ in range(4)]) for name in ("a", "b")}
    run = await run_worker_test(scripts, before_turn=remove_b)
    assert run.indices("a") == [0, 1, 2, 3]
    assert run.indices("b") == [0, 1]
    assert scripts["b"].renderer.calls == 2 and run.streams["b"].closed and len(run.worker) == 1
    assert run.streams["b"].inbox.on_put is None


async def test_frame_in_flight_when_removed_is_not_delivered() -> None:
    loop = asyncio.get_running_loop()
    got: list[RenderedFrame] = []
    worker = RenderWorker()
    stream = FrameStream("a", AudioInbox(), ScriptedSource(), Recorder(), got.append, loop)
    stream.active = True
    worker.add(stream)
    stream.inbox.put(chunk(SPF, 0.5))
    assert worker.turn() == 1  # handed to the loop, not run yet
    worker.remove(stream)  # the session closes before the loop gets to it
    await asyncio.sleep(0)
    assert got == []


async def test_stage_timings_reach_the_rolling_window_and_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a fake stage clock: the source spends 10 ms per push (1 ms vad + 2 ms features of it, by
    its own report), the renderer 3 ms per frame."""
    clock = FakeClock()
    monkeypatch.setattr(worker_module, "time", SimpleNamespace(perf_counter=clock, monotonic=time.monotonic))
    metrics = LiveMetrics()
    source = ScriptedSource(stages={"vad": 0.001, "features": 0.002}, push_cost_s=0.01, clock=clock)
    # Turn 3 completes no frame: its push time is counted with the next rendered frame.
    turns = [frames_of(0.5), frames_of(0.5), [chunk(SPF // 2, 0.5)], [chunk(SPF // 2, 0.5)]]
    renderer = Recorder(hook=lambda r: clock.advance(0.003))
    run = await run_worker_test({"a": StreamScript(turns, source=source, renderer=renderer)}, metrics=metrics)
    assert run.rendered == [1, 1, 0, 1]
    rolling = run.streams["a"].rolling
    assert set(rolling.names()) == {"vad", "features", "motion", "render"}
    assert (
        rolling.values("vad").tolist() == [0.001] * 3 and rolling.values("features").tolist() == [0.002] * 3
    )
    assert source.stage_pops == 3  # once per rendered frame
    # motion = push + pull time since the last rendered frame, less the source's own sub-stages
    assert rolling.values("motion").tolist() == pytest.approx([0.007, 0.007, 0.017], abs=1e-9)
    assert rolling.values("render").tolist() == pytest.approx([0.003] * 3, abs=1e-9)
    for stage in ("vad", "features", "motion", "render"):
        assert metrics.registry.get_sample_value("xactor_stage_seconds_count", {"stage": stage}) == 3
    assert metrics.registry.get_sample_value(
        "xactor_stage_seconds_sum", {"stage": "motion"}
    ) == pytest.approx(0.031, abs=1e-9)


async def test_rendered_frames_carry_the_arrival_of_their_newest_sample() -> None:
    sizes = [300, 500, 700, 140, 900, 380, 640, 1000, 260, 1500]
    chunks = [chunk(n, 0.5, arrival=10.0 + i) for i, n in enumerate(sizes)]
    ends = np.cumsum(sizes)

    def arrival_of(sample: int) -> float:
        return chunks[int(np.searchsorted(ends, sample, side="right"))].arrival

    run = await run_worker_test(
        {"a": StreamScript([[c] for c in chunks], source=ScriptedSource(lookahead=1))}
    )
    out = run.delivered["a"]
    assert len(out) >= 5 and run.streams["a"].frames_skipped > 0
    for f in out:
        assert f.newest_sample == timebase.frame_end_sample(f.index, 1)
        assert f.audio_arrival == arrival_of(f.newest_sample)
        assert f.own_audio_arrival == arrival_of(timebase.frame_end_sample(f.index))
    # Frame 0 needs samples up to 1279 (lookahead 1), in chunk 2 (samples 800 .. 1499); its own
    # last sample, 639, came in chunk 1 (300 .. 799).
    first = out[0]
    assert (first.index, first.audio_arrival, first.own_audio_arrival) == (0, 12.0, 11.0)
    assert [f.index for f in out] == [0, 1, 2, 3, 5, 7]


async def test_worker_thread_delivers_then_stops() -> None:
    loop = asyncio.get_running_loop()
    name = f"render-test-{uuid.uuid4().hex[:8]}"
    worker = RenderWorker(name=name)
    got: list[RenderedFrame] = []
    arrived = asyncio.Event()

    def deliver(frame: RenderedFrame) -> None:
        got.append(frame)
        arrived.set()

    # A stream whose first feed raises past FrameStream's own guard: the turn fails, not the thread.
    broken = FrameStream("broken", AudioInbox(), ScriptedSource(), Recorder(), lambda f: None, loop)
    fails = [1]

    def feed_once_broken() -> bool:
        if fails:
            fails.pop()
            raise RuntimeError("bug in a turn")
        return False

    broken.feed = feed_once_broken  # type: ignore[method-assign]
    stream = FrameStream("a", AudioInbox(), ScriptedSource(), Recorder(), deliver, loop)
    stream.active = True
    worker.start()
    try:
        assert worker.alive and name in [t.name for t in threading.enumerate()]
        worker.add(broken)
        worker.add(stream)
        for k, value in enumerate((0.25, 0.5, 0.75)):
            arrived.clear()
            stream.inbox.put(chunk(SPF, value))  # wakes the worker
            while len(got) <= k:
                await asyncio.wait_for(arrived.wait(), 10)
                arrived.clear()
        assert [f.index for f in got] == [0, 1, 2]
        assert [bar_height(f.image) for f in got] == pytest.approx([0.25, 0.5, 0.75], abs=1 / SIZE)
        assert fails == []  # the broken turn happened and the thread carried on
    finally:
        assert await asyncio.to_thread(worker.stop, 5.0)
    assert not worker.alive
    assert name not in [t.name for t in threading.enumerate()]
    stream.inbox.put(chunk(SPF, 0.5))  # nobody serves it any more
    await asyncio.sleep(0.1)
    assert len(got) == 3


async def test_generator_sessions_step_in_one_batched_call(tmp_path) -> None:
    """Three generator sessions on ONNX Runtime: each turn their model steps run as one call, and
    every session's frames are what it makes alone."""
    from tests.motion_weights import save_tiny_weights
    from xactor.engines.motion_source.base import MotionSourceOptions, create_motion_source

    save_tiny_weights(tmp_path, "motion_student", steps=1, guidance=1.0)

    def source(seed: int) -> MotionSource:
        options = MotionSourceOptions(
            weights_dir=tmp_path, backend="onnxruntime", seed=seed, lookahead_frames=0
        )
        return create_motion_source("generator", options)

    rng = np.random.default_rng(0)
    audio = {name: (0.2 * rng.standard_normal(SPF * 12)).astype(np.float32) for name in "abc"}
    scripts = {
        name: StreamScript(
            [[AudioChunk(audio[name][k * SPF : (k + 1) * SPF], 0.0, silence=False)] for k in range(12)],
            source=source(i),
        )
        for i, name in enumerate("abc")
    }
    run = await run_worker_test(scripts)
    assert run.worker.largest_batch == 3 and run.worker.batched_calls >= 12
    for i, name in enumerate("abc"):
        alone = source(i)
        alone.push_audio(audio[name])
        want = [f.motion[JAW] for f in alone.pull()]
        got = scripts[name].renderer.jaws
        assert [f.index for f in run.delivered[name]] == list(range(12))
        np.testing.assert_allclose(got, want, atol=1e-4)


async def test_a_removed_generator_session_gives_its_state_slot_back(tmp_path) -> None:
    """The worker closes a removed session's source on its own thread at the next turn: the pool
    slot holding its KV cache is free again, and the session still running keeps its own."""
    import gc

    from tests.motion_weights import save_tiny_weights
    from xactor.engines.motion_source.base import MotionSourceOptions, create_motion_source

    save_tiny_weights(tmp_path, "motion_student", steps=1, guidance=1.0)
    options = MotionSourceOptions(weights_dir=tmp_path, backend="onnxruntime", lookahead_frames=0)
    chunks = [[AudioChunk(np.zeros(SPF, np.float32), 0.0, silence=False)] for _ in range(5)]
    scripts = {name: StreamScript(chunks, source=create_motion_source("generator", options)) for name in "ab"}
    from xactor.engines.motion_source.generator import StepMember

    members = {name: scripts[name].source.batch_member() for name in "ab"}
    assert isinstance(members["a"], StepMember) and isinstance(members["b"], StepMember)
    pool = members["a"].streamer.slots
    assert pool is not None and members["b"].streamer.slots is pool
    gc.collect()
    before = pool.in_use

    def remove_b(i: int, run: WorkerRun) -> None:
        if i == 2:
            run.worker.remove(run.streams["b"])

    await run_worker_test(scripts, before_turn=remove_b)
    gc.collect()
    assert pool.in_use == before - 1
    assert members["b"].streamer.slots is None and members["a"].streamer.slots is pool


class BatchCounting(BarRenderer):
    """One renderer shared by several streams: counts calls and batch sizes; can fail batches."""

    def __init__(self, fail_batches: bool = False) -> None:
        super().__init__(SIZE)
        self.batches: list[int] = []
        self.fail_batches = fail_batches

    def render(self, motion: np.ndarray) -> np.ndarray:
        self.batches.append(len(np.atleast_2d(motion)))
        if self.fail_batches and len(np.atleast_2d(motion)) > 1:
            raise RuntimeError("batch too large for this test renderer")
        return super().render(motion)


@pytest.mark.parametrize("fail_batches", [False, True])
async def test_streams_sharing_a_renderer_render_in_one_call(fail_batches: bool) -> None:
    """Same avatar and size: one render call a turn for all of them, each stream its own picture;
    a failing batch falls back to one call per stream."""
    shared = BatchCounting(fail_batches)
    values = {"a": 0.25, "b": 0.5, "c": 0.75}
    scripts = {n: StreamScript([frames_of(v) for _ in range(4)], renderer=shared) for n, v in values.items()}
    run = await run_worker_test(scripts)
    for name, value in values.items():
        assert [f.index for f in run.delivered[name]] == [0, 1, 2, 3]
        assert all(bar_height(f.image) == pytest.approx(value, abs=1 / SIZE) for f in run.delivered[name])
    if fail_batches:
        assert run.worker.batched_renders == 0 and shared.batches.count(1) == 12
    else:
        assert shared.batches == [3, 3, 3, 3] and run.worker.largest_render_batch == 3


class SharedStage(BarRenderer):
    """Per-avatar renderers of one shared stage (one batch key): each paints its own grey, and
    ``render_together`` records which renderers each call carried."""

    def __init__(self, grey: int, calls: list[list[int]]) -> None:
        super().__init__(SIZE)
        self.grey, self.stage_calls = grey, calls

    def batch_key(self) -> str:
        return "shared-stage"

    def render(self, motion: np.ndarray) -> np.ndarray:
        out = super().render(motion)
        out[out == 96] = self.grey
        return out

    def render_together(self, parts):  # type: ignore[no-untyped-def]
        self.stage_calls.append([r.grey for r, _ in parts])
        return [r.render(m) for r, m in parts]


async def test_streams_of_different_avatars_on_one_stage_render_in_one_call() -> None:
    """Renderers that share a batch key (the diffusion renderer's denoiser, any avatar) render all
    due frames in one ``render_together`` call a turn; each stream gets its own avatar's picture."""
    calls: list[list[int]] = []
    greys = {"a": 40, "b": 120}
    scripts = {
        n: StreamScript([frames_of(0.5) for _ in range(3)], renderer=SharedStage(g, calls))
        for n, g in greys.items()
    }
    run = await run_worker_test(scripts)
    assert [sorted(c) for c in calls] == [[40, 120]] * 3 and run.worker.largest_render_batch == 2
    for name, grey in greys.items():
        assert [f.index for f in run.delivered[name]] == [0, 1, 2]
        assert all(int(f.image[0, 0, 0]) == grey for f in run.delivered[name])


# ---- batching behind the motion source's contract ------------------------------------------------
class Batches:
    """A shared "model" for :class:`BatchingSource`: records each batch it ran, costs clock time,
    can fail."""

    def __init__(self, clock: FakeClock, cost_s: float, fail: bool = False) -> None:
        self.clock, self.cost_s, self.fail = clock, cost_s, fail
        self.runs: list[list[str]] = []


@dataclass(eq=False)
class FakeMember(BatchMember):
    batches: Batches
    source: BatchingSource

    def batch_key(self) -> Hashable:
        return id(self.batches)

    def has_work(self) -> bool:
        return self.source.queued > 0

    def run_batch(self, members: Sequence[FakeMember]) -> None:
        self.batches.clock.advance(self.batches.cost_s)
        if self.batches.fail:
            raise RuntimeError("batch failed")
        self.batches.runs.append([m.source.name_ for m in members])
        for m in members:
            m.source.queued = 0


class BatchingSource(ScriptedSource):
    """A :class:`ScriptedSource` whose pushes queue a step that a batch (or ``pull``) runs."""

    def __init__(self, name: str, batches: Batches | None, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.name_, self.batches, self.queued, self.alone = name, batches, 0, 0

    def push_audio(self, samples: np.ndarray) -> None:
        super().push_audio(samples)
        self.queued += 1

    def batch_member(self) -> BatchMember | None:
        return None if self.batches is None else FakeMember(self.batches, self)

    def pull(self) -> list[MotionFrame]:
        self.alone += self.queued  # what no batch ran, run here
        self.queued = 0
        return super().pull()


@pytest.mark.parametrize("fail", [False, True])
async def test_batchable_sources_run_one_batch_per_key_and_share_its_cost(
    monkeypatch: pytest.MonkeyPatch, fail: bool
) -> None:
    """The worker knows nothing of the model: members with one key run as one batch, each stream
    is charged its share of the batch's time; a failed batch is an error of each of its streams,
    whose steps then run alone in ``pull``."""
    clock = FakeClock()
    monkeypatch.setattr(worker_module, "time", SimpleNamespace(perf_counter=clock, monotonic=time.monotonic))
    shared, other = Batches(clock, 0.006, fail), Batches(clock, 0.004, fail)
    sources = {
        "a": BatchingSource("a", shared, clock),
        "b": BatchingSource("b", shared, clock),
        "c": BatchingSource("c", other, clock),
        "solo": BatchingSource("solo", None, clock),
    }
    scripts = {name: StreamScript([frames_of(0.5)] * 3, source=source) for name, source in sources.items()}
    run = await run_worker_test(scripts)
    assert all(run.indices(name) == [0, 1, 2] for name in scripts)
    motion = {name: run.streams[name].rolling.values("motion").tolist() for name in scripts}
    if not fail:
        assert shared.runs == [["a", "b"]] * 3 and other.runs == [["c"]] * 3
        assert run.worker.batched_calls == 6 and run.worker.largest_batch == 2
        assert motion["a"] == motion["b"] == pytest.approx([0.003] * 3, abs=1e-9)  # half of 6 ms each
        assert motion["c"] == pytest.approx([0.004] * 3, abs=1e-9)
        assert all(sources[name].alone == 0 for name in "abc")
    else:
        assert run.worker.batched_calls == 0
        for name in "abc":
            stream = run.streams[name]
            assert stream.errors == 3 and stream.last_error == "RuntimeError: batch failed"
            assert sources[name].alone == 3  # run alone, frames still delivered
    assert motion["solo"] == [0.0] * 3 and run.streams["solo"].errors == 0
    assert sources["solo"].alone == 3


def test_the_worker_imports_nothing_of_the_motion_generator() -> None:
    import ast
    from pathlib import Path

    tree = ast.parse(Path(worker_module.__file__).read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if "motion_gen" in m]
    assert "Any" not in Path(worker_module.__file__).read_text()
