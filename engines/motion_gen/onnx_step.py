"""The motion generator's streaming step (:class:`~engines.motion_gen.step.MotionStep`) as ONNX.

One graph per weights file and sampler (steps, guidance: the loop is unrolled), the batch axis
dynamic (sessions per call), every other axis static — the names and shapes are
:mod:`xactor.engines.motion_gen.step`'s table. Checked against torch at once on fresh random inputs,
including rows of different ages in one batch (a fresh session beside partly filled caches).
Used by the runtime (:mod:`xactor.engines.motion_gen.runtime`, on first use) and by ``xactor export``
(which also checks the operators against TensorRT's).
"""

from __future__ import annotations

from pathlib import Path

import torch

from xactor.engines.motion_gen.step import INPUTS, OUTPUTS, MotionStep
from xactor.engines.motion_gen.weights import GeneratorWeights
from xactor.engines.onnx_io import export_and_check


def step_module(weights: GeneratorWeights) -> MotionStep:
    s = weights.sampler
    return MotionStep(weights.model, s.steps, s.shift, s.guidance)


def sample_inputs(step: MotionStep, batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Fresh random inputs for ``batch`` rows: random audio, emotions and state, row 0 a fresh
    session (nothing cached, no ride-along), the others with caches partly filled."""
    cfg = step.model.cfg
    gen = torch.Generator().manual_seed(seed)
    window = cfg.chunk + cfg.audio_window - 1
    feeds: dict[str, torch.Tensor] = {
        "audio": torch.randn((batch, window, cfg.audio_dim), generator=gen),
        "lookahead": torch.randint(0, cfg.max_lookahead + 1, (batch,), generator=gen),
        "emotion": torch.randint(0, cfg.n_emotions + 1, (batch, cfg.chunk), generator=gen),
        "intensity": torch.rand((batch, cfg.chunk), generator=gen),
        "noise": torch.randn((batch, cfg.chunk, cfg.motion_dim), generator=gen),
    }
    for name, (shape, dtype) in step.state_shapes(batch).items():
        feeds[name] = torch.randn(shape, generator=gen, dtype=dtype)
    filled = torch.randint(0, step.slots + 1, (batch,), generator=gen)
    filled[0] = 0
    feeds["cache_valid"] = (torch.arange(step.slots)[None, :] >= step.slots - filled[:, None]).float()
    feeds["ride_valid"] = (torch.arange(batch) > 0).float()
    return feeds


def export_step(weights: GeneratorWeights, path: Path, rtol: float = 1e-4) -> float:
    """Write ``path``; return ONNX Runtime's max relative error vs torch (batch 3 of mixed ages);
    ``AssertionError`` past ``rtol``."""
    step = step_module(weights)
    inputs = sample_inputs(step, batch=3)
    kv = {"cache_k", "cache_v", "cache_k_out", "cache_v_out"}  # [N, G·B, ...]: rows on axis 1
    dynamic = {name: {1: "rows"} if name in kv else {0: "batch"} for name in (*INPUTS, *OUTPUTS)}
    return export_and_check(step, inputs, list(OUTPUTS), path, dynamic_axes=dynamic, rtol=rtol)
