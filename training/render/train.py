"""``xactor train render``: the renderer's denoiser by rectified flow on the residual over the
warp prior; checkpoints and resume, EMA weights exported at every validation, the same script on
one CPU or many GPUs (torchrun: DDP).

Objective: r = (target − prior) / residual_scale; x_t = (1 − t)·r + t·ε with t from a
logit-normal; the model predicts the clean r (x0-parameterisation, see
:mod:`xactor.engines.diffusion.model`); the loss is its squared error, weighted × ``mouth_weight``
inside the mouth box (where the prior is furthest from the truth).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from xactor.engines.diffusion.model import RenderDenoiser, RenderModelConfig, frames_from, sample_residual
from xactor.engines.diffusion.weights import TEACHER, save_render_weights
from xactor.training.distributed import data_parallel, setup_distributed
from xactor.training.loop import Stateful, TrainingLoop, ema_update, optimiser_step
from xactor.training.render.batches import RenderBatch, make_batch
from xactor.training.render.data import load_split, read_manifest
from xactor.training.render.metrics import psnr


@dataclass(frozen=True)
class RenderTrainConfig:
    model: RenderModelConfig = field(default_factory=RenderModelConfig)
    steps: int = 4000
    batch: int = 16
    lr: float = 1e-3
    warmup: int = 200
    weight_decay: float = 0.01
    ema: float = 0.995
    mouth_weight: float = 4.0
    sample_steps: int = 8  # the teacher's Euler steps at evaluation
    val_every: int = 250
    ckpt_every: int = 100
    val_samples: int = 64
    threads: int = 2
    seed: int = 0
    limit_shards: int | None = None


def lr_at(step: int, cfg: RenderTrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def flow_loss(
    model: torch.nn.Module, denoiser: RenderDenoiser, batch: RenderBatch, cfg: RenderTrainConfig
) -> torch.Tensor:
    """``model`` is ``denoiser`` itself or its DDP wrapper (whose forward syncs gradients)."""
    r = (batch.target - batch.prior) / denoiser.cfg.residual_scale
    t = torch.sigmoid(torch.randn(len(r), device=r.device))  # logit-normal: most weight mid-way
    eps = torch.randn_like(r)
    x_t = (1 - t[:, None, None, None]) * r + t[:, None, None, None] * eps
    reference = denoiser.encode_reference(batch.reference)
    clean = model(x_t, t, batch.prior, batch.lmap, reference)  # r̂ (x0-parameterisation)
    weight = 1.0 + (cfg.mouth_weight - 1.0) * batch.mouth
    return (weight * (clean - r) ** 2).mean()


@torch.no_grad()
def render_frames(
    model: RenderDenoiser, batch: RenderBatch, steps: int, seed: int = 0, same_noise: bool = False
) -> torch.Tensor:
    """Frames [B, 3, S, S] in [-1, 1] sampled with ``steps`` Euler steps from seeded noise;
    ``same_noise``: one noise image for every frame, as the live renderer does for a sequence."""
    gen = torch.Generator().manual_seed(seed)
    shape = (1, *batch.prior.shape[1:]) if same_noise else batch.prior.shape
    noise = torch.randn(shape, generator=gen).expand_as(batch.prior).to(batch.prior.device)
    reference = model.encode_reference(batch.reference)
    residual = sample_residual(model, batch.prior, batch.lmap, reference, steps, noise)
    return frames_from(batch.prior, residual, model.cfg)


def validate(model: RenderDenoiser, batches: list[RenderBatch], steps: int) -> dict[str, float]:
    """Mean PSNR (dB) of the sampled frames and of the prior alone, whole frame and mouth box."""
    got: dict[str, list[float]] = {"psnr": [], "psnr_mouth": [], "prior_psnr": [], "prior_psnr_mouth": []}
    for batch in batches:
        frames = render_frames(model, batch, steps)
        for name, image in (("", frames), ("prior_", batch.prior)):
            whole, mouth = psnr(image, batch.target, batch.boxes)
            got[f"{name}psnr"] += whole
            got[f"{name}psnr_mouth"] += mouth
    return {k: round(float(np.mean(v)), 3) for k, v in got.items()}


def train(data: Path, out: Path, cfg: RenderTrainConfig, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) into ``out``; returns the last validation record."""
    rank, world, device = setup_distributed()
    if device.type == "cpu":
        torch.set_num_threads(max(1, cfg.threads // world))
    torch.manual_seed(cfg.seed * 1000 + rank)
    out.mkdir(parents=True, exist_ok=True)
    train_data = load_split(data, "train", cfg.limit_shards)
    val_data = load_split(data, "val", cfg.limit_shards)
    size = int(read_manifest(data)["config"]["size"])  # the frame size the weights are for
    model = RenderDenoiser(cfg.model).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loop = TrainingLoop(out, "train render", cfg.steps, rank0=rank == 0, progress=progress)
    parts: dict[str, Stateful] = {"model": model, "ema": ema, "opt": opt}
    loop.resume(parts, map_location=device)
    wrapped = data_parallel(model, world, device)
    rng = np.random.default_rng([cfg.seed, rank, loop.step])
    val_rng = np.random.default_rng(1234)
    val_index = val_rng.choice(len(val_data), min(cfg.val_samples, len(val_data)), replace=False)
    val_batches = [make_batch(val_data, val_index[i : i + 16]) for i in range(0, len(val_index), 16)]

    def train_step(step: int) -> torch.Tensor:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        batch = make_batch(train_data, rng.integers(0, len(train_data), cfg.batch)).to(device)
        loss = flow_loss(wrapped, model, batch, cfg)
        optimiser_step(opt, loss, model)
        ema_update(ema, model, cfg.ema)
        return loss

    def entry() -> dict[str, Any]:
        return {
            "step": loop.step,
            "loss": round(loop.loss, 5),
            "lr": lr_at(loop.step, cfg),
            "trained_s": round(loop.trained_s, 1),
        }

    def validate_and_export() -> dict[str, Any]:
        ema_cpu = copy.deepcopy(ema).cpu().eval()
        val = validate(ema_cpu, val_batches, cfg.sample_steps)
        record = {"step": loop.step, "trained_s": round(loop.trained_s, 1), "val": val}
        loop.write(record)
        info = {"recipe": "xactor train render", "train": _jsonable(cfg), "world": world}
        save_render_weights(out, TEACHER, ema_cpu, cfg.sample_steps, {**info, "size": size, **record})
        return record

    def checkpoint() -> None:
        loop.save(parts, config=_jsonable(cfg))

    jobs = [(cfg.val_every, validate_and_export), (cfg.ckpt_every, checkpoint)] if rank == 0 else []
    try:
        return loop.run(train_step, log_every=25, entry=entry, every=jobs)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _jsonable(cfg: RenderTrainConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["model"] = cfg.model.to_dict()
    return d
