"""The corpus's phoneme contract: General American English in ARPAbet, with times.

Every speech engine (espeak-ng, flite, festival) has its own phoneme names; each engine module
maps them onto :data:`ARPABET` (39 phonemes, stress kept apart) plus :data:`SILENCE`, so that
viseme motion, phoneme statistics and any model see one inventory. Times are seconds from the
start of the clip's audio.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

# The 39 phonemes of the CMU Pronouncing Dictionary (General American), without stress digits.
VOWELS: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW",
)  # fmt: skip
CONSONANTS: tuple[str, ...] = (
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T",
    "TH", "V", "W", "Y", "Z", "ZH",
)  # fmt: skip
ARPABET: tuple[str, ...] = VOWELS + CONSONANTS
SILENCE = "sil"  # pauses, and the start and end of a clip
INVENTORY: frozenset[str] = frozenset((*ARPABET, SILENCE))


@dataclass(frozen=True)
class PhoneSpan:
    """One phoneme of a clip: ARPAbet name (or ``sil``), start and end in seconds, vowel stress."""

    phone: str
    start: float
    end: float
    stress: int = 0  # 0 unstressed, 1 primary, 2 secondary (vowels only)
    word: int = -1  # index of the word it belongs to in the clip's text (-1: silence / unknown)

    def __post_init__(self) -> None:
        if self.phone not in INVENTORY:
            raise ValueError(f"{self.phone!r} is not an ARPAbet phoneme or {SILENCE!r}")
        if not self.end >= self.start >= 0.0:
            raise ValueError(f"bad times {self.start}..{self.end} for {self.phone}")

    @property
    def duration(self) -> float:
        return self.end - self.start


def check_spans(spans: list[PhoneSpan], audio_seconds: float, tolerance: float = 0.05) -> None:
    """Raise ValueError unless ``spans`` are in order, do not overlap and fit in the audio."""
    for a, b in itertools.pairwise(spans):
        if b.start < a.end - 1e-6:
            raise ValueError(f"phonemes overlap or are out of order: {a} then {b}")
    if spans and spans[-1].end > audio_seconds + tolerance:
        raise ValueError(
            f"last phoneme ends at {spans[-1].end:.3f} s, after the audio ({audio_seconds:.3f} s)"
        )
