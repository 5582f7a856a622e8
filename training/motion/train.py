"""``xactor train motion``: diffusion-forcing training of the generator, resumable, one CPU to many GPUs.

The same script runs alone (``xactor train motion``) or under ``torchrun --nproc_per_node N``
(DDP: gloo on CPU, NCCL on GPUs; each rank draws its own windows from its own seed). Every
``ckpt_every`` steps rank 0 writes ``checkpoint.pt`` (model, EMA, optimiser, step, training
seconds so far, config) atomically; rerunning the same command resumes from it, so a run can span
sessions. Every ``val_every`` steps it measures the validation split (teacher forcing: clean
history, noisy present — the streaming case) and exports the EMA weights as
``motion_teacher.safetensors`` + ``.json``; progress goes to ``train_log.jsonl``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from xactor.engines import motion_space as ms
from xactor.engines.motion_gen.config import MotionGenConfig
from xactor.engines.motion_gen.features import Normalizer
from xactor.engines.motion_gen.model import MotionDenoiser, teacher_forcing_mask
from xactor.engines.motion_gen.weights import TEACHER, SamplerSettings, load_weights, save_weights
from xactor.training.distributed import data_parallel, setup_distributed
from xactor.training.loop import Stateful, TrainingLoop, ema_update, optimiser_step
from xactor.training.motion.data import (
    PHONE_CLASSES,
    UNKNOWN_PHONE,
    Augmenter,
    Batch,
    BatchSampler,
    ClipData,
    Corpora,
    fit_normalizer,
    load_split,
)
from xactor.training.motion.objective import ObjectiveConfig, channel_weights, diffusion_forcing_loss

log = logging.getLogger(__name__)
JAW = [c.name for c in ms.CHANNELS].index("jawOpen")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on besides the corpus (saved in the checkpoint and the weights)."""

    model: MotionGenConfig = field(
        default_factory=lambda: MotionGenConfig(phones=len(PHONE_CLASSES), stream_norm_seconds=3.0)
    )
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    steps: int = 8000
    batch: int = 16  # windows per rank
    frames: int = 256  # window length (= context: every history length is trained)
    lr: float = 4e-4
    warmup: int = 300
    weight_decay: float = 0.01
    ema: float = 0.999
    seed: int = 0
    val_every: int = 250
    ckpt_every: int = 250
    val_batches: int = 4
    threads: int = 2
    p_augment: float = 0.75
    augment: bool = True
    limit_clips: int | None = None  # smoke runs: load only this many clips per split
    sampler: SamplerSettings = field(
        default_factory=lambda: SamplerSettings(steps=8, guidance=1.5, shift=2.0)
    )


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine down to a tenth."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * p)))


@torch.no_grad()
def validate(model: MotionDenoiser, batches: list[Batch]) -> dict[str, float]:
    """x̂0 error with clean history at present levels t = 1 and 0.5, and ρ(jawOpen) at t = 1
    (at each batch's lookahead: the default L), and the phonetic front end's frame accuracy."""
    model.eval()
    out: dict[str, list[float]] = {"mse_t1": [], "mse_t05": [], "jaw_rho_t1": []}
    if model.audio.phones is not None:
        out["phone_acc"] = []
    for b in batches:
        n, frames, _ = b.motion.shape
        mask = teacher_forcing_mask(frames, model.cfg.chunk, model.cfg.context)
        pos = torch.cat([torch.arange(frames), torch.arange(frames)])
        audio = model.encode_audio(b.audio, b.lookahead)
        emo = model.emotion_embedding(
            torch.full_like(b.emotion, model.cfg.n_emotions), torch.zeros_like(b.intensity)
        )
        gen = torch.Generator().manual_seed(0)
        for level, key in ((1.0, "mse_t1"), (0.5, "mse_t05")):
            eps = torch.randn(b.motion.shape, generator=gen)
            x_t = (1 - level) * b.motion + level * eps
            x = torch.cat([b.motion, x_t], 1)
            t = torch.cat([torch.zeros(n, frames), torch.full((n, frames), level)], 1)
            pred, _ = model(x, t, torch.cat([audio, audio], 1), torch.cat([emo, emo], 1), pos, mask)
            pred = pred[:, frames:]
            out[key].append(float(((pred - b.motion) ** 2).mean()))
            if level == 1.0:
                p, g = pred[..., JAW].flatten().numpy(), b.motion[..., JAW].flatten().numpy()
                out["jaw_rho_t1"].append(float(np.corrcoef(p, g)[0, 1]))
        if model.audio.phones is not None:
            known = b.phones != UNKNOWN_PHONE
            if bool(known.any()):
                hit = model.audio.phone_logits(b.audio).argmax(-1) == b.phones
                out["phone_acc"].append(float(hit[known].float().mean()))
    model.train()
    return {k: round(float(np.mean(v)), 5) for k, v in out.items()}


def train(
    data: Corpora, out: Path, cfg: TrainConfig, progress: bool = True, init_from: Path | None = None
) -> dict[str, Any]:
    """Train (or resume) into ``out``; returns the last validation record. ``data``: one corpus
    or several. ``init_from``: start a new run (fresh optimiser, step 0) from another run's
    ``checkpoint.pt`` or from exported teacher weights (a folder with ``motion_teacher.*``, e.g.
    the shipped ones) — a fine-tune; parts the old model lacked (the phonetic front end) start
    from scratch, and its normaliser is kept (the corpus speech mean added where it lacks one)."""
    rank, world, device = setup_distributed()
    torch.set_num_threads(max(1, cfg.threads // world) if device.type == "cpu" else cfg.threads)
    torch.manual_seed(cfg.seed * 1000 + rank)
    out.mkdir(parents=True, exist_ok=True)
    train_clips = load_split(data, "train", cfg.limit_clips)
    val_clips = load_split(data, "val", cfg.limit_clips)
    norm = fit_normalizer(train_clips, seed=cfg.seed)
    if cfg.model.stream_norm_seconds > 0 and norm.mel_speech_mean is None:
        raise ValueError("stream normalisation needs speech in the training clips (none was found)")

    model = MotionDenoiser(cfg.model).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loop = TrainingLoop(out, "train motion", cfg.steps, rank0=rank == 0, progress=progress)
    parts: dict[str, Stateful] = {"model": model, "ema": ema, "opt": opt}
    init_record: dict[str, Any] = {}  # the run a fine-tune started from
    state = loop.resume(parts, map_location=device)
    if state is not None:
        norm = Normalizer.from_tensors(state["norm"])
        init_record = state.get("init", {})
    elif init_from is not None:
        norm, init_record = _init_from(init_from, model, ema, norm, device)
    wrapped = data_parallel(model, world, device)
    step = loop.step

    sampler = BatchSampler(
        cfg.model,
        norm,
        train_clips,
        cfg.frames,
        seed=cfg.seed * 7919 + rank * 104729 + step,
        p_augment=cfg.p_augment if cfg.augment else 0.0,
        lookahead_p=cfg.objective.lookahead_p,
    )
    val_sampler = BatchSampler(cfg.model, norm, val_clips, cfg.frames, seed=1234, p_augment=0.0)
    val_data = [val_sampler.batch(cfg.batch) for _ in range(cfg.val_batches)]
    augmenter = (
        Augmenter(data, "train", train_clips, cfg.limit_clips, seed=cfg.seed * 31 + rank + step).start()
        if cfg.augment
        else None
    )
    weights = channel_weights().to(device)

    def train_step(step: int) -> torch.Tensor:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        if augmenter:
            augmenter.collect()
        batch = sampler.batch(cfg.batch).to(device)
        loss = diffusion_forcing_loss(wrapped, model, batch, cfg.objective, weights)
        optimiser_step(opt, loss, model)
        ema_update(ema, model, cfg.ema)
        return loss

    def entry() -> dict[str, Any]:
        return {
            "step": loop.step,
            "loss": round(loop.loss, 5),
            "lr": lr_at(loop.step, cfg),
            "trained_s": round(loop.trained_s, 1),
            "augmented": augmenter.done if augmenter else 0,
        }

    def validate_and_export() -> dict[str, Any]:
        ema_cpu = copy.deepcopy(ema).cpu()
        record = {
            "step": loop.step,
            "trained_s": round(loop.trained_s, 1),
            "val": validate(ema_cpu, val_data),  # sampled on the CPU, never moved
        }
        loop.write(record)
        info = {"recipe": "xactor train motion", "train": _jsonable(cfg), "world": world, "init": init_record}
        save_weights(out, TEACHER, ema_cpu, norm, cfg.sampler, {**info, **record})
        return record

    def checkpoint() -> None:
        loop.save(parts, norm=norm.tensors(), config=_jsonable(cfg), init=init_record)

    jobs = [(cfg.val_every, validate_and_export), (cfg.ckpt_every, checkpoint)] if rank == 0 else []
    try:
        return loop.run(train_step, log_every=25, entry=entry, every=jobs)
    finally:
        if augmenter:
            augmenter.stop()
        if dist.is_initialized():
            dist.destroy_process_group()


def _init_from(
    init_from: Path, model: MotionDenoiser, ema: MotionDenoiser, norm: Normalizer, device: torch.device
) -> tuple[Normalizer, dict[str, Any]]:
    """Load a fine-tune's start into ``model`` and ``ema``: exported teacher weights (a folder) or
    another run's checkpoint; returns the normaliser to use and the record of where it came from."""
    if init_from.is_dir():
        loaded = load_weights(init_from, TEACHER)
        if not loaded.config.same_network(model.cfg):
            raise ValueError(f"{init_from}: its config {loaded.config} does not fit {model.cfg}")
        for net in (model, ema):
            net.load_state_dict(loaded.model.state_dict())
        init_record = {"from": str(init_from), **{k: loaded.record.get(k) for k in ("step", "trained_s")}}
        log.info("fine-tuning from exported weights %s", init_record)
        return with_speech_mean(loaded.normalizer, norm), init_record
    state = torch.load(init_from, map_location=device, weights_only=False)
    for net, key in ((model, "model"), (ema, "ema")):
        missing, unexpected = net.load_state_dict(state[key], strict=False)
        new_parts = ("audio.phones.", "audio.phone_in.")  # a phonetic front end added in the fine-tune
        if unexpected or any(not k.startswith(new_parts) for k in missing):
            raise ValueError(f"{init_from} does not fit this model: {missing} {unexpected}")
    init_record = {"from": str(init_from), "step": int(state["step"]), "trained_s": float(state["trained_s"])}
    log.info("fine-tuning from %s", init_record)
    return with_speech_mean(Normalizer.from_tensors(state["norm"]), norm), init_record


def with_speech_mean(kept: Normalizer, fitted: Normalizer) -> Normalizer:
    """``kept`` (a fine-tune's inherited statistics) with ``fitted``'s corpus speech mean where it
    has none: the stream shift's target must be the corpus the run trains on."""
    if kept.mel_speech_mean is not None:
        return kept
    return replace(kept, mel_speech_mean=fitted.mel_speech_mean)


def _jsonable(cfg: TrainConfig) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(cfg)))


def config_with(base: TrainConfig, **overrides: Any) -> TrainConfig:
    """``base`` with top-level and ``model.*`` overrides (``model_lookahead=2`` sets model.lookahead)."""
    model_over = {
        k[len("model_") :]: v for k, v in overrides.items() if k.startswith("model_") and v is not None
    }
    top = {k: v for k, v in overrides.items() if not k.startswith("model_") and v is not None}
    return replace(base, model=replace(base.model, **model_over), **top)


def clips_frames(clips: list[ClipData]) -> int:
    return sum(c.frames for c in clips)
