"""Scripted motion for looking at a renderer: visemes, a smile, blinks, brows, head turns.

Deterministic keyframes on named motion channels, eased between keys, at 25 fps. Nothing here is
learned: it exercises every part a renderer must move (mouth opening and closing, lips rounding
and stretching, lids, brows, pose) in a few seconds, the same for every renderer.
"""

from __future__ import annotations

import itertools

import numpy as np

from xactor.engines import motion_space as ms
from xactor.engines.timebase import FPS

# Visemes as (seconds from the start of the phrase, {channel: value}); the phrase repeats.
VISEMES: tuple[tuple[float, dict[str, float]], ...] = (
    (0.00, {}),
    (0.16, {"jawOpen": 0.55, "mouthStretchLeft": 0.2, "mouthStretchRight": 0.2}),  # "a"
    (0.32, {"jawOpen": 0.25, "mouthSmileLeft": 0.45, "mouthSmileRight": 0.45}),  # "e"
    (0.46, {"mouthClose": 0.3, "mouthPressLeft": 0.5, "mouthPressRight": 0.5}),  # "m"
    (0.62, {"jawOpen": 0.35, "mouthFunnel": 0.8}),  # "o"
    (0.80, {"jawOpen": 0.1, "mouthPucker": 0.9}),  # "u"
    (0.96, {"mouthRollLower": 0.7, "mouthUpperUpLeft": 0.3, "mouthUpperUpRight": 0.3}),  # "f"
    (1.12, {"jawOpen": 0.7, "mouthLowerDownLeft": 0.3, "mouthLowerDownRight": 0.3}),  # wide "a"
    (1.30, {"jawOpen": 0.2, "mouthSmileLeft": 0.2, "mouthSmileRight": 0.2}),  # "i"
    (1.46, {}),
)

# Other tracks as (time in seconds, value) keyframes.
TRACKS: dict[str, tuple[tuple[float, float], ...]] = {
    "mouthSmileLeft": ((3.0, 0.0), (3.4, 0.85), (4.2, 0.85), (4.6, 0.0)),
    "mouthSmileRight": ((3.0, 0.0), (3.4, 0.85), (4.2, 0.85), (4.6, 0.0)),
    "jawOpen": ((3.0, 0.0), (3.4, 0.12), (4.2, 0.12), (4.6, 0.0)),
    "browInnerUp": ((4.4, 0.0), (4.7, 0.9), (5.2, 0.9), (5.5, 0.0)),
    "browOuterUpLeft": ((4.4, 0.0), (4.7, 0.7), (5.2, 0.7), (5.5, 0.0)),
    "browOuterUpRight": ((4.4, 0.0), (4.7, 0.7), (5.2, 0.7), (5.5, 0.0)),
    "headYaw": ((0.0, 0.0), (1.5, 0.12), (3.0, -0.1), (5.5, 0.0), (6.5, 0.3), (7.5, -0.3), (8.0, 0.0)),
    "headPitch": ((0.0, 0.0), (1.0, 0.05), (2.0, -0.04), (5.8, 0.0), (6.3, 0.15), (6.9, -0.12), (7.6, 0.0)),
    "headRoll": ((0.0, 0.0), (2.5, 0.06), (5.0, -0.05), (8.0, 0.0)),
    "gazeYaw": ((0.0, 0.0), (5.6, 0.0), (5.8, 0.6), (6.4, 0.6), (6.6, -0.5), (7.2, -0.5), (7.4, 0.0)),
}
BLINKS: tuple[float, ...] = (0.9, 2.6, 4.9, 7.0)  # blink onsets, seconds
BLINK_SECONDS = 0.24


def _ease(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _keyframes(times: np.ndarray, keys: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Values at ``times`` of eased piecewise keyframes (held before the first and after the last)."""
    out = np.full(times.shape, keys[0][1], dtype=np.float64)
    for (t0, v0), (t1, v1) in itertools.pairwise(keys):
        inside = (times >= t0) & (times <= t1)
        out[inside] = v0 + (v1 - v0) * _ease((times[inside] - t0) / max(t1 - t0, 1e-6))
    out[times > keys[-1][0]] = keys[-1][1]
    return out


def demo_motion(seconds: float = 8.0, fps: int = FPS) -> np.ndarray:
    """Motion [T, 40] float32: two spoken phrases, a smile, brows, blinks, gaze and head turns."""
    frames = max(1, round(seconds * fps))
    times = np.arange(frames) / fps
    motion = ms.zeros(frames).astype(np.float64)
    # Visemes: each channel keyed at every viseme time (0 where the viseme does not use it).
    phrase_starts = (0.2, 1.6)
    names = sorted({n for _, v in VISEMES for n in v})
    for start in phrase_starts:
        for name in names:
            keys = tuple((start + t, v.get(name, 0.0)) for t, v in VISEMES)
            inside = (times >= keys[0][0]) & (times <= keys[-1][0])
            motion[inside, ms.INDEX[name]] += _keyframes(times[inside], keys)
    for name, keys in TRACKS.items():
        motion[:, ms.INDEX[name]] += _keyframes(times, keys)
    for onset in BLINKS:
        phase = (times - onset) / BLINK_SECONDS  # close fast, open a little slower
        lid = np.where(phase < 0.4, _ease(phase / 0.4), 1.0 - _ease((phase - 0.4) / 0.6))
        lid = np.where((phase >= 0) & (phase <= 1), lid, 0.0)
        motion[:, ms.INDEX["eyeBlinkLeft"]] += lid
        motion[:, ms.INDEX["eyeBlinkRight"]] += lid
    return ms.clamp_np(motion.astype(np.float32))


CONTACT_SHEET: tuple[tuple[str, dict[str, float]], ...] = (
    ("neutral", {}),
    ("jawOpen", {"jawOpen": 0.8}),
    ("smile", {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0}),
    ("pucker", {"mouthPucker": 1.0}),
    ("blink", {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
    ("brows up", {"browInnerUp": 1.0, "browOuterUpLeft": 0.8, "browOuterUpRight": 0.8}),
    ("yaw +20°", {"headYaw": float(np.radians(20))}),
    ("yaw -20°", {"headYaw": float(np.radians(-20))}),
    ("pitch +10°", {"headPitch": float(np.radians(10))}),
    ("pitch -10°", {"headPitch": float(np.radians(-10))}),
)


def contact_sheet_motion() -> tuple[list[str], np.ndarray]:
    """(labels, motion [N, 40]) of the contact sheet's poses."""
    labels = [label for label, _ in CONTACT_SHEET]
    return labels, np.concatenate([ms.from_dict(values) for _, values in CONTACT_SHEET])
