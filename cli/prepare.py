"""``xactor prepare VIDEOS_DIR --out DIR``: real talking-head videos into both stages' training data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xactor.cli.common import fail


def prepare(
    videos: Annotated[
        Path, typer.Argument(help="Folder of videos (searched recursively: mp4, mov, mkv, webm, avi).")
    ],
    out: Annotated[Path, typer.Option(help="Output: motion/ (corpus format), render/ (pair format).")],
    size: Annotated[int, typer.Option(help="Crop size of the render pairs: 128 or 256.")] = 256,
    split: Annotated[
        str | None, typer.Option(help="Put every video in this split (default: by name; docs/training.md).")
    ] = None,
) -> None:
    """Track the face in every video (MediaPipe), fit its motion with the face model, and write the
    motion corpus (train the generator on it) and render pairs (train the diffusion renderer);
    rerun to continue."""
    from xactor.training.prepare.video import prepare as run

    if size not in (128, 256):
        raise fail("--size must be 128 or 256")
    if split not in (None, "train", "val", "test"):
        raise fail("--split must be train, val or test")
    if not videos.is_dir():
        raise fail(f"{videos}: not a folder")
    try:
        summary = run(videos, out, size, split)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from None
    for name, info in summary["videos"].items():
        typer.echo(f"{name}: {info}")
    typer.echo(f"wrote {out / 'motion'} and {out / 'render'}")
