"""``xactor distill motion``: a 1-step student that matches the many-step, guided teacher.

Method: direct distillation of the teacher's ODE map (the "knowledge distillation" of Luhman &
Luhman, per token, under teacher forcing). For a window of real motion, every token gets the clean
true history before it and pure noise ε now; the teacher runs its full sampler (``steps`` flow
steps with audio guidance w) on all tokens at once — the doubled sequence ``[clean | noisy]``
with :func:`~engines.motion_gen.model.teacher_forcing_mask`, the clean half's keys and values
computed once and reused every step — and the student, initialised from the teacher, learns to
map the same ε to the teacher's result in one step. Guidance is folded in (the student runs
unguided: one batch row, not two).

Why this and not consistency or progressive distillation: the streaming sampler only ever asks
"clean past, noise now → this frame", which teacher forcing reproduces exactly and in parallel
over a whole window, so the teacher's targets are cheap (one window = one batched sampler run)
and the student sees exactly its live job; consistency training needs many more steps to
converge and progressive halving needs log2(steps) rounds, both beyond a CPU budget. A student
sees the true past in training and its own past live; diffusion forcing's noisy-history training
of the teacher it starts from, and the drift test, keep an eye on that gap.

Rollout loss (``rollout_weight`` > 0): that gap is real for the lips. Teacher-forced, a closure
in progress is in the history, so the model learns to continue closures; streaming on its own
past it rarely starts one. So each step also rolls the student out over the window on its own
past (no gradient; :class:`~engines.motion_gen.step.MotionStep`, exactly the live step, one
frame at a time), then asks it, given that past, for the *true* lips now: mouth and jaw channels
only (what the audio determines), so head and brows keep the teacher's distribution. This is the
"rollout fine-tune on the student's own outputs" (the DAgger / scheduled-sampling remedy for
exposure bias), with the corpus as the expert.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from xactor.engines.motion_gen.config import LookaheadError
from xactor.engines.motion_gen.model import KV, MotionDenoiser, block_causal_mask, teacher_forcing_mask
from xactor.engines.motion_gen.sampler import step_toward, time_steps
from xactor.engines.motion_gen.step import STATE, MotionStep
from xactor.engines.motion_gen.weights import (
    STUDENT,
    TEACHER,
    SamplerSettings,
    WeightsError,
    load_weights,
    save_weights,
)
from xactor.training.loop import Stateful, TrainingLoop, optimiser_step
from xactor.training.motion.data import Augmenter, Batch, BatchSampler, Corpora, load_split
from xactor.training.motion.objective import BILABIAL_IDS, channel_weights, conditioning, mouth_mask


@dataclass(frozen=True)
class DistillConfig:
    steps: int = 600
    batch: int = 8
    frames: int = 128
    lr: float = 1e-4
    teacher_steps: int = 8
    guidance: float = 1.5
    shift: float = 2.0
    seed: int = 0
    ckpt_every: int = 50
    threads: int = 2
    augment: bool = True
    limit_clips: int | None = None
    rollout_weight: float = 0.0  # weight of the rollout lip loss (0: plain distillation)
    rollout_bilabial_weight: float = 1.0  # in the rollout loss, frames of /P B M/ count this much
    init_student: str | None = None  # a folder with motion_student weights to start from (else the teacher)
    # L per window, probabilities for 0..max_lookahead (None: the model's default L only). The
    # student serves every L live (``lookahead_frames``); distilled at one L only, the others run
    # on whatever the teacher's weights it started from still knew.
    lookahead_p: tuple[float, ...] | None = None
    # The teacher's targets use at least this lookahead whatever the student's L: a student at
    # L = 0 then learns what the teacher says with one more frame heard (anticipation), not the
    # teacher's own L = 0 answer, which opens later inside its frame. 0: the student's L.
    teacher_lookahead: int = 0


def lookahead_probabilities(p: tuple[float, ...] | None, max_lookahead: int) -> tuple[float, ...] | None:
    """``p`` padded with zeros to 0..``max_lookahead``; :class:`LookaheadError` when it is longer,
    negative or sums to zero."""
    if p is None:
        return None
    if len(p) > max_lookahead + 1 or min(p) < 0 or sum(p) <= 0:
        raise LookaheadError(
            f"lookahead probabilities {p}: need at most {max_lookahead + 1} non-negative values, not all 0"
        )
    return tuple(p) + (0.0,) * (max_lookahead + 1 - len(p))


def _halves(
    frames: int, model: MotionDenoiser, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Positions [T], the clean half's mask [T, T] and the noisy half's mask [T, 2T], on ``device``."""
    pos = torch.arange(frames, device=device)
    full = teacher_forcing_mask(frames, model.cfg.chunk, model.cfg.context).to(device)
    return pos, block_causal_mask(pos, pos, model.cfg.chunk, model.cfg.context), full[frames:]


def _clean_cache(
    model: MotionDenoiser,
    x0: torch.Tensor,
    audio: torch.Tensor,
    emotion: torch.Tensor,
    pos: torch.Tensor,
    mask: torch.Tensor,
) -> list[KV]:
    """Keys/values of the clean history half (level 0)."""
    _, kv = model(x0, torch.zeros(x0.shape[:2], device=x0.device), audio, emotion, pos, mask)
    return kv


@torch.no_grad()
def teacher_targets(
    teacher: MotionDenoiser, batch: Batch, eps: torch.Tensor, cfg: DistillConfig
) -> torch.Tensor:
    """The guided teacher's sample for every token given the clean true past: [B, T, 40]."""
    b, frames, _ = batch.motion.shape
    device = batch.motion.device
    pos, clean_mask, noisy_mask = _halves(frames, teacher, device)
    keep = torch.zeros(b, dtype=torch.bool, device=device)
    audio, emotion = conditioning(teacher, batch, keep, keep)
    null = teacher.null_audio.expand_as(audio)
    audio2, emotion2 = torch.cat([audio, null]), torch.cat([emotion, emotion])  # cond rows, then uncond
    cache = _clean_cache(teacher, batch.motion.repeat(2, 1, 1), audio2, emotion2, pos, clean_mask)
    x = eps
    levels = time_steps(cfg.teacher_steps, cfg.shift)
    for t, s in itertools.pairwise(levels):
        level = torch.full((2 * b, frames), t, device=device)
        x0, _ = teacher(x.repeat(2, 1, 1), level, audio2, emotion2, pos, noisy_mask, cache)
        c, u = x0.chunk(2)
        x = step_toward(x, u + cfg.guidance * (c - u), t, s)
    return x


def student_prediction(
    student: MotionDenoiser, batch: Batch, eps: torch.Tensor, past: torch.Tensor | None = None
) -> torch.Tensor:
    """The student's one step from ε (level 1) for every token given a clean past: the true one,
    or ``past`` [B, T, 40] (its own rollout)."""
    b, frames, _ = batch.motion.shape
    device = batch.motion.device
    pos, clean_mask, noisy_mask = _halves(frames, student, device)
    keep = torch.zeros(b, dtype=torch.bool, device=device)
    audio, emotion = conditioning(student, batch, keep, keep)
    history = batch.motion if past is None else past
    cache = _clean_cache(student, history, audio, emotion, pos, clean_mask)
    pred, _ = student(eps, torch.ones(b, frames, device=device), audio, emotion, pos, noisy_mask, cache)
    return pred


@torch.no_grad()
def student_rollout(student: MotionDenoiser, batch: Batch, gen: torch.Generator) -> torch.Tensor:
    """The student streaming over the window on its own past, as live: [B, T, 40] (normalised).

    Frame k's audio window is rows k .. k + window - 1 of ``batch.audio`` (each row its own L), its
    emotion the batch's label; the stream starts with an empty cache at the window's first frame.
    Noise comes from ``gen`` on the CPU and moves to the batch's device (the same draws anywhere)."""
    b, frames, _ = batch.motion.shape
    device = batch.motion.device
    cfg = student.cfg
    step = MotionStep(student, steps=1, shift=1.0, guidance=1.0).to(device)  # its tables: CPU-made
    shapes = step.state_shapes(b)
    state = {k: torch.zeros(shape, dtype=dtype, device=device) for k, (shape, dtype) in shapes.items()}
    out = []
    c = cfg.chunk
    for k in range(0, frames - c + 1, c):  # whole chunks; a partial last one keeps the truth
        result = step(
            batch.audio[:, k : k + c + cfg.audio_window - 1],
            batch.lookahead,
            batch.emotion[:, k : k + c],
            batch.intensity[:, k : k + c],
            torch.randn((b, c, cfg.motion_dim), generator=gen).to(device),
            *(state[name] for name in STATE),
        )
        out.append(result[0])
        state = dict(zip(STATE, result[1:], strict=True))
    rolled = torch.cat(out, 1)  # [B, T', 40]
    return torch.cat([rolled, batch.motion[:, rolled.shape[1] :]], 1)  # a partial last chunk: truth


def teacher_view(batch: Batch, lookahead: int) -> Batch:
    """``batch`` with every window's L raised to at least ``lookahead`` (the window already holds
    the audio: L only says how much of it is heard)."""
    if lookahead <= 0:
        return batch
    return replace(batch, lookahead=batch.lookahead.clamp(min=lookahead))


def distill_loss(
    teacher: MotionDenoiser,
    student: MotionDenoiser,
    batch: Batch,
    cfg: DistillConfig,
    gen: torch.Generator,
) -> torch.Tensor:
    """One distillation step's loss on the batch's device: the student's one step against the
    guided teacher's sample, plus the rollout lip loss when ``cfg.rollout_weight`` > 0. Noise is
    drawn from ``gen`` on the CPU and moved, so a step is the same draws on any device."""
    device = batch.motion.device
    weights = channel_weights().to(device)
    eps = torch.randn(batch.motion.shape, generator=gen).to(device)
    target = teacher_targets(teacher, teacher_view(batch, cfg.teacher_lookahead), eps, cfg)
    pred = student_prediction(student, batch, eps)
    loss = (((pred - target) ** 2) * weights).mean()
    if cfg.rollout_weight > 0:
        lips = mouth_mask().to(device) * weights  # the rollout loss: mouth and jaw only
        lips = lips / lips.mean()
        own = student_rollout(student, batch, gen)
        fresh = torch.randn(eps.shape, generator=gen).to(device)
        pred_own = student_prediction(student, batch, fresh, own)
        bilabial = torch.isin(batch.phones, BILABIAL_IDS.to(device))
        frame_w = torch.where(bilabial, cfg.rollout_bilabial_weight, 1.0)  # [B, T]
        err = ((pred_own - batch.motion) ** 2) * lips * frame_w[..., None]  # [B, T, 40]
        loss = loss + cfg.rollout_weight * err.mean()
    return loss


def student_init_state(earlier: MotionDenoiser, teacher_copy: MotionDenoiser) -> dict[str, torch.Tensor]:
    """The weights a student resumed from ``earlier`` starts with: all of ``earlier``'s but its
    phone recognizer, which is the teacher's (``teacher_copy``'s). Distillation never trains the
    recognizer (its posteriors are detached and there is no phone loss here), so an earlier
    student would otherwise keep the recognizer of the teacher *it* was distilled from: the
    shipped real-voice student kept one trained before per-stream normalisation, fed normalised
    audio it had never seen."""
    state = earlier.state_dict()
    for name, value in teacher_copy.state_dict().items():
        if name.startswith("audio.phones."):
            state[name] = value.clone()
    return state


def default_device() -> torch.device:
    """The first GPU where there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def distill(
    teacher_dir: Path,
    data: Corpora,
    out: Path,
    cfg: DistillConfig,
    progress: bool = True,
    device: torch.device | None = None,
) -> dict[str, Any]:
    """Distill ``teacher_dir/motion_teacher`` into ``out/motion_student`` (resumes from ``out``),
    on ``device`` (default: the first GPU, else the CPU); batches are sampled on the CPU."""
    device = device or default_device()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    loaded = load_weights(teacher_dir, TEACHER)
    teacher, norm = loaded.model, loaded.normalizer
    teacher.cfg.check_lookahead(cfg.teacher_lookahead, "teacher lookahead")
    student = copy.deepcopy(teacher).train().requires_grad_(True)
    if cfg.init_student is not None:  # an earlier student of the same shape: it already knows one step
        earlier = load_weights(Path(cfg.init_student), STUDENT).model
        if not earlier.cfg.same_network(teacher.cfg):
            raise WeightsError(
                f"{cfg.init_student}: the student's shape {earlier.cfg} differs from the teacher's"
            )
        student.load_state_dict(student_init_state(earlier, student), strict=True)
    teacher, student = teacher.to(device), student.to(device)  # before the optimiser sees the weights
    opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=0.0)
    loop = TrainingLoop(
        out,
        "distill motion",
        cfg.steps,
        checkpoint="distill_checkpoint.pt",
        log_name="distill_log.jsonl",
        progress=progress,
    )
    parts: dict[str, Stateful] = {"student": student, "opt": opt}
    loop.resume(parts, map_location=device)
    step = loop.step
    clips = load_split(data, "train", cfg.limit_clips)
    sampler = BatchSampler(
        teacher.cfg,
        norm,
        clips,
        cfg.frames,
        seed=cfg.seed + 7 * step,
        p_augment=0.75 if cfg.augment else 0.0,
        lookahead_p=lookahead_probabilities(cfg.lookahead_p, teacher.cfg.max_lookahead),
    )
    augmenter = (
        Augmenter(data, "train", clips, cfg.limit_clips, seed=cfg.seed + step).start()
        if cfg.augment
        else None
    )
    gen = torch.Generator().manual_seed(cfg.seed * 1009 + step)

    def distill_step(step: int) -> torch.Tensor:
        if augmenter:
            augmenter.collect()
        loss = distill_loss(teacher, student, sampler.batch(cfg.batch).to(device), cfg, gen)
        optimiser_step(opt, loss, student)
        return loss

    def export_and_checkpoint() -> dict[str, Any]:
        record = {"step": loop.step, "trained_s": round(loop.trained_s, 1), "loss": round(loop.loss, 5)}
        frozen = copy.deepcopy(student).eval().to("cpu")
        info = {"recipe": "xactor distill motion", "distill": asdict(cfg), "teacher": loaded.record}
        save_weights(
            out, STUDENT, frozen, norm, SamplerSettings(steps=1, guidance=1.0, shift=1.0), {**info, **record}
        )
        loop.save(parts)
        return record

    try:
        return loop.run(distill_step, log_every=10, every=[(cfg.ckpt_every, export_and_checkpoint)])
    finally:
        if augmenter:
            augmenter.stop()
