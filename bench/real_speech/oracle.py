"""The ``oracle`` row of ``xactor eval real``: what the corpus itself would animate for a clip.

The generators learn the synthetic corpus's motion (:func:`xactor.training.corpus.motion.compose.clip_motion`:
viseme targets blended along the timed phonemes, plus life and prosody). Fed a dev-set clip's
*forced alignment* instead of a TTS engine's phoneme timings, the same composer gives the motion
the corpus would pair with that audio: the best a generator that imitated its teacher perfectly
could do on these measures. The gap between a generator and this row is its hearing (audio →
phones on real voices); the gap between this row and a goal is the corpus's design (the viseme
targets and how they blend), which no amount of training on the corpus closes.

It reads the transcript, so it is an upper bound, not a motion source: offline only (a live
stream has no alignment).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from xactor.bench.real_speech.clips import ClipData
from xactor.bench.real_speech.stress import mark_schwas
from xactor.training.corpus.motion.visemes import SCHWA

if TYPE_CHECKING:
    from xactor.training.corpus.phonemes import PhoneSpan

ORACLE = "oracle"


def aligned_phones(clip: ClipData) -> list[PhoneSpan]:
    """The clip's aligned phones as the corpus's spans (:func:`corpus_spans`)."""
    return corpus_spans(clip.record["phones"], clip.record["words"], clip.id)


def corpus_spans(phones: Sequence[Sequence[Any]], words: str, name: str = "") -> list[PhoneSpan]:
    """A forced alignment's ``[phone, start, end, word]`` spans of ``words`` as the corpus's spans:
    silences left as gaps, the schwa as an unstressed AH, every other vowel stressed (the alignment
    has no stress of its own). ``name`` says whose, in errors."""
    from xactor.training.corpus.phonemes import INVENTORY, SILENCE, PhoneSpan

    spans = []
    for phone, start, end, *_ in mark_schwas(phones, words):
        if phone == SILENCE or end <= start:
            continue
        label, stress = ("AH", 0) if phone == SCHWA else (phone, 1)
        if label not in INVENTORY:
            raise ValueError(f"{name}: phone {phone!r} is not in the corpus's inventory")
        spans.append(PhoneSpan(label, float(start), float(end), stress))
    return spans


def oracle_motion(clip: ClipData, seed: int = 0) -> np.ndarray:
    """Motion [T, 40] the corpus composer gives ``clip``'s aligned phones and its audio's features
    (neutral emotion; ``seed`` for life and gestures), ``T`` = the clip's frames."""
    from xactor.engines.audio.frontend import analyse
    from xactor.training.corpus.motion.compose import clip_motion

    features = analyse(clip.samples)
    motion = clip_motion(aligned_phones(clip), features, seed)  # [len(features), 40]
    if len(motion) < clip.frames:  # the features drop a last partial frame; hold the last pose
        motion = np.concatenate([motion, np.repeat(motion[-1:], clip.frames - len(motion), 0)])
    return np.ascontiguousarray(motion[: clip.frames], np.float32)
