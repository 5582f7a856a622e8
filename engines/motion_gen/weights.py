"""Generator weights on disk: ``<name>.safetensors`` (tensors + normaliser) and ``<name>.json``.

The JSON holds the :class:`~engines.motion_gen.config.MotionGenConfig`, how to sample (steps,
guidance) and the training record (recipe, steps, time), so the pair alone rebuilds and runs the
model. Loading checks everything and raises :class:`WeightsError` with the file and the reason —
the live server catches it and falls back to the heuristic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from xactor.engines.motion_gen.calibration import Calibration
from xactor.engines.motion_gen.config import MotionGenConfig
from xactor.engines.motion_gen.features import Normalizer
from xactor.engines.motion_gen.model import MotionDenoiser

TEACHER = "motion_teacher"
STUDENT = "motion_student"
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "motion"  # the weights the repo ships


class WeightsError(RuntimeError):
    """A generator weights file is missing, corrupt or does not fit its config."""


@dataclass(frozen=True)
class SamplerSettings:
    """How a checkpoint is meant to be sampled."""

    steps: int = 8  # denoising steps per frame (teacher many, student 1-2)
    guidance: float = 1.0  # audio classifier-free guidance scale (1 = none; a student has it folded in)
    shift: float = 1.0  # time-step shift (> 1 spends more steps at high noise)


@dataclass
class GeneratorWeights:
    """A loaded checkpoint: model (eval mode), normaliser, sampler settings, training record."""

    model: MotionDenoiser
    normalizer: Normalizer
    sampler: SamplerSettings
    record: dict[str, Any] = field(default_factory=dict)
    calibration: Calibration | None = None  # articulation quantile maps (engines.motion_gen.calibration)

    @property
    def config(self) -> MotionGenConfig:
        return self.model.cfg

    def absolute(self, z: np.ndarray) -> np.ndarray:
        """[..., 40] normalised model output -> absolute motion, the articulation calibrated
        where the weights carry a calibration."""
        motion = self.normalizer.motion_out(z)
        return motion if self.calibration is None else self.calibration.apply(motion)


def save_weights(
    folder: Path,
    name: str,
    model: MotionDenoiser,
    normalizer: Normalizer,
    sampler: SamplerSettings,
    record: dict[str, Any] | None = None,
) -> Path:
    """Write ``folder/name.safetensors`` and ``folder/name.json`` (tensors first, JSON last)."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().float().contiguous() for k, v in model.state_dict().items()}
    tensors.update(normalizer.tensors())
    tmp = folder / f".{name}.safetensors.tmp"
    save_file(tensors, str(tmp))
    tmp.replace(folder / f"{name}.safetensors")
    meta = {
        "config": json.loads(model.cfg.to_json()),
        "sampler": sampler.__dict__,
        "record": record or {},
    }
    (folder / f"{name}.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    return folder / f"{name}.safetensors"


def save_calibration(folder: Path, name: str, calibration: Calibration, record: dict[str, Any]) -> Path:
    """Put ``calibration`` into ``folder/name.json`` (replacing any), how it was fitted into its
    record's ``calibration``; the tensors are not touched."""
    meta_path = folder / f"{name}.json"
    meta = json.loads(meta_path.read_text())
    meta["calibration"] = calibration.to_json()
    meta.setdefault("record", {})["calibration"] = record
    meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True))
    return meta_path


def load_weights(folder: Path, name: str) -> GeneratorWeights:
    """Load ``folder/name.*`` or raise :class:`WeightsError` saying which file and why."""
    tensors_path, meta_path = folder / f"{name}.safetensors", folder / f"{name}.json"
    for p in (tensors_path, meta_path):
        if not p.is_file():
            raise WeightsError(f"{p}: missing")
    try:
        meta = json.loads(meta_path.read_text())
        cfg = MotionGenConfig.from_dict(meta["config"])
        sampler = SamplerSettings(**meta.get("sampler", {}))
        calibration = Calibration.from_json(meta["calibration"]) if "calibration" in meta else None
    except (ValueError, KeyError, TypeError) as e:
        raise WeightsError(f"{meta_path}: unreadable config ({e})") from e
    try:
        tensors = load_file(str(tensors_path))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{tensors_path}: corrupt ({e})") from e
    model = MotionDenoiser(cfg)
    state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(state, strict=True)
        normalizer = Normalizer.from_tensors(tensors)
    except (RuntimeError, KeyError) as e:
        raise WeightsError(f"{tensors_path}: does not fit its config ({e})") from e
    if not all(torch.isfinite(v).all() for v in tensors.values()):
        raise WeightsError(f"{tensors_path}: contains NaN or infinite values")
    model.eval().requires_grad_(False)
    return GeneratorWeights(model, normalizer, sampler, meta.get("record", {}), calibration)
