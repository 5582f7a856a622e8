"""One corpus clip from its plan: speech in the clip's voice and moods, then features and motion.

Runs inside a build worker process. Each process keeps one synthesiser per engine (espeak-ng and
festival are one engine per process), made on first use.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from xactor.engines import timebase
from xactor.engines.audio.frontend import analyse
from xactor.training.corpus.motion.compose import clip_motion
from xactor.training.corpus.motion.emotion import EMOTION_INDEX, EmotionProsody, emotion_schedule, tts_prosody
from xactor.training.corpus.store.format import Clip, write_shard
from xactor.training.corpus.synth.run import ClipPlan, SynthConfig, make_synthesizer, speak_clip
from xactor.training.corpus.text import iter_texts
from xactor.training.corpus.tts.espeak import ESPEAK_DRIVEN
from xactor.training.corpus.tts.voices import Synthesizer, SynthResult, Voice

_SYNTHS: dict[str, Synthesizer] = {}

ESPEAK_PITCH_MAX = 99.0  # espeak-ng's pitch and range settings run 0..99


def synthesizer(engine: str) -> Synthesizer:
    """This process's synthesiser of ``engine``."""
    if engine not in _SYNTHS:
        _SYNTHS[engine] = make_synthesizer(engine)
    return _SYNTHS[engine]


def emotional_voice(voice: Voice, prosody: EmotionProsody) -> Voice:
    """``voice`` speaking with an emotion's prosody, in each engine's own units.

    espeak-ng's pitch and range are settings 0..99 (base pitch and its spread): scaled by the
    emotion's pitch ratio and range factor. flite and festival voices carry pitch as a percent
    offset of the voice's mean F0: the ratio composes with it; piper's pitch range is a factor too
    (its variants are WORLD warps of one neural voice). Rate is a factor everywhere.
    """
    ratio = 2.0 ** (prosody.pitch_semitones / 12.0)
    rate = voice.rate * prosody.rate
    if voice.engine in ESPEAK_DRIVEN:  # MBROLA voices take espeak-ng's settings
        pitch = float(np.clip(round(voice.pitch * ratio), 0, ESPEAK_PITCH_MAX))
        spread = float(np.clip(round(voice.pitch_range * prosody.pitch_range), 0, ESPEAK_PITCH_MAX))
        return replace(voice, pitch=pitch, pitch_range=spread, rate=rate)
    percent = round(((1.0 + voice.pitch / 100.0) * ratio - 1.0) * 100.0, 1)
    if voice.engine == "piper":  # pitch range is a factor on the WORLD-warped contour
        spread = round((voice.pitch_range or 1.0) * prosody.pitch_range, 3)
        return replace(voice, pitch=percent, pitch_range=spread, rate=rate)
    return replace(voice, pitch=percent, rate=rate)


def speak(
    synth: Synthesizer, voice: Voice, text: str, emotion: str, intensity: float
) -> tuple[SynthResult, float]:
    """Speak ``text`` with the emotion's prosody; returns (result, amplitude gain for its energy).

    Some voices have no pitch control (flite rms, festival's HTS slt) and refuse a pitch offset:
    they get the emotion's rate and energy only.
    """
    prosody = tts_prosody(emotion, intensity)
    moved = emotional_voice(voice, prosody)
    try:
        return synth.synth(text, moved), prosody.energy
    except ValueError:
        if moved.pitch == voice.pitch:
            raise
        return synth.synth(text, replace(moved, pitch=voice.pitch)), prosody.energy


def build_clip(plan: ClipPlan, config: SynthConfig) -> Clip:
    """The whole clip of ``plan`` (deterministic given the plan)."""
    synth = synthesizer(plan.voice.engine)
    rng = np.random.default_rng([plan.seed, 3])
    planned = max(1, math.ceil(plan.seconds * timebase.FPS))
    moods = emotion_schedule(planned, plan.seed)
    utterances = (u.segments for u in iter_texts(plan.seed, pool=plan.split))
    spoken = speak_clip(
        plan,
        config,
        lambda text, emotion, intensity: speak(synth, plan.voice, text, emotion, intensity),
        utterances,
        moods.at,
    )
    features = analyse(spoken.audio)
    moods = moods.resized(len(features))
    style = float(rng.uniform(0.0, 1.0))
    motion = clip_motion(spoken.phones, features, plan.seed, style, moods)
    return Clip(
        id=plan.id,
        split=plan.split,
        voice=plan.voice.id,
        seed=plan.seed,
        texts=spoken.texts,
        phones=spoken.phones,
        audio=spoken.audio,
        log_mel=features.log_mel.reshape(-1, features.log_mel.shape[-1]),  # [T, 4, 80] -> [T * 4, 80]
        motion=motion,
        speech=np.asarray(features.speech, dtype=np.float32),
        emotion=moods.label.astype(np.uint8),
        intensity=moods.intensity.astype(np.float32),
        style=round(style, 3),
        extra={
            "engine": plan.voice.engine,
            "muted": [[round(a, 3), round(b, 3)] for a, b in spoken.muted],
            "moods": [[round(t, 3), e, round(i, 3)] for t, e, i in spoken.emotions],
            "emotion_index": dict(EMOTION_INDEX),
        },
    )


def build_shard(root: Path, index: int, plans: list[ClipPlan], config: SynthConfig) -> int:
    """Build and write shard ``index`` (a worker process's unit of work); returns its clip count."""
    clips = [build_clip(plan, config) for plan in plans]
    write_shard(root, index, clips, {"seconds": round(sum(c.seconds for c in clips), 3)})
    return len(clips)
