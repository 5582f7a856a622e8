"""The motion space: the contract between the motion generator and the renderer (docs/ARCHITECTURE.md §1).

One motion frame is a float vector of ``MOTION_DIM`` values, the same for every identity:

* 6 head-pose values relative to the avatar's reference pose (radians; translation in face widths;
  log of the scale factor), then
* 32 expression coefficients named after Apple ARKit blendshapes, each in [0, 1]; "Left"/"Right"
  are the *subject's* left/right (ARKit's convention; subject-left is image-right), then
* 2 gaze values in [-1, 1] (iris offset; ±1 is the comfortable limit of the eye, about 0.45 eye
  half-widths sideways and 0.3 eye heights vertically; positive looks toward image-right / down).

Zero motion is the avatar's reference portrait. The generator works on normalised motion
(per-dimension mean/std stored with its weights); this module only defines names and ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Channel:
    """One named motion dimension with its valid range."""

    name: str
    low: float
    high: float
    doc: str


POSE: tuple[Channel, ...] = (
    Channel("headYaw", -0.6, 0.6, "turn, radians; positive turns the face toward image-right"),
    Channel("headPitch", -0.4, 0.4, "nod, radians; positive tilts the chin down"),
    Channel("headRoll", -0.4, 0.4, "in-plane tilt, radians; positive is clockwise in the image"),
    Channel("headTx", -0.3, 0.3, "horizontal shift, face widths; positive is image-right"),
    Channel("headTy", -0.3, 0.3, "vertical shift, face widths; positive is down"),
    Channel("headLogScale", -0.2, 0.2, "log of the size factor; positive moves toward the camera"),
)

_EXPRESSION_DOCS: dict[str, str] = {
    "jawOpen": "jaw drops, lips part",
    "mouthClose": "lips close while the jaw stays open",
    "mouthFunnel": "lips flare into an open 'O'",
    "mouthPucker": "lips narrow and push forward ('oo', kiss)",
    "mouthSmileLeft": "left mouth corner up and out",
    "mouthSmileRight": "right mouth corner up and out",
    "mouthFrownLeft": "left mouth corner down",
    "mouthFrownRight": "right mouth corner down",
    "mouthStretchLeft": "left corner pulled sideways and down",
    "mouthStretchRight": "right corner pulled sideways and down",
    "mouthPressLeft": "left half of the lips pressed together",
    "mouthPressRight": "right half of the lips pressed together",
    "mouthUpperUpLeft": "left upper lip raised",
    "mouthUpperUpRight": "right upper lip raised",
    "mouthLowerDownLeft": "left lower lip lowered",
    "mouthLowerDownRight": "right lower lip lowered",
    "mouthRollLower": "lower lip rolled inward ('f', 'v')",
    "mouthRollUpper": "upper lip rolled inward",
    "mouthLeft": "whole mouth shifted to the subject's left",
    "mouthRight": "whole mouth shifted to the subject's right",
    "cheekPuff": "both cheeks puffed outward",
    "browInnerUp": "inner ends of both brows raised",
    "browDownLeft": "left brow lowered and drawn in",
    "browDownRight": "right brow lowered and drawn in",
    "browOuterUpLeft": "outer end of the left brow raised",
    "browOuterUpRight": "outer end of the right brow raised",
    "eyeBlinkLeft": "left upper eyelid closes over the eye",
    "eyeBlinkRight": "right upper eyelid closes over the eye",
    "eyeWideLeft": "left eye opened wide",
    "eyeWideRight": "right eye opened wide",
    "eyeSquintLeft": "left lower lid and cheek raised",
    "eyeSquintRight": "right lower lid and cheek raised",
}

EXPRESSIONS: tuple[Channel, ...] = tuple(Channel(n, 0.0, 1.0, d) for n, d in _EXPRESSION_DOCS.items())

GAZE: tuple[Channel, ...] = (
    Channel("gazeYaw", -1.0, 1.0, "irises move sideways; ±1 = 0.45 eye half-widths; positive is image-right"),
    Channel("gazePitch", -1.0, 1.0, "irises move vertically; ±1 = 0.3 eye heights; positive is down"),
)

CHANNELS: tuple[Channel, ...] = POSE + EXPRESSIONS + GAZE
NAMES: tuple[str, ...] = tuple(c.name for c in CHANNELS)
INDEX: dict[str, int] = {name: i for i, name in enumerate(NAMES)}

# What the jaw and lips do to speak (smiles and frowns are left out: emotion drives them too). All
# zero is the closed, relaxed mouth of a listener; an interruption zeroes them (server.live.hush).
ARTICULATION: tuple[str, ...] = (
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthLeft",
    "mouthRight",
    "cheekPuff",
)
ARTICULATION_INDEX: np.ndarray = np.array([INDEX[n] for n in ARTICULATION])  # [17] motion columns

POSE_DIM = len(POSE)  # 6
EXPRESSION_DIM = len(EXPRESSIONS)  # 32
GAZE_DIM = len(GAZE)  # 2
MOTION_DIM = len(CHANNELS)  # 40

POSE_SLICE = slice(0, POSE_DIM)
EXPRESSION_SLICE = slice(POSE_DIM, POSE_DIM + EXPRESSION_DIM)
GAZE_SLICE = slice(POSE_DIM + EXPRESSION_DIM, MOTION_DIM)
# Coefficients the face model treats as linear deformations (expressions and gaze).
DEFORM_SLICE = slice(POSE_DIM, MOTION_DIM)

LOW = np.array([c.low for c in CHANNELS], dtype=np.float32)
HIGH = np.array([c.high for c in CHANNELS], dtype=np.float32)


def zeros(frames: int = 1) -> np.ndarray:
    """Neutral motion (the avatar's reference), shape [frames, MOTION_DIM]."""
    return np.zeros((frames, MOTION_DIM), dtype=np.float32)


def from_dict(values: dict[str, float], frames: int = 1) -> np.ndarray:
    """Motion [frames, MOTION_DIM] from ``{"jawOpen": 0.7, ...}``; unknown names raise ValueError."""
    motion = zeros(frames)
    for name, value in values.items():
        if name not in INDEX:
            raise ValueError(f"unknown motion channel {name!r}; known: {', '.join(NAMES)}")
        motion[:, INDEX[name]] = value
    return motion


def to_dict(frame: np.ndarray) -> dict[str, float]:
    """One motion frame [MOTION_DIM] as a name → value mapping."""
    if frame.shape != (MOTION_DIM,):
        raise ValueError(f"expected one frame of shape ({MOTION_DIM},), got {frame.shape}")
    return {name: float(v) for name, v in zip(NAMES, frame, strict=True)}


def clamp(motion: torch.Tensor) -> torch.Tensor:
    """Clamp [..., MOTION_DIM] into the valid ranges; NaN becomes 0 (the reference)."""
    low = torch.as_tensor(LOW, dtype=motion.dtype, device=motion.device)
    high = torch.as_tensor(HIGH, dtype=motion.dtype, device=motion.device)
    motion = torch.nan_to_num(motion, nan=0.0, posinf=1e4, neginf=-1e4)
    return torch.maximum(torch.minimum(motion, high), low)


def clamp_np(motion: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`clamp`."""
    return np.clip(np.nan_to_num(motion, nan=0.0, posinf=1e4, neginf=-1e4), LOW, HIGH).astype(np.float32)
