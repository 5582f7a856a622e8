"""Model inputs from stored pairs: images to [-1, 1] tensors, landmark maps, mouth weights."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from xactor.engines import face_regions as fr
from xactor.engines.diffusion.maps import landmark_map
from xactor.engines.diffusion.model import to_tensor
from xactor.training.render.data import RenderSplit


def mouth_boxes(landmarks: np.ndarray, size: int, margin: float = 0.25) -> np.ndarray:
    """int [B, 4] (x0, y0, x1, y1) around the lips of each landmark set [B, 478, 2], widened by
    ``margin`` of the lips' width on every side, clipped to the frame."""
    lips = landmarks[:, list(fr.LIPS), :2]
    lo, hi = lips.min(1), lips.max(1)
    pad = (hi[:, :1] - lo[:, :1]) * margin
    box = np.concatenate([lo - pad, hi + pad], 1)
    return np.clip(np.round(box), 0, size).astype(np.int64)


@dataclass
class RenderBatch:
    prior: torch.Tensor  # [B, 3, S, S] in [-1, 1]
    target: torch.Tensor
    reference: torch.Tensor
    lmap: torch.Tensor  # [B, 1, S, S]
    mouth: torch.Tensor  # [B, 1, S, S] 1 inside the mouth box
    boxes: np.ndarray  # [B, 4]

    def to(self, device: torch.device) -> RenderBatch:
        prior, target, reference, lmap, mouth = (
            x.to(device) for x in (self.prior, self.target, self.reference, self.lmap, self.mouth)
        )
        return RenderBatch(prior, target, reference, lmap, mouth, self.boxes)


def make_batch(data: RenderSplit, index: np.ndarray) -> RenderBatch:
    size = data.prior.shape[1]
    marks = data.landmarks[index]
    boxes = mouth_boxes(marks, size)
    mouth = np.zeros((len(index), 1, size, size), np.float32)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        mouth[i, 0, y0:y1, x0:x1] = 1.0
    lmap = np.stack([landmark_map(m, size) for m in marks])[:, None]
    return RenderBatch(
        prior=to_tensor(data.prior[index]),
        target=to_tensor(data.target[index]),
        reference=to_tensor(data.reference[data.identity[index]]),
        lmap=torch.from_numpy(lmap),
        mouth=torch.from_numpy(mouth),
        boxes=boxes,
    )
