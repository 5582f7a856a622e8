"""``xactor render``: offline video (or a contact sheet) of an avatar driven by a motion file.

    xactor render --avatar ID (--motion FILE | --demo) --out out.mp4 [--audio speech.wav]
    xactor render --avatar ID --contact-sheet sheet.png
    xactor render ... --renderer NAME --backend auto|torch|onnxruntime|tensorrt

``--avatar`` takes an avatar id, ``default``, or the path of a portrait (prepared and stored on
the fly). The renderer is built by name through the registry, so every registered renderer can be
looked at the same way. Heavy imports (torch, MediaPipe, PyAV) happen inside the command.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import Annotated

import typer

from xactor.cli.common import DataDir, fail, open_renderer

log = logging.getLogger(__name__)


def render(
    avatar: Annotated[str, typer.Option(help="Avatar id, 'default', or a portrait to prepare.")] = "default",
    motion: Annotated[Path | None, typer.Option(help="Motion file: .npy/.npz [T, 40] or .csv.")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Scripted demo motion instead of a file.")] = False,
    seconds: Annotated[float, typer.Option(help="Length of the demo motion.")] = 8.0,
    out: Annotated[Path | None, typer.Option(help="MP4 to write.")] = None,
    audio: Annotated[Path | None, typer.Option(help="Speech to mux into the video (any format).")] = None,
    size: Annotated[int, typer.Option(help="Crop size: 256 or 512.")] = 256,
    full: Annotated[bool, typer.Option("--full", help="Paste frames back into the whole portrait.")] = False,
    batch: Annotated[int, typer.Option(min=1, help="Frames rendered per call.")] = 8,
    fps: Annotated[int, typer.Option(min=1, help="Frames per second of the motion.")] = 25,
    contact_sheet: Annotated[
        Path | None, typer.Option("--contact-sheet", help="Write a PNG grid of test poses.")
    ] = None,
    tile: Annotated[int | None, typer.Option(help="Contact-sheet tile side (default: crop size).")] = None,
    renderer_name: Annotated[
        str, typer.Option("--renderer", help="Registered renderer to draw with (e.g. warp).")
    ] = "warp",
    backend: Annotated[
        str, typer.Option(help="Backend: auto (the renderer's fastest), torch, onnxruntime, tensorrt.")
    ] = "auto",
    data_dir: DataDir = None,
) -> None:
    """Render an avatar offline: an H.264 MP4 (with audio), or a contact sheet."""

    if contact_sheet is None and out is None:
        raise typer.BadParameter("give --out for a video or --contact-sheet for a PNG")
    if out is not None and (motion is None) == (not demo):
        raise typer.BadParameter("give exactly one of --motion FILE and --demo")
    bundle, renderer = open_renderer(avatar, renderer_name, size, backend, data_dir)

    if contact_sheet is not None:
        from xactor.engines.offline.contact_sheet import contact_sheet as make_sheet

        contact_sheet.parent.mkdir(parents=True, exist_ok=True)
        make_sheet(renderer, tile=tile).save(contact_sheet)
        typer.echo(f"wrote {contact_sheet}")
    if out is None:
        return

    from xactor.engines.avatar.align import paste_back
    from xactor.engines.offline.demo import demo_motion
    from xactor.engines.offline.motion_file import load_motion
    from xactor.engines.offline.video import read_audio, render_video

    try:
        frames = demo_motion(seconds, fps) if motion is None else load_motion(motion)
        sound = read_audio(audio) if audio is not None else None
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from None
    paste = (
        functools.partial(paste_back, original=bundle.source(), transform=bundle.crop_to_source(size))
        if full
        else None
    )
    start = time.perf_counter()
    count = render_video(out, renderer, frames, fps=fps, audio=sound, batch=batch, paste=paste)
    took = time.perf_counter() - start
    typer.echo(f"wrote {out}: {count} frames ({count / fps:.1f} s) in {took:.1f} s")
