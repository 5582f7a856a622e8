"""Image metrics against the exact frames: PSNR and SSIM on the whole frame and the mouth box,
and temporal flicker."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _mse_to_psnr(mse: torch.Tensor) -> list[float]:
    return (10 * torch.log10(4.0 / mse.clamp_min(1e-10))).tolist()  # peak-to-peak 2 in [-1, 1]


def psnr(images: torch.Tensor, target: torch.Tensor, boxes: np.ndarray) -> tuple[list[float], list[float]]:
    """Per image: PSNR (dB) over the whole frame and inside its mouth box; images in [-1, 1]."""
    whole = ((images - target) ** 2).mean((1, 2, 3))
    mouth = torch.stack(
        [
            ((images[i, :, y0:y1, x0:x1] - target[i, :, y0:y1, x0:x1]) ** 2).mean()
            for i, (x0, y0, x1, y1) in enumerate(boxes)
        ]
    )
    return _mse_to_psnr(whole), _mse_to_psnr(mouth)


def ssim(images: torch.Tensor, target: torch.Tensor, boxes: np.ndarray | None = None) -> list[float]:
    """Per image SSIM (11-px Gaussian window, σ 1.5, on luma), over the whole frame or, with
    ``boxes``, inside each box. Images in [-1, 1]."""
    weights = torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]
    x = ((images + 1) / 2 * weights).sum(1, keepdim=True)
    y = ((target + 1) / 2 * weights).sum(1, keepdim=True)
    g = torch.exp(-((torch.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    g = (g / g.sum())[None, None]
    kernel_h, kernel_v = g[..., None, :], g[..., :, None]

    def blur(z: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(z, kernel_h, padding=(0, 5)), kernel_v, padding=(5, 0))

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    smap = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))  # [B, 1, S, S]
    if boxes is None:
        return smap.mean((1, 2, 3)).tolist()
    return [float(smap[i, :, y0:y1, x0:x1].mean()) for i, (x0, y0, x1, y1) in enumerate(boxes)]


def flicker(frames: torch.Tensor, target: torch.Tensor) -> float:
    """Temporal flicker of a sequence [T, 3, S, S]: mean absolute error of the frame-to-frame
    differences against the truth's (in 0..255 grey levels): 0 when every change is the true one."""
    d_hat, d_true = frames[1:] - frames[:-1], target[1:] - target[:-1]
    return float((d_hat - d_true).abs().mean() * 127.5)
