"""``xactor distill render``: the teacher's many-step flow in one (or two) student steps.

The student starts as a copy of the teacher. Each step draws noise ε, runs the teacher's
``teacher_steps`` Euler steps from it (no gradients) and trains the student's ``student_steps``
steps from the same ε to land on the teacher's residual (squared error, mouth box weighted), plus
``truth_weight`` × the error against the exact frame's residual, so the student may correct the
teacher where the truth is known. Checkpoints, resume and DDP as in training.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from xactor.engines.diffusion.model import sample_residual
from xactor.engines.diffusion.weights import STUDENT, TEACHER, load_render_weights, save_render_weights
from xactor.training.distributed import data_parallel, setup_distributed
from xactor.training.loop import Stateful, TrainingLoop, ema_update, optimiser_step
from xactor.training.render.batches import make_batch
from xactor.training.render.data import load_split
from xactor.training.render.train import validate


@dataclass(frozen=True)
class RenderDistillConfig:
    steps: int = 1000
    batch: int = 16
    lr: float = 2e-4
    teacher_steps: int = 8
    student_steps: int = 1
    truth_weight: float = 0.5
    mouth_weight: float = 4.0
    ema: float = 0.99
    val_every: int = 100
    ckpt_every: int = 50
    val_samples: int = 64
    threads: int = 2
    seed: int = 0
    limit_shards: int | None = None


def distill(
    teacher_dir: Path, data: Path, out: Path, cfg: RenderDistillConfig, progress: bool = True
) -> dict[str, Any]:
    """Distill ``teacher_dir``'s render_teacher into ``out``/render_student; resumable."""
    rank, world, device = setup_distributed()
    if device.type == "cpu":
        torch.set_num_threads(max(1, cfg.threads // world))
    torch.manual_seed(cfg.seed * 1000 + rank)
    teacher, _, teacher_meta = load_render_weights(teacher_dir, TEACHER)
    teacher = teacher.to(device).requires_grad_(False)
    student = copy.deepcopy(teacher).requires_grad_(True).train()
    ema = copy.deepcopy(teacher).requires_grad_(False)
    opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=0.0)
    out.mkdir(parents=True, exist_ok=True)
    loop = TrainingLoop(
        out,
        "distill render",
        cfg.steps,
        checkpoint="distill_checkpoint.pt",
        log_name="distill_log.jsonl",
        rank0=rank == 0,
        progress=progress,
    )
    parts: dict[str, Stateful] = {"student": student, "ema": ema, "opt": opt}
    loop.resume(parts, map_location=device)
    wrapped = data_parallel(student, world, device)
    train_data = load_split(data, "train", cfg.limit_shards)
    val_data = load_split(data, "val", cfg.limit_shards)
    val_index = np.random.default_rng(1234).choice(
        len(val_data), min(cfg.val_samples, len(val_data)), replace=False
    )
    val_batches = [make_batch(val_data, val_index[i : i + 16]) for i in range(0, len(val_index), 16)]
    rng = np.random.default_rng([cfg.seed, rank, loop.step, 77])
    scale = teacher.cfg.residual_scale

    def distill_step(step: int) -> torch.Tensor:
        batch = make_batch(train_data, rng.integers(0, len(train_data), cfg.batch)).to(device)
        noise = torch.randn_like(batch.prior)
        with torch.no_grad():
            ref_t = teacher.encode_reference(batch.reference)
            want = sample_residual(teacher, batch.prior, batch.lmap, ref_t, cfg.teacher_steps, noise)
        truth = (batch.target - batch.prior) / scale
        ref_s = student.encode_reference(batch.reference)
        got = sample_residual(wrapped, batch.prior, batch.lmap, ref_s, cfg.student_steps, noise)  # type: ignore[arg-type]
        weight = 1.0 + (cfg.mouth_weight - 1.0) * batch.mouth
        loss = (weight * ((got - want) ** 2 + cfg.truth_weight * (got - truth) ** 2)).mean()
        optimiser_step(opt, loss, student)
        ema_update(ema, student, cfg.ema)
        return loss

    def validate_and_export() -> dict[str, Any]:
        ema_cpu = copy.deepcopy(ema).cpu().eval()
        val = validate(ema_cpu, val_batches, cfg.student_steps)
        record = {"step": loop.step, "trained_s": round(loop.trained_s, 1), "val": val}
        loop.write(record)
        info = {
            "recipe": "xactor distill render",
            "size": teacher_meta.get("size", 128),
            "distill": asdict(cfg),
            "teacher": {k: teacher_meta.get(k) for k in ("step", "trained_s", "val", "train")},
            **record,
        }
        save_render_weights(out, STUDENT, ema_cpu, cfg.student_steps, info)
        return record

    jobs = (
        [(cfg.val_every, validate_and_export), (cfg.ckpt_every, lambda: loop.save(parts))]
        if rank == 0
        else []
    )
    try:
        return loop.run(distill_step, log_every=25, every=jobs)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
