"""Train / val / test by voice *and* by text: test voices and test sentences never appear in training.

Voices are split by *family* — the engine voice and variant, whatever its pitch / rate offsets —
because the same espeak-ng ``en-us+m3`` at two pitches is one speaker to a model: holding out
only one of them would leak. Families are shuffled with the seed inside each (engine, sex)
stratum, and every stratum with at least three families gives one to test first, then val, so
held-out speakers cover engines and both sexes. The voices of :data:`TRAIN_ONLY_ENGINES` (one neural
voice, three recorded MBROLA speakers: too few to hold any out, and closer to people than the
voices the evaluation is kept for) are all training voices. Texts come from the text generator's disjoint
pools (training/corpus/text/), one pool per split.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from xactor.training.corpus.tts.voices import Voice

SPLITS: tuple[str, ...] = ("train", "val", "test")
TRAIN_ONLY_ENGINES: frozenset[str] = frozenset({"piper", "mbrola"})


def family(voice: Voice) -> str:
    """The speaker a voice is a variation of: engine, voice and variant without offsets."""
    return f"{voice.engine}:{voice.name}:{voice.variant}"


def split_voices(voices: list[Voice], seed: int, held_out: float = 0.2) -> dict[str, list[Voice]]:
    """Voices per split; about ``held_out`` of the families go to val and test together."""
    families: dict[str, list[Voice]] = defaultdict(list)
    for v in voices:
        families[family(v)].append(v)
    strata: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, members in families.items():
        strata[(members[0].engine, members[0].sex)].append(name)
    rng = np.random.default_rng(seed)
    assignment: dict[str, str] = {}
    for key in sorted(strata):
        names = sorted(strata[key])
        rng.shuffle(names)
        n_out = round(held_out * len(names))
        if len(names) >= 3:
            n_out = max(n_out, 2)
        if key[0] in TRAIN_ONLY_ENGINES:
            n_out = 0
        for i, name in enumerate(names):
            assignment[name] = ("test", "val")[i % 2] if i < n_out else "train"
    out: dict[str, list[Voice]] = {s: [] for s in SPLITS}
    for v in sorted(voices, key=lambda v: v.id):
        out[assignment[family(v)]].append(v)
    return out
