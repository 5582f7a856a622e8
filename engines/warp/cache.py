"""Everything the warp renderer needs about one avatar, computed once at registration.

Building a cache solves the per-avatar interpolation problem (a sparse factorisation on the node
grid, about a second on 2 cores) and measures eyes and mouth; per frame the renderer then does only
small matrix products, Newton steps on a coarse grid and a few ``grid_sample`` calls.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from xactor.engines import face_regions as fr
from xactor.engines.face_model import FaceModel
from xactor.engines.warp import eyelid, flow, head, mouth

log = logging.getLogger(__name__)

Array = np.ndarray

# Landmarks that drive the main warp: all mesh points; the irises are left to the eye module.
CONTROL_LANDMARKS: tuple[int, ...] = tuple(range(468))
DEFAULT_NODES = 64


@dataclass
class AvatarCache:
    """Per-avatar constants of the warp renderer (numpy; the module turns them into buffers)."""

    size: int
    nodes: int
    crop: Array  # [S, S, 3] uint8
    ref_landmarks: Array  # [478, 2] px, the face model's output at zero motion
    control_idx: Array  # [N] landmark indices driving the main warp
    anchors: head.Anchors
    weights: Array  # [G, N + A] node field (cut at the mouth) per control displacement
    layer_up: Array  # [G] node each upper-layer node reads from the cut field
    layer_low: Array  # [G] the same for the lower layer
    eyes: eyelid.EyeConstants
    mouth: mouth.MouthConstants

    @classmethod
    def build(cls, crop: Array, face_model: FaceModel, nodes: int = DEFAULT_NODES) -> AvatarCache:
        """Cache for a reference crop [S, S, 3] uint8 and the face model placed in that crop."""
        start = time.perf_counter()
        size = int(crop.shape[0])
        if crop.shape != (size, size, 3):
            raise ValueError(f"crop must be [S, S, 3], got {crop.shape}")
        with torch.no_grad():
            ref = face_model(torch.zeros(1, 40))[0, :, :2].numpy().astype(np.float64)  # [478, 2]
        grid = flow.NodeGrid(size, nodes)
        mouth_width = float(np.linalg.norm(ref[fr.LIPS_INNER_UPPER[-1]] - ref[fr.LIPS_INNER_UPPER[0]]))
        slit = flow.Slit.from_lips(
            ref[list(fr.LIPS_INNER_UPPER)], ref[list(fr.LIPS_INNER_LOWER)], band=0.4 * mouth_width
        )
        anchors = head.head_anchors(ref, size, margin=grid.spacing)
        control_idx = np.array(CONTROL_LANDMARKS)
        moving = np.concatenate([ref[control_idx], anchors.moving])
        side = slit.side(moving)
        upper_lip = set(fr.LIPS_INNER_UPPER[1:-1] + fr.LIPS_OUTER_UPPER[1:-1])
        lower_lip = set(fr.LIPS_INNER_LOWER[1:-1] + fr.LIPS_OUTER_LOWER[1:-1])
        for k, idx in enumerate(control_idx):  # lips by membership, not by position
            if idx in upper_lip:
                side[k] = -1
            elif idx in lower_lip:
                side[k] = 1
        w_cut = flow.solve_interpolation(grid, slit, moving, side, anchors.still)
        layer_up, layer_low = flow.layer_sources(grid, slit)
        cache = cls(
            size=size,
            nodes=nodes,
            crop=np.array(crop, dtype=np.uint8),  # own (writable) copy
            ref_landmarks=ref.astype(np.float32),
            control_idx=control_idx,
            anchors=anchors,
            weights=w_cut,
            layer_up=layer_up,
            layer_low=layer_low,
            eyes=eyelid.eye_constants(crop, ref, size),
            mouth=mouth.mouth_constants(crop, ref, size),
        )
        log.info(
            "warp cache for a %d px crop: %d controls, %d nodes², %.2f s",
            size,
            len(moving),
            nodes,
            time.perf_counter() - start,
        )
        return cache

    def eye_tensors(self) -> dict[str, torch.Tensor]:
        skip = {"y0", "x0"}
        return {k: torch.as_tensor(v) for k, v in asdict(self.eyes).items() if k not in skip}

    def mouth_tensors(self) -> dict[str, torch.Tensor]:
        skip = {"depth_scale", "softness"}
        return {k: torch.as_tensor(v) for k, v in asdict(self.mouth).items() if k not in skip}
