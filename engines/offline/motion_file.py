"""Motion files: ``.npy`` [T, 40], ``.npz`` (array ``motion``), ``.csv`` or ``.jsonl``.

A CSV has a header row of motion-channel names (any subset, any order; missing channels are 0)
and one row per frame at 25 fps. JSON lines hold one :func:`motion_record` per frame: what the
live server streams to 3D rigs (the ``motion`` data channel, ``motion`` events of the WebSocket
session) and what ``xactor animate --motion-out`` writes, so a recording renders back too.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from xactor.engines import motion_space as ms
from xactor.engines import timebase


def motion_record(index: int, motion: np.ndarray) -> dict[str, Any]:
    """One frame's motion for rigs: ARKit-named blendshape coefficients and head pose (radians,
    ``head*``), gaze, with the frame's index and time on the video's 25 fps clock."""
    return {
        "type": "motion",
        "index": index,
        "t": round(index / timebase.FPS, 3),
        "coefficients": {k: round(v, 4) for k, v in ms.to_dict(np.asarray(motion)).items()},
    }


def write_motion_jsonl(path: Path, motion: np.ndarray) -> None:
    """Motion [T, 40] → one :func:`motion_record` per line."""
    with Path(path).open("w", encoding="utf-8") as f:
        for i, frame in enumerate(motion):
            f.write(json.dumps(motion_record(i, frame)) + "\n")


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
    elif suffix == ".jsonl":
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        motion = np.stack([ms.from_dict(r["coefficients"])[0] for r in records]) if records else ms.zeros(0)
    else:
        raise ValueError(f"{path}: motion files are .npy, .npz, .csv or .jsonl")
    motion = np.asarray(motion, dtype=np.float32)
    if motion.ndim != 2 or motion.shape[1] != ms.MOTION_DIM or len(motion) == 0:
        raise ValueError(f"{path}: motion must be [T, {ms.MOTION_DIM}], got {motion.shape}")
    return motion
