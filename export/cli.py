"""``xactor export ...``: write ONNX graphs of the engines."""

from __future__ import annotations

from pathlib import Path

import typer

export_app = typer.Typer(help="Export engines to ONNX (each checked against torch right after export).")


@export_app.command("face-model")
def face_model(
    out: Path = typer.Option(Path("out/face_model.onnx"), "--out", help="Where to write the ONNX file."),
    avatar: str | None = typer.Option(None, help="Bake in this avatar (default: generic face)."),
) -> None:
    """Forward face model: input ``motion`` [B, 40] → output ``landmarks`` [B, 478, 3]."""
    from engines.face_model import FaceModel
    from export.onnx_face_model import export_face_model

    if avatar is None:
        model = FaceModel()
    else:
        from engines.avatar.store import AvatarStore
        from server.settings import get_settings

        bundle = AvatarStore(get_settings().data_dir / "avatars").get(avatar)
        model = FaceModel(bundle.canonical_shape, bundle.placement(256))
    error = export_face_model(model, out)
    typer.echo(f"wrote {out} (max relative error vs torch {error:.1e})")


@export_app.command("warp")
def warp(
    out: Path = typer.Option(Path("out/warp_256_b1.onnx"), "--out", help="Where to write the ONNX file."),
    avatar: str = typer.Option("default", help="Avatar id to bake in."),
    size: int = typer.Option(256, help="Crop size: 256 or 512."),
    batch: int = typer.Option(1, min=1, help="Frames per call (static)."),
) -> None:
    """Warp renderer of one avatar: input ``motion`` [B, 40] → output ``frames`` [B, 3, S, S]."""
    from engines.avatar.store import AvatarStore
    from engines.warp import AvatarRenderer
    from export.onnx_warp import export_warp
    from server.settings import get_settings

    bundle = AvatarStore(get_settings().data_dir / "avatars").get(avatar)
    renderer = AvatarRenderer.from_bundle(bundle, size=size)
    error = export_warp(renderer.module, out, batch=batch)
    typer.echo(f"wrote {out} (max relative error vs torch {error:.1e})")
