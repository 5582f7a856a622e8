"""The motion of one corpus clip: lips + prosodic gestures + emotion + life, in the motion space.

:func:`clip_motion` is the one place the parts meet, each with one job:

* lips and jaw from the phonemes (:mod:`xactor.training.corpus.motion.lips`), the jaw scaled by
  loudness and by the emotion's jaw gain;
* nods, turns and brow raises on accented syllables (:mod:`xactor.training.corpus.motion.prosody`);
* the emotion's slow expression offsets (:mod:`xactor.training.corpus.motion.emotion`);
* life — blinks, idle head, gaze, breathing, and the basic nod on the prosodic emphasis —
  from :func:`xactor.engines.motion_source.life.life_track`, the same code the live heuristic runs, so
  the corpus and the fallback share their non-speech statistics.

The parts add (the offsets are small and live on mostly different channels), the bilabial seal
is re-imposed after the emotion touched the jaw, and the sum is clamped to the motion space.

Muted stretches: where the audio is digitally silent (or all but: below
:attr:`MotionConfig.muted_db`) for :attr:`MotionConfig.muted_s` or longer, whatever the phonemes
say, the phonemes there are replaced by silence — the corpus may mute or drop audio to teach that
no sound means no speech — so the face goes still and listens: life and the mood only, no lips,
no prosodic gestures. Speech weight for life comes from the phonemes (the TTS engine's own
timing, exact) rather than the VAD, whose gate lags onsets; the VAD is the fallback for a clip
without phonemes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xactor.engines import motion_space as ms
from xactor.engines.audio.frontend import FrameFeatures
from xactor.engines.motion_source.life import LifeConfig, life_track
from xactor.engines.timebase import FRAME_SECONDS
from xactor.training.corpus.motion.emotion import EmotionTrack, constant_emotion
from xactor.training.corpus.motion.lips import (
    LipConfig,
    enforce_contacts,
    fill_silence,
    frame_level_db,
    frame_loudness,
    frame_times,
    lip_track,
    speech_mask,
)
from xactor.training.corpus.motion.prosody import ProsodyConfig, prosody_motion
from xactor.training.corpus.phonemes import SILENCE, PhoneSpan


@dataclass(frozen=True)
class MotionConfig:
    """Parameters of :func:`clip_motion`."""

    lips: LipConfig = field(default_factory=LipConfig)
    prosody: ProsodyConfig = field(default_factory=ProsodyConfig)
    life: LifeConfig = field(default_factory=LifeConfig)
    muted_db: float = -60.0  # a frame this quiet (dBFS) holds no audible speech
    muted_s: float = 0.16  # a run of such frames at least this long is muted


def muted_frames(features: FrameFeatures, cfg: MotionConfig) -> np.ndarray:
    """Bool [T]: frames in runs of at least ``muted_s`` below ``muted_db``."""
    quiet = frame_level_db(features) < cfg.muted_db  # [T]
    need = max(1, round(cfg.muted_s / FRAME_SECONDS))
    out = np.zeros_like(quiet)
    k = 0
    while k < quiet.shape[0]:
        if not quiet[k]:
            k += 1
            continue
        end = k
        while end < quiet.shape[0] and quiet[end]:
            end += 1
        if end - k >= need:
            out[k:end] = True
        k = end
    return out


def mute_phones(phones: list[PhoneSpan], muted: np.ndarray) -> list[PhoneSpan]:
    """``phones`` with the time of muted frames [T] turned into silence (phonemes cut around it)."""
    if not muted.any():
        return list(phones)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], muted.astype(np.int8), [0]])))
    runs = [(a * FRAME_SECONDS, b * FRAME_SECONDS) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    out: list[PhoneSpan] = []
    for p in phones:
        pieces = [(p.start, p.end)]
        for a, b in runs:
            cut: list[tuple[float, float]] = []
            for s, e in pieces:
                if e <= a or s >= b:
                    cut.append((s, e))
                    continue
                if s < a:
                    cut.append((s, a))
                if e > b:
                    cut.append((b, e))
            pieces = cut
        for s, e in pieces:
            if e - s > 1e-6:
                out.append(PhoneSpan(p.phone, s, e, p.stress, p.word))
    for a, b in runs:
        out.append(PhoneSpan(SILENCE, a, b))
    out.sort(key=lambda s: s.start)
    return out


def speech_weight(phones: list[PhoneSpan], frames: int, features: FrameFeatures | None) -> np.ndarray:
    """Speaking (0..1) per frame [T] for life: the phonemes, short pauses counting as speech.

    A pause within a phrase (shorter than the lips' ``long_silence_s``) is still speaking for the
    head; with no phonemes at all, the VAD weight of the features.
    """
    if not any(p.phone != SILENCE for p in phones):
        return np.zeros(frames) if features is None else np.asarray(features.speech, dtype=np.float64)
    weight = speech_mask(phones, frames).astype(np.float64)
    t = frame_times(frames)
    for p in phones:
        if p.phone == SILENCE and p.duration <= LipConfig().long_silence_s:
            weight[(t >= p.start) & (t < p.end)] = 1.0
    return weight


def clip_motion(
    phones: list[PhoneSpan],
    features: FrameFeatures,
    seed: int,
    style: float = 0.5,
    emotion_track: EmotionTrack | None = None,
    config: MotionConfig | None = None,
) -> np.ndarray:
    """Motion [T, 40] float32 of a clip, ``T = len(features)`` (see module docstring).

    ``phones``: the clip's timed phonemes (gaps are pauses); ``features``: the front end's
    features of its audio (:func:`xactor.engines.audio.frontend.analyse`); ``seed``: life and gesture
    randomness (same inputs and seed, same bytes); ``style``: 0 calm .. 1 animated;
    ``emotion_track``: per-frame mood (default neutral), ``T`` frames long.
    """
    cfg = config or MotionConfig()
    frames = len(features)
    emotion = emotion_track if emotion_track is not None else constant_emotion(frames)
    if len(emotion) != frames:
        raise ValueError(f"emotion track has {len(emotion)} frames, features {frames}")
    life_seed, gesture_seed = (int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(2))

    phones = fill_silence(mute_phones(phones, muted_frames(features, cfg)), frames * FRAME_SECONDS)
    loudness = frame_loudness(frame_level_db(features), speech_mask(phones, frames))  # [T]
    lips = lip_track(phones, frames, loudness, cfg.lips).astype(np.float64)  # [T, 40]
    jaw_columns = [ms.INDEX[n] for n in ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight")]
    lips[:, jaw_columns] *= emotion.jaw_gain()[:, None]

    gestures = prosody_motion(phones, frames, features, style, gesture_seed, cfg.prosody)
    life = life_track(speech_weight(phones, frames, features), life_seed, cfg.life, gestures.emphasis)

    motion = life.astype(np.float64) + gestures.motion + lips + emotion.offsets()  # [T, 40]
    motion = ms.clamp_np(motion)
    enforce_contacts(motion, phones, cfg.lips.contact_core)
    close, jaw = ms.INDEX["mouthClose"], ms.INDEX["jawOpen"]
    motion[:, close] = np.minimum(motion[:, close], motion[:, jaw])  # never lips through lips
    return ms.clamp_np(motion)
