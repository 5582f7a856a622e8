"""Closed lips meet on the procedural face, measured from pixels: MediaPipe Face Mesh run on the
rendered frame, the opening as the real-speech evaluation reads it (bench/real_speech/pixels.py).

Before the renderer sealed nearly closed lips, a rest face (its lips up to 1 % of a face width
apart) and a bilabial closure (some inner-lip pairs a hair apart) showed a seam of the teeth behind
them: Face Mesh read 2 to 8 % of the mouth's width where photo portraits read under 1 %.
"""

from __future__ import annotations

import numpy as np
import pytest

from xactor.bench.real_speech.pixels import MouthMeter
from xactor.engines import motion_space as ms
from xactor.engines.procedural.avatar import TEST_SEED_BASE
from xactor.engines.procedural.identity import sample_identity
from xactor.engines.procedural.render import ProceduralFace
from xactor.training.corpus.motion.visemes import VISEMES

MET = 0.015  # opening (fraction of the mouth's width) of lips that meet: photos read -0.001..0.01


@pytest.mark.parametrize("seed", [TEST_SEED_BASE, TEST_SEED_BASE + 5])
def test_closed_lips_meet_and_open_vowels_open(seed: int) -> None:
    face = ProceduralFace(sample_identity(seed), 256)
    rest = face.render(ms.zeros()[0])
    meter = MouthMeter(rest)
    closed = {"rest": rest}
    for phone in ("P", "B", "M"):  # the corpus's bilabial closures
        closed[phone] = face.render(ms.from_dict(dict(VISEMES[phone].targets))[0])
    openings = {name: meter(frame) for name, frame in closed.items()}
    assert all(np.isfinite(v) and v <= MET for v in openings.values()), openings
    vowel = meter(face.render(ms.from_dict({"jawOpen": 0.5})[0]))
    assert vowel > 0.1, vowel  # an open vowel still shows an open mouth
