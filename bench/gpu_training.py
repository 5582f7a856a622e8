"""The GPU check's training burst: the motion generator's two training steps, timed on a device.

Both steps of the recipe (``docs/training.md``) on the shipped teacher's architecture, with a
synthetic batch of the recipe's shape (no corpus needed on a bare machine): the teacher's
diffusion-forcing step (loss, backward, clipped AdamW update) and the distillation step (the
guided teacher's 8-step sample, the student's one step, the rollout lip loss on its own past,
update). Each row: median ms a step, training windows a second and, for the distillation loss,
its value on the device against the CPU on the same batch and noise (the step draws its noise on
the CPU, so the two runs see the same numbers; the teacher's loss draws its own noise on the
device, so it has no such row). Where the device is the CPU the rows are the CPU's own timings.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from xactor.bench.render import timed
from xactor.engines.motion_gen.model import MotionDenoiser
from xactor.training.loop import optimiser_step
from xactor.training.motion.data import Batch
from xactor.training.motion.distill import DistillConfig, distill_loss
from xactor.training.motion.objective import ObjectiveConfig, channel_weights, diffusion_forcing_loss

DISTILL = DistillConfig(rollout_weight=1.0, rollout_bilabial_weight=3.0)  # the recipe's last stage


@dataclass(frozen=True)
class BurstConfig:
    batch: int = 8  # the recipe's windows a step (train and distill)
    frames: int = 128  # frames a window (distill's default; train's is longer)
    iters: int = 5
    warmup: int = 2
    cpu_reference: bool = True  # also time one CPU step beside a GPU's (the ratio)
    # Relative difference of the distillation loss on the device vs the CPU: float reordering
    # through 8 teacher steps and a streamed rollout (TF32 is off for this row).
    loss_rtol: float = 1e-3


def synthetic_batch(model: MotionDenoiser, batch: int, frames: int, seed: int = 0) -> Batch:
    """A batch shaped as the sampler makes them: standardised audio vectors and motion, phones of
    every class, lookahead 1 (the live default)."""
    cfg = model.cfg
    gen = torch.Generator().manual_seed(seed)
    classes = max(cfg.phones, 1)
    return Batch(
        audio=torch.randn(batch, frames + cfg.audio_window - 1, cfg.audio_dim, generator=gen),
        motion=torch.randn(batch, frames, cfg.motion_dim, generator=gen),
        emotion=torch.zeros(batch, frames, dtype=torch.long),
        intensity=torch.zeros(batch, frames),
        lookahead=torch.ones(batch, dtype=torch.long),
        phones=torch.randint(0, classes, (batch, frames), generator=gen),
    )


def _train_step(model: MotionDenoiser, batch: Batch) -> Callable[[], float]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    weights = channel_weights().to(batch.motion.device)
    objective = ObjectiveConfig()

    def step() -> float:
        loss = diffusion_forcing_loss(model, model, batch, objective, weights)
        optimiser_step(opt, loss, model)
        return float(loss)

    return step


def _distill_step(teacher: MotionDenoiser, student: MotionDenoiser, batch: Batch) -> Callable[[], float]:
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(0)

    def step() -> float:
        loss = distill_loss(teacher, student, batch, DISTILL, gen)
        optimiser_step(opt, loss, student)
        return float(loss)

    return step


def distill_loss_on(device: torch.device, teacher: MotionDenoiser, batch: Batch, seed: int = 0) -> float:
    """The distillation loss (no update) of a student equal to the teacher, on ``device``."""
    t = copy.deepcopy(teacher).to(device)
    with torch.no_grad():
        return float(distill_loss(t, t, batch.to(device), DISTILL, torch.Generator().manual_seed(seed)))


def burst(teacher: MotionDenoiser, device: torch.device, cfg: BurstConfig) -> list[dict[str, Any]]:
    """Rows of the training section: each step on ``device`` (and one CPU step beside it on a GPU),
    then the distillation loss's parity."""
    cuda = device.type == "cuda"
    batch = synthetic_batch(teacher, cfg.batch, cfg.frames)
    windows = f"{cfg.batch} × {cfg.frames} frames"
    rows = []
    places = [(device, cfg.iters, cfg.warmup)]
    if cuda and cfg.cpu_reference:
        places.append((torch.device("cpu"), 1, 0))  # one step: the ratio, not a benchmark
    for place, iters, warmup in places:
        on = batch.to(place)
        model = copy.deepcopy(teacher).to(place).train().requires_grad_(True)
        student = copy.deepcopy(teacher).to(place).train().requires_grad_(True)
        frozen = copy.deepcopy(teacher).to(place).eval().requires_grad_(False)
        for stage, step in (
            ("teacher: diffusion-forcing step", _train_step(model, on)),
            ("student: distillation step (8-step teacher, rollout)", _distill_step(frozen, student, on)),
        ):
            seconds = timed(step, iters, warmup)  # each step returns its loss: the host waits for it
            loss = step()
            rows.append(
                {
                    "stage": stage,
                    "device": place.type,
                    "batch": windows,
                    "ms_step": seconds * 1000,
                    "windows_s": cfg.batch / seconds,
                    "loss": loss,
                    "finite": math.isfinite(loss),
                }
            )
    return rows


def loss_parity(teacher: MotionDenoiser, device: torch.device, cfg: BurstConfig) -> dict[str, Any]:
    """The distillation loss on ``device`` against the CPU's, same batch and noise (TF32 off)."""
    rows, frames = min(cfg.batch, 2), min(cfg.frames, 32)
    batch = synthetic_batch(teacher, rows, frames, seed=1)
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        here = distill_loss_on(device, teacher, batch)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    cpu = distill_loss_on(torch.device("cpu"), teacher, batch)
    rel = abs(here - cpu) / max(abs(cpu), 1e-12)
    passed = bool(rel <= cfg.loss_rtol)
    return {"device": here, "cpu": cpu, "rel": rel, "passed": passed, "batch": f"{rows} × {frames} frames"}
