"""Lip and jaw motion from timed phonemes: Cohen–Massaro dominance blending at 25 fps.

Every phoneme (:class:`~training.corpus.phonemes.PhoneSpan`) contributes its viseme target
(:mod:`xactor.training.corpus.motion.visemes`) with a dominance function that is flat over the middle
``plateau`` of its span and decays exponentially before (``tau_before``: anticipation, the lips
move toward a phoneme before it sounds) and after it (``tau_after``: carry-over). Per lip channel
``c`` and time ``t``::

    value_c(t) = Σ_i D_i(t) α_ic T_ic / (ε + Σ_i D_i(t) α_ic)

with ``α_ic`` the phoneme's dominance on the channel's group and ``ε`` a relaxed face that wins
only where no phoneme is near. Cohen & Massaro (1993) write ``D = α exp(-θ |τ|^c)``; here ``θ =
1 / tau``, separately before and after, τ is measured from the plateau's edge and ``c`` is
:attr:`LipConfig.shape`, 1 (a plain exponential) by default. ``c = 2`` keeps coarticulation more
local (less of a closure's press lingers in the next vowel, open vowels reach more of their
target) at the price of a steeper approach; the contact rule below makes either safe.

Sampling: one value per video frame at the frame's *centre*, ``t_k = (k + 0.5) × 40 ms`` — the
middle of the audio frame ``k`` owns (:mod:`xactor.engines.timebase`: samples ``[640k, 640(k + 1))``).
A frame is one picture, a snapshot; averaging over the 40 ms would low-pass the lips by a box
filter and blunt the shortest events (a 60 ms closure). A phoneme's "centre frame" is the frame
whose 40 ms contain the centre of its span (:func:`frame_of`). Loudness (:func:`frame_loudness`)
is read from the same frame's four 10 ms rows.

Three rules on top of the blend, because blending alone cannot promise them:

* Lip contact (P B M F V; adjacent bilabials merged into one closure, :func:`merge_closures`):
  in the frame containing each one's centre and every frame whose centre lies in the middle
  :attr:`LipConfig.contact_core` of its span, the jaw is at most the viseme's; for P B M the lips
  are sealed (``mouthClose == jawOpen``: see :mod:`xactor.training.corpus.motion.visemes` for why that, not
  ``mouthClose ≈ 1``, is a closed mouth in this motion space) and pressed, for F V the lower lip
  is rolled in and the upper lip lifted as far as the viseme says. A stop closes for most of its
  span, and between two strong open vowels the blend alone leaves the lips apart.
* Loudness: vowel jaw targets (and the lower lip that follows the jaw) scale with the vowel's
  loudness — the mean per-clip-normalised level of the frames in its span — between
  :attr:`LipConfig.loud_gain` (0.75× when quietest, 1.2× when loudest): louder speech opens more.
  Per vowel rather than per frame, because the target of a vowel is felt during the consonants
  around it (anticipation) and must not shrink with *their* lower level.
* Rest: in a pause longer than :attr:`LipConfig.long_silence_s` (and in stretches no phoneme
  covers) every lip channel is exactly 0 — except the first :attr:`LipConfig.release_s` after
  speech, where the lips settle, and the last :attr:`LipConfig.prepare_s` before it resumes, where
  they prepare the next phoneme (a "b" after a pause closes before it sounds); in a pause too
  short for both, they shrink in proportion so that at least :attr:`LipConfig.min_rest_s` stays
  still. Shorter pauses are ordinary ``sil`` segments that pull the lips toward rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from xactor.engines import motion_space as ms
from xactor.engines.audio.frontend import FrameFeatures
from xactor.engines.timebase import FRAME_SECONDS
from xactor.training.corpus.motion.visemes import (
    BILABIALS,
    CH,
    GLIDE_FRACTION,
    LABIODENTALS,
    LIP_CHANNELS,
    LIP_INDEX,
    VISEMES,
    Viseme,
    viseme_for,
)
from xactor.training.corpus.phonemes import SILENCE, PhoneSpan

_JAW_COLUMNS = np.array([CH["jawOpen"], CH["mouthLowerDownLeft"], CH["mouthLowerDownRight"]])


@dataclass(frozen=True)
class LipConfig:
    """Parameters of :func:`lip_track` (seconds unless said otherwise)."""

    rest_dominance: float = 1e-3  # ε: the relaxed face's dominance everywhere
    long_silence_s: float = 0.15  # pauses longer than this come to rest
    release_s: float = 0.08  # after speech stops the lips settle to rest within this
    prepare_s: float = 0.15  # before speech resumes the lips leave rest this early (anticipation)
    min_rest_s: float = 0.04  # a long pause keeps at least this much still (windows shrink)
    loud_gain: tuple[float, float] = (0.75, 1.2)  # vowel jaw factor at loudness 0 and 1
    nominal_loudness: float = 0.5  # loudness when none is given
    contact_core: float = 0.8  # middle fraction of a P/B/M/F/V span held in contact
    window_taus: float = 10.0  # a dominance is evaluated within this many time constants
    shape: float = 1.0  # Cohen-Massaro's exponent c: D = α exp(-(τ / tau) ** c)


def frame_times(frames: int) -> np.ndarray:
    """Sampling instants [T] in seconds: the centre of each 40 ms frame."""
    return (np.arange(frames, dtype=np.float64) + 0.5) * FRAME_SECONDS


def frame_of(seconds: float) -> int:
    """Index of the frame whose 40 ms contain the instant ``seconds``."""
    return math.floor(seconds / FRAME_SECONDS + 1e-9)


def frame_level_db(features: FrameFeatures) -> np.ndarray:
    """Level of each frame [T] in dB re full scale: the power mean of its four 10 ms RMS rows."""
    rows = np.asarray(features.prosody.rms_db, dtype=np.float64)  # [T, 4]
    return 10.0 * np.log10(np.mean(10.0 ** (rows / 10.0), axis=1) + 1e-20)


def speech_mask(phones: list[PhoneSpan], frames: int) -> np.ndarray:
    """Bool [T]: the frame's centre lies in a non-silence phoneme."""
    t = frame_times(frames)
    mask = np.zeros(frames, dtype=bool)
    for p in phones:
        if p.phone != SILENCE:
            mask |= (t >= p.start) & (t < p.end)
    return mask


def frame_loudness(
    level_db: np.ndarray, speech: np.ndarray | None = None, range_db: tuple[float, float] = (10.0, 95.0)
) -> np.ndarray:
    """Per-clip normalised loudness [T] in [0, 1] from frame levels [T] (dB).

    The clip's speech frames (``speech`` [T] bool; default: frames within 50 dB of the loudest)
    define the scale: their ``range_db`` percentiles map to 0 and 1, at least 6 dB apart. Per clip,
    so the jaw follows how loud a syllable is *for this speaker*, not the engine's output gain;
    within a clip louder stretches (an angry passage) still open more than quiet ones.
    """
    level = np.asarray(level_db, dtype=np.float64).reshape(-1)  # [T]
    if level.size == 0:
        return np.zeros(0, dtype=np.float64)
    ref = level[speech] if speech is not None and speech.any() else level
    ref = ref[ref > ref.max() - 50.0]
    lo, hi = np.percentile(ref, range_db)
    hi = max(hi, lo + 6.0)
    return np.clip((level - lo) / (hi - lo), 0.0, 1.0)


def merge_closures(phones: list[PhoneSpan]) -> list[PhoneSpan]:
    """Adjacent bilabials (the B B of "Bob bought", the M P of "jump") as one closure.

    The lips do not open between them, so they are one segment for the blend and for the seal;
    the merged span keeps the first phoneme's name.
    """
    out: list[PhoneSpan] = []
    for p in phones:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.phone in BILABIALS
            and p.phone in BILABIALS
            and p.start - prev.end < 1e-3
        ):
            out[-1] = PhoneSpan(prev.phone, prev.start, p.end, prev.stress, prev.word)
        else:
            out.append(p)
    return out


@dataclass(frozen=True)
class _Segment:
    """One blended unit: a phoneme, or one half of a diphthong."""

    start: float
    end: float
    viseme: Viseme
    vector: np.ndarray  # [16] targets after loudness scaling

    @property
    def centre(self) -> float:
        return 0.5 * (self.start + self.end)


def fill_silence(phones: list[PhoneSpan], seconds: float) -> list[PhoneSpan]:
    """``phones`` with every uncovered stretch of [0, ``seconds``] (before, between, after) as ``sil``.

    Time no phoneme claims is a pause: without this the nearest phoneme's shape would hold there
    (the blend is a ratio of dominances, however small they have decayed).
    """
    out: list[PhoneSpan] = []
    cursor = 0.0
    for p in sorted(phones, key=lambda s: s.start):
        if p.start > cursor + 1e-6:
            out.append(PhoneSpan(SILENCE, cursor, p.start))
        out.append(p)
        cursor = max(cursor, p.end)
    if seconds > cursor + 1e-6:
        out.append(PhoneSpan(SILENCE, cursor, seconds))
    return out


def _segments(phones: list[PhoneSpan], loudness: np.ndarray | None, cfg: LipConfig) -> list[_Segment]:
    """Phonemes as blend segments: diphthongs split into nucleus and glide, vowel jaws scaled."""
    times = frame_times(0 if loudness is None else loudness.shape[0])
    lo_gain, hi_gain = cfg.loud_gain
    out: list[_Segment] = []
    for p in phones:
        vis = viseme_for(p.phone, p.stress)
        vector = vis.vector.copy()
        glide_vector = VISEMES[vis.glide].vector.copy() if vis.glide else None
        if vis.loud_jaw:
            loud = cfg.nominal_loudness
            if loudness is not None and loudness.size:
                inside = (times >= p.start) & (times < p.end)
                k = min(max(frame_of(0.5 * (p.start + p.end)), 0), loudness.shape[0] - 1)
                loud = float(loudness[inside].mean()) if inside.any() else float(loudness[k])
            gain = lo_gain + (hi_gain - lo_gain) * loud
            vector[_JAW_COLUMNS] *= gain
            if glide_vector is not None:
                glide_vector[_JAW_COLUMNS] *= gain
        if glide_vector is None or vis.glide is None:
            out.append(_Segment(p.start, p.end, vis, vector))
        else:
            split = p.end - GLIDE_FRACTION * p.duration
            out.append(_Segment(p.start, split, vis, vector))
            out.append(_Segment(split, p.end, VISEMES[vis.glide], glide_vector))
    return out


def blend(segments: list[_Segment], times: np.ndarray, cfg: LipConfig) -> np.ndarray:
    """Dominance-weighted targets at ``times`` [T] -> lip values [T, 16] (LIP_CHANNELS order)."""
    n = times.shape[0]
    num = np.zeros((n, len(LIP_CHANNELS)))  # [T, 16] Σ D α T
    den = np.full((n, len(LIP_CHANNELS)), cfg.rest_dominance)  # [T, 16] ε + Σ D α
    for seg in segments:
        vis = seg.viseme
        half = 0.5 * vis.plateau * (seg.end - seg.start)
        lo, hi = seg.centre - half, seg.centre + half
        first = int(np.searchsorted(times, lo - cfg.window_taus * vis.tau_before))
        last = int(np.searchsorted(times, hi + cfg.window_taus * vis.tau_after))
        if last <= first:
            continue
        t = times[first:last]
        dist = np.maximum(lo - t, 0.0) / vis.tau_before + np.maximum(t - hi, 0.0) / vis.tau_after  # [W]
        dom = np.exp(-(dist**cfg.shape))  # [W]
        weight = dom[:, None] * vis.alpha[None, :]  # [W, 16]
        num[first:last] += weight * seg.vector[None, :]
        den[first:last] += weight
    return num / den


CONTACTS: frozenset[str] = BILABIALS | LABIODENTALS  # the lips must touch something
# Per contact: channels held at most the viseme's value, and at least it (the contact itself).
_CEILING = ("jawOpen",)
_FLOOR: dict[str, tuple[str, ...]] = {
    **{b: ("mouthPressLeft", "mouthPressRight") for b in BILABIALS},
    **{f: ("mouthRollLower", "mouthUpperUpLeft", "mouthUpperUpRight") for f in LABIODENTALS},
}


def contact_frames(phones: list[PhoneSpan], frames: int, core: float = 0.8) -> dict[int, str]:
    """Frames held in contact -> the P/B/M/F/V holding them: the frame containing each one's
    centre and the frames whose centre lies in the middle ``core`` fraction of its span."""
    t = frame_times(frames)
    held: dict[int, str] = {}
    for p in merge_closures(phones):
        if p.phone not in CONTACTS:
            continue
        centre, half = 0.5 * (p.start + p.end), 0.5 * core * p.duration
        ks = {frame_of(centre), *np.flatnonzero(np.abs(t - centre) <= half).tolist()}
        for k in ks:
            if 0 <= k < frames:
                held[k] = p.phone
    return held


def enforce_contacts(motion: np.ndarray, phones: list[PhoneSpan], core: float = 0.8) -> np.ndarray:
    """Make the lips touch in the contact frames of motion [T, 40] (in place; returned).

    Jaw at most the viseme's; for P/B/M the lips sealed (``mouthClose`` equal to the jaw: closed,
    not pushed through) and pressed at least as the viseme says; for F/V the lower lip rolled
    and the upper lip lifted at least as the viseme says. Blending alone cannot promise this
    between two strong open vowels. Run again after anything is added to the jaw (emotion).
    """
    jaw, close = ms.INDEX["jawOpen"], ms.INDEX["mouthClose"]
    for k, phone in contact_frames(phones, motion.shape[0], core).items():
        target = VISEMES[phone].targets
        for name in _CEILING:
            motion[k, ms.INDEX[name]] = min(motion[k, ms.INDEX[name]], target.get(name, 0.0))
        for name in _FLOOR[phone]:
            motion[k, ms.INDEX[name]] = max(motion[k, ms.INDEX[name]], target.get(name, 0.0))
        if phone in BILABIALS:
            motion[k, close] = motion[k, jaw]
    return motion


def rest_windows(pause: PhoneSpan, first: bool, last: bool, cfg: LipConfig) -> tuple[float, float]:
    """(release, prepare) seconds at the ends of a long ``pause``: none at the clip's start or
    end; shortened together where the pause would otherwise keep less than ``min_rest_s`` still."""
    release = 0.0 if first else cfg.release_s
    prepare = 0.0 if last else cfg.prepare_s
    room = pause.duration - cfg.min_rest_s
    if release + prepare > room:
        scale = max(room, 0.0) / (release + prepare)
        release, prepare = release * scale, prepare * scale
    return release, prepare


def rest_gate(phones: list[PhoneSpan], frames: int, cfg: LipConfig | None = None) -> np.ndarray:
    """How much lip motion each frame keeps [T] in [0, 1]: 0 inside long pauses, 1 elsewhere.

    ``phones`` must cover the clip (see :func:`fill_silence`). A pause longer than
    ``long_silence_s`` ramps (smoothstep) to 0 over its release after its start and back to 1
    over its preparation before its end (:func:`rest_windows`).
    """
    cfg = cfg or LipConfig()
    t = frame_times(frames)
    gate = np.ones(frames)
    for i, p in enumerate(phones):
        if p.phone != SILENCE or p.duration <= cfg.long_silence_s:
            continue
        release, prepare = rest_windows(p, i == 0, i == len(phones) - 1, cfg)
        inside = (t >= p.start) & (t < p.end)
        down = _smoothstep((t - p.start) / release) if release > 0 else np.ones(frames)
        up = _smoothstep((p.end - t) / prepare) if prepare > 0 else np.ones(frames)
        gate[inside] = np.minimum(gate[inside], (1.0 - np.minimum(down, up))[inside])
    return gate


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def lip_track(
    phones: list[PhoneSpan],
    frames: int,
    loudness: np.ndarray | None = None,
    config: LipConfig | None = None,
) -> np.ndarray:
    """Lip and jaw motion of a clip -> float32 [T, 40], only :data:`LIP_CHANNELS` non-zero.

    ``phones`` in order, times in seconds (gaps are pauses); ``frames`` the clip's 25 fps frame
    count; ``loudness`` [T] in [0, 1] per frame (:func:`frame_loudness`; default: nominal).
    """
    cfg = config or LipConfig()
    if loudness is not None:
        loudness = np.asarray(loudness, dtype=np.float64).reshape(-1)
        if loudness.shape[0] != frames:
            raise ValueError(f"loudness has {loudness.shape[0]} frames, expected {frames}")
    phones = merge_closures(fill_silence(phones, frames * FRAME_SECONDS))
    lips = blend(_segments(phones, loudness, cfg), frame_times(frames), cfg)  # [T, 16]
    lips *= rest_gate(phones, frames, cfg)[:, None]
    motion = ms.zeros(frames)  # [T, 40]
    motion[:, LIP_INDEX] = lips
    enforce_contacts(motion, phones, cfg.contact_core)
    # Never push the lips through each other, whatever the blend mixed (see visemes).
    motion[:, ms.INDEX["mouthClose"]] = np.minimum(
        motion[:, ms.INDEX["mouthClose"]], motion[:, ms.INDEX["jawOpen"]]
    )
    return ms.clamp_np(motion)
