"""``xactor render``: offline video (or a contact sheet) of an avatar driven by a motion file.

    xactor render --avatar ID (--motion FILE | --demo) --out out.mp4 [--audio speech.wav]
    xactor render --avatar ID --contact-sheet sheet.png

``--avatar`` takes an avatar id, ``default``, or the path of a portrait (prepared and stored on
the fly). Heavy imports (torch, MediaPipe, PyAV) happen inside the command.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from engines.avatar.bundle import AvatarBundle

log = logging.getLogger(__name__)


def _bundle(avatar: str, data_dir: Path | None) -> AvatarBundle:
    from engines.avatar.store import AvatarStore
    from server.settings import get_settings

    settings = get_settings()
    store = AvatarStore(
        (data_dir or settings.data_dir) / "avatars",
        max_image_pixels=settings.max_image_pixels,
        min_face_px=settings.min_face_px,
    )
    path = Path(avatar)
    if path.suffix and path.is_file():
        return store.add(path.read_bytes(), name=path.stem, largest=True)
    return store.get(avatar)


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
    data_dir: Annotated[Path | None, typer.Option(help="Data directory (default: settings).")] = None,
) -> None:
    """Render an avatar offline: an H.264 MP4 (with audio), or a contact sheet."""
    from engines.warp.renderer import AvatarRenderer

    if contact_sheet is None and out is None:
        raise typer.BadParameter("give --out for a video or --contact-sheet for a PNG")
    if contact_sheet is None and (motion is None) == (not demo):
        raise typer.BadParameter("give exactly one of --motion FILE and --demo")
    bundle = _bundle(avatar, data_dir)
    renderer = AvatarRenderer.from_bundle(bundle, size=size)
    if contact_sheet is not None:
        from engines.warp.contact_sheet import contact_sheet as make_sheet

        contact_sheet.parent.mkdir(parents=True, exist_ok=True)
        make_sheet(renderer, tile=tile).save(contact_sheet)
        typer.echo(f"wrote {contact_sheet}")
        if out is None:
            return

    from engines.warp.demo import demo_motion
    from engines.warp.motion_file import load_motion
    from engines.warp.video import Mp4Writer, read_audio

    frames = demo_motion(seconds, fps) if demo else load_motion(motion)  # type: ignore[arg-type]
    height, width = bundle.source().shape[:2] if full else (size, size)
    width, height = width - width % 2, height - height % 2
    assert out is not None
    start = time.perf_counter()
    with Mp4Writer(out, (width, height), fps, read_audio(audio) if audio else None) as writer:
        for i in range(0, len(frames), batch):
            images = renderer.render(frames[i : i + batch])
            if full:
                images = renderer.paste_back(images)
            for image in images:
                writer.write(image[:height, :width])
    took = time.perf_counter() - start
    typer.echo(f"wrote {out}: {len(frames)} frames ({len(frames) / fps:.1f} s) in {took:.1f} s")
