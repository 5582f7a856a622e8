"""``xactor train motion`` and ``xactor distill motion``: the generator's training recipe.

xactor train motion --data corpus/ --out runs/motion [--steps 10000] [--lookahead 1]
xactor distill motion --teacher runs/motion --data corpus/ --out runs/student
torchrun --nproc_per_node 2 -m xactor.cli.main train motion ...   (DDP: gloo on CPU, NCCL on GPUs)

Both resume when rerun with the same ``--out`` (checkpoint every few hundred steps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from xactor.cli.common import fail

train_app = typer.Typer(help="Train the learned stages (resumable).", no_args_is_help=True)
distill_app = typer.Typer(help="Distill a teacher into a few-step student (resumable).", no_args_is_help=True)


def probabilities(text: str, option: str) -> tuple[float, ...]:
    """``"0.5,0.5"`` -> (0.5, 0.5); a clear error for anything else."""
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise fail(f"{option}: comma-separated numbers expected, got {text!r}") from None


def check_corpora(folders: list[Path]) -> None:
    """Fail with one line unless every folder is a corpus."""
    for folder in folders:
        if not (folder / "manifest.json").is_file():
            raise fail(f"{folder}: not a corpus (no manifest.json); build one with xactor synth")


@train_app.command("motion")
def train_motion(
    data: Annotated[
        list[Path], typer.Option(help="Corpus folder (xactor synth); repeat to train on several.")
    ],
    out: Annotated[Path, typer.Option(help="Run folder: checkpoint, log, exported weights.")],
    steps: Annotated[int | None, typer.Option(min=1, help="Total optimiser steps.")] = None,
    batch: Annotated[int | None, typer.Option(min=1, help="Windows per step and rank.")] = None,
    lookahead: Annotated[
        int | None,
        typer.Option(min=0, help="Default L (future 40 ms audio frames; every L up to 3 is trained)."),
    ] = None,
    chunk: Annotated[int | None, typer.Option(min=1, help="C: frames per attention block.")] = None,
    seed: Annotated[int | None, typer.Option(help="Run seed.")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads (split across ranks).")] = None,
    limit_clips: Annotated[int | None, typer.Option(min=1, help="Smoke runs: clips per split.")] = None,
    frames: Annotated[int | None, typer.Option(min=8, help="Window length in frames.")] = None,
    val_every: Annotated[int | None, typer.Option(min=1, help="Validate/export every N steps.")] = None,
    no_augment: Annotated[bool, typer.Option("--no-augment", help="Train on clean audio only.")] = False,
    init_from: Annotated[
        Path | None, typer.Option(help="Fine-tune: start from another run's checkpoint.pt (fresh optimiser).")
    ] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    warmup: Annotated[int | None, typer.Option(min=0, help="Warm-up steps.")] = None,
    phone_weight: Annotated[
        float | None, typer.Option(help="Weight of the auxiliary phone-recognition loss (0: off).")
    ] = None,
    bilabial_weight: Annotated[
        float | None, typer.Option(help="Motion loss weight of /P B M/ frames.")
    ] = None,
    phones: Annotated[
        bool, typer.Option("--phones/--no-phones", help="The phonetic front end in the audio window.")
    ] = True,
    stream_norm: Annotated[
        float | None,
        typer.Option(min=0.0, help="Per-stream log-mel normalisation: seconds of speech averaged (0: off)."),
    ] = None,
) -> None:
    """Train the motion generator (diffusion forcing) into ``--out``; rerun to resume."""
    from xactor.training.motion.train import TrainConfig, config_with, train

    check_corpora(data)
    cfg = config_with(
        TrainConfig(),
        steps=steps,
        batch=batch,
        seed=seed,
        threads=threads,
        limit_clips=limit_clips,
        frames=frames,
        val_every=val_every,
        ckpt_every=val_every,
        augment=False if no_augment else None,
        model_lookahead=lookahead,
        model_chunk=chunk,
        model_phones=None if phones else 0,
        model_stream_norm_seconds=stream_norm,
    )
    from dataclasses import replace

    objective: dict[str, Any] = {"phone_weight": phone_weight, "bilabial_weight": bilabial_weight}
    cfg = replace(
        cfg, objective=replace(cfg.objective, **{k: v for k, v in objective.items() if v is not None})
    )
    cfg = config_with(cfg, lr=lr, warmup=warmup)
    if init_from is not None and not (init_from.is_file() or (init_from / "motion_teacher.json").is_file()):
        raise fail(f"{init_from}: neither a checkpoint.pt nor a folder with motion_teacher weights")
    record = train(data, out, cfg, init_from=init_from)
    typer.echo(f"done: {record}")


@distill_app.command("motion")
def distill_motion(
    teacher: Annotated[Path, typer.Option(help="Folder with motion_teacher.safetensors/.json.")],
    data: Annotated[
        list[Path], typer.Option(help="Corpus folder (xactor synth); repeat to distill on several.")
    ],
    out: Annotated[Path, typer.Option(help="Output folder: motion_student.* and the checkpoint.")],
    steps: Annotated[int | None, typer.Option(min=1, help="Distillation steps.")] = None,
    batch: Annotated[int | None, typer.Option(min=1, help="Windows per step.")] = None,
    frames: Annotated[int | None, typer.Option(min=8, help="Window length in frames.")] = None,
    teacher_steps: Annotated[int | None, typer.Option(min=1, help="Teacher sampler steps.")] = None,
    guidance: Annotated[float | None, typer.Option(help="Audio guidance folded into the student.")] = None,
    limit_clips: Annotated[int | None, typer.Option(min=1, help="Smoke runs: clips per split.")] = None,
    no_augment: Annotated[bool, typer.Option("--no-augment", help="Clean audio only.")] = False,
    rollout_weight: Annotated[
        float | None,
        typer.Option(min=0.0, help="Weight of the rollout lip loss (the student on its own past; 0: off)."),
    ] = None,
    rollout_bilabial_weight: Annotated[
        float | None, typer.Option(min=0.0, help="In the rollout loss, the weight of /P B M/ frames.")
    ] = None,
    init_student: Annotated[
        Path | None,
        typer.Option(help="Start from an earlier student (a folder with motion_student weights)."),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="CPU threads (1 on a busy machine: the rollout is many small steps)."),
    ] = None,
    lookahead_p: Annotated[
        str | None,
        typer.Option(
            help="Lookaheads to distill at: probabilities of L = 0, 1, ... per window, e.g. 0.5,0.5 "
            "(default: the weights' default L only)."
        ),
    ] = None,
    teacher_lookahead: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="The teacher's targets hear at least this many future frames whatever the student's L "
            "(1: a student at L = 0 learns to anticipate; default 0: the student's own L).",
        ),
    ] = None,
) -> None:
    """Distill the teacher into a 1-step student (guidance folded in); rerun to resume."""
    from dataclasses import replace

    from xactor.engines.motion_gen.config import LookaheadError
    from xactor.engines.motion_gen.weights import WeightsError
    from xactor.training.motion.distill import DistillConfig, distill

    chosen: dict[str, Any] = {
        "steps": steps,
        "batch": batch,
        "frames": frames,
        "teacher_steps": teacher_steps,
        "guidance": guidance,
        "limit_clips": limit_clips,
        "augment": False if no_augment else None,
        "rollout_weight": rollout_weight,
        "rollout_bilabial_weight": rollout_bilabial_weight,
        "init_student": None if init_student is None else str(init_student),
        "threads": threads,
        "lookahead_p": None if lookahead_p is None else probabilities(lookahead_p, "--lookahead-p"),
        "teacher_lookahead": teacher_lookahead,
    }
    cfg = replace(DistillConfig(), **{k: v for k, v in chosen.items() if v is not None})
    check_corpora(data)
    try:
        record = distill(teacher, data, out, cfg)
    except (WeightsError, LookaheadError) as e:
        raise fail(str(e)) from None
    typer.echo(f"done: {record}")


@train_app.command("calibrate")
def train_calibrate(
    weights: Annotated[Path, typer.Option(help="Folder with the generator weights to calibrate.")],
    data: Annotated[list[Path], typer.Option(help="Corpus folder (xactor synth); repeat for several.")],
    name: Annotated[
        str, typer.Option(help="Which weights: motion_student or motion_teacher.")
    ] = "motion_student",
    clips: Annotated[int, typer.Option(min=1, help="Training clips streamed.")] = 16,
    seconds: Annotated[float, typer.Option(min=1.0, help="Seconds streamed per clip.")] = 60.0,
    augmented: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of clips call-augmented.")] = 0.5,
    seed: Annotated[int, typer.Option(help="Which clips and augmentations.")] = 0,
    reach: Annotated[
        bool, typer.Option(help="Open vowels as far as the viseme targets, not the corpus's composed jaw.")
    ] = True,
    lookahead: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Stream at this L and keep its own map beside the default one (fitted at the weights' "
            "default L), for sessions that run at it.",
        ),
    ] = None,
) -> None:
    """Fit the articulation calibration (quantile maps onto the corpus's true lips) into the weights."""
    from xactor.engines.motion_gen.config import LookaheadError
    from xactor.engines.motion_gen.weights import WeightsError
    from xactor.training.motion.calibrate import calibrate

    check_corpora(data)
    try:
        cal = calibrate(
            weights,
            name,
            data,
            clips=clips,
            seconds=seconds,
            augmented=augmented,
            seed=seed,
            reach=reach,
            lookahead=lookahead,
        )
    except (WeightsError, LookaheadError) as e:
        raise fail(str(e)) from None
    jaw = cal.channels.index("jawOpen")
    typer.echo(
        f"{weights / name}.json: calibrated {len(cal.channels)} channels; jawOpen p90 "
        f"{cal.source[jaw, 18]:.3f} -> {cal.target[jaw, 18]:.3f}"
    )


@train_app.command("render")
def train_render(
    data: Annotated[Path, typer.Option(help="Render data folder (xactor synth render-data).")],
    out: Annotated[Path, typer.Option(help="Run folder: checkpoint, log, exported weights.")],
    steps: Annotated[int | None, typer.Option(min=1, help="Total optimiser steps.")] = None,
    batch: Annotated[int | None, typer.Option(min=1, help="Pairs per step and rank.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    seed: Annotated[int | None, typer.Option(help="Run seed.")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads (split across ranks).")] = None,
    val_every: Annotated[int | None, typer.Option(min=1, help="Validate/export every N steps.")] = None,
    limit_shards: Annotated[int | None, typer.Option(min=1, help="Smoke runs: shards per split.")] = None,
    widths: Annotated[
        str | None, typer.Option(help="Channel widths per level, comma-separated (default 32,64,96).")
    ] = None,
) -> None:
    """Train the diffusion renderer's denoiser (rectified flow on the residual over the warp
    prior) into ``--out``; rerun to resume."""
    from dataclasses import replace

    from xactor.training.render.data import read_manifest
    from xactor.training.render.train import RenderTrainConfig, train

    try:
        read_manifest(data)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from None
    overrides: dict[str, Any] = {"steps": steps, "batch": batch, "lr": lr, "seed": seed, "threads": threads}
    overrides |= {"val_every": val_every, "limit_shards": limit_shards}
    if val_every is not None:
        overrides["ckpt_every"] = val_every
    cfg = replace(RenderTrainConfig(), **{k: v for k, v in overrides.items() if v is not None})
    if widths is not None:
        cfg = replace(cfg, model=replace(cfg.model, widths=tuple(int(w) for w in widths.split(","))))
    record = train(data, out, cfg)
    typer.echo(f"trained {out}: {record}")


@distill_app.command("render")
def distill_render(
    teacher: Annotated[Path, typer.Option(help="Run folder with render_teacher (xactor train render).")],
    data: Annotated[Path, typer.Option(help="Render data folder (xactor synth render-data).")],
    out: Annotated[Path, typer.Option(help="Run folder for render_student.")],
    steps: Annotated[int | None, typer.Option(min=1, help="Total optimiser steps.")] = None,
    student_steps: Annotated[
        int | None, typer.Option(min=1, max=4, help="The student's sampling steps.")
    ] = None,
    teacher_steps: Annotated[int | None, typer.Option(min=1, help="The teacher's sampling steps.")] = None,
    batch: Annotated[int | None, typer.Option(min=1, help="Pairs per step and rank.")] = None,
    seed: Annotated[int | None, typer.Option(help="Run seed.")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads (split across ranks).")] = None,
    val_every: Annotated[int | None, typer.Option(min=1, help="Validate/export every N steps.")] = None,
    limit_shards: Annotated[int | None, typer.Option(min=1, help="Smoke runs: shards per split.")] = None,
) -> None:
    """Distill the renderer's teacher into a 1–2-step student; rerun to resume."""
    from dataclasses import replace

    from xactor.engines.diffusion.weights import RenderWeightsError
    from xactor.training.render.data import read_manifest
    from xactor.training.render.distill import RenderDistillConfig, distill

    try:
        read_manifest(data)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from None
    overrides: dict[str, Any] = {
        "steps": steps,
        "student_steps": student_steps,
        "teacher_steps": teacher_steps,
    }
    overrides |= {"batch": batch, "seed": seed, "threads": threads, "val_every": val_every}
    overrides |= {"limit_shards": limit_shards, "ckpt_every": val_every}
    cfg = replace(RenderDistillConfig(), **{k: v for k, v in overrides.items() if v is not None})
    try:
        record = distill(teacher, data, out, cfg)
    except RenderWeightsError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"distilled {out}: {record}")
