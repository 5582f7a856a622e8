"""The diffusion-forcing training objective (flow matching, x̂0 prediction, per-token noise levels).

Every token gets its own noise level (diffusion forcing), drawn from a mixture: 30 % near-clean
(t ~ U(0, 0.1): what history looks like when streaming) and 70 % uniform over (0, 1]. So the model
sees every combination of a noisy present over a clean, slightly noisy or noisy past, and the
streaming sampler's case — clean history, pure noise now — is in distribution.

Classifier-free dropout: a window's audio is replaced by the null embedding with probability
``p_drop_audio`` (guidance's unconditional branch) and its emotion by "none" with
``p_drop_emotion`` (the model then infers it from the audio).

Loss: mean squared error of x̂0 in normalised units, mouth channels weighted ×2 (lip-sync is what
people judge first), plus the phonetic front end's cross-entropy against the corpus's phone
alignment (models with ``cfg.phones``; its posteriors enter the model detached).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from xactor.engines import motion_space as ms
from xactor.engines.motion_gen.model import MotionDenoiser, block_causal_mask
from xactor.training.motion.data import PHONE_CLASSES, UNKNOWN_PHONE, Batch

BILABIAL_IDS = torch.tensor([PHONE_CLASSES.index(p) for p in ("P", "B", "M")])

MOUTH_WEIGHT = 2.0


@dataclass(frozen=True)
class ObjectiveConfig:
    p_clean_history: float = 0.3
    clean_max: float = 0.1
    p_drop_audio: float = 0.1
    p_drop_emotion: float = 0.3
    # L per window, probabilities for 0..max_lookahead: one model serves every lookahead
    lookahead_p: tuple[float, ...] = (0.2, 0.4, 0.2, 0.2)
    # Cross-entropy weight of the phonetic front end (models with cfg.phones > 0; its posteriors
    # are detached, so this only sets how fast it learns), and the motion loss weight of /P B M/
    # frames (1: none; ×3 with a phone head on the audio embedding did not help, see docs/training.md).
    phone_weight: float = 1.0
    bilabial_weight: float = 1.0


def mouth_mask() -> torch.Tensor:
    """[40] bool: the mouth and jaw channels (what the audio determines)."""
    return torch.tensor([ch.name.startswith(("mouth", "jaw")) for ch in ms.CHANNELS])


def channel_weights() -> torch.Tensor:
    """[40] loss weight per motion channel (mouth ×2)."""
    w = torch.where(mouth_mask(), MOUTH_WEIGHT, 1.0)
    return w / w.mean()


def noise_levels(
    shape: tuple[int, int],
    cfg: ObjectiveConfig,
    gen: torch.Generator | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    """[B, T] independent per-token levels from the mixture above (on ``device``; the
    generator, if given, must live there too)."""
    near = torch.rand(shape, generator=gen, device=device) < cfg.p_clean_history
    low = torch.rand(shape, generator=gen, device=device) * cfg.clean_max
    high = torch.rand(shape, generator=gen, device=device).clamp_min(1e-3)
    return torch.where(near, low, high)


def conditioning(
    model: MotionDenoiser,
    batch: Batch,
    drop_audio: torch.Tensor,
    drop_emotion: torch.Tensor,
    heard: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Audio and emotion embeddings [B, T, d] with the given per-window drops applied (``heard``:
    the audio embedding already computed, before dropping)."""
    n = model.cfg.n_emotions
    if heard is None:
        heard = model.encode_audio(batch.audio, batch.lookahead)
    audio = torch.where(drop_audio[:, None, None], model.null_audio.expand_as(heard), heard)
    emotion = torch.where(drop_emotion[:, None], torch.full_like(batch.emotion, n), batch.emotion)
    intensity = torch.where(drop_emotion[:, None], torch.zeros_like(batch.intensity), batch.intensity)
    return audio, model.emotion_embedding(emotion, intensity)


def diffusion_forcing_loss(
    model: torch.nn.Module, core: MotionDenoiser, batch: Batch, cfg: ObjectiveConfig, weights: torch.Tensor
) -> torch.Tensor:
    """One batch's loss. ``model`` may be the DDP wrapper of ``core`` (the call goes through it)."""
    b, t_frames, _ = batch.motion.shape
    x0 = batch.motion
    device = x0.device  # every tensor made here lives beside the batch (a GPU's, or the CPU)
    t = noise_levels((b, t_frames), cfg, device=device)
    eps = torch.randn_like(x0)
    x_t = (1.0 - t[..., None]) * x0 + t[..., None] * eps
    heard = core.encode_audio(batch.audio, batch.lookahead)  # [B, T, d]
    drop_audio = torch.rand(b, device=device) < cfg.p_drop_audio
    drop_emotion = torch.rand(b, device=device) < cfg.p_drop_emotion
    audio, emotion = conditioning(core, batch, drop_audio, drop_emotion, heard)
    pos = torch.arange(t_frames, device=device)
    mask = block_causal_mask(pos, pos, core.cfg.chunk, core.cfg.context)
    pred, _ = model(x_t, t, audio, emotion, pos, mask)
    bilabial = torch.isin(batch.phones, BILABIAL_IDS.to(device))
    frame_w = torch.where(bilabial, cfg.bilabial_weight, 1.0)  # [B, T]
    loss = (((pred - x0) ** 2) * weights * frame_w[..., None]).mean()
    if cfg.phone_weight > 0 and core.audio.phones is not None:
        # Mean cross-entropy over the frames with a known phone (real-video clips have no
        # alignment); none known adds 0. No `if known.any()`: that would stop a GPU every step.
        known = (batch.phones != UNKNOWN_PHONE).sum()
        logits = core.audio.phone_logits(batch.audio)  # [B, T, classes]
        ce = F.cross_entropy(
            logits.flatten(0, 1), batch.phones.flatten(), ignore_index=UNKNOWN_PHONE, reduction="sum"
        )
        loss = loss + cfg.phone_weight * ce / known.clamp_min(1)
    return loss
