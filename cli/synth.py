"""``xactor synth``: build the synthetic audio–motion corpus, report on it, watch a clip.

xactor synth --hours 5 --out corpus/ --workers 2 [--seed 0]   (resumes when run again)
xactor synth stats corpus/
xactor synth preview CLIP --corpus corpus/ --avatar default --out clip.mp4
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from xactor.cli.common import DataDir, fail

synth_app = typer.Typer(
    help="Synthetic audio-motion corpus: build (resumable), stats, preview.", invoke_without_command=True
)


@synth_app.callback()
def build(
    ctx: typer.Context,
    hours: Annotated[float, typer.Option(min=0.001, help="Hours of speech to make.")] = 5.0,
    out: Annotated[Path | None, typer.Option(help="Corpus folder (created; resumed if it exists).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (one engine each).")] = 2,
    seed: Annotated[int, typer.Option(help="Corpus seed: the same seed gives the same bytes.")] = 0,
    clip_min: Annotated[float, typer.Option(help="Shortest clip, seconds.")] = 60.0,
    clip_max: Annotated[float, typer.Option(help="Longest clip, seconds.")] = 300.0,
    engines: Annotated[
        str,
        typer.Option(
            help="Comma-separated: espeak-ng,flite,festival (default), piper (neural; training only)."
        ),
    ] = "espeak-ng,flite,festival",
) -> None:
    """Build a corpus of ``--hours`` into ``--out`` (run again with the same options to resume)."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise typer.BadParameter("give --out DIR (or a subcommand: stats, preview)")
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from xactor.training.corpus.synth.clip import build_shard
    from xactor.training.corpus.synth.run import (
        SynthConfig,
        available_voices,
        pending_shards,
        plan_clips,
        run_build,
    )

    config = SynthConfig(
        hours=hours,
        seed=seed,
        clip_seconds=(clip_min, clip_max),
        engines=tuple(e.strip() for e in engines.split(",") if e.strip()),
    )
    voices = available_voices(config.engines)
    if not voices:
        raise fail("no text-to-speech engine is installed (espeak-ng, flite, festival)")
    try:
        plans = plan_clips(config, voices)
    except ValueError as exc:
        raise fail(str(exc)) from None
    todo = pending_shards(out, plans, config)
    total = -(-len(plans) // config.shard_clips)
    start = time.perf_counter()
    with Progress(
        TextColumn("[bold]synth"), BarColumn(), TextColumn("{task.completed}/{task.total} shards"),
        TimeElapsedColumn(), TimeRemainingColumn(),
    ) as progress:  # fmt: skip
        task = progress.add_task("shards", total=total, completed=total - len(todo))
        manifest = run_build(
            out, config, plans, build_shard, workers=workers, on_shard=lambda i, n: progress.advance(task)
        )
    took = time.perf_counter() - start
    made = sum(p.seconds for i, s in todo for p in s)
    typer.echo(
        f"{out}: {json.dumps(manifest['totals'])}; {len(voices)} voices; "
        f"{made / 3600:.3f} h made in {took / 60:.1f} min ({made / max(took, 1e-9):.1f}x real time)"
    )


@synth_app.command("stats")
def stats(corpus: Annotated[Path, typer.Argument(help="Corpus folder.")]) -> None:
    """Hours, voices, phoneme counts and emotion balance of a corpus."""
    from rich.console import Console
    from rich.table import Table

    from xactor.training.corpus.store.stats import corpus_stats

    try:
        s = corpus_stats(corpus)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from None
    console = Console()
    console.print(
        f"hours {s['hours']} (total {s['hours_total']}), clips {s['clips']}, voices {s['voices_total']}"
    )
    for split, names in s["voices"].items():
        console.print(f"  {split} voices ({len(names)}): {', '.join(names)}")
    table = Table(title="phoneme counts")
    table.add_column("phoneme")
    table.add_column("count", justify="right")
    for phone, count in sorted(s["phonemes"].items(), key=lambda kv: kv[1]):
        table.add_row(phone, str(count))
    console.print(table)
    console.print(f"emotion share of frames: {s['emotion_share']}; speech share: {s['speech_share']}")


@synth_app.command("preview")
def preview(
    clip: Annotated[str, typer.Argument(help="Clip id (see the manifest).")],
    corpus: Annotated[Path, typer.Option(help="Corpus folder.")],
    out: Annotated[Path, typer.Option(help="MP4 to write.")],
    avatar: Annotated[str, typer.Option(help="Avatar id or 'default'.")] = "default",
    seconds: Annotated[float | None, typer.Option(help="Only the first seconds.")] = None,
    size: Annotated[int, typer.Option(help="Crop size: 256 or 512.")] = 256,
    data_dir: DataDir = None,
) -> None:
    """Render a clip's motion on an avatar with its audio, to watch the lips against the speech."""
    from xactor.cli.common import avatar_store, settings
    from xactor.engines.avatar.errors import AvatarError
    from xactor.engines.render import RendererOptions, create_renderer
    from xactor.training.corpus.store.preview import preview_clip

    try:
        bundle = avatar_store(data_dir).get(avatar)
        renderer = create_renderer(
            "warp", bundle, RendererOptions(size=size, weights_dir=settings(data_dir).weights_dir)
        )
        frames = preview_clip(corpus, clip, renderer, out, seconds)
    except (AvatarError, KeyError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"wrote {out}: {frames} frames")


@synth_app.command("faces")
def faces(
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path("faces.png"),
    count: Annotated[int, typer.Option(min=1, max=64, help="Identities (rows).")] = 6,
    seed: Annotated[int, typer.Option(help="First identity's seed (rows are seed, seed+1, ...).")] = 0,
    size: Annotated[int, typer.Option(help="Frame size in pixels.")] = 256,
) -> None:
    """A contact sheet of procedural identities (the diffusion renderer's training faces): one row
    per identity, columns rest, open, smile turned, pucker, blink with gaze, surprise tilted."""
    from PIL import Image

    from xactor.engines.procedural.sheet import SHEET_MOTIONS, contact_sheet

    if size not in (128, 256, 512):
        raise fail("--size must be 128, 256 or 512")
    sheet = contact_sheet(list(range(seed, seed + count)), size)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(out)
    typer.echo(f"wrote {out}: {count} identities × {', '.join(SHEET_MOTIONS)}")


@synth_app.command("render-data")
def render_data(
    out: Annotated[Path, typer.Option(help="Folder to write (resumable: rerun to continue).")],
    corpus: Annotated[
        Path | None,
        typer.Option(help="Motion corpus (xactor synth) for real speech motion; else random motion."),
    ] = None,
    size: Annotated[int, typer.Option(help="Frame size: 128 or 256.")] = 128,
    train_identities: Annotated[int, typer.Option(min=1, help="Training identities.")] = 192,
    val_identities: Annotated[int, typer.Option(min=1, help="Validation identities.")] = 8,
    test_identities: Annotated[int, typer.Option(min=1, help="Held-out test identities.")] = 16,
    per_identity: Annotated[int, typer.Option(min=1, help="Motions (pairs) per identity.")] = 48,
    workers: Annotated[int, typer.Option(min=1, help="Processes.")] = 2,
    seed: Annotated[int, typer.Option(help="Motion sampling seed.")] = 0,
) -> None:
    """Pairs for the diffusion renderer: procedural identities, the warp renderer's frame for a
    motion (the prior) and the exact frame (the target), split by identity."""
    from xactor.training.render.data import RenderDataConfig, build

    if size not in (128, 256):
        raise fail("--size must be 128 or 256")
    if corpus is not None and not (corpus / "manifest.json").is_file():
        raise fail(f"{corpus}: not a corpus (no manifest.json); build one with xactor synth")
    counts = {"train": train_identities, "val": val_identities, "test": test_identities}
    cfg = RenderDataConfig(size=size, identities=counts, per_identity=per_identity, seed=seed,
                           corpus=None if corpus is None else str(corpus))  # fmt: skip
    manifest = build(cfg, out, workers)
    shards = {split: len(names) for split, names in manifest["shards"].items()}
    typer.echo(f"wrote {out}: shards {shards}, {per_identity} pairs per identity")
