"""A procedural identity: everything that makes one stylised person, drawn from one seed.

Geometry is the neutral face deformed by a few smooth, left–right symmetric bumps (wider jaw,
longer nose, fuller lips...) and an aspect change, so the face model's expressions, built from
the identity's own neutral, fit it. Appearance is a small set of colours and styles: skin tone
on a light-to-deep ramp, eye, hair, lip, brow, clothes and background colours, hair style,
light direction. Same seed, same person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xactor.engines import face_regions as fr
from xactor.engines.face_model import MIRROR, NEUTRAL_FACE

SKIN_TONES = np.array(  # light to deep (sRGB 0..1)
    [
        (0.96, 0.83, 0.74), (0.92, 0.76, 0.64), (0.85, 0.67, 0.53), (0.76, 0.57, 0.43),
        (0.64, 0.45, 0.32), (0.50, 0.34, 0.24), (0.38, 0.25, 0.18), (0.27, 0.18, 0.13),
    ]
)  # fmt: skip
HAIR_COLOURS = np.array(
    [(0.08, 0.06, 0.05), (0.22, 0.14, 0.08), (0.42, 0.27, 0.14), (0.70, 0.55, 0.32),
     (0.55, 0.22, 0.10), (0.62, 0.62, 0.62), (0.90, 0.88, 0.82), (0.25, 0.20, 0.45)]
)  # fmt: skip
EYE_COLOURS = np.array(
    [(0.30, 0.18, 0.09), (0.17, 0.10, 0.05), (0.25, 0.45, 0.65), (0.35, 0.50, 0.30), (0.45, 0.40, 0.25)]
)
HAIR_STYLES = ("short", "fringe", "long", "bald", "bob")


@dataclass(frozen=True)
class FaceIdentity:
    """One stylised person (see module docstring); ``neutral`` is its canonical face [478, 3]."""

    seed: int
    neutral: np.ndarray = field(repr=False)
    skin: np.ndarray
    lips: np.ndarray
    eyes: np.ndarray
    hair: np.ndarray
    brows: np.ndarray
    clothes: np.ndarray
    background: tuple[np.ndarray, np.ndarray]
    hair_style: str
    hair_volume: float  # how far the hair stands off the head (face widths)
    fringe: float  # canonical y of the fringe's lower edge (the forehead top is at -0.56)
    light: np.ndarray  # unit direction toward the light (camera frame: x right, y down, -z to camera)
    ambient: float
    freckles: int
    stubble: float  # 0: none, else the darkening of the lower face
    yaw: float  # the reference portrait's head pose, radians
    pitch: float
    roll: float


def _symmetric_bumps(rng: np.random.Generator, count: int, size: float, radius: float) -> np.ndarray:
    """A smooth displacement field [478, 3] made of ``count`` Gaussian bumps, mirrored left–right."""
    disp = np.zeros_like(NEUTRAL_FACE, dtype=np.float64)
    for _ in range(count):
        centre = NEUTRAL_FACE[rng.integers(0, 468)]
        push = rng.normal(0, size, 3) * np.array([1.0, 1.0, 0.6])
        d2 = ((NEUTRAL_FACE - centre) ** 2).sum(1)
        disp += np.exp(-d2 / (2 * radius**2))[:, None] * push
    mirrored = disp[MIRROR] * np.array([-1.0, 1.0, 1.0])
    return (disp + mirrored) / 2


def _close_lips(neutral: np.ndarray, gap: float) -> None:
    """Bring the inner lips together (to ``gap`` face widths) in place: a rest face has its lips
    closed or nearly (the template's are parted), so the teeth show only when the mouth opens."""
    upper, lower = list(fr.LIPS_INNER_UPPER[1:-1]), list(fr.LIPS_INNER_LOWER[1:-1])
    middle = (neutral[upper, 1] + neutral[lower, 1]) / 2
    neutral[upper, 1] = middle - gap / 2
    neutral[lower, 1] = middle + gap / 2


def sample_identity(seed: int) -> FaceIdentity:
    """The identity of ``seed``."""
    rng = np.random.default_rng([seed, 7717])
    neutral = NEUTRAL_FACE.astype(np.float64) + _symmetric_bumps(rng, 6, 0.018, 0.16)
    neutral[:, 1] *= 1.0 + rng.normal(0, 0.05)  # longer or rounder faces
    neutral[:, 0] *= 1.0 + rng.normal(0, 0.04)
    neutral -= neutral.mean(0) - NEUTRAL_FACE.mean(0)
    _close_lips(neutral, gap=rng.uniform(0.0, 0.01))
    tone = rng.uniform(0, len(SKIN_TONES) - 1)
    lo = int(np.floor(tone))
    skin = SKIN_TONES[lo] + (tone - lo) * (SKIN_TONES[min(lo + 1, len(SKIN_TONES) - 1)] - SKIN_TONES[lo])
    skin = np.clip(skin * rng.uniform(0.95, 1.05, 3), 0, 1)
    lips = np.clip(
        skin * np.array([0.85, 0.55, 0.55]) + rng.uniform(-0.04, 0.08) * np.array([1, 0.2, 0.3]), 0, 1
    )
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.85, 1.15)
    light = np.array([rng.uniform(-0.6, 0.6), rng.uniform(-0.7, 0.1), -1.0])
    bg_a, bg_b = rng.uniform(0.15, 0.9, 3), rng.uniform(0.1, 0.8, 3)
    return FaceIdentity(
        seed=seed,
        neutral=neutral.astype(np.float32),
        skin=skin,
        lips=lips,
        eyes=EYE_COLOURS[rng.integers(len(EYE_COLOURS))],
        hair=np.clip(hair, 0, 1),
        brows=np.clip(hair * 0.8 + skin * 0.1, 0, 1),
        clothes=rng.uniform(0.05, 0.85, 3),
        background=(bg_a, bg_b),
        hair_style=HAIR_STYLES[rng.integers(len(HAIR_STYLES))],
        hair_volume=float(rng.uniform(0.04, 0.14)),
        fringe=float(rng.uniform(-0.52, -0.36)),
        light=light / np.linalg.norm(light),
        ambient=float(rng.uniform(0.3, 0.5)),
        freckles=int(rng.integers(0, 40)) if rng.random() < 0.3 else 0,
        stubble=float(rng.uniform(0.1, 0.3)) if rng.random() < 0.25 else 0.0,
        yaw=float(rng.normal(0, 0.06)),
        pitch=float(rng.normal(0, 0.04)),
        roll=float(rng.normal(0, 0.04)),
    )
