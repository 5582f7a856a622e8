"""Emotion: slow expression offsets over a clip, a seeded schedule, and the TTS prosody per emotion.

An emotion here is a mood that lasts seconds, not a gesture: a constant offset on the expression
channels (and a little head pitch) added to whatever the lips, prosody and life do, with a
multiplier on the jaw's speech opening (anger clenches, surprise opens). Five labels,
:data:`EMOTIONS`; intensity in [0, 1] scales the offset linearly.

A long clip (1–5 minutes) changes mood several times: :func:`emotion_schedule` draws segments of
:attr:`ScheduleConfig.segment_s` seconds, each a new emotion and intensity (never the same label
twice in a row), and crossfades between them over 1–3 s with a smoothstep, so no channel jumps.
The result, :class:`EmotionTrack`, has per-frame ``label`` and ``intensity`` arrays (the
conditioning a model may read) and the continuous per-emotion ``strength`` the offsets come from.

The speech should sound like the face looks: :data:`TTS_PROSODY` is the table the synthesis step
reads — pitch level (semitones), pitch range, rate and energy (factors) per emotion at full
intensity — and :func:`tts_prosody` interpolates it for an intensity (the values follow the usual
acoustic correlates: happy and surprised higher and wider, sad lower, narrower, slower and softer,
angry louder and faster).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from xactor.engines import motion_space as ms
from xactor.engines.timebase import FRAME_SECONDS

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "surprised")
EMOTION_INDEX: Mapping[str, int] = MappingProxyType({e: i for i, e in enumerate(EMOTIONS)})

# Offsets at intensity 1 (absolute motion units: radians for pose, [0, 1] for expressions).
OFFSETS: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "neutral": {},
        "happy": {
            "mouthSmileLeft": 0.45,
            "mouthSmileRight": 0.45,
            "eyeSquintLeft": 0.3,  # the cheek raise of a real (Duchenne) smile
            "eyeSquintRight": 0.3,
            "browInnerUp": 0.05,
            "headPitch": -0.02,  # chin a little up
        },
        "sad": {
            "browInnerUp": 0.55,
            "mouthFrownLeft": 0.35,
            "mouthFrownRight": 0.35,
            "mouthPressLeft": 0.1,
            "mouthPressRight": 0.1,
            "eyeSquintLeft": 0.1,
            "eyeSquintRight": 0.1,
            "headPitch": 0.06,  # head down
        },
        "angry": {
            "browDownLeft": 0.6,
            "browDownRight": 0.6,
            "mouthPressLeft": 0.35,
            "mouthPressRight": 0.35,
            "mouthStretchLeft": 0.12,  # a tense, wide mouth
            "mouthStretchRight": 0.12,
            "mouthUpperUpLeft": 0.08,
            "mouthUpperUpRight": 0.08,
            "eyeSquintLeft": 0.2,
            "eyeSquintRight": 0.2,
            "headPitch": 0.025,  # chin down, glaring
        },
        "surprised": {
            "browInnerUp": 0.6,
            "browOuterUpLeft": 0.6,
            "browOuterUpRight": 0.6,
            "eyeWideLeft": 0.55,
            "eyeWideRight": 0.55,
            "jawOpen": 0.1,
            "headPitch": -0.03,  # head back
        },
    }
)
# Factor on the jaw's speech opening at intensity 1: anger clenches, surprise and joy open up.
JAW_GAIN: Mapping[str, float] = MappingProxyType(
    {"neutral": 1.0, "happy": 1.05, "sad": 0.85, "angry": 0.8, "surprised": 1.15}
)


def offset_matrix() -> np.ndarray:
    """Offsets [5, 40] float64, one row per emotion in :data:`EMOTIONS` order."""
    return np.stack([ms.from_dict(dict(OFFSETS[e]))[0].astype(np.float64) for e in EMOTIONS])


@dataclass(frozen=True)
class EmotionProsody:
    """How an emotion should sound, relative to the voice's own settings.

    ``pitch_semitones`` shifts the pitch level; ``pitch_range``, ``rate`` and ``energy`` multiply
    the voice's pitch range, speaking rate and amplitude.
    """

    pitch_semitones: float = 0.0
    pitch_range: float = 1.0
    rate: float = 1.0
    energy: float = 1.0


TTS_PROSODY: Mapping[str, EmotionProsody] = MappingProxyType(
    {
        "neutral": EmotionProsody(),
        "happy": EmotionProsody(pitch_semitones=2.0, pitch_range=1.3, rate=1.08, energy=1.15),
        "sad": EmotionProsody(pitch_semitones=-2.0, pitch_range=0.6, rate=0.85, energy=0.75),
        "angry": EmotionProsody(pitch_semitones=1.0, pitch_range=1.25, rate=1.1, energy=1.35),
        "surprised": EmotionProsody(pitch_semitones=3.5, pitch_range=1.6, rate=1.0, energy=1.2),
    }
)


def tts_prosody(emotion: str, intensity: float = 1.0) -> EmotionProsody:
    """The table's prosody for ``emotion`` at ``intensity`` in [0, 1].

    Semitones scale linearly; factors geometrically (half an intensity of ×1.44 is ×1.2), so
    intensity 0 is the neutral voice whatever the emotion.
    """
    if emotion not in TTS_PROSODY:
        raise ValueError(f"unknown emotion {emotion!r}; known: {', '.join(EMOTIONS)}")
    w = float(np.clip(intensity, 0.0, 1.0))
    p = TTS_PROSODY[emotion]
    return EmotionProsody(
        pitch_semitones=w * p.pitch_semitones,
        pitch_range=p.pitch_range**w,
        rate=p.rate**w,
        energy=p.energy**w,
    )


@dataclass(frozen=True)
class EmotionSegment:
    """One mood: from ``start`` (s; its crossfade from the previous one begins there, lasting
    ``fade_s``) to the next segment's start."""

    emotion: str
    intensity: float
    start: float
    fade_s: float


@dataclass(frozen=True)
class EmotionTrack:
    """Per-frame emotion of a clip.

    * ``label`` [T] int64 — index into :data:`EMOTIONS` of the dominant mood (the segment whose
      crossfade share is at least one half);
    * ``intensity`` [T] float32 — that mood's effective intensity (0 for neutral);
    * ``strength`` [T, 5] float32 — each emotion's effective intensity (crossfade share × segment
      intensity; the neutral column is the neutral share), what the offsets are made from;
    * ``segments`` — the schedule it was drawn from.
    """

    label: np.ndarray
    intensity: np.ndarray
    strength: np.ndarray
    segments: tuple[EmotionSegment, ...]

    def __len__(self) -> int:
        return int(self.label.shape[0])

    def offsets(self) -> np.ndarray:
        """Expression and pose offsets [T, 40] float32 (neutral contributes none)."""
        return (self.strength.astype(np.float64) @ offset_matrix()).astype(np.float32)  # [T, 40]

    def jaw_gain(self) -> np.ndarray:
        """Factor [T] on the lips' jaw opening: 1 + Σ strength × (gain − 1)."""
        gains = np.array([JAW_GAIN[e] - 1.0 for e in EMOTIONS])  # [5]
        return 1.0 + self.strength.astype(np.float64) @ gains

    def resized(self, frames: int) -> EmotionTrack:
        """The first ``frames`` frames, the last one held beyond the end: a schedule drawn for a
        clip's planned length fits the clip as finally spoken (a little longer or shorter)."""
        if frames <= len(self):
            keep = slice(0, frames)
            return EmotionTrack(self.label[keep], self.intensity[keep], self.strength[keep], self.segments)
        if len(self) == 0:
            raise ValueError("cannot extend an empty emotion track")
        idx = np.minimum(np.arange(frames), len(self) - 1)  # [frames]
        return EmotionTrack(self.label[idx], self.intensity[idx], self.strength[idx], self.segments)

    def at(self, seconds: float) -> tuple[str, float]:
        """(label, intensity) at ``seconds`` (clamped to the clip) — for the TTS step per utterance."""
        k = min(max(math.floor(seconds / FRAME_SECONDS), 0), len(self) - 1)
        return EMOTIONS[int(self.label[k])], float(self.intensity[k])


@dataclass(frozen=True)
class ScheduleConfig:
    """Parameters of :func:`emotion_schedule` (seconds)."""

    segment_s: tuple[float, float] = (12.0, 35.0)  # how long a mood lasts
    fade_s: tuple[float, float] = (1.0, 3.0)  # crossfade from one mood to the next
    intensity: tuple[float, float] = (0.35, 1.0)  # of a non-neutral mood
    neutral_p: float = 0.3  # chance the next mood is neutral (when the current one is not)
    start_neutral_p: float = 0.5  # chance a clip starts neutral
    min_tail_s: float = 2.0  # a new mood is held at least this long after its fade


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def track_from_segments(segments: list[EmotionSegment], frames: int) -> EmotionTrack:
    """Per-frame arrays of a schedule; segments in order, the first starting at 0 without a fade."""
    if not segments:
        raise ValueError("a schedule needs at least one segment")
    t = (np.arange(frames, dtype=np.float64) + 0.5) * FRAME_SECONDS  # frame centres, as the lips
    strength = np.zeros((frames, len(EMOTIONS)))  # [T, 5]
    label = np.zeros(frames, dtype=np.int64)
    for i, seg in enumerate(segments):
        col = EMOTION_INDEX[seg.emotion]
        level = 1.0 if seg.emotion == "neutral" else seg.intensity
        rise = np.ones(frames) if i == 0 else _smoothstep((t - seg.start) / max(seg.fade_s, 1e-6))
        if i + 1 < len(segments):
            nxt = segments[i + 1]
            fall = 1.0 - _smoothstep((t - nxt.start) / max(nxt.fade_s, 1e-6))
        else:
            fall = np.ones(frames)
        share = np.minimum(rise, fall)  # [T] this segment's crossfade share
        strength[:, col] += share * level
        label = np.where(share >= 0.5, col, label)
    intensity = np.where(label == EMOTION_INDEX["neutral"], 0.0, strength[np.arange(frames), label])
    return EmotionTrack(
        label=label,
        intensity=intensity.astype(np.float32),
        strength=strength.astype(np.float32),
        segments=tuple(segments),
    )


def constant_emotion(frames: int, emotion: str = "neutral", intensity: float = 1.0) -> EmotionTrack:
    """One mood for the whole clip."""
    if emotion not in EMOTION_INDEX:
        raise ValueError(f"unknown emotion {emotion!r}; known: {', '.join(EMOTIONS)}")
    return track_from_segments([EmotionSegment(emotion, float(np.clip(intensity, 0, 1)), 0.0, 0.0)], frames)


def emotion_schedule(frames: int, seed: int, config: ScheduleConfig | None = None) -> EmotionTrack:
    """A seeded sequence of moods over ``frames`` 25 fps frames, crossfaded (see module docstring)."""
    cfg = config or ScheduleConfig()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xE40]))
    seconds = frames * FRAME_SECONDS
    current = "neutral" if rng.random() < cfg.start_neutral_p else str(rng.choice(EMOTIONS[1:]))
    segments = [EmotionSegment(current, _intensity(current, rng, cfg), 0.0, 0.0)]
    start = 0.0
    while True:
        start += float(rng.uniform(*cfg.segment_s))
        fade = float(rng.uniform(*cfg.fade_s))
        if start + fade + cfg.min_tail_s >= seconds:
            break  # a change the clip would cut off mid-fade is no change
        if current != "neutral" and rng.random() < cfg.neutral_p:
            current = "neutral"
        else:
            current = str(rng.choice([e for e in EMOTIONS[1:] if e != current]))
        segments.append(EmotionSegment(current, _intensity(current, rng, cfg), start, fade))
    return track_from_segments(segments, frames)


def _intensity(emotion: str, rng: np.random.Generator, cfg: ScheduleConfig) -> float:
    draw = float(rng.uniform(*cfg.intensity))  # drawn for neutral too: one draw per segment
    return 0.0 if emotion == "neutral" else draw
