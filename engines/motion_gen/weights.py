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
    # Maps fitted while streaming at another lookahead than the config's default: the model's
    # output distribution depends on how much audio it has heard (at L = 0 it is more cautious),
    # so a map fitted at one L under- or over-stretches at another.
    lookahead_calibrations: dict[int, Calibration] = field(default_factory=dict)

    @property
    def config(self) -> MotionGenConfig:
        return self.model.cfg

    def calibration_for(self, lookahead: int | None = None) -> Calibration | None:
        """The map fitted at ``lookahead``, else the default one (fitted at the config's L)."""
        if lookahead is None:
            return self.calibration
        return self.lookahead_calibrations.get(lookahead, self.calibration)

    def absolute(self, z: np.ndarray, lookahead: int | None = None) -> np.ndarray:
        """[..., 40] normalised model output -> absolute motion, the articulation calibrated
        where the weights carry a calibration (the one fitted at ``lookahead`` when there is one)."""
        motion = self.normalizer.motion_out(z)
        calibration = self.calibration_for(lookahead)
        return motion if calibration is None else calibration.apply(motion)


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


def save_calibration(
    folder: Path, name: str, calibration: Calibration, record: dict[str, Any], lookahead: int | None = None
) -> Path:
    """Put ``calibration`` into ``folder/name.json`` (replacing any), how it was fitted into its
    record's ``calibration``; the tensors are not touched. ``lookahead`` other than the config's
    default: kept beside the default map, under ``lookahead_calibrations``."""
    meta_path = folder / f"{name}.json"
    meta = json.loads(meta_path.read_text())
    if lookahead is None or lookahead == meta["config"]["lookahead"]:
        meta["calibration"] = calibration.to_json()
        meta.setdefault("record", {})["calibration"] = record
    else:
        meta.setdefault("lookahead_calibrations", {})[str(lookahead)] = calibration.to_json()
        meta.setdefault("record", {}).setdefault("lookahead_calibrations", {})[str(lookahead)] = record
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
        tables = meta.get("lookahead_calibrations", {})
        by_lookahead = {int(la): Calibration.from_json(table) for la, table in tables.items()}
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
    return GeneratorWeights(model, normalizer, sampler, meta.get("record", {}), calibration, by_lookahead)
