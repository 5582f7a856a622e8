"""The diffusion-forcing training objective (flow matching, x̂0 prediction, per-token noise levels).

Every token gets its own noise level (diffusion forcing), drawn from a mixture: 30 % near-clean
(t ~ U(0, 0.1): what history looks like when streaming) and 70 % uniform over (0, 1]. So the model
sees every combination of a noisy present over a clean, slightly noisy or noisy past, and the
streaming sampler's case — clean history, pure noise now — is in distribution.

Classifier-free dropout: a window's audio is replaced by the null embedding with probability
``p_drop_audio`` (guidance's unconditional branch) and its emotion by "none" with
``p_drop_emotion`` (the model then infers it from the audio).

Loss: mean squared error of x̂0 in normalised units, mouth channels weighted ×2 (lip-sync is what
people judge first).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engines import motion_space as ms
from engines.motion_gen.model import MotionDenoiser, block_causal_mask
from training.motion.data import Batch

MOUTH_WEIGHT = 2.0


@dataclass(frozen=True)
class ObjectiveConfig:
    p_clean_history: float = 0.3
    clean_max: float = 0.1
    p_drop_audio: float = 0.1
    p_drop_emotion: float = 0.3
    # L per window, probabilities for 0..max_lookahead: one model serves every lookahead
    lookahead_p: tuple[float, ...] = (0.2, 0.4, 0.2, 0.2)


def channel_weights() -> torch.Tensor:
    """[40] loss weight per motion channel (mouth ×2)."""
    w = torch.ones(ms.MOTION_DIM)
    for i, ch in enumerate(ms.CHANNELS):
        if ch.name.startswith(("mouth", "jaw")):
            w[i] = MOUTH_WEIGHT
    return w / w.mean()


def noise_levels(
    shape: tuple[int, int], cfg: ObjectiveConfig, gen: torch.Generator | None = None
) -> torch.Tensor:
    """[B, T] independent per-token levels from the mixture above."""
    near = torch.rand(shape, generator=gen) < cfg.p_clean_history
    low = torch.rand(shape, generator=gen) * cfg.clean_max
    high = torch.rand(shape, generator=gen).clamp_min(1e-3)
    return torch.where(near, low, high)


def conditioning(
    model: MotionDenoiser, batch: Batch, drop_audio: torch.Tensor, drop_emotion: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Audio and emotion embeddings [B, T, d] with the given per-window drops applied."""
    n = model.cfg.n_emotions
    audio = model.encode_audio(batch.audio, batch.lookahead, drop_audio)
    emotion = torch.where(drop_emotion[:, None], torch.full_like(batch.emotion, n), batch.emotion)
    intensity = torch.where(drop_emotion[:, None], torch.zeros_like(batch.intensity), batch.intensity)
    return audio, model.emotion_embedding(emotion, intensity)


def diffusion_forcing_loss(
    model: torch.nn.Module, core: MotionDenoiser, batch: Batch, cfg: ObjectiveConfig, weights: torch.Tensor
) -> torch.Tensor:
    """One batch's loss. ``model`` may be the DDP wrapper of ``core`` (the call goes through it)."""
    b, t_frames, _ = batch.motion.shape
    x0 = batch.motion
    t = noise_levels((b, t_frames), cfg)
    eps = torch.randn_like(x0)
    x_t = (1.0 - t[..., None]) * x0 + t[..., None] * eps
    audio, emotion = conditioning(
        core, batch, torch.rand(b) < cfg.p_drop_audio, torch.rand(b) < cfg.p_drop_emotion
    )
    pos = torch.arange(t_frames)
    mask = block_causal_mask(pos, pos, core.cfg.chunk, core.cfg.context)
    pred, _ = model(x_t, t, audio, emotion, pos, mask)
    return (((pred - x0) ** 2) * weights).mean()
