"""The seeded generator: templates by kind, quotes, dialogues, passages, and the public streams.

Every unit is redrawn until its hash falls in the requested pool, which is what makes the pools
disjoint by construction (see :mod:`xactor.training.corpus.text`).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from xactor.training.corpus.text.grammar import _Grammar
from xactor.training.corpus.text.numbers import spoken_words
from xactor.training.corpus.text.phrases import _finish
from xactor.training.corpus.text.pools import DEFAULT_SPLIT, Split, _hash64, pool_of
from xactor.training.corpus.text.utterance import (
    KIND_WEIGHTS,
    MAX_WORDS,
    MIN_WORDS,
    PAUSE_MAX,
    PAUSE_MIN,
    POOLS,
    Kind,
    Utterance,
)
from xactor.training.corpus.text.vocab import _Slot


@dataclass(frozen=True)
class _Template:
    id: str
    fn: Callable[[_Grammar], str]


def _templates(weighted: Sequence[tuple[str, float, Callable[[_Grammar], str]]]) -> _Slot[_Template]:
    return _Slot([_Template(i, f) for i, _, f in weighted], [w for _, w, _ in weighted])


_G = _Grammar
_TEMPLATES: dict[str, _Slot[_Template]] = {
    Kind.STATEMENT: _templates([
        ("statement.svo", 3, _G.st_svo), ("statement.time_first", 1.5, _G.st_time_first),
        ("statement.freq", 1.2, _G.st_freq), ("statement.manner", 1, _G.st_manner),
        ("statement.conj", 2.5, _G.st_conj), ("statement.that", 1.2, _G.st_that),
        ("statement.copula", 1.5, _G.st_copula), ("statement.there", 1, _G.st_there),
        ("statement.want", 1.2, _G.st_want), ("statement.imperative", 1, _G.st_imperative),
        ("statement.abstract", 2.2, _G.st_abstract),
    ]),
    Kind.QUESTION: _templates([
        ("question.wh_did", 2, _G.q_wh_did), ("question.wh_subj", 1.2, _G.q_wh_subj),
        ("question.wh_be", 1.2, _G.q_wh_be), ("question.how_many", 1, _G.q_how_many),
        ("question.yes_no", 2.5, _G.q_yn), ("question.be", 1, _G.q_be),
        ("question.choice", 0.8, _G.q_choice), ("question.tag", 0.8, _G.q_tag),
        ("question.indirect", 0.8, _G.q_indirect),
    ]),
    Kind.EXCLAMATION: _templates([
        ("exclamation.what", 1, _G.ex_what), ("exclamation.how", 0.8, _G.ex_how),
        ("exclamation.so", 1.2, _G.ex_so), ("exclamation.imperative", 1, _G.ex_imperative),
        ("exclamation.social", 0.6, _G.ex_social),
    ]),
    Kind.LIST: _templates([
        ("list.objects", 2, _G.li_objects), ("list.fixed", 1.5, _G.li_fixed),
        ("list.sequence", 1, _G.li_sequence), ("list.question", 0.7, _G.li_question),
    ]),
    Kind.NUMBERS: _templates([
        ("numbers.count", 1, _G.nu_count), ("numbers.price", 1.2, _G.nu_price),
        ("numbers.time", 1, _G.nu_time), ("numbers.date", 1.2, _G.nu_date),
        ("numbers.phone", 0.6, _G.nu_phone), ("numbers.measure", 1, _G.nu_measure),
        ("numbers.misc", 1.5, _G.nu_misc),
    ]),
    Kind.FRAGMENT: _templates([("fragment.short", 1, _G.fragment)]),
    Kind.LIPS: _templates([
        ("lips.bilabial", 1.2, _G.lips_bilabial), ("lips.labiodental", 1, _G.lips_labiodental),
        ("lips.rounded", 1, _G.lips_rounded), ("lips.twister", 0.15, _G.lips_twister),
    ]),
    "reply": _templates([("reply.answer", 1, _G.reply)]),
}  # fmt: skip

_QUOTE_INNER: tuple[tuple[Kind, float], ...] = (
    (Kind.STATEMENT, 0.45), (Kind.QUESTION, 0.25), (Kind.EXCLAMATION, 0.15), (Kind.FRAGMENT, 0.15),
)  # fmt: skip
_PASSAGE_PARTS: tuple[tuple[Kind, float], ...] = (
    (Kind.STATEMENT, 0.35), (Kind.QUESTION, 0.15), (Kind.EXCLAMATION, 0.08), (Kind.NUMBERS, 0.1),
    (Kind.LIST, 0.07), (Kind.FRAGMENT, 0.13), (Kind.LIPS, 0.12),
)  # fmt: skip
_SAY = {"statement": ("said", "explained", "whispered", "replied", "added", "told us", "announced"),
        "question": ("asked", "wondered", "asked again"),
        "exclamation": ("shouted", "yelled", "cried", "laughed"),
        "fragment": ("said", "replied", "whispered", "answered")}  # fmt: skip


def _choose(rng: random.Random, weighted: Sequence[tuple[Kind, float]]) -> Kind:
    total = sum(w for _, w in weighted)
    x = rng.random() * total
    for kind, w in weighted:
        x -= w
        if x < 0:
            return kind
    return weighted[-1][0]


def _seed_int(seed: int, pool: str) -> int:
    return _hash64(f"xactor-text:{seed}:{pool}")


class _Builder:
    """Makes utterances of one pool: every unit is redrawn until its hash falls in that pool."""

    MAX_TRIES = 20_000

    def __init__(self, seed: int, pool: str, split: Split) -> None:
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, not {pool!r}")
        self.rng = random.Random(_seed_int(seed, pool))
        self.g = _Grammar(self.rng)
        self.pool = pool
        self.split = split

    def pause(self, lo: float = PAUSE_MIN) -> float:
        """Log-uniform in [lo, PAUSE_MAX], to 0.05 s: mostly short pauses, some long ones."""
        x = math.exp(self.rng.uniform(math.log(lo), math.log(PAUSE_MAX)))
        return min(PAUSE_MAX, max(lo, round(x * 20) / 20))

    def unit(self, kind: str) -> tuple[str, str]:
        slot = _TEMPLATES[kind]
        for _ in range(self.MAX_TRIES):
            t = slot.pick(self.rng)
            text = _finish(t.fn(self.g))
            if pool_of(text, self.split) == self.pool:
                return text, t.id
        raise RuntimeError(f"no {kind} unit fell in pool {self.pool!r}")  # pragma: no cover

    def quote(self) -> tuple[list[str | float], str]:
        inner_kind = _choose(self.rng, _QUOTE_INNER)
        inner, iid = self.unit(inner_kind)
        who = self.g.pick(self.g.v.names) if self.g.p(0.6) else self.g.person_np()[0]
        say = self.g.ch(_SAY[inner_kind])
        if self.g.p(0.5):
            lead = self.g.ch(("", "", "then ", "suddenly ", "later, "))
            return [_finish(f'{lead}{who} {say}, "{inner}"')], f"quote.before({iid})"
        if inner.endswith("."):
            inner = inner[:-1] + ","
        return [f'"{inner}" {who} {say}.'], f"quote.after({iid})"

    def dialogue(self) -> tuple[list[str | float], str]:
        first_kind = _choose(
            self.rng,
            ((Kind.QUESTION, 0.55), (Kind.STATEMENT, 0.25), (Kind.EXCLAMATION, 0.1), (Kind.FRAGMENT, 0.1)),
        )
        turns = [self.unit(first_kind)]
        turns.append(
            self.unit(
                "reply" if first_kind == Kind.QUESTION else self.g.ch((Kind.FRAGMENT, Kind.QUESTION, "reply"))
            )
        )
        if self.g.p(0.35):
            turns.append(self.unit(self.g.ch((Kind.FRAGMENT, Kind.QUESTION, "reply"))))
        segments: list[str | float] = []
        for text, _ in turns:
            if segments:
                segments.append(self.pause(0.3))
            segments.append(text)
        return segments, "dialogue(" + ">".join(t for _, t in turns) + ")"

    def passage(self) -> tuple[list[str | float], str]:
        target = self.rng.randint(2, 4)
        parts: list[tuple[str, str]] = []
        words = 0
        for _ in range(target * 3):
            text, tid = self.unit(_choose(self.rng, _PASSAGE_PARTS))
            n = len(spoken_words(text))
            if words + n > MAX_WORDS:
                continue
            parts.append((text, tid))
            words += n
            if len(parts) == target:
                break
        if len(parts) < 2:
            parts.append(self.unit(Kind.FRAGMENT))
        segments: list[str | float] = [parts[0][0]]
        for text, _ in parts[1:]:
            if self.g.p(0.5):
                segments += [self.pause(), text]
            else:
                last = segments[-1]
                assert isinstance(last, str)
                segments[-1] = f"{last} {text}"
        return segments, "passage(" + "+".join(t for _, t in parts) + ")"

    def utterance(self, kind: Kind) -> Utterance:
        for _ in range(100):
            if kind == Kind.QUOTE:
                segments, tid = self.quote()
            elif kind == Kind.DIALOGUE:
                segments, tid = self.dialogue()
            elif kind == Kind.PASSAGE:
                segments, tid = self.passage()
            else:
                text, tid = self.unit(kind)
                segments = [text]
            n = sum(len(spoken_words(s)) for s in segments if isinstance(s, str))
            if MIN_WORDS <= n <= MAX_WORDS:
                return Utterance.make(segments, kind, tid, self.pool)
        raise RuntimeError(f"could not make a {kind} of {MIN_WORDS}..{MAX_WORDS} words")  # pragma: no cover


def iter_texts(
    seed: int,
    pool: str = "train",
    split: Split = DEFAULT_SPLIT,
    kind_weights: Mapping[Kind, float] = KIND_WEIGHTS,
    unique: bool = True,
) -> Iterator[Utterance]:
    """An endless, seeded stream of utterances of one pool (same arguments, same stream).

    With ``unique`` a text already given is redrawn (up to 50 times, then let through), so the
    small spaces (fragments) repeat only once the larger ones cannot fill in.
    """
    builder = _Builder(seed, pool, split)
    kinds = tuple((k, w) for k, w in kind_weights.items() if w > 0)
    seen: set[str] = set()
    while True:
        kind = _choose(builder.rng, kinds)
        utt = builder.utterance(kind)
        for _ in range(50 if unique else 0):
            if utt.text_id not in seen:
                break
            utt = builder.utterance(kind)
        seen.add(utt.text_id)
        yield utt


def generate_texts(
    seed: int,
    n: int,
    pool: str = "train",
    split: Split = DEFAULT_SPLIT,
    kind_weights: Mapping[Kind, float] = KIND_WEIGHTS,
) -> list[Utterance]:
    """The first ``n`` utterances of :func:`iter_texts` — deterministic in all its arguments."""
    return list(itertools.islice(iter_texts(seed, pool, split, kind_weights), n))


def generate_pools(
    seed: int, sizes: Mapping[str, int], split: Split = DEFAULT_SPLIT
) -> dict[str, list[Utterance]]:
    """Utterances for each pool named in ``sizes`` (e.g. {"train": 9000, "val": 500, "test": 500}).

    Disjoint by construction (see the module docstring); each pool's stream depends only on
    ``seed``, its pool name and ``split``, so growing one pool leaves the others unchanged.
    """
    return {pool: generate_texts(seed, n, pool, split) for pool, n in sizes.items()}


def texts_for_duration(
    seed: int,
    hours: float,
    pool: str = "train",
    words_per_second: float = 2.5,
    split: Split = DEFAULT_SPLIT,
) -> list[Utterance]:
    """Enough utterances for ``hours`` of speech at ``words_per_second`` (5 h ≈ 45,000 words)."""
    budget = hours * 3600.0 * words_per_second
    out: list[Utterance] = []
    words = 0
    for utt in iter_texts(seed, pool, split):
        if words >= budget:
            break
        out.append(utt)
        words += utt.n_words
    return out
