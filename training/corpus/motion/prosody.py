"""Head and brow gestures from prosody: nods, small turns and brow raises on accented syllables.

Speakers move their heads and brows with the rhythm of their speech, and the beat falls on the
prominent syllables: the stressed vowels of the words they accent, where F0 and energy peak. This
module finds those accents from the phonemes' stress marks (primary 1, secondary 2) weighted by
the audio's F0 and loudness around each vowel (:mod:`xactor.engines.audio.frontend` prosody rows), plus
unstressed vowels with a clear pitch peak (a pitch accent the dictionary did not mark), and puts a
gesture on some of them:

* a nod — the chin dips (``headPitch`` > 0) and comes back, a raised-cosine bump whose apex
  *leads* the accented vowel's onset by :attr:`ProsodyConfig.lead_s` (75 ms: gestures anticipate
  the acoustic prominence they go with). The nod is the :attr:`ProsodyMotion.emphasis` curve —
  handed to :func:`xactor.engines.motion_source.life.life_track` whose ``nod_max`` makes the basic nod,
  as in the live heuristic — plus an extra nod here that grows with the style;
* brow raises (``browInnerUp``, ``browOuterUp*``) on the same bump, wider, more on pitch peaks;
* small head turns — now and then an accent moves the head to a new small yaw (and a little roll)
  that it holds and slowly leaves (a speaker re-orienting between phrases).

``style`` in [0, 1] is the speaker, per clip: 0 calm (few accents gestured, small, slow), 1
animated (most accents, larger, quicker). Every gesture is smooth (raised cosines, a critically
damped turn) and a final slew limit guarantees no frame-to-frame step beyond what a head does in
40 ms (:attr:`ProsodyConfig.max_pose_step`). Deterministic for a seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from xactor.engines import motion_space as ms
from xactor.engines.audio.frontend import FrameFeatures
from xactor.engines.timebase import FRAME_SECONDS
from xactor.training.corpus.motion.lips import frame_level_db, frame_loudness, frame_times, speech_mask
from xactor.training.corpus.phonemes import VOWELS, PhoneSpan


def _lerp(pair: tuple[float, float], x: float) -> float:
    return pair[0] + (pair[1] - pair[0]) * x


@dataclass(frozen=True)
class ProsodyConfig:
    """Gesture parameters; pairs are (calm, animated) values interpolated by the style."""

    lead_s: float = 0.075  # nod / brow apex this long before the accented vowel's onset
    select_p: tuple[float, float] = (0.3, 0.9)  # chance an accent gets a gesture
    min_gap_s: tuple[float, float] = (1.2, 0.45)  # between gestured accents
    half_width_s: tuple[float, float] = (0.26, 0.17)  # half-width of a nod bump
    brow_widen: float = 1.4  # brow bumps are this much wider (brows hold longer)
    emphasis: tuple[float, float] = (0.45, 1.0)  # emphasis (Life's nod) at full accent strength
    nod_extra: tuple[float, float] = (0.004, 0.035)  # rad of nod beyond Life's nod_max
    brow_inner: tuple[float, float] = (0.12, 0.45)  # browInnerUp at full strength
    brow_outer_ratio: float = 0.75  # browOuterUp* relative to browInnerUp
    brow_p: tuple[float, float] = (0.5, 0.85)  # chance a gestured accent raises the brows
    turn_p: tuple[float, float] = (0.2, 0.55)  # chance a gestured accent turns the head
    turn_sd: tuple[float, float] = (0.012, 0.045)  # rad, spread of a turn's yaw
    turn_settle_s: float = 0.12  # time constant of the critically damped turn
    turn_decay_s: float = 2.5  # a held turn relaxes back toward the front
    roll_ratio: float = 0.3  # roll follows the yaw a little (turn and tilt together)
    max_pose_step: float = 0.03  # rad (or face widths) per frame: ~43 °/s
    max_brow_step: float = 0.15  # per frame
    pitch_range_st: float = 4.0  # semitones above the clip's median F0 for full pitch prominence


@dataclass(frozen=True)
class Accent:
    """A prominent syllable: its vowel's onset (s), strength and F0 prominence (0..1)."""

    onset: float
    strength: float
    pitch: float
    phone: int  # index into the clip's phonemes


@dataclass(frozen=True)
class ProsodyMotion:
    """Gestures of a clip: ``motion`` [T, 40] (pose and brows only), ``emphasis`` [T] in [0, 1]
    for Life's nod, and the accents that were gestured."""

    motion: np.ndarray
    emphasis: np.ndarray
    accents: list[Accent] = field(default_factory=list)


def frame_semitones(features: FrameFeatures) -> np.ndarray:
    """F0 per frame [T] in semitones re the clip's median voiced F0; NaN where unvoiced or where
    the estimate is more than 10 semitones off (an octave error, not intonation)."""
    f0 = np.asarray(features.prosody.f0, dtype=np.float64)  # [T, 4]
    voicing = np.asarray(features.prosody.voicing, dtype=np.float64)
    voiced = (f0 > 0) & (voicing >= 0.45)
    rows = voiced.any(axis=1)  # [T]
    f0_frame = np.full(f0.shape[0], np.nan)
    if not rows.any():
        return f0_frame
    f0_frame[rows] = np.nanmedian(np.where(voiced, f0, np.nan)[rows], axis=1)
    ref = float(np.nanmedian(f0_frame))
    semitones = 12.0 * np.log2(f0_frame / ref)
    # The front end's F0 is one autocorrelation peak per row: octave jumps are its usual error.
    semitones[np.abs(semitones) > 10.0] = np.nan
    return semitones


def find_accents(
    phones: list[PhoneSpan], frames: int, features: FrameFeatures | None, cfg: ProsodyConfig
) -> list[Accent]:
    """Candidate accents: stressed vowels weighted by F0 and loudness, plus unmarked pitch peaks."""
    t = frame_times(frames)
    if features is not None:
        semitones = frame_semitones(features)
        loudness = frame_loudness(frame_level_db(features), speech_mask(phones, frames))
    else:
        semitones = np.full(frames, np.nan)
        loudness = np.full(frames, 0.5)
    out: list[Accent] = []
    for i, p in enumerate(phones):
        if p.phone not in VOWELS:
            continue
        inside = (t >= p.start - 0.02) & (t < p.end + 0.02)
        st = semitones[inside]
        st = st[np.isfinite(st)]
        # Upper quartile, not the maximum: one wrong row must not make an accent.
        pitch = float(np.clip(np.percentile(st, 75) / cfg.pitch_range_st, 0.0, 1.0)) if st.size else 0.0
        energy = float(np.clip((loudness[inside].mean() - 0.3) / 0.6, 0.0, 1.0)) if inside.any() else 0.5
        stress = {1: 1.0, 2: 0.6}.get(p.stress, 0.0)
        if stress > 0:
            strength = stress * (0.55 + 0.25 * pitch + 0.2 * energy)
        elif pitch >= 0.6:
            strength = 0.6 * pitch
        else:
            continue
        out.append(Accent(onset=p.start, strength=float(min(strength, 1.0)), pitch=pitch, phone=i))
    return out


def _select(
    accents: list[Accent], style: float, rng: np.random.Generator, cfg: ProsodyConfig
) -> list[Accent]:
    """Strongest first, each kept with a style-dependent chance and a minimum gap to the kept ones."""
    p_keep, gap = _lerp(cfg.select_p, style), _lerp(cfg.min_gap_s, style)
    draws = rng.random(len(accents))  # one draw per candidate, in time order: stable under ties
    order = sorted(range(len(accents)), key=lambda i: (-accents[i].strength, accents[i].onset))
    kept: list[Accent] = []
    for i in order:
        a = accents[i]
        if draws[i] >= p_keep * (0.6 + 0.4 * a.strength):
            continue
        if all(abs(a.onset - b.onset) >= gap for b in kept):
            kept.append(a)
    return sorted(kept, key=lambda a: a.onset)


def _bump(t: np.ndarray, apex: float, half_width: float) -> np.ndarray:
    """Raised cosine [T]: 1 at ``apex``, 0 beyond ``half_width`` either side (smooth ends)."""
    x = np.clip((t - apex) / half_width, -1.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * x))


def slew_limit(x: np.ndarray, max_step: float) -> np.ndarray:
    """``x`` [T, ...] with every frame-to-frame change clipped to ``max_step`` (forward pass)."""
    out = np.array(x, dtype=np.float64, copy=True)
    for k in range(1, out.shape[0]):
        out[k] = out[k - 1] + np.clip(out[k] - out[k - 1], -max_step, max_step)
    return out


def _turns(
    frames: int, accents: list[Accent], style: float, rng: np.random.Generator, cfg: ProsodyConfig
) -> np.ndarray:
    """Yaw [T]: on some accents a new small target, approached critically damped, slowly released."""
    goal_at: dict[int, float] = {}
    sd, p_turn = _lerp(cfg.turn_sd, style), _lerp(cfg.turn_p, style)
    for a in accents:
        turn, target = rng.random(), float(np.clip(rng.normal(0.0, sd), -2.5 * sd, 2.5 * sd))
        if turn < p_turn:
            goal_at[max(0, math.floor((a.onset - cfg.lead_s) / FRAME_SECONDS))] = target
    dt = FRAME_SECONDS
    decay = math.exp(-dt / cfg.turn_decay_s)
    omega = 1.0 / cfg.turn_settle_s
    yaw = np.zeros(frames)
    goal = pos = vel = 0.0
    for k in range(frames):
        goal = goal_at.get(k, goal * decay)
        # Critically damped spring toward the goal (semi-implicit Euler; stable for dt * omega < 1).
        acc = omega * omega * (goal - pos) - 2.0 * omega * vel
        vel += acc * dt
        pos += vel * dt
        yaw[k] = pos
    return yaw


def prosody_motion(
    phones: list[PhoneSpan],
    frames: int,
    features: FrameFeatures | None = None,
    style: float = 0.5,
    seed: int = 0,
    config: ProsodyConfig | None = None,
) -> ProsodyMotion:
    """Nods, turns and brow raises of a clip (see module docstring); deterministic for ``seed``.

    ``features`` (``frames`` long) give F0 and loudness; without them accents come from stress only.
    """
    cfg = config or ProsodyConfig()
    if features is not None and len(features) != frames:
        raise ValueError(f"features have {len(features)} frames, expected {frames}")
    style = float(np.clip(style, 0.0, 1.0))
    select_rng, shape_rng, turn_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    accents = _select(find_accents(phones, frames, features, cfg), style, select_rng, cfg)
    t = frame_times(frames)
    half = _lerp(cfg.half_width_s, style)
    emphasis, nod, brow = np.zeros(frames), np.zeros(frames), np.zeros(frames)
    p_brow = _lerp(cfg.brow_p, style)
    for a in accents:
        apex = a.onset - cfg.lead_s
        width = half * float(shape_rng.uniform(0.85, 1.15))
        size, brow_draw, brow_size = (
            shape_rng.uniform(0.7, 1.0),
            shape_rng.random(),
            shape_rng.uniform(0.7, 1.0),
        )
        bump = _bump(t, apex, width)  # [T]
        emphasis = np.maximum(emphasis, _lerp(cfg.emphasis, style) * a.strength * bump)
        nod = np.maximum(nod, _lerp(cfg.nod_extra, style) * a.strength * size * bump)
        if brow_draw < p_brow:
            lift = _lerp(cfg.brow_inner, style) * a.strength * (0.4 + 0.6 * a.pitch) * brow_size
            brow = np.maximum(brow, lift * _bump(t, apex, width * cfg.brow_widen))
    yaw = _turns(frames, accents, style, turn_rng, cfg)
    pose = np.stack([yaw, nod, cfg.roll_ratio * yaw], axis=1)  # [T, 3] yaw, pitch, roll
    pose = slew_limit(pose, cfg.max_pose_step)
    brow = slew_limit(brow, cfg.max_brow_step)
    motion = ms.zeros(frames)  # [T, 40]
    motion[:, ms.INDEX["headYaw"]] = pose[:, 0]
    motion[:, ms.INDEX["headPitch"]] = pose[:, 1]
    motion[:, ms.INDEX["headRoll"]] = pose[:, 2]
    motion[:, ms.INDEX["browInnerUp"]] = brow
    motion[:, ms.INDEX["browOuterUpLeft"]] = cfg.brow_outer_ratio * brow
    motion[:, ms.INDEX["browOuterUpRight"]] = cfg.brow_outer_ratio * brow
    return ProsodyMotion(
        motion=ms.clamp_np(motion),
        emphasis=np.clip(emphasis, 0.0, 1.0).astype(np.float32),
        accents=accents,
    )
