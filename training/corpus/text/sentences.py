"""Sentence templates: statements, questions and exclamations (``st_*``, ``q_*``, ``ex_*``)."""

from __future__ import annotations

from xactor.training.corpus.text.phrases import (
    _CONJ_COORD,
    _CONJ_SUB,
    _GREAT,
    _INTENS,
    _MENTAL,
    _Phrases,
)


class _Sentences(_Phrases):
    """The statement, question and exclamation templates, on top of the phrase builders."""

    # -- statements -------------------------------------------------------------------------
    def st_svo(self) -> str:
        return self.clause(0.8) + "."

    def st_time_first(self) -> str:
        return f"{self.time()}, {self.clause(0.4)}."

    def st_freq(self) -> str:
        s, agr = self.subject()
        verb, obj = self.event()
        form = verb.past if self.p(0.3) else (verb.s if agr == "3s" else verb.base)
        tail = f" {self.place()}" if self.p(0.5) else ""
        return f"{s} {self.pick(self.v.freq)} {form} {obj}{tail}."

    def st_manner(self) -> str:
        s, agr = self.subject()
        verb, obj = self.event()
        return f"{s} {self.vp(agr, verb, obj, 0.0)} {self.pick(self.v.manner)}."

    def st_conj(self) -> str:
        if self.p(0.35):
            return f"{self.ch(_CONJ_SUB)} {self.clause(0.3)}, {self.clause(0.3)}."
        if self.p(0.5):
            return f"{self.clause(0.4)}, {self.ch(_CONJ_COORD)} {self.clause(0.4)}."
        return f"{self.clause(0.4)} {self.ch(_CONJ_SUB)} {self.clause(0.4)}."

    def st_that(self) -> str:
        s, agr = self.subject()
        m = _MENTAL[int(self.rng.random() * len(_MENTAL))]
        form = m.past if self.p(0.6) else (m.s if agr == "3s" else m.base)
        that = "that " if self.p(0.6) else ""
        return f"{s} {form} {that}{self.clause(0.5)}."

    def st_copula(self) -> str:
        r = self.rng.random()
        if r < 0.5:
            subj, agr = self.np(self.v.things, self.v.thing_adj, plural_p=0.3, definite=self.p(0.8))
            adj = self.pick(self.v.thing_adj)
        elif r < 0.75:
            subj, agr = self.np(self.v.foods, self.v.food_adj, plural_p=0.3)
            adj = self.pick(self.v.food_adj)
        else:
            subj, agr = self.person_np()
            adj = self.pick(self.v.person_adj)
        if self.p(0.5):
            verb = self.be(agr, self.p(0.5))
        else:
            verb = self.ch(("looks", "looked", "seems", "seemed", "felt", "became"))
            if agr == "pl" and verb.endswith("s"):
                verb = verb[:-1]
        intens = self.ch(_INTENS) + " " if self.p(0.4) else ""
        return f"{subj} {verb} {intens}{adj}."

    def st_there(self) -> str:
        past = self.p(0.5)
        if self.p(0.5):
            noun = self.v.things.pick(self.rng) if self.p(0.6) else self.v.foods.pick(self.rng)
            if noun.pl is None:
                return f"there {'was' if past else 'is'} some {noun.sg} {self.place()}."
            return f"there {'was' if past else 'is'} {self.art(noun.sg)} {self.place()}."
        noun = self.v.things.pick(self.rng)
        return f"there {'were' if past else 'are'} {self.number_word()} {noun.pl} {self.place()}."

    def st_want(self) -> str:
        s, agr = self.subject()
        third = agr == "3s"
        want = self.ch(
            (
                "wants" if third else "want", "wanted", "would like", "hopes" if third else "hope",
                "planned", "decided", "forgot", "tried", "promised", "needs" if third else "need",
                "would love", "can't wait",
            )
        )  # fmt: skip
        tail = f" {self.time()}" if self.p(0.5) else ""
        return f"{s} {want} to {self.imperative()}{tail}."

    def st_imperative(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            return f"please {self.imperative()} {self.place()}."
        if r < 0.5:
            return f"don't forget to {self.imperative()}."
        if r < 0.7:
            return f"let's {self.imperative()} {self.time()}."
        if r < 0.85:
            return f"try to {self.imperative()} {self.pick(self.v.manner)}."
        return f"remember to {self.imperative()} {self.time()}."

    def st_abstract(self) -> str:
        """Sentences around abstract nouns: where ZH ("decision", "pleasure") and OY ("choice",
        "noise") live in ordinary speech."""
        v = self.v
        r = self.rng.random()
        absn = self.pick(v.abstract)
        if r < 0.15:
            return f"it was a pleasure to {self.imperative()}."
        if r < 0.3:
            return f"the {self.pick(v.abstract_adj)} {absn} surprised {self.person_obj()}."
        if r < 0.45:
            s, _ = self.subject()
            about = self.ch(("talked", "argued", "heard", "asked", "wrote", "read", "joked", "thought"))
            return f"{s} {about} about the {absn} {self.time()}."
        if r < 0.6:
            return f"that was {self.art(self.pick(v.abstract_adj) + ' ' + absn)}."
        if r < 0.7:
            return f"there was some {self.pick(v.abstract)} about the {self.v.things.pick(self.rng).sg}."
        if r < 0.8:
            s, _ = self.subject()
            return f"{s} made {self.art(self.pick(v.abstract_adj) + ' ' + absn)} {self.time()}."
        if r < 0.9:
            s, _ = self.subject()
            return f"{s} {self.ch(('watched', 'enjoyed', 'avoided'))} television in the garage {self.time()}."
        return f"{self.pick(v.openers)}, {self.clause(0.4)}."

    # -- questions --------------------------------------------------------------------------
    def q_wh_did(self) -> str:
        s, _ = self.subject()
        s = "you" if s == "I" and self.p(0.7) else s
        r = self.rng.random()
        if r < 0.55:
            verb, obj = self.event()
            wh = self.ch(("where", "when", "why", "how", "how often", "at what time"))
            return f"{wh} did {s} {verb.base} {obj}?"
        if r < 0.8:
            verb = self.v.v_thing.pick(self.rng) if self.p(0.6) else self.v.v_food.pick(self.rng)
            tail = f" {self.place()}" if self.p(0.5) else f" {self.time()}"
            return f"what did {s} {verb.base}{tail}?"
        return f"who did {s} {self.v.v_person.pick(self.rng).base} {self.time()}?"

    def q_wh_subj(self) -> str:
        r = self.rng.random()
        if r < 0.4:
            verb, obj = self.event()
            return f"who {verb.past} {obj}?"
        if r < 0.7:
            noun = self.v.people.pick(self.rng)
            verb, obj = self.event()
            return f"which {noun.sg} {verb.past} {obj}?"
        if r < 0.85:
            return f"what happened {self.place()} {self.time()}?"
        verb, obj = self.event()
        return f"who is {verb.ing} {obj} {self.place()}?"

    def q_wh_be(self) -> str:
        r = self.rng.random()
        thing, agr = self.np(self.v.things, self.v.thing_adj, adj_p=0.2, definite=True)
        be = self.be(agr, self.p(0.3))
        if r < 0.3:
            return f"why {be} {thing} so {self.pick(self.v.thing_adj)}?"
        if r < 0.5:
            return f"where {be} {thing}?"
        if r < 0.6:
            when = self.ch(("right now", "today", "this morning", "tonight", "now"))
            return f"where is {self.pick(self.v.names)} {when}?"
        if r < 0.75:
            return f"what color {be} {thing}?"
        if r < 0.85:
            return f"how old {be} {thing}?"
        return f"how was the {self.pick(self.v.abstract)}?"

    def q_how_many(self) -> str:
        r = self.rng.random()
        if r < 0.35:
            noun = self.v.things.pick(self.rng)
            s, _ = self.subject()
            verb = self.v.v_thing.pick(self.rng)
            return f"how many {noun.pl} did {s} {verb.base} {self.time()}?"
        if r < 0.55:
            return f"how much does {self.art(self.v.things.pick(self.rng).sg)} cost?"
        if r < 0.7:
            return f"how long does it take to get to {self.pick(self.v.cities)}?"
        if r < 0.85:
            return f"how far is {self.pick(self.v.cities)} from {self.pick(self.v.cities)}?"
        return f"how many people live in {self.pick(self.v.cities)}?"

    def q_yn(self) -> str:
        s, agr = self.subject()
        verb, obj = self.event()
        r = self.rng.random()
        tail = f" {self.place()}" if self.p(0.3) else (f" {self.time()}" if self.p(0.4) else "")
        if r < 0.3:
            return f"did {s} {verb.base} {obj}{tail}?"
        if r < 0.45:
            return f"{'does' if agr == '3s' else 'do'} {s} {verb.base} {obj}{tail}?"
        if r < 0.7:
            aux = self.ch(("will", "can", "should", "could", "would", "might"))
            return f"{aux} {s} {verb.base} {obj}{tail}?"
        if r < 0.85:
            be = {"1s": "am", "3s": "is", "pl": "are"}[agr]
            return f"{be} {s} {verb.ing} {obj}{tail}?"
        return f"{'has' if agr == '3s' else 'have'} {s} ever {verb.pp} {obj}?"

    def q_be(self) -> str:
        r = self.rng.random()
        if r < 0.4:
            thing, agr = self.np(self.v.things, self.v.thing_adj, adj_p=0.0, definite=True)
            return f"{self.be(agr, self.p(0.3))} {thing} {self.pick(self.v.thing_adj)}?"
        if r < 0.6:
            return f"have you ever been to {self.pick(self.v.cities)}?"
        if r < 0.8:
            s, agr = self.subject()
            be = {"1s": "am", "3s": "is", "pl": "are"}[agr]
            return f"{be} {s} coming {self.time()}?"
        who = self.ch(("are you", "is everyone", "were they", "was she", "is he"))
        return f"{who} {self.pick(self.v.person_adj)}?"

    def q_choice(self) -> str:
        r = self.rng.random()
        if r < 0.4:
            a, b = self.v.foods.pick(self.rng), self.v.foods.pick(self.rng)
            return f"would you like {a.pl or a.sg} or {b.pl or b.sg}?"
        if r < 0.7:
            return f"should we {self.imperative()} or {self.imperative()}?"
        if r < 0.85:
            return f"is it {self.pick(self.v.thing_adj)} or {self.pick(self.v.thing_adj)}?"
        return f"do you prefer {self.pick(self.v.cities)} or {self.pick(self.v.cities)}?"

    def q_tag(self) -> str:
        r = self.rng.random()
        if r < 0.35:
            return f"{self.clause(0.3)}, right?"
        if r < 0.7:
            thing, agr = self.np(self.v.things, self.v.thing_adj, adj_p=0.0, definite=True)
            tag = "isn't it" if agr == "3s" else "aren't they"
            return f"{thing} {self.be(agr)} {self.pick(self.v.thing_adj)}, {tag}?"
        verb, obj = self.event()
        return f"you {verb.past} {obj}, didn't you?"

    def q_indirect(self) -> str:
        r = self.rng.random()
        thing, agr = self.np(self.v.things, self.v.thing_adj, adj_p=0.2, definite=True)
        if r < 0.35:
            return f"do you know where {thing} {self.be(agr)}?"
        if r < 0.6:
            return f"can you tell me when the {self.pick(self.v.places)} opens?"
        if r < 0.8:
            verb, obj = self.event()
            return f"do you know who {verb.past} {obj}?"
        return f"could you tell me how to get to {self.place_np()}?"

    # -- exclamations -----------------------------------------------------------------------
    def ex_what(self) -> str:
        r = self.rng.random()
        if r < 0.45:
            n = self.v.things.pick(self.rng)
            return f"what {self.art(self.pick(self.v.thing_adj) + ' ' + n.sg)}!"
        if r < 0.7:
            n = self.v.things.pick(self.rng)
            return f"what {self.pick(self.v.thing_adj)} {n.pl}!"
        return f"what {self.art(self.pick(self.v.abstract_adj) + ' ' + self.pick(self.v.abstract))}!"

    def ex_how(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            return f"how {self.ch(_GREAT)}!"
        if r < 0.7:
            thing, agr = self.np(self.v.things, self.v.thing_adj, adj_p=0.0, definite=True)
            return f"how {self.pick(self.v.thing_adj)} {thing} {self.be(agr)}!"
        return f"how {self.ch(_GREAT)} this {self.pick(self.v.abstract)} is!"

    def ex_so(self) -> str:
        r = self.rng.random()
        interj = self.pick(self.v.interj)
        if r < 0.35:
            thing, agr = self.np(self.v.things, self.v.thing_adj, adj_p=0.0, definite=True)
            return f"{interj}, {thing} {self.be(agr)} so {self.pick(self.v.thing_adj)}!"
        if r < 0.55:
            return f"{interj}, that was {self.ch(_GREAT)}!"
        if r < 0.8:
            s, _ = self.subject()
            return f"I can't believe {self.simple_past(s)}!"
        thing, agr = self.np(self.v.things, self.v.thing_adj, adj_p=0.0, definite=True)
        return f"oh no, {thing} {self.be(agr)} broken!"

    def ex_imperative(self) -> str:
        r = self.rng.random()
        if r < 0.2:
            return f"watch out for {self.thing(adj_p=0.2)}!"
        if r < 0.4:
            return f"look at that {self.pick(self.v.thing_adj)} {self.v.things.pick(self.rng).sg}!"
        if r < 0.55:
            return f"don't {self.imperative()}!"
        if r < 0.7:
            return f"hurry up, {self.pick(self.v.names)}!"
        if r < 0.85:
            return f"{self.imperative()} right now!"
        call = self.ch(("please be careful", "come here", "stop right there", "wait for me"))
        return f"{call}, {self.pick(self.v.names)}!"

    def ex_social(self) -> str:
        name = self.pick(self.v.names)
        return self.ch(
            (
                f"congratulations, {name}!", f"happy birthday, {name}!", "thank you so much!",
                f"great job, {name}!", f"welcome to {self.pick(self.v.cities)}!",
                f"enjoy your {self.v.foods.pick(self.rng).sg}!", f"good luck, {name}!",
                f"what a pleasure to see you, {name}!", "oh boy, what a voice!",
            )
        )  # fmt: skip
