"""The grammar's phrase builders: noun phrases, places, times, subjects, verb phrases, clauses.

Template functions return a sentence with its end punctuation, not yet capitalised (so that
"yes, " + sentence and quotes compose); :func:`_finish` capitalises. All randomness goes through
one ``rng`` so that a seed fixes the text.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from xactor.training.corpus.phonemes import VOWELS
from xactor.training.corpus.text.numbers import spell_number
from xactor.training.corpus.text.pronounce import lexicon
from xactor.training.corpus.text.vocab import _Noun, _Slot, _Verb, _verbs, _vocab

Agr = str  # subject agreement: "1s" (I), "3s" (he, Maria, the box), "pl" (we, you, they, boxes)

_PRONOUNS: tuple[tuple[str, Agr], ...] = (
    ("I", "1s"), ("you", "pl"), ("we", "pl"), ("they", "pl"), ("he", "3s"), ("she", "3s"),
)  # fmt: skip
_OBJ_PRONOUNS = ("me", "us", "them", "him", "her", "you")
_QUANTIFIED: tuple[tuple[str, Agr], ...] = (
    ("everyone", "3s"), ("nobody", "3s"), ("someone", "3s"), ("my family", "3s"),
    ("the whole team", "3s"), ("all of us", "pl"),
)  # fmt: skip
_NT = "n't"
_MODALS = ("can", "could", "should", "might", "must", "would")
_MENTAL = _verbs(
    "think thought, say said, know knew known, believe believed, hope hoped, notice noticed, "
    "hear heard, feel felt, remember remembered, realize realized, promise promised"
)
_CONJ_COORD = ("but", "so", "and", "and then", "yet")
_CONJ_SUB = ("because", "although", "when", "before", "after", "while", "until", "since", "if")
_PREPS = (
    "in", "at", "near", "by", "behind", "outside", "inside", "next to", "across from", "in front of",
    "around", "on the way to",
)  # fmt: skip
_GREAT = (
    "amazing", "incredible", "wonderful", "fantastic", "awful", "beautiful", "unbelievable",
    "delightful", "impressive", "terrible",
)  # fmt: skip
_INTENS = ("very", "really", "quite", "so", "a bit", "too", "rather", "extremely")
_UNITS = (
    ("meters", "long"), ("feet", "tall"), ("kilometers", "away"), ("miles", "away"),
    ("kilograms", ""), ("pounds", ""), ("liters", ""), ("minutes", "late"), ("degrees", "outside"),
)  # fmt: skip
_UNIT_RANGE = {"minutes": (2, 90), "degrees": (0, 105), "feet": (2, 300), "liters": (2, 50)}


def _finish(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:]


def _join_items(items: Sequence[str], conj: str, oxford: bool) -> str:
    if len(items) == 2:
        return f"{items[0]} {conj} {items[1]}"
    return ", ".join(items[:-1]) + ("," if oxford else "") + f" {conj} {items[-1]}"


class _Phrases:
    """Phrase builders over one random stream (all randomness goes through ``rng``)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.v = _vocab()

    # -- small helpers ----------------------------------------------------------------------
    def p(self, prob: float) -> bool:
        return self.rng.random() < prob

    def ch(self, options: Sequence[str]) -> str:
        return options[int(self.rng.random() * len(options))]

    def pick(self, slot: _Slot[str]) -> str:
        return slot.pick(self.rng)

    @staticmethod
    def art(phrase: str) -> str:
        """ "a" or "an" by the first *sound* of ``phrase`` ("an hour", "a university")."""
        first = phrase.split(" ", 1)[0].lower()
        phones = lexicon().get(first)
        vowel = phones[0] in VOWELS if phones else first[:1] in "aeiou"
        return ("an " if vowel else "a ") + phrase

    def number_word(self, lo: int = 2, hi: int = 12) -> str:
        return spell_number(self.rng.randint(lo, hi))

    # -- noun phrases -----------------------------------------------------------------------
    def np(
        self,
        nouns: _Slot[_Noun],
        adjs: _Slot[str],
        adj_p: float = 0.35,
        plural_p: float = 0.25,
        definite: bool = False,
    ) -> tuple[str, Agr]:
        """A noun phrase and its agreement; ``definite`` for frames that need a known referent
        ("why is *the* box so big?", not "why is *a* box so big?")."""
        n = nouns.pick(self.rng)
        adj = self.pick(adjs) + " " if self.p(adj_p) else ""
        if definite:
            if n.pl is not None and self.p(plural_p):
                return self.ch(("the ", "these ", "those ", "my ", "our ", "your ")) + adj + n.pl, "pl"
            return self.ch(("the ", "this ", "that ", "my ", "your ", "our ", "the ")) + adj + n.sg, "3s"
        if n.pl is None:
            det = self.ch(("the ", "some ", "my ", "our ", "", "a lot of ", "a little ", "more "))
            return det + adj + n.sg, "3s"
        if self.p(plural_p):
            r = self.rng.random()
            if r < 0.3:
                det = self.number_word() + " "
            else:
                det = self.ch(
                    ("the ", "some ", "my ", "our ", "these ", "those ", "a few ", "several ", "many ")
                )
            return det + adj + n.pl, "pl"
        if self.p(0.45):
            det = self.ch(("the ", "this ", "that ", "my ", "your ", "our ", "their ", "his ", "her "))
            return det + adj + n.sg, "3s"
        return self.art(adj + n.sg), "3s"

    def thing(self, adj_p: float = 0.35, plural_p: float = 0.25) -> str:
        return self.np(self.v.things, self.v.thing_adj, adj_p, plural_p)[0]

    def food(self, adj_p: float = 0.35, plural_p: float = 0.25) -> str:
        return self.np(self.v.foods, self.v.food_adj, adj_p, plural_p)[0]

    def person_np(self) -> tuple[str, Agr]:
        return self.np(self.v.people, self.v.person_adj, adj_p=0.25, plural_p=0.25)

    def place_np(self) -> str:
        if self.p(0.25):
            return self.pick(self.v.cities)
        adj = self.pick(self.v.place_adj) + " " if self.p(0.3) else ""
        return f"the {adj}{self.pick(self.v.places)}"

    def place(self) -> str:
        if self.p(0.2):
            return f"{self.ch(('in', 'near', 'outside', 'around'))} {self.pick(self.v.cities)}"
        adj = self.pick(self.v.place_adj) + " " if self.p(0.3) else ""
        return f"{self.ch(_PREPS)} the {adj}{self.pick(self.v.places)}"

    def clock(self) -> str:
        h, m = self.rng.randint(1, 12), self.ch(("0", "5", "10", "15", "20", "30", "40", "45", "50"))
        hour, nxt = spell_number(h), spell_number(h % 12 + 1)
        minute = int(m)
        if minute == 0:
            return f"{hour} o'clock" if self.p(0.7) else hour
        if minute == 15 and self.p(0.5):
            return f"a quarter past {hour}"
        if minute == 30 and self.p(0.5):
            return f"half past {hour}"
        if minute == 45 and self.p(0.5):
            return f"a quarter to {nxt}"
        return f"{hour} oh five" if minute == 5 else f"{hour} {spell_number(minute)}"

    def time(self) -> str:
        r = self.rng.random()
        if r < 0.65:
            return self.pick(self.v.times)
        if r < 0.8:
            pre = self.ch(("on", "last", "next", "every", "on", "this"))
            return f"{pre} {self.ch(self.v.weekdays)}"
        if r < 0.88:
            return f"in {self.ch(self.v.months)}"
        return f"at {self.clock()}"

    def subject(self) -> tuple[str, Agr]:
        r = self.rng.random()
        if r < 0.33:
            if self.p(0.08):
                return f"{self.pick(self.v.names)} and {self.pick(self.v.names)}", "pl"
            return self.pick(self.v.names), "3s"
        if r < 0.63:
            return _PRONOUNS[int(self.rng.random() * len(_PRONOUNS))]
        if r < 0.92:
            return self.person_np()
        return _QUANTIFIED[int(self.rng.random() * len(_QUANTIFIED))]

    def person_obj(self) -> str:
        r = self.rng.random()
        if r < 0.4:
            return self.pick(self.v.names)
        if r < 0.6:
            return self.ch(_OBJ_PRONOUNS)
        return self.person_np()[0]

    # -- verbs ------------------------------------------------------------------------------
    @staticmethod
    def be(agr: Agr, past: bool = False, neg: bool = False) -> str:
        if past:
            form = "was" if agr != "pl" else "were"
            return form + ("n't" if neg else "")
        if agr == "1s":
            return "am not" if neg else "am"
        form = "is" if agr == "3s" else "are"
        return form + ("n't" if neg else "")

    def event(self) -> tuple[_Verb, str]:
        """A verb and an object that suits it (things are bought, food is cooked, places visited)."""
        r = self.rng.random()
        if r < 0.4:
            return self.v.v_thing.pick(self.rng), self.thing()
        if r < 0.6:
            return self.v.v_food.pick(self.rng), self.food()
        if r < 0.78:
            return self.v.v_place.pick(self.rng), self.place_np()
        return self.v.v_person.pick(self.rng), self.person_obj()

    def vp(self, agr: Agr, verb: _Verb, obj: str, neg_p: float = 0.12) -> str:
        """Verb phrase in one of seven tenses/moods, agreeing with ``agr``, sometimes negated."""
        neg = self.p(neg_p)
        r = self.rng.random()
        if r < 0.36:  # past
            head = f"didn't {verb.base}" if neg else verb.past
        elif r < 0.52:  # present simple
            if neg:
                head = f"{'doesn' if agr == '3s' else 'don'}'t {verb.base}"
            else:
                head = verb.s if agr == "3s" else verb.base
        elif r < 0.64:  # future
            won = self.ch(("will not", "won't"))
            head = f"{won} {verb.base}" if neg else f"will {verb.base}"
        elif r < 0.76:  # modal
            modal = self.ch(_MODALS)
            head = f"{modal} not {verb.base}" if neg else f"{modal} {verb.base}"
        elif r < 0.86:  # progressive
            head = f"{self.be(agr, self.p(0.3), neg)} {verb.ing}"
        elif r < 0.94:  # perfect
            have = "has" if agr == "3s" else "have"
            head = f"{have}{_NT if neg else ''} {verb.pp}"
        else:  # going to
            head = f"{self.be(agr, False, neg)} going to {verb.base}"
        return f"{head} {obj}"

    def clause(self, extras: float = 0.5) -> str:
        s, agr = self.subject()
        verb, obj = self.event()
        out = f"{s} {self.vp(agr, verb, obj)}"
        if self.p(extras * 0.6):
            out += f" {self.place()}"
        if self.p(extras * 0.5):
            out += f" {self.time()}"
        elif self.p(extras * 0.2):
            out += f" {self.pick(self.v.manner)}"
        return out

    def imperative(self) -> str:
        verb, obj = self.event()
        return f"{verb.base} {obj}"

    def simple_past(self, subj: str) -> str:
        verb, obj = self.event()
        return f"{subj} {verb.past} {obj}"
