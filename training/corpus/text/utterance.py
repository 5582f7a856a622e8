"""One generated utterance and the text contract the synthesis step relies on.

Kept apart from the generator so that the contract (segments, safe characters, pause bounds) can be
read and checked without the grammar (see :mod:`xactor.training.corpus.text` for the contract in full).
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from xactor.training.corpus.text.numbers import spoken_words
from xactor.training.corpus.text.pools import _TEXT_ID_RE, text_id_of

PAUSE_MIN = 0.2  # seconds: shorter reads as a hiccup, not a pause
PAUSE_MAX = 2.0  # seconds: longer is dead air that teaches the model nothing new
MAX_WORDS = 40  # spoken words per utterance; 2 is the minimum (fragments like "Well, okay.")
MIN_WORDS = 2
SAFE_CHARS: frozenset[str] = frozenset(string.ascii_letters + string.digits + " .,?!'\";:-")
POOLS: tuple[str, ...] = ("train", "val", "test")


class Kind(StrEnum):
    """What an utterance is, so that prosody (question rise, exclamation energy) can be balanced."""

    STATEMENT = "statement"
    QUESTION = "question"
    EXCLAMATION = "exclamation"
    LIST = "list"
    NUMBERS = "numbers"
    QUOTE = "quote"
    DIALOGUE = "dialogue"
    FRAGMENT = "fragment"
    LIPS = "lips"
    PASSAGE = "passage"


# How often each kind is drawn: statements and questions dominate as in speech; lips drills and
# passages are frequent because they carry the rare mouth shapes and the long utterances.
KIND_WEIGHTS: Mapping[Kind, float] = {
    Kind.STATEMENT: 0.20,
    Kind.QUESTION: 0.14,
    Kind.EXCLAMATION: 0.07,
    Kind.LIST: 0.07,
    Kind.NUMBERS: 0.10,
    Kind.QUOTE: 0.06,
    Kind.DIALOGUE: 0.08,
    Kind.FRAGMENT: 0.06,
    Kind.LIPS: 0.10,
    Kind.PASSAGE: 0.12,
}


def check_segments(segments: Sequence[str | float]) -> None:
    """Raise ValueError unless ``segments`` follows the text contract (see the module docstring)."""
    if len(segments) % 2 == 0:
        raise ValueError(f"segments must be text (pause text)*: {segments!r}")
    for i, seg in enumerate(segments):
        if i % 2 == 0:
            if not isinstance(seg, str) or not seg.strip() or seg != seg.strip():
                raise ValueError(f"segment {i} must be non-empty stripped text: {seg!r}")
            bad = set(seg) - SAFE_CHARS
            if bad:
                raise ValueError(f"segment {i} has characters outside SAFE_CHARS: {sorted(bad)}")
        elif isinstance(seg, str) or not PAUSE_MIN <= seg <= PAUSE_MAX:
            raise ValueError(f"segment {i} must be a pause in [{PAUSE_MIN}, {PAUSE_MAX}] s: {seg!r}")


@dataclass(frozen=True)
class Utterance:
    """One text to synthesise: what to say, with explicit pauses, and where it came from.

    ``segments`` alternates text and pause seconds (see the module docstring). ``template_id``
    names the template(s) that made it ("statement.svo", "quote.after(question.wh_did)"), so that
    analyses can group by construction; ``text_id`` is :func:`text_id_of` of :attr:`text`.
    """

    segments: tuple[str | float, ...]
    kind: Kind
    template_id: str
    pool: str
    text_id: str

    def __post_init__(self) -> None:
        check_segments(self.segments)
        if self.pool not in POOLS:
            raise ValueError(f"unknown pool {self.pool!r}")
        if not _TEXT_ID_RE.fullmatch(self.text_id):  # make() computes it; checking it again costs 10 %
            raise ValueError(f"text_id must be 16 hex digits (see text_id_of): {self.text_id!r}")

    @classmethod
    def make(cls, segments: Sequence[str | float], kind: Kind, template_id: str, pool: str) -> Utterance:
        segs = tuple(segments)
        text = " ".join(s for s in segs if isinstance(s, str))
        return cls(segs, kind, template_id, pool, text_id_of(text))

    @property
    def text(self) -> str:
        """All the text, without the explicit pauses (for display, phonemes and word counts)."""
        return " ".join(s for s in self.segments if isinstance(s, str))

    @property
    def pauses(self) -> tuple[float, ...]:
        return tuple(s for s in self.segments if not isinstance(s, str))

    @property
    def n_words(self) -> int:
        """Spoken words (hyphenated numbers count per part: "forty-seven" is two)."""
        return len(spoken_words(self.text))
