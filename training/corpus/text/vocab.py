"""The word lists parsed into weighted slots: nouns with plurals, verbs with their forms, drills.

Why weights: each item is drawn more often the more rare phonemes it holds (:data:`RARE_BOOST`),
so that a few hours of text hold every mouth shape often enough.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, TypeVar

from xactor.training.corpus.text.numbers import spoken_words
from xactor.training.corpus.text.pronounce import _word_phonemes, lexicon
from xactor.training.corpus.text.wordlists import (
    _ABSTRACT,
    _ABSTRACT_ADJ,
    _ADV_FREQ,
    _ADV_MANNER,
    _BILABIAL,
    _CITIES,
    _COLORS,
    _FOOD_ADJ,
    _FOODS,
    _FRAGMENT_CORES,
    _INTERJ,
    _LABIODENTAL,
    _MONTHS,
    _NAMES,
    _OPENERS,
    _PEOPLE,
    _PERSON_ADJ,
    _PLACE_ADJ,
    _PLACES,
    _ROUNDED,
    _THING_ADJ,
    _THINGS,
    _TIMES,
    _TWISTERS,
    _V_FOOD,
    _V_PERSON,
    _V_PLACE,
    _V_THING,
    _WEEKDAYS,
)

# Extra draw weight per rare phoneme in a slot item (weight = 1 + sum of boosts, see _rare_weight):
# tuned so that ~45k words (5 hours at 2.5 words/s) hold every phoneme well over a thousand times.
RARE_BOOST: Mapping[str, float] = {
    "ZH": 5.0, "OY": 2.0, "TH": 1.5, "UH": 1.5, "SH": 1.0, "CH": 1.5, "NG": 1.0, "JH": 1.0, "G": 0.5,
    "AW": 1.5, "Y": 0.8,
}  # fmt: skip


def _split_words(spec: str) -> tuple[str, ...]:
    return tuple(w.replace("_", " ") for w in spec.split())


def _split_phrases(spec: str) -> tuple[str, ...]:
    return tuple(" ".join(p.split()) for p in spec.split("|") if p.strip())


def _plural(word: str) -> str:
    *head, last = word.split(" ")
    if last.endswith(("s", "x", "z", "ch", "sh")):
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return " ".join((*head, last))


@dataclass(frozen=True)
class _Noun:
    sg: str
    pl: str | None  # None: a mass noun ("bread"): no "a", no plural


def _nouns(spec: str) -> tuple[_Noun, ...]:
    out: list[_Noun] = []
    for token in spec.split():
        token = token.replace("_", " ")
        if token.endswith("!"):
            out.append(_Noun(token[:-1], None))
        elif "/" in token:
            sg, pl = token.split("/")
            out.append(_Noun(sg, pl))
        else:
            out.append(_Noun(token, _plural(token)))
    return tuple(out)


@dataclass(frozen=True)
class _Verb:
    base: str
    s: str  # third person singular present
    past: str
    pp: str
    ing: str


def _third_person(base: str) -> str:
    if base in ("have", "do", "go"):
        return {"have": "has", "do": "does", "go": "goes"}[base]
    if base.endswith(("s", "x", "z", "ch", "sh", "o")):
        return base + "es"
    if base.endswith("y") and base[-2] not in "aeiou":
        return base[:-1] + "ies"
    return base + "s"


def _gerund(base: str) -> str:
    if base.endswith("ie"):
        return base[:-2] + "ying"
    if base.endswith("e") and not base.endswith(("ee", "ye", "oe")):
        return base[:-1] + "ing"
    return base + "ing"


def _verbs(spec: str) -> tuple[_Verb, ...]:
    out: list[_Verb] = []
    for entry in spec.split(","):
        parts = entry.split()
        base, past = parts[0], parts[1]
        pp = parts[2] if len(parts) > 2 else past
        ing = parts[3] if len(parts) > 3 else _gerund(base)
        out.append(_Verb(base, _third_person(base), past, pp, ing))
    return tuple(out)


def _rare_weight(text: str) -> float:
    """1 + RARE_BOOST per rare phoneme in ``text``: how much more often a slot item is drawn."""
    lex = lexicon()
    weight = 1.0
    for word in spoken_words(text):
        for p in _word_phonemes(word, lex) or ():
            weight += RARE_BOOST.get(p, 0.0)
    return weight


T = TypeVar("T")


class _Slot(Generic[T]):
    """Items drawn with fixed weights (cumulative table + bisect: one random number per draw)."""

    __slots__ = ("_cum", "_total", "items")

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        if not items or len(items) != len(weights):
            raise ValueError("a slot needs items with one weight each")
        self.items = tuple(items)
        self._cum = list(itertools.accumulate(weights))
        self._total = self._cum[-1]

    @classmethod
    def rare(cls, items: Sequence[T], key: Callable[[T], str] = str) -> _Slot[T]:
        """Weighted toward items that hold rare phonemes (see :data:`RARE_BOOST`)."""
        return cls(items, [_rare_weight(key(i)) for i in items])

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect.bisect_right(self._cum, rng.random() * self._total)]


def _words_slot(spec: str) -> _Slot[str]:
    return _Slot.rare(_split_words(spec))


def _phrases_slot(spec: str) -> _Slot[str]:
    return _Slot.rare(_split_phrases(spec))


def _nouns_slot(spec: str) -> _Slot[_Noun]:
    return _Slot.rare(_nouns(spec), key=lambda n: n.sg)


def _verbs_slot(spec: str) -> _Slot[_Verb]:
    return _Slot.rare(_verbs(spec), key=lambda v: v.base)


@dataclass(frozen=True)
class _Drill:
    name: _Slot[str]
    verb: _Slot[str]
    adj: _Slot[str]
    noun: _Slot[_Noun]
    place: _Slot[str]


def _drill(spec: Mapping[str, str]) -> _Drill:
    return _Drill(
        _words_slot(spec["name"]),
        _words_slot(spec["verb"]),
        _words_slot(spec["adj"]),
        _nouns_slot(spec["noun"]),
        _phrases_slot(spec["place"]),
    )


@dataclass(frozen=True)
class _Vocab:
    names: _Slot[str]
    people: _Slot[_Noun]
    person_adj: _Slot[str]
    things: _Slot[_Noun]
    thing_adj: _Slot[str]
    foods: _Slot[_Noun]
    food_adj: _Slot[str]
    places: _Slot[str]
    place_adj: _Slot[str]
    cities: _Slot[str]
    abstract: _Slot[str]
    abstract_adj: _Slot[str]
    manner: _Slot[str]
    freq: _Slot[str]
    times: _Slot[str]
    openers: _Slot[str]
    weekdays: tuple[str, ...]
    months: tuple[str, ...]
    colors: _Slot[str]
    v_thing: _Slot[_Verb]
    v_food: _Slot[_Verb]
    v_place: _Slot[_Verb]
    v_person: _Slot[_Verb]
    interj: _Slot[str]
    fragments: _Slot[str]
    bilabial: _Drill
    labiodental: _Drill
    rounded: _Drill
    twisters: tuple[str, ...]


@lru_cache(maxsize=1)
def _vocab() -> _Vocab:
    return _Vocab(
        names=_words_slot(_NAMES),
        people=_nouns_slot(_PEOPLE),
        person_adj=_words_slot(_PERSON_ADJ),
        things=_nouns_slot(_THINGS),
        thing_adj=_words_slot(_THING_ADJ),
        foods=_nouns_slot(_FOODS),
        food_adj=_words_slot(_FOOD_ADJ),
        places=_words_slot(_PLACES),
        place_adj=_words_slot(_PLACE_ADJ),
        cities=_words_slot(_CITIES),
        abstract=_words_slot(_ABSTRACT),
        abstract_adj=_words_slot(_ABSTRACT_ADJ),
        manner=_words_slot(_ADV_MANNER),
        freq=_words_slot(_ADV_FREQ),
        times=_phrases_slot(_TIMES),
        openers=_phrases_slot(_OPENERS),
        weekdays=_split_words(_WEEKDAYS),
        months=_split_words(_MONTHS),
        colors=_words_slot(_COLORS),
        v_thing=_verbs_slot(_V_THING),
        v_food=_verbs_slot(_V_FOOD),
        v_place=_verbs_slot(_V_PLACE),
        v_person=_verbs_slot(_V_PERSON),
        interj=_phrases_slot(_INTERJ),
        fragments=_phrases_slot(_FRAGMENT_CORES),
        bilabial=_drill(_BILABIAL),
        labiodental=_drill(_LABIODENTAL),
        rounded=_drill(_ROUNDED),
        twisters=_split_phrases(_TWISTERS),
    )


def vocabulary_words() -> set[str]:
    """Every word the generator's lists can emit (lower case), for checking against the lexicon."""
    words: set[str] = set()
    specs = [
        _NAMES, _PEOPLE, _PERSON_ADJ, _THINGS, _THING_ADJ, _FOODS, _FOOD_ADJ, _PLACES, _PLACE_ADJ,
        _CITIES, _ABSTRACT, _ABSTRACT_ADJ, _ADV_MANNER, _ADV_FREQ, _TIMES, _OPENERS, _WEEKDAYS,
        _MONTHS, _COLORS, _V_THING, _V_FOOD, _V_PLACE, _V_PERSON, _INTERJ, _FRAGMENT_CORES,
        _TWISTERS,
        *(_BILABIAL.values()), *(_LABIODENTAL.values()), *(_ROUNDED.values()),
    ]  # fmt: skip
    for spec in specs:
        words.update(spoken_words(spec.replace("_", " ").replace("/", " ").replace("!", " ")))
    v = _vocab()
    for slot in (v.v_thing, v.v_food, v.v_place, v.v_person):
        for verb in slot.items:
            words.update((verb.s, verb.ing))
    for nslot in (v.people, v.things, v.foods, v.bilabial.noun, v.labiodental.noun, v.rounded.noun):
        for noun in nslot.items:
            words.update(spoken_words(noun.pl or ""))
    return words
