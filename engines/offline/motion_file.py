"""Motion files for offline rendering: ``.npy`` [T, 40], ``.npz`` (array ``motion``), or ``.csv``.

A CSV has a header row of motion-channel names (any subset, any order; missing channels are 0)
and one row per frame at 25 fps.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from engines import motion_space as ms


def load_motion(path: Path) -> np.ndarray:
    """Motion [T, 40] float32 from ``path``; ValueError for a wrong shape or unknown channels."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        motion = np.load(path)
    elif suffix == ".npz":
        with np.load(path) as data:
            motion = data["motion"] if "motion" in data.files else data[data.files[0]]
    elif suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if len(rows) < 2:
            raise ValueError(f"{path}: a header row of channel names and at least one frame are needed")
        header = [name.strip() for name in rows[0]]
        unknown = [n for n in header if n not in ms.INDEX]
        if unknown:
            raise ValueError(f"{path}: unknown motion channels {unknown}; known: {', '.join(ms.NAMES)}")
        values = np.array([[float(v) for v in row] for row in rows[1:] if row], dtype=np.float32)
        motion = ms.zeros(len(values))
        motion[:, [ms.INDEX[n] for n in header]] = values
    else:
        raise ValueError(f"{path}: motion files are .npy, .npz or .csv")
    motion = np.asarray(motion, dtype=np.float32)
    if motion.ndim != 2 or motion.shape[1] != ms.MOTION_DIM or len(motion) == 0:
        raise ValueError(f"{path}: motion must be [T, {ms.MOTION_DIM}], got {motion.shape}")
    return motion
