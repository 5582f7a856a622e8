"""``xactor distill render``: the teacher's many-step flow in one (or two) student steps.

The student starts as a copy of the teacher. Each step draws noise ε, runs the teacher's
``teacher_steps`` Euler steps from it (no gradients) and trains the student's ``student_steps``
steps from the same ε to land on the teacher's residual (squared error, mouth box weighted), plus
``truth_weight`` × the error against the exact frame's residual, so the student may correct the
teacher where the truth is known. Checkpoints, resume and DDP as in training.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from engines.diffusion.model import sample_residual
from engines.diffusion.weights import STUDENT, TEACHER, load_render_weights, save_render_weights
from training.distributed import setup_distributed
from training.loop import JsonLog, ema_update, optimiser_step, progress_bar, save_checkpoint
from training.render.batches import make_batch
from training.render.data import load_split
from training.render.train import validate

log = logging.getLogger(__name__)


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
    ckpt_path = out / "distill_checkpoint.pt"
    step, trained_s = 0, 0.0
    if ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        student.load_state_dict(state["student"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        step, trained_s = int(state["step"]), float(state["trained_s"])
        log.info("resumed distillation at step %d", step)
    wrapped: torch.nn.Module = student
    if world > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(
            student, device_ids=[device.index] if device.type == "cuda" else None
        )
    train_data = load_split(data, "train", cfg.limit_shards)
    val_data = load_split(data, "val", cfg.limit_shards)
    val_index = np.random.default_rng(1234).choice(
        len(val_data), min(cfg.val_samples, len(val_data)), replace=False
    )
    val_batches = [make_batch(val_data, val_index[i : i + 16]) for i in range(0, len(val_index), 16)]
    rng = np.random.default_rng([cfg.seed, rank, step, 77])
    scale = teacher.cfg.residual_scale
    record: dict[str, Any] = {}
    bar = progress_bar("distill render", progress and rank == 0)
    log_file = JsonLog(out / "distill_log.jsonl", rank == 0)
    try:
        with bar, log_file:
            task = bar.add_task("distill", total=cfg.steps, completed=step, info="")
            while step < cfg.steps:
                t0 = time.perf_counter()
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
                step += 1
                trained_s += time.perf_counter() - t0
                bar.update(task, completed=step, info=f"loss {loss.item():.4f}")
                if step % 25 == 0 or step == cfg.steps:
                    log_file.write(
                        {"step": step, "loss": round(loss.item(), 5), "trained_s": round(trained_s, 1)}
                    )
                if rank == 0 and (step % cfg.val_every == 0 or step == cfg.steps):
                    ema_cpu = copy.deepcopy(ema).cpu().eval()
                    val = validate(ema_cpu, val_batches, cfg.student_steps)
                    record = {"step": step, "trained_s": round(trained_s, 1), "val": val}
                    log_file.write(record)
                    info = {
                        "recipe": "xactor distill render",
                        "size": teacher_meta.get("size", 128),
                        "distill": asdict(cfg),
                        "teacher": {k: teacher_meta.get(k) for k in ("step", "trained_s", "val", "train")},
                        **record,
                    }
                    save_render_weights(out, STUDENT, ema_cpu, cfg.student_steps, info)
                if rank == 0 and (step % cfg.ckpt_every == 0 or step == cfg.steps):
                    state = {
                        "student": student.state_dict(),
                        "ema": ema.state_dict(),
                        "opt": opt.state_dict(),
                    }
                    save_checkpoint(ckpt_path, {**state, "step": step, "trained_s": trained_s})
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return record
