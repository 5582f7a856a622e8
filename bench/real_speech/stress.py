"""Which /AH/ of a real clip's alignment is a schwa: lexical stress from the transcript.

Why: pocketsphinx's dictionary has no stress marks, so its alignment calls both the stressed
vowel of "cut" (/ʌ/, jawOpen target 0.45 in the corpus's viseme table) and the reduced vowel of
"about" (schwa, target 0.22) ``AH``. Schwa is the commonest vowel of English and is not an open
vowel: scored as ``AH`` it counted as one, at the stressed target, in the open-vowel amplitude,
the open/closed contrast and the phone-openness target of ρ, while the corpus the generator
learned from gives it its own, smaller target (``AH0``,
:data:`xactor.training.corpus.motion.visemes.SCHWA`).

The stress comes from the project's own espeak-ng engine speaking the clip's transcript (its
phoneme trace carries stress per vowel, in context: function words come out unstressed). Words
are matched in order between the two transcriptions; inside a matched word with the same number
of vowels, each aligned ``AH`` whose espeak vowel is unstressed becomes ``AH0``. Anything that
does not match stays ``AH`` (the old reading).
"""

from __future__ import annotations

import difflib
import functools
import logging
import re
from collections.abc import Sequence
from typing import Any

from xactor.training.corpus.motion.visemes import SCHWA
from xactor.training.corpus.phonemes import SILENCE, VOWELS

log = logging.getLogger(__name__)

_LETTERS = re.compile(r"[^a-z']")


def _word(text: str) -> str:
    return _LETTERS.sub("", text.lower()).strip("'")


@functools.lru_cache(maxsize=64)
def espeak_vowel_stress(text: str) -> tuple[tuple[str, tuple[int, ...]], ...] | None:
    """Per word of ``text`` as espeak-ng (en-us) reads it: (word, stress of each vowel, 0/1/2);
    None when espeak-ng is not available."""
    from xactor.training.corpus.tts.espeak import EspeakSynthesizer, corpus_voices

    synth = EspeakSynthesizer()
    if not synth.available():
        log.warning("schwa marking skipped: %s", synth.reason)
        return None
    voice = next(v for v in corpus_voices() if v.name == "en-us")
    result = synth.synth(text, voice)
    stresses: list[list[int]] = [[] for _ in result.words]
    for span in result.phones:
        if span.phone in VOWELS and 0 <= span.word < len(stresses):
            stresses[span.word].append(span.stress)
    return tuple((_word(w), tuple(s)) for w, s in zip(result.words, stresses, strict=True))


def mark_schwas(phones: Sequence[Sequence[Any]], text: str) -> list[list[Any]]:
    """``[phone, start, end, word]`` spans of an alignment with every unstressed ``AH`` renamed
    :data:`SCHWA` (``AH0``); a copy."""
    out = [list(span) for span in phones]
    lexicon = espeak_vowel_stress(text)
    if lexicon is None:
        return out
    tokens: list[tuple[str, list[int]]] = []  # (word, indices of its vowel spans)
    previous = None
    for i, span in enumerate(out):
        label = str(span[3]) if len(span) > 3 else ""
        if span[0] == SILENCE or not label:
            previous = None
            continue
        if label != previous:
            tokens.append((_word(label), []))
            previous = label
        if span[0] in VOWELS:
            tokens[-1][1].append(i)
    matcher = difflib.SequenceMatcher(None, [w for w, _ in tokens], [w for w, _ in lexicon], autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            vowels, stress = tokens[block.a + k][1], lexicon[block.b + k][1]
            if len(vowels) != len(stress):
                continue
            for i, s in zip(vowels, stress, strict=True):
                if out[i][0] == "AH" and s == 0:
                    out[i][0] = SCHWA
    return out
