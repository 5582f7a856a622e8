"""Tiny random generator weights for tests of the plumbing around the learned motion generator.

A real trained checkpoint is not needed to test contracts (frame timing, determinism, fallback,
the server and CLI paths), and must not be: the tests would then depend on the weights of the day.
The output head is randomised (it is zero at init, which would make every frame the mean motion and
hide differences between seeds, emotions or chunkings).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from xactor.engines.motion_gen.config import MotionGenConfig
from xactor.engines.motion_gen.features import Normalizer
from xactor.engines.motion_gen.model import MotionDenoiser
from xactor.engines.motion_gen.weights import TEACHER, SamplerSettings, save_weights

TINY = MotionGenConfig(d_model=32, n_layers=1, n_heads=2, context=16)


def save_tiny_weights(
    folder: Path,
    name: str = TEACHER,
    steps: int = 2,
    guidance: float = 1.5,
    seed: int = 0,
    cfg: MotionGenConfig = TINY,
) -> Path:
    """Write ``folder/name.safetensors`` + ``.json`` of a random model; returns the tensors' path."""
    torch.manual_seed(seed)
    model = MotionDenoiser(cfg)
    torch.nn.init.normal_(model.head.weight, std=0.3)
    for emb in (model.emotion.weight, model.null_audio):
        torch.nn.init.normal_(emb, std=0.5)
    normalizer = Normalizer(
        mel_mean=np.full(cfg.n_mels, -6.0, np.float32),
        mel_std=np.full(cfg.n_mels, 3.0, np.float32),
        motion_mean=np.zeros(cfg.motion_dim, np.float32),
        motion_std=np.full(cfg.motion_dim, 0.1, np.float32),
    )
    sampler = SamplerSettings(steps=steps, guidance=guidance)
    return save_weights(folder, name, model, normalizer, sampler, {"recipe": "test: random init"})
