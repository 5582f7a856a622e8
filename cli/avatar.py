"""``xactor avatar ...``: prepare avatars from portraits and look at them.

The id of a new avatar goes to stdout (``ID=$(xactor avatar add photo.jpg)``); everything meant
for people goes to stderr. Heavy imports (MediaPipe, torch) happen inside the commands.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from xactor.cli.common import DataDir, avatar_store, err, fail

avatar_app = typer.Typer(help="Prepare avatars from portraits and inspect them.", no_args_is_help=True)
out = Console()


@avatar_app.command("add")
def add(
    path: Annotated[Path, typer.Argument(help="Portrait: JPEG, PNG or WebP.")],
    name: Annotated[str | None, typer.Option(help="Display name (default: the file name).")] = None,
    largest: Annotated[bool, typer.Option(help="Use the largest face when there are several.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Prepare an avatar from a portrait and print its id."""
    from xactor.engines.avatar.errors import AvatarError
    from xactor.engines.avatar.store import name_from_filename

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or exc}") from None
    store = avatar_store(data_dir)
    try:
        bundle, created = store.add_or_get(data, name=name or name_from_filename(path.name), largest=largest)
    except AvatarError as exc:
        raise fail(exc.message) from None
    verb = "added" if created else "already present:"
    err.print(f"{verb} [bold]{bundle.name}[/] ({bundle.path})", highlight=False)
    out.print(bundle.id, highlight=False)


@avatar_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    data_dir: DataDir = None,
) -> None:
    """List prepared avatars (the default one is prepared on first use)."""
    bundles = avatar_store(data_dir).list()
    if as_json:
        out.print_json(json.dumps([b.meta.model_dump(mode="json") for b in bundles]))
        return
    table = Table(title=f"{len(bundles)} avatar(s)")
    table.add_column("id", no_wrap=True, min_width=16)
    table.add_column("name", min_width=18)
    table.add_column("picture", no_wrap=True)
    table.add_column("face", justify="right")
    table.add_column("yaw pitch roll", justify="right", no_wrap=True)
    for b in bundles:
        m = b.meta
        pose = " ".join(f"{math.degrees(v):+.0f}°" for v in (m.pose.yaw, m.pose.pitch, m.pose.roll))
        table.add_row(
            m.id,
            m.name + (" (default)" if m.is_default else ""),
            f"{m.source_width}x{m.source_height}",
            f"{m.face_box.x1 - m.face_box.x0:.0f}px",
            pose,
        )
    out.print(table)


@avatar_app.command("show")
def show(
    avatar_id: Annotated[str, typer.Argument(metavar="ID", help="Avatar id, or 'default'.")],
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Write the preview (mesh drawn on the crop) here.")
    ] = None,
    size: Annotated[int, typer.Option(help="Crop size to preview.")] = 512,
    data_dir: DataDir = None,
) -> None:
    """Print an avatar's metadata; with --out, write a PNG preview of its face mesh."""
    from xactor.engines.avatar.errors import AvatarError
    from xactor.engines.avatar.preview import preview_png

    try:
        bundle = avatar_store(data_dir).get(avatar_id)
    except AvatarError as exc:
        raise fail(exc.message) from None
    out.print_json(bundle.meta.model_dump_json())
    if out_path is not None:
        if size not in bundle.sizes:
            raise fail(f"size must be one of {bundle.sizes}")
        try:
            out_path.write_bytes(preview_png(bundle, size))
        except OSError as exc:
            raise fail(f"cannot write {out_path}: {exc.strerror or exc}") from None
        err.print(f"preview written to {out_path}", highlight=False)


@avatar_app.command("delete")
def delete(
    avatar_id: Annotated[str, typer.Argument(metavar="ID", help="Avatar id.")],
    data_dir: DataDir = None,
) -> None:
    """Delete an avatar's bundle."""
    from xactor.engines.avatar.errors import AvatarError

    try:
        avatar_store(data_dir).delete(avatar_id)
    except AvatarError as exc:
        raise fail(exc.message) from None
    err.print(f"deleted {avatar_id}", highlight=False)
