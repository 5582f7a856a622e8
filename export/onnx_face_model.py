"""Export the forward face model (motion → landmarks) to ONNX with a dynamic batch axis."""

from __future__ import annotations

from pathlib import Path

import torch

from xactor.engines import motion_space as ms
from xactor.engines.face_model import FaceModel
from xactor.engines.onnx_io import export_and_check


def export_face_model(model: FaceModel, path: Path, batch: int = 4) -> float:
    """Write ``path`` (input ``motion`` [B, 40], output ``landmarks`` [B, 478, 3]); return the rel. error."""
    motion = torch.rand(batch, ms.MOTION_DIM) * torch.as_tensor(ms.HIGH - ms.LOW) + torch.as_tensor(ms.LOW)
    return export_and_check(
        model,
        {"motion": motion},
        ["landmarks"],
        path,
        dynamic_axes={"motion": {0: "batch"}, "landmarks": {0: "batch"}},
    )
