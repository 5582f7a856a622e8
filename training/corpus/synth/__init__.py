"""Synthesising a corpus (``xactor synth``): the seeded plan and its worker processes
(:mod:`.run`), one clip from its plan (:mod:`.clip`), the train / val / test split of voices
(:mod:`.splits`)."""
