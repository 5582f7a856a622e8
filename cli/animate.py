"""``xactor animate``: a talking-portrait MP4 from a speech file (motion source → renderer → MP4).

    xactor animate --avatar ID --audio speech.wav --out out.mp4 [--emotion happy]
                   [--motion-source generator|heuristic] [--lookahead 1] [--seed 0]

The speech runs through the chosen motion source exactly as it would live (pushed and pulled,
then ``L`` frames of silence release the tail: :mod:`xactor.engines.offline.speech_motion`), so the file
shows what a live session would have shown; the renderer draws every frame and the speech is
muxed in. ``generator`` without usable weights falls back to ``heuristic`` (said on the console).
Heavy imports (torch, PyAV, MediaPipe) happen inside the command.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Annotated

import typer

from xactor.cli.common import DataDir, err, fail, open_renderer, settings


def animate(
    audio: Annotated[Path, typer.Option(help="Speech to act: any format FFmpeg reads.")],
    out: Annotated[Path, typer.Option(help="MP4 to write (video + the speech).")],
    avatar: Annotated[str, typer.Option(help="Avatar id, 'default', or a portrait to prepare.")] = "default",
    emotion: Annotated[
        str | None,
        typer.Option(help="neutral, happy, sad, angry or surprised (generator only; unset: from the voice)."),
    ] = None,
    intensity: Annotated[
        float, typer.Option("--emotion-intensity", min=0.0, max=1.0, help="Strength of --emotion.")
    ] = 1.0,
    motion_source: Annotated[
        str, typer.Option(help="Registered motion source: generator (learned) or heuristic.")
    ] = "generator",
    lookahead: Annotated[int, typer.Option(min=0, help="Future 40 ms audio frames a frame may use.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the motion's randomness (same seed, same video).")] = 0,
    weights_dir: Annotated[
        Path | None, typer.Option(help="Generator weights folder (default: settings, else the shipped ones).")
    ] = None,
    size: Annotated[int, typer.Option(help="Crop size: 256 or 512.")] = 256,
    full: Annotated[bool, typer.Option("--full", help="Paste frames back into the whole portrait.")] = False,
    batch: Annotated[int, typer.Option(min=1, help="Frames rendered per call.")] = 8,
    renderer_name: Annotated[str, typer.Option("--renderer", help="Registered renderer.")] = "warp",
    backend: Annotated[
        str, typer.Option(help="Backend: auto (each stage's fastest), torch, onnxruntime, tensorrt.")
    ] = "auto",
    motion_out: Annotated[
        Path | None,
        typer.Option(
            help="Also write the motion as JSON lines (one frame each, as the live server streams it)."
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Animate an avatar from a speech file: an H.264 MP4 with the speech."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from xactor.engines import timebase
    from xactor.engines.avatar.align import paste_back
    from xactor.engines.motion_source import MotionSourceOptions, create_motion_source
    from xactor.engines.offline.motion_file import write_motion_jsonl
    from xactor.engines.offline.speech_motion import frame_count, motion_from_audio
    from xactor.engines.offline.video import read_audio, render_video

    if not audio.is_file():
        raise fail(f"{audio}: no such file")
    try:
        options = MotionSourceOptions(
            lookahead_frames=lookahead,
            backend=backend,
            weights_dir=weights_dir or settings(data_dir).weights_dir,
            seed=seed,
            emotion=emotion,
            emotion_intensity=intensity,
        )
        source = create_motion_source(motion_source, options)
    except ValueError as exc:  # unknown names, an emotion or lookahead the source cannot take
        raise fail(str(exc)) from None
    try:
        speech = read_audio(audio, rate=timebase.SAMPLE_RATE).mean(axis=0)  # [2, N] -> [N] mono
        sound = read_audio(audio)  # [2, N'] at 48 kHz for the MP4
    except Exception as exc:  # PyAV raises its own FFmpegError family for unreadable files
        raise fail(f"cannot read audio {audio}: {exc}") from None
    if speech.size < timebase.SAMPLES_PER_FRAME:
        raise fail(f"{audio}: no audio (shorter than one 40 ms frame)")
    bundle, renderer = open_renderer(avatar, renderer_name, size, backend, data_dir)

    info = source.describe()
    if "fallback" in info:
        err.print(f"[yellow]motion: {info['name']} (fallback: {info['fallback']})[/]", highlight=False)
    paste = (
        functools.partial(paste_back, original=bundle.source(), transform=bundle.crop_to_source(size))
        if full
        else None
    )
    frames = frame_count(speech.size)
    start = time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        moving = progress.add_task(f"motion ({info['name']})", total=frames)
        motion, _ = motion_from_audio(source, speech, lambda n: progress.advance(moving, n))
        if motion_out is not None:
            write_motion_jsonl(motion_out, motion)
        drawing = progress.add_task(f"render ({renderer_name})", total=frames)
        count = render_video(
            out,
            renderer,
            motion,
            fps=timebase.FPS,
            audio=sound,
            batch=batch,
            paste=paste,
            on_frames=lambda n: progress.advance(drawing, n),
        )
    took = time.perf_counter() - start
    weights = f", {Path(info['weights']).name}" if "weights" in info else ""
    typer.echo(
        f"wrote {out}: {count} frames ({count / timebase.FPS:.2f} s), motion {info['name']}{weights}, "
        f"in {took:.1f} s"
    )
