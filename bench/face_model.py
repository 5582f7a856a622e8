"""Face-model round trip (motion → landmarks → motion) error and speed, for docs/motion.md.

Run: ``python -m bench.face_model`` — prints a table; figures depend only on the shipped neutral face
and the random seed, timings on the machine.
"""

from __future__ import annotations

import platform
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from xactor.engines import motion_space as ms
from xactor.engines.face_model import NEUTRAL_FACE, FaceModel, Placement, euler_to_matrix, fit_motion


def random_motion(frames: int, seed: int = 0, active: int = 4) -> np.ndarray:
    """Sparse random expressions (``active`` coefficients a frame), gaze and a moderate pose."""
    rng = np.random.default_rng(seed)
    motion = ms.zeros(frames)
    expr = np.arange(ms.EXPRESSION_SLICE.start, ms.EXPRESSION_SLICE.stop)
    for t in range(frames):
        k = rng.choice(expr, size=active, replace=False)
        motion[t, k] = rng.uniform(0, 1, active)
    motion[:, ms.GAZE_SLICE] = rng.uniform(-1, 1, (frames, 2))
    motion[:, ms.POSE_SLICE] = rng.uniform(-1, 1, (frames, 6)) * np.array([0.3, 0.2, 0.2, 0.1, 0.1, 0.1])
    return motion


def main(frames: int = 200) -> None:
    placement = Placement(
        euler_to_matrix(torch.tensor(0.1), torch.tensor(-0.05), torch.tensor(0.03)).numpy(),
        110.0,  # pixels per face width, as on a 256 px avatar crop
        np.array([128.0, 140.0, 0.0], np.float32),
    )
    model = FaceModel(NEUTRAL_FACE, placement)
    motion = random_motion(frames)
    t0 = time.perf_counter()
    landmarks = model.landmarks(motion)
    forward_ms = (time.perf_counter() - t0) * 1000 / frames
    t0 = time.perf_counter()
    recovered = fit_motion(landmarks, NEUTRAL_FACE, reference=placement)
    inverse_ms = (time.perf_counter() - t0) * 1000 / frames
    err = np.abs(recovered - motion)
    rms_px = float(np.sqrt(((model.landmarks(recovered) - landmarks) ** 2).sum(-1).mean()))

    table = Table(
        title=f"face model round trip, {frames} frames, {platform.processor() or platform.machine()}"
    )
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("pose error, max (rad / face widths)", f"{err[:, ms.POSE_SLICE].max():.1e}")
    table.add_row("expression error, mean abs(Δc)", f"{err[:, ms.EXPRESSION_SLICE].mean():.4f}")
    table.add_row(
        "expression error, 95th percentile abs(Δc)", f"{np.percentile(err[:, ms.EXPRESSION_SLICE], 95):.4f}"
    )
    table.add_row("gaze error, mean", f"{err[:, ms.GAZE_SLICE].mean():.4f}")
    table.add_row("landmark RMS after round trip (px @110 px/face)", f"{rms_px:.4f}")
    table.add_row("forward, ms/frame (batched torch)", f"{forward_ms:.3f}")
    table.add_row("inverse, ms/frame (BVLS, 2 pose passes)", f"{inverse_ms:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
