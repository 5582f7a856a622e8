"""The whole grammar: lists, numbers, fragments, replies and lip drills on top of the sentences.

:class:`_Grammar` is what :mod:`.generate` draws templates from; it adds the templates that carry
numbers and rare mouth shapes to the statement / question / exclamation ones.
"""

from __future__ import annotations

from collections.abc import Callable

from xactor.training.corpus.text.numbers import spell_digits, spell_number, spell_ordinal, spell_year
from xactor.training.corpus.text.phrases import _UNIT_RANGE, _UNITS, _join_items
from xactor.training.corpus.text.sentences import _Sentences
from xactor.training.corpus.text.vocab import _Drill


class _Grammar(_Sentences):
    """Phrase and sentence builders over one random stream (all randomness goes through ``rng``)."""

    # -- lists ------------------------------------------------------------------------------
    def items(self, make: Callable[[], str], lo: int = 3, hi: int = 5) -> list[str]:
        k = self.rng.randint(lo, hi)
        out: list[str] = []
        heads: set[str] = set()
        for _ in range(k * 4):
            item = make()
            if item.rsplit(" ", 1)[-1] not in heads:  # no "the ginger ... and some ginger"
                heads.add(item.rsplit(" ", 1)[-1])
                out.append(item)
            if len(out) == k:
                break
        return out

    def li_objects(self) -> str:
        s, agr = self.subject()
        if self.p(0.5):
            verb = self.v.v_thing.pick(self.rng)
            things = self.items(lambda: self.thing(adj_p=0.2, plural_p=0.3))
        else:
            verb = self.v.v_food.pick(self.rng)
            things = self.items(lambda: self.food(adj_p=0.2, plural_p=0.3))
        head = self.vp(agr, verb, "", 0.0).rstrip()
        return f"{s} {head} {_join_items(things, 'and', self.p(0.5))}."

    def li_fixed(self) -> str:
        r = self.rng.random()
        if r < 0.2:
            colors = self.items(lambda: self.pick(self.v.colors))
            return f"the flag is {_join_items(colors, 'and', self.p(0.5))}."
        if r < 0.4:
            days = self.items(lambda: self.ch(self.v.weekdays), 2, 4)
            return f"the {self.pick(self.v.places)} is open on {_join_items(days, 'and', self.p(0.5))}."
        if r < 0.6:
            cities = self.items(lambda: self.pick(self.v.cities))
            return f"we visited {_join_items(cities, 'and', self.p(0.5))} {self.time()}."
        if r < 0.8:
            names = self.items(lambda: self.pick(self.v.names))
            return f"{_join_items(names, 'and', self.p(0.5))} came to the party."
        adjs = self.items(lambda: self.pick(self.v.person_adj), 3, 4)
        return f"{self.pick(self.v.names)} is {_join_items(adjs, 'and', self.p(0.5))}."

    def li_sequence(self) -> str:
        a, b, c = self.imperative(), self.imperative(), self.imperative()
        if self.p(0.5):
            return f"first, {a}, then {b}, and finally {c}."
        return f"{a}, {b}, and then {c}."

    def li_question(self) -> str:
        things = self.items(lambda: self.food(adj_p=0.1, plural_p=0.5), 3, 4)
        return f"do you want {_join_items(things, 'or', self.p(0.5))}?"

    # -- numbers ----------------------------------------------------------------------------
    def price(self) -> str:
        r = self.rng.random()
        dollars = self.rng.choice(
            (1, 2, 3, 5, 8, 10, 12, 15, 20, 25, 40, 99, 150, 1200, self.rng.randint(1, 999))
        )
        cents = self.rng.choice((0, 0, 5, 25, 50, 75, 99, self.rng.randint(1, 99)))
        d = f"{spell_number(dollars)} {'dollar' if dollars == 1 else 'dollars'}"
        if r < 0.15:
            return f"{spell_number(cents or 50)} cents"
        if cents == 0:
            return d
        if r < 0.35:
            c = spell_number(cents) if cents >= 10 else "oh " + spell_number(cents)
            return f"{spell_number(dollars)} {c}"
        return f"{d} and {spell_number(cents)} {'cent' if cents == 1 else 'cents'}"

    def date(self) -> str:
        month = self.ch(self.v.months)
        day = self.rng.randint(1, 28)
        if self.p(0.3):
            return f"the {spell_ordinal(day)} of {month}"
        return f"{month} {spell_ordinal(day)}"

    def year(self) -> str:
        return spell_year(self.rng.choice((self.rng.randint(1900, 2030), self.rng.randint(1700, 2099))))

    def big_number(self) -> str:
        r = self.rng.random()
        if r < 0.4:
            return spell_number(self.rng.randint(13, 999))
        if r < 0.7:
            return spell_number(self.rng.randint(1000, 99_999))
        if r < 0.9:
            return spell_number(self.rng.randint(1, 900) * 1000)
        return f"{spell_number(self.rng.randint(2, 30))} million"

    def nu_count(self) -> str:
        noun = self.v.things.pick(self.rng)
        n = self.rng.randint(2, 120)
        return f"there are {spell_number(n)} {noun.pl} {self.place()}."

    def nu_price(self) -> str:
        r = self.rng.random()
        if r < 0.35:
            return f"{self.thing(plural_p=0.0)} costs {self.price()}."
        if r < 0.6:
            return f"that will be {self.price()}, please."
        if r < 0.8:
            return f"I paid {self.price()} for {self.thing(plural_p=0.0)}."
        return f"it only costs {self.price()}!"

    def nu_time(self) -> str:
        r = self.rng.random()
        if r < 0.35:
            return f"the {self.ch(('train', 'bus', 'flight', 'ferry', 'boat'))} leaves at {self.clock()}."
        if r < 0.65:
            return f"let's meet {self.place()} at {self.clock()}."
        if r < 0.8:
            return f"it's {self.clock()} already."
        return f"the {self.pick(self.v.places)} opens at {self.clock()} and closes at {self.clock()}."

    def nu_date(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            return f"the meeting is on {self.ch(self.v.weekdays)}, {self.date()}."
        if r < 0.55:
            return f"{self.pick(self.v.names)} was born on {self.date()}, {self.year()}."
        if r < 0.75:
            return f"the {self.pick(self.v.places)} opened in {self.year()}."
        if r < 0.9:
            return f"we moved to {self.pick(self.v.cities)} in {self.year()}."
        return f"today is {self.ch(self.v.weekdays)}, {self.date()}."

    def nu_phone(self) -> str:
        digits = "".join(str(self.rng.randint(0, 9)) for _ in range(10))
        groups = (spell_digits(digits[:3]), spell_digits(digits[3:6]), spell_digits(digits[6:]))
        said = ", ".join(groups)
        if self.p(0.3):
            said = said.replace("zero", "oh")
        lead = self.ch(("my number is", "call me at", "the number is", "you can reach us at"))
        return f"{lead} {said}."

    def nu_measure(self) -> str:
        unit, tail = _UNITS[int(self.rng.random() * len(_UNITS))]
        lo, hi = _UNIT_RANGE.get(unit, (2, 500))
        if self.p(0.7):
            n = spell_number(self.rng.randint(lo, hi))
        else:
            n = f"{spell_number(self.rng.randint(1, 9))} point {spell_digits(str(self.rng.randint(1, 99)))}"
        if unit in ("kilograms", "pounds"):
            return f"{self.thing(plural_p=0.0)} weighs {n} {unit}."
        if unit == "liters":
            return f"we need {n} liters of {self.ch(('water', 'milk', 'juice', 'paint', 'oil'))}."
        if unit == "degrees":
            return f"it's {n} degrees outside."
        if unit == "minutes":
            return f"the {self.ch(('train', 'bus', 'flight'))} was {n} minutes late."
        return f"the {self.pick(self.v.places)} is {n} {unit} {tail}."

    def nu_misc(self) -> str:
        r = self.rng.random()
        if r < 0.15:
            return f"prices rose by {spell_number(self.rng.randint(2, 60))} percent {self.time()}."
        if r < 0.3:
            a, b = self.rng.randint(0, 9), self.rng.randint(0, 9)
            return f"the final score was {spell_number(a)} to {spell_number(b)}."
        if r < 0.45:
            return f"{self.pick(self.v.names)} is {spell_number(self.rng.randint(3, 99))} years old."
        if r < 0.6:
            start = self.rng.randint(1, 20)
            k = self.rng.randint(3, 8)
            seq = [spell_number(i) for i in range(start, start + k)]
            if self.p(0.4):
                seq.reverse()
            return ", ".join(seq) + "."
        if r < 0.72:
            return f"{self.pick(self.v.names)} finished {spell_ordinal(self.rng.randint(1, 30))} in the race."
        if r < 0.84:
            return f"our office is on the {spell_ordinal(self.rng.randint(1, 40))} floor."
        if r < 0.92:
            return f"we live at {self.big_number()} {self.pick(self.v.names)} Street."
        return f"{self.pick(self.v.cities)} has about {self.big_number()} people."

    # -- fragments, replies -----------------------------------------------------------------
    def fragment(self) -> str:
        core = self.pick(self.v.fragments)
        body, end = core[:-1], core[-1]
        interj = self.p(0.45) or " " not in body
        out = f"{self.pick(self.v.interj)}, {body}" if interj else body
        if self.p(0.25):
            out += f", {self.pick(self.v.names)}"
        return out + end

    def reply(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            return f"yes, {self.clause(0.4)}."
        if r < 0.45:
            return f"no, {self.clause(0.3)}."
        if r < 0.6:
            return f"I think {self.clause(0.4)}."
        if r < 0.7:
            return f"maybe {self.time()}."
        if r < 0.8:
            return f"{self.ch(('probably', 'definitely', 'certainly', 'hopefully'))} {self.time()}."
        return self.fragment()

    # -- lip drills -------------------------------------------------------------------------
    def lips(self, drill: _Drill) -> str:
        noun = drill.noun.pick(self.rng)
        adj = drill.adj.pick(self.rng)
        if noun.pl is not None and self.p(0.35):
            obj = f"{adj} {noun.pl}" if self.p(0.5) else f"{self.number_word(2, 9)} {adj} {noun.pl}"
        elif noun.pl is None:
            obj = f"some {adj} {noun.sg}"
        else:
            obj = self.art(f"{adj} {noun.sg}")
        name = drill.name.pick(self.rng)
        if self.p(0.2):
            name = f"{name} and {drill.name.pick(self.rng)}"
        return f"{name} {drill.verb.pick(self.rng)} {obj} {drill.place.pick(self.rng)}."

    def lips_bilabial(self) -> str:
        return self.lips(self.v.bilabial)

    def lips_labiodental(self) -> str:
        return self.lips(self.v.labiodental)

    def lips_rounded(self) -> str:
        return self.lips(self.v.rounded)

    def lips_twister(self) -> str:
        return self.ch(self.v.twisters)
