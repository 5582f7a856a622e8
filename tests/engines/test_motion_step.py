"""The streaming step as a fixed-shape tensor function (MotionStep), the stream over an engine
(EngineStreamer) and the batcher that runs many sessions in one call: all equal the reference
sampler, frame for frame."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.motion_weights import TINY, save_tiny_weights
from xactor.engines.inference import OrtEngine, TorchEngine
from xactor.engines.motion_gen.engine_stream import EngineStreamer, StepBatcher
from xactor.engines.motion_gen.onnx_step import export_step
from xactor.engines.motion_gen.sampler import Denoiser, StreamingGenerator
from xactor.engines.motion_gen.step import INPUTS, OUTPUTS, MotionStep
from xactor.engines.motion_gen.weights import GeneratorWeights, load_weights

CASES = [  # chunk, steps, guidance, lookahead
    (1, 1, 1.0, 1),
    (1, 2, 1.5, 0),
    (2, 2, 1.5, 3),
]


def _weights(tmp_path: Path, chunk: int, steps: int, guidance: float) -> GeneratorWeights:
    save_tiny_weights(tmp_path, "m", steps=steps, guidance=guidance, cfg=replace(TINY, chunk=chunk, phones=5))
    w = load_weights(tmp_path, "m")
    assert w.model.audio.phone_in is not None
    torch.nn.init.normal_(w.model.audio.phone_in.weight, std=0.3)  # the phonetic slots matter
    return w


def _audio(frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(frames, TINY.audio_dim)).astype(np.float32)


def _streamer(w: GeneratorWeights, engine, seed: int, lookahead: int) -> EngineStreamer:
    s = w.sampler
    step = MotionStep(w.model, s.steps, s.shift, s.guidance)
    return EngineStreamer(engine, w.config, step.state_shapes(1), w.normalizer.silence(), seed, lookahead)


@pytest.mark.parametrize(("chunk", "steps", "guidance", "lookahead"), CASES)
def test_step_stream_equals_the_reference_sampler(
    tmp_path: Path, chunk: int, steps: int, guidance: float, lookahead: int
) -> None:
    """60 frames with a 16-token context: the cache fills, rolls, and the stream goes on."""
    w = _weights(tmp_path, chunk, steps, guidance)
    s = w.sampler
    ref = StreamingGenerator(
        Denoiser(w.model, guidance), w.normalizer.silence(), steps, s.shift, seed=3, lookahead=lookahead
    )
    step = MotionStep(w.model, steps, s.shift, guidance)
    eng = _streamer(w, TorchEngine(step, INPUTS, OUTPUTS), 3, lookahead)
    ref.set_emotion(2, 0.7)
    eng.set_emotion(2, 0.7)
    x = _audio(60)
    a = np.stack(ref.push(x[:30]) + ref.push(x[30:]) + ref.flush())
    b = np.stack(eng.push(x[:7]) + eng.push(x[7:]) + eng.flush())
    assert a.shape == b.shape == (60, 40)
    np.testing.assert_allclose(b, a, atol=1e-5)


@pytest.mark.parametrize("guidance", [1.0, 1.5])
def test_batched_sessions_equal_sessions_alone(tmp_path: Path, guidance: float) -> None:
    """Three sessions of different ages, seeds, emotions and lookaheads, some behind (several
    chunks waiting): batched on ONNX Runtime they give what each gives alone in torch."""
    w = _weights(tmp_path, 1, 2, guidance)
    s = w.sampler
    step = MotionStep(w.model, s.steps, s.shift, s.guidance)
    onnx = tmp_path / "step.onnx"
    export_step(w, onnx)
    ort = OrtEngine(onnx)
    alone = [
        _streamer(w, TorchEngine(step, INPUTS, OUTPUTS), seed, la) for seed, la in ((1, 0), (2, 1), (3, 3))
    ]
    batched = [_streamer(w, ort, seed, la) for seed, la in ((1, 0), (2, 1), (3, 3))]
    for group in (alone, batched):
        group[1].set_emotion(4, 0.5)
    batcher = StepBatcher(ort, step.branches)
    x = [_audio(50, seed) for seed in range(3)]
    starts = [0, 12, 30]  # the later sessions join later: rows of different ages in one call
    want: list[list[np.ndarray]] = [[], [], []]
    got: list[list[np.ndarray]] = [[], [], []]
    for tick in range(0, 50, 5):
        for i in range(3):
            if tick >= starts[i]:
                n = 5 if i != 2 else (10 if tick % 10 == 0 else 0)  # session 2 arrives in bursts
                part = x[i][tick - starts[i] : tick - starts[i] + n]
                want[i] += alone[i].push(part)
                batched[i].enqueue(part)
        batcher.run(batched)
        for i in range(3):
            got[i] += batched[i].take_ready()
    assert batcher.calls < sum(len(g) for g in got)  # fewer calls than chunks: batched
    for i in range(3):
        assert len(got[i]) == len(want[i]) > 0
        np.testing.assert_allclose(np.stack(got[i]), np.stack(want[i]), atol=1e-4)


class _Limited:
    """An engine that serves at most ``max_batch`` rows per call (like a TensorRT plan)."""

    def __init__(self, engine: TorchEngine, max_batch: int) -> None:
        self.engine, self.max_batch = engine, max_batch
        self.backend, self.inputs, self.outputs = engine.backend, engine.inputs, engine.outputs
        self.batches: list[int] = []

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.batches.append(len(feeds["noise"]))
        assert self.batches[-1] <= self.max_batch
        return self.engine(feeds)


@pytest.mark.parametrize("guidance", [1.0, 1.5])
def test_sessions_in_pool_slots_equal_sessions_alone(tmp_path: Path, guidance: float) -> None:
    """Five sessions whose state lives in a shared pool (grown from 2 slots while sessions start,
    one slot freed and reused mid-stream), batched at most 2 rows a call: each gives what it gives
    alone with its own arrays."""
    from xactor.engines.motion_gen.engine_stream import StateSlots

    w = _weights(tmp_path, 1, 2, guidance)
    s = w.sampler
    step = MotionStep(w.model, s.steps, s.shift, s.guidance)
    torch_engine = TorchEngine(step, INPUTS, OUTPUTS)
    limited = _Limited(torch_engine, max_batch=2)
    pool = StateSlots(step.state_shapes(1), step.branches, capacity=2)
    seeds = [(1, 0), (2, 1), (3, 3), (4, 1), (5, 2)]
    alone = [_streamer(w, torch_engine, seed, la) for seed, la in seeds]

    def pooled_streamer(seed: int, lookahead: int) -> EngineStreamer:
        silence = w.normalizer.silence()
        return EngineStreamer(limited, w.config, step.state_shapes(1), silence, seed, lookahead, slots=pool)

    pooled = [pooled_streamer(seed, la) for seed, la in seeds]
    assert pool.capacity == 8 and pool.in_use == 5  # doubled twice, the early sessions' rows kept
    batcher = StepBatcher(limited, step.branches)
    x = [_audio(30, seed) for seed in range(5)]
    want: list[list[np.ndarray]] = [[] for _ in seeds]
    got: list[list[np.ndarray]] = [[] for _ in seeds]
    for tick in range(0, 30, 3):
        if tick == 15:  # session 4 ends; a new one takes its slot and must start fresh
            del pooled[4]
            pooled.append(pooled_streamer(9, 1))
            alone[4] = _streamer(w, torch_engine, 9, 1)
            want[4], got[4] = [], []
            assert pool.in_use == 5
        for i in range(5):
            start = 0 if i < 4 or tick < 15 else 15
            part = x[i][tick - start : tick - start + 3]
            want[i] += alone[i].push(part)
            pooled[i].enqueue(part)
        batcher.run(pooled)
        for i in range(5):
            got[i] += pooled[i].take_ready()
    assert max(limited.batches) == 2 and len(limited.batches) < sum(len(g) for g in got)
    for i in range(5):
        assert len(got[i]) == len(want[i]) > 0
        np.testing.assert_allclose(np.stack(got[i]), np.stack(want[i]), atol=1e-5)


def test_the_streaming_step_stays_on_its_device() -> None:
    """The step module of the shipped weights on PyTorch's ``meta`` device (shapes, no data): an
    op that mixes in a tensor made on the CPU by default raises here, as on a GPU."""
    from xactor.engines.motion_gen.onnx_step import sample_inputs, step_module
    from xactor.engines.motion_gen.weights import SHIPPED_DIR, load_weights

    for name in ("motion_student", "motion_teacher"):
        step = step_module(load_weights(SHIPPED_DIR, name))
        feeds = {k: v.to("meta") for k, v in sample_inputs(step, 2).items()}
        with torch.no_grad():
            out = step.to("meta")(**feeds)
        assert all(t.device.type == "meta" for t in out), name
