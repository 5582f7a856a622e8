"""Renderer weights on disk: ``<name>.safetensors`` (tensors) + ``<name>.json`` (model config,
sampler steps, recipe and training record). A corrupt or mismatched file is a clear error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from xactor.engines.diffusion.model import RenderDenoiser, RenderModelConfig

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "render"
TEACHER, STUDENT = "render_teacher", "render_student"


class RenderWeightsError(ValueError):
    """Weights that are missing, corrupt or do not fit the model they describe."""


def save_render_weights(
    folder: Path, name: str, model: RenderDenoiser, steps: int, info: dict[str, Any]
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = folder / f"{name}.safetensors.tmp"
    save_file(tensors, str(tmp))
    tmp.replace(folder / f"{name}.safetensors")
    meta = {"model": model.cfg.to_dict(), "steps": steps, **info}
    (folder / f"{name}.json").write_text(json.dumps(meta, indent=1, default=str))


def load_render_weights(folder: Path, name: str) -> tuple[RenderDenoiser, int, dict[str, Any]]:
    """(model in eval mode, sampler steps, metadata)."""
    tensors, meta_path = folder / f"{name}.safetensors", folder / f"{name}.json"
    for path in (tensors, meta_path):
        if not path.is_file():
            raise RenderWeightsError(f"{path}: missing")
    try:
        meta = json.loads(meta_path.read_text())
        model = RenderDenoiser(RenderModelConfig.from_dict(meta["model"]))
        model.load_state_dict(load_file(str(tensors)))
    except Exception as exc:  # corrupt JSON, truncated tensors, other shapes
        raise RenderWeightsError(f"{tensors}: cannot be loaded ({exc})") from exc
    return model.eval(), int(meta.get("steps", 1)), meta
