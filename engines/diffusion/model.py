"""The renderer's denoiser: a small UNet over the residual between the exact frame and the warp
prior, conditioned on the prior, a landmark map and the avatar's reference portrait.

Inputs (all at the frame size S, a multiple of 16; the network itself runs from S/2 down, and a
pixel shuffle brings its output back to S: on a 2-core CPU a full-resolution level alone costs
more than a 40 ms frame):

    x_t        [B, 3, S, S]  the noisy residual at flow time t (t = 1: pure noise)
    t          [B]           flow time in [0, 1]
    prior      [B, 3, S, S]  the warp renderer's frame, in [-1, 1]
    lmap       [B, 1, S, S]  :func:`~engines.diffusion.maps.landmark_map` of the target
    reference  one feature map per level from :meth:`RenderDenoiser.encode_reference` — computed once
               per avatar, not per frame

Output: the clean scaled residual r̂ itself (x0-parameterisation of the rectified flow
x_t = (1 − t)·r + t·ε; the velocity is v = (x_t − r̂)/t). Predicting v directly asks the
network to copy full-resolution noise through its half-resolution trunk, which it learns slowly
and imperfectly (a first run sat at 20 dB, 10 dB under the warp prior, after 250 steps); the
residual itself is sparse and smooth. The frame is ``prior + residual_scale · r̂``. The output
layer and every reference injection start at zero, so an untrained model returns the warp prior.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class RenderModelConfig:
    widths: tuple[int, ...] = (32, 64, 96)  # per level: S/2, S/4, S/8 (the stem halves the frame)
    residual_scale: float = 0.25  # the residual (in [-2, 2] image units) is divided by this
    time_dim: int = 64

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "widths": list(self.widths)}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> RenderModelConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "widths" in known:
            known["widths"] = tuple(known["widths"])  # type: ignore[arg-type]
        return cls(**known)  # type: ignore[arg-type]


def _zero(conv: nn.Conv2d) -> nn.Conv2d:
    """``conv`` with weights and bias zeroed: a branch that starts as nothing."""
    nn.init.zeros_(conv.weight)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def time_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features [B, dim] of flow time t [B]."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device) / half)
    angles = t[:, None] * 1000.0 * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], 1)


class ResBlock(nn.Module):
    """GroupNorm–SiLU–conv ×2 with a time FiLM (scale, shift) and a 1×1 skip when widths differ."""

    def __init__(self, cin: int, cout: int, time_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.film = nn.Linear(time_dim, 2 * cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(temb)[:, :, None, None].chunk(2, 1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(F.silu(h))


class RenderDenoiser(nn.Module):
    """See module docstring."""

    def __init__(self, cfg: RenderModelConfig = RenderModelConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.widths
        self.time = nn.Sequential(
            nn.Linear(cfg.time_dim, cfg.time_dim), nn.SiLU(), nn.Linear(cfg.time_dim, cfg.time_dim)
        )
        self.stem = nn.Conv2d(3 + 3 + 1, w[0], 4, stride=2, padding=1)  # S → S/2: speed on a CPU
        self.down = nn.ModuleList(ResBlock(w[max(i - 1, 0)], w[i], cfg.time_dim) for i in range(len(w)))
        self.pool = nn.ModuleList(nn.Conv2d(w[i], w[i], 3, stride=2, padding=1) for i in range(len(w) - 1))
        self.mid = ResBlock(w[-1], w[-1], cfg.time_dim)
        self.up = nn.ModuleList(
            ResBlock(w[i] * 2, w[max(i - 1, 0)], cfg.time_dim) for i in reversed(range(len(w)))
        )
        self.out_norm = nn.GroupNorm(8, w[0])
        self.out = nn.Conv2d(w[0], 3 * 4, 3, padding=1)  # then pixel shuffle: S/2 → S
        _zero(self.out)
        # Reference encoder: the portrait's features at every level, added after each down block.
        ref = [nn.Conv2d(3, w[0], 4, stride=2, padding=1)]
        ref += [nn.Conv2d(w[i - 1], w[i], 3, stride=2, padding=1) for i in range(1, len(w))]
        self.ref_convs = nn.ModuleList(ref)
        self.ref_in = nn.ModuleList(_zero(nn.Conv2d(c, c, 1)) for c in w)

    def encode_reference(self, reference: torch.Tensor) -> list[torch.Tensor]:
        """The avatar's reference [B, 3, S, S] in [-1, 1] → one feature map per level (once per avatar)."""
        feats, h = [], reference
        for conv, inject in zip(self.ref_convs, self.ref_in, strict=True):
            h = F.silu(conv(h))
            feats.append(inject(h))
        return feats

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        prior: torch.Tensor,
        lmap: torch.Tensor,
        reference: list[torch.Tensor],
    ) -> torch.Tensor:
        temb = self.time(time_features(t, self.cfg.time_dim))
        h = self.stem(torch.cat([x_t, prior, lmap], 1))  # [B, w0, S/2, S/2]
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, temb) + reference[i]
            skips.append(h)
            if i < len(self.pool):
                h = self.pool[i](h)
        h = self.mid(h, temb)
        for j, block in enumerate(self.up):
            i = len(self.down) - 1 - j
            if h.shape[-1] != skips[i].shape[-1]:
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = block(torch.cat([h, skips[i]], 1), temb)
        return F.pixel_shuffle(self.out(F.silu(self.out_norm(h))), 2)  # [B, 3, S, S]


def sample_residual(
    model: RenderDenoiser,
    prior: torch.Tensor,
    lmap: torch.Tensor,
    reference: list[torch.Tensor],
    steps: int,
    noise: torch.Tensor,
) -> torch.Tensor:
    """Euler steps of the flow from t = 1 (``noise``) to 0 → the scaled residual r̂ [B, 3, S, S].
    One step returns the model's r̂ at t = 1 exactly."""
    return euler_flow(lambda x, t: model(x, t.expand(len(x)), prior, lmap, reference), noise, steps)


def euler_flow(
    clean: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], noise: torch.Tensor, steps: int
) -> torch.Tensor:
    """The sampler itself, for any denoiser ``clean(x_t, t) → r̂`` (torch, or an exported graph
    behind a wrapper): Euler on v = (x − r̂)/t from t = 1 to 0; the last step lands on r̂."""
    x = noise
    times = torch.linspace(1.0, 0.0, steps + 1)
    for t, s in itertools.pairwise(times):
        x = x + (s - t) * (x - clean(x, t)) / t
    return x


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 images [B, S, S, 3] → float32 [B, 3, S, S] in [-1, 1] (the model's image range)."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_images(frames: torch.Tensor) -> np.ndarray:
    """float [B, 3, S, S] in [-1, 1] → uint8 images [B, S, S, 3]."""
    return frames.clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).numpy()


def frames_from(prior: torch.Tensor, residual: torch.Tensor, cfg: RenderModelConfig) -> torch.Tensor:
    """The frame in [-1, 1] from the prior and a scaled residual."""
    return (prior + cfg.residual_scale * residual).clamp(-1, 1)
