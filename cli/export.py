"""``xactor export ...``: write ONNX graphs of the engines, each checked against torch right away.

The export functions themselves live in ``export/`` (library code, no settings, no CLI); this
module only finds the avatar and the torch module to hand them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from xactor.cli.common import DataDir, avatar_store, fail

export_app = typer.Typer(
    help="Export engines to ONNX (each checked against torch in ONNX Runtime right after export).",
    no_args_is_help=True,
)


@export_app.command("face-model")
def face_model(
    out: Annotated[Path, typer.Option("--out", help="Where to write the ONNX file.")] = Path(
        "out/face_model.onnx"
    ),
    avatar: Annotated[
        str | None, typer.Option(help="Bake in this avatar's face and placement (default: generic face).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Forward face model: input ``motion`` [B, 40] → output ``landmarks`` [B, 478, 3], dynamic B."""
    from xactor.engines.avatar.errors import AvatarError
    from xactor.engines.face_model import FaceModel
    from xactor.export.onnx_face_model import export_face_model

    if avatar is None:
        model = FaceModel()
    else:
        try:
            bundle = avatar_store(data_dir).get(avatar)
        except AvatarError as exc:
            raise fail(exc.message) from None
        model = FaceModel(bundle.canonical_shape, bundle.placement(256))
    out.parent.mkdir(parents=True, exist_ok=True)
    error = export_face_model(model, out)
    typer.echo(f"wrote {out} (max relative error vs torch {error:.1e})")


@export_app.command("warp")
def warp(
    out: Annotated[Path, typer.Option("--out", help="Where to write the ONNX file.")] = Path(
        "out/warp_256_b1.onnx"
    ),
    avatar: Annotated[str, typer.Option(help="Avatar id (or 'default') to bake in.")] = "default",
    size: Annotated[int, typer.Option(help="Crop size: 256 or 512.")] = 256,
    batch: Annotated[int, typer.Option(min=1, help="Frames per call (static).")] = 1,
    data_dir: DataDir = None,
) -> None:
    """Warp renderer of one avatar: input ``motion`` [B, 40] → output ``frames`` [B, 3, S, S], static B, S."""
    from xactor.engines.avatar.errors import AvatarError
    from xactor.engines.onnx_io import manifest
    from xactor.engines.render import RendererOptions, create_renderer
    from xactor.engines.warp import AvatarRenderer
    from xactor.export.onnx_warp import export_warp

    try:
        bundle = avatar_store(data_dir).get(avatar)
    except AvatarError as exc:
        raise fail(exc.message) from None
    if size not in bundle.sizes:
        raise fail(f"--size must be one of {bundle.sizes}")
    renderer = create_renderer("warp", bundle, RendererOptions(size=size, backend="torch"))
    if not isinstance(renderer, AvatarRenderer):  # the export needs the torch module itself
        raise fail(f"the 'warp' renderer is a {type(renderer).__name__}, not the torch AvatarRenderer")
    out.parent.mkdir(parents=True, exist_ok=True)
    error = export_warp(renderer.module, out, batch=batch)
    sources = tuple(p for p in sorted(bundle.path.iterdir()) if p.is_file())
    _write_manifest(out, manifest(out, "warp_renderer", sources, error))


@export_app.command("motion")
def motion(
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the ONNX file (+ .json manifest).")
    ] = Path("out/motion_step.onnx"),
    weights_dir: Annotated[
        Path | None, typer.Option(help="Generator weights folder (default: the shipped ones).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="motion_student or motion_teacher (default: the student when present).")
    ] = None,
) -> None:
    """The generator's streaming step: audio window, emotion, noise and the session state (KV cache,
    last chunk) in; the chunk's motion and the advanced state out; dynamic batch (sessions)."""
    from xactor.engines.motion_gen.onnx_step import step_module
    from xactor.engines.motion_gen.weights import SHIPPED_DIR, WeightsError, load_weights
    from xactor.engines.motion_source.generator import weights_name
    from xactor.engines.onnx_io import manifest
    from xactor.export.onnx_motion import export_motion_step

    folder = weights_dir or SHIPPED_DIR
    chosen = name or weights_name(folder)
    try:
        weights = load_weights(folder, chosen)
    except WeightsError as exc:
        raise fail(str(exc)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    error = export_motion_step(weights, out)
    files = (folder / f"{chosen}.safetensors", folder / f"{chosen}.json")
    branches = step_module(weights).branches
    _write_manifest(out, manifest(out, "motion_step", files, error, axes={"batch": 1, "rows": branches}))


def _write_manifest(out: Path, info: dict[str, Any]) -> None:
    """The manifest beside the graph (``X.onnx`` → ``X.json``), for ``xactor build-engine``."""
    out.with_suffix(".json").write_text(json.dumps(info, indent=1))
    error = info["max_rel_error_vs_torch"]
    typer.echo(f"wrote {out} and {out.with_suffix('.json').name} (max relative error vs torch {error:.1e})")


def build_engine(
    onnx_file: Annotated[
        Path, typer.Argument(help="A graph from `xactor export` (its .json manifest beside it).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for plans and the timing cache.")] = Path(
        "out/plans"
    ),
    precision: Annotated[str, typer.Option(help="fp16 or fp32.")] = "fp16",
    min_batch: Annotated[int, typer.Option(min=1, help="Smallest batch (sessions) the plan serves.")] = 1,
    opt_batch: Annotated[int, typer.Option(min=1, help="Batch the plan is tuned for.")] = 4,
    max_batch: Annotated[int, typer.Option(min=1, help="Largest batch the plan serves.")] = 16,
) -> None:
    """Build a TensorRT plan from an exported graph: fp16 or fp32, one optimisation profile over
    the batch sizes, a timing cache; named by the graph's hash, GPU architecture and TensorRT
    version (a new GPU or TensorRT builds a new plan). Needs tensorrt and a CUDA GPU."""
    from xactor.engines.onnx_io import sha256
    from xactor.engines.tensorrt_engine import BatchProfile, build_plan, unavailable_reason

    manifest_file = onnx_file.with_suffix(".json")
    if not onnx_file.is_file() or not manifest_file.is_file():
        raise fail(f"{onnx_file}: need the graph and its manifest {manifest_file.name} (run `xactor export`)")
    try:
        profile = BatchProfile(min_batch, opt_batch, max_batch)
        info = json.loads(manifest_file.read_text())
        if info.get("sha256") and info["sha256"] != sha256(onnx_file):
            raise ValueError(f"{onnx_file} does not match its manifest (exported again since?)")
    except (ValueError, KeyError) as exc:
        raise fail(str(exc)) from None
    if precision not in ("fp16", "fp32"):
        raise fail(f"--precision must be fp16 or fp32, not {precision!r}")
    reason = unavailable_reason()
    if reason:
        raise fail(f"cannot build a TensorRT plan here: {reason}")
    try:
        plan = build_plan(onnx_file, info, out, precision, profile)
    except RuntimeError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"wrote {plan}")


@export_app.command("render")
def render(
    out: Annotated[Path, typer.Option("--out", help="Folder for the two graphs and their manifests.")] = Path(
        "out/render"
    ),
    weights_dir: Annotated[
        Path | None, typer.Option(help="Folder with the renderer's weights (default: the shipped ones).")
    ] = None,
    name: Annotated[str, typer.Option(help="render_student or render_teacher.")] = "render_student",
) -> None:
    """The diffusion renderer's denoiser: the reference encoder (once per avatar) and one denoising
    step, dynamic batch, at the weights' frame size."""
    from xactor.engines.diffusion.weights import SHIPPED_DIR, RenderWeightsError, load_render_weights
    from xactor.engines.onnx_io import manifest
    from xactor.export.onnx_render import export_render

    folder = weights_dir or SHIPPED_DIR
    try:
        model, _, meta = load_render_weights(folder, name)
    except RenderWeightsError as exc:
        raise fail(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    errors = export_render(model, int(meta.get("size", 128)), out)
    sources = (folder / f"{name}.safetensors", folder / f"{name}.json")
    for graph, error in errors.items():
        stage = "render_reference" if "reference" in graph else "render_step"
        _write_manifest(out / graph, manifest(out / graph, stage, sources, error, axes={"batch": 1}))
