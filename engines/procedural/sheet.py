"""Contact sheet of procedural identities: one row per identity, one column per expression."""

from __future__ import annotations

import numpy as np

from xactor.engines import motion_space as ms
from xactor.engines.procedural.identity import sample_identity
from xactor.engines.procedural.render import ProceduralFace

SHEET_MOTIONS: dict[str, dict[str, float]] = {
    "rest": {},
    "open (AA)": {"jawOpen": 0.7, "mouthLowerDownLeft": 0.3, "mouthLowerDownRight": 0.3},
    "smile, turned": {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0, "headYaw": 0.3, "cheekPuff": 0.0},
    "pucker (OO), up": {"mouthPucker": 1.0, "mouthFunnel": 0.5, "jawOpen": 0.2, "headPitch": -0.15},
    "blink, gaze right": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0, "gazeYaw": 0.5, "browInnerUp": 0.8},
    "surprise, tilted": {"jawOpen": 0.5, "eyeWideLeft": 1.0, "eyeWideRight": 1.0, "browInnerUp": 1.0,
                         "browOuterUpLeft": 1.0, "browOuterUpRight": 1.0, "headRoll": 0.15},
}  # fmt: skip


def contact_sheet(seeds: list[int], size: int = 256) -> np.ndarray:
    """uint8 [len(seeds)·S, len(SHEET_MOTIONS)·S, 3]."""
    motions = [ms.from_dict(values)[0] for values in SHEET_MOTIONS.values()]
    rows = []
    for seed in seeds:
        face = ProceduralFace(sample_identity(seed), size)
        rows.append(np.concatenate([face.render(m) for m in motions], 1))
    return np.concatenate(rows, 0)
