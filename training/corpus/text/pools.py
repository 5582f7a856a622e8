"""Which pool (train / val / test) a unit of text belongs to, fixed by a hash of its words.

Why a hash and not a draw: the pool must be the same for every run, seed and pool size, so that no
sentence of val or test can ever be generated into train (see :mod:`xactor.training.corpus.text`).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Split:
    """Fractions of the unit-hash space given to each pool (train first, then val, then test)."""

    train: float = 0.9
    val: float = 0.05
    test: float = 0.05

    def __post_init__(self) -> None:
        if min(self.train, self.val, self.test) <= 0 or not math.isclose(
            self.train + self.val + self.test, 1.0
        ):
            raise ValueError(f"pool fractions must be positive and sum to 1: {self}")

    def pool(self, u: float) -> str:
        """The pool of hash fraction ``u`` in [0, 1)."""
        if u < self.train:
            return "train"
        return "val" if u < self.train + self.val else "test"


DEFAULT_SPLIT = Split()


_NORM_RE = re.compile(r"[^a-z0-9']+")


def normalise(text: str) -> str:
    """Lower case, letters / digits / apostrophes only, single spaces: what makes two texts "the same".

    "Bob bought a map." and "Bob bought a map?" normalise alike, so they share a pool.
    """
    return " ".join(_NORM_RE.sub(" ", text.lower()).replace(" '", " ").split())


def _hash64(data: str) -> int:
    return int.from_bytes(hashlib.blake2b(data.encode(), digest_size=8).digest(), "big")


_TEXT_ID_RE = re.compile(r"[0-9a-f]{16}")


def text_id_of(text: str) -> str:
    """A stable id of a text (of its normalised form): 16 hex digits."""
    return f"{_hash64(normalise(text)):016x}"


def pool_of(text: str, split: Split = DEFAULT_SPLIT) -> str:
    """The pool ("train", "val" or "test") that a unit with this text belongs to, for every run."""
    return split.pool(_hash64("pool:" + normalise(text)) / 2.0**64)
