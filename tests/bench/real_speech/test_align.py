"""The pocketsphinx aligner on espeak-ng speech whose words are known: phones in order, inside the
speech, and the /p b m/ closures where the signal is quiet."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from xactor.bench.speech import have_espeak, onset, tts

pytest.importorskip("pocketsphinx", reason="pocketsphinx is the aligner (dev extra)")
pytestmark = pytest.mark.skipif(not have_espeak(), reason="espeak-ng makes the test speech")

from xactor.bench.real_speech.align import AlignError, align  # noqa: E402

TEXT = "bob bought a map of maine"


def rms(x: np.ndarray, start: float, end: float) -> float:
    seg = x[int(start * 16000) : int(end * 16000)]
    return float(np.sqrt(np.mean(seg**2))) if seg.size else 0.0


def test_phones_of_known_words_line_up_with_the_audio() -> None:
    speech = tts("Bob bought a map of Maine.")
    x = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(8000, np.float32)])
    spans = align(x, TEXT)
    phones = [s for s in spans if s.phone != "sil"]
    assert [s.phone for s in phones][:3] == ["B", "AA", "B"]
    assert [s.word for s in phones][-1] == "maine"
    assert all(a.end <= b.start + 1e-6 for a, b in itertools.pairwise(spans))
    assert abs(phones[0].start - onset(x, 16000) / 16000) < 0.1  # starts where the sound does
    assert phones[-1].end <= x.size / 16000 - 0.3  # the padding is silence
    # Lips closed, voice muffled: the bilabials are quieter than the open vowels around them.
    quiet = np.mean([rms(x, s.start, s.end) for s in phones if s.phone in ("P", "B", "M")])
    loud = np.mean([rms(x, s.start, s.end) for s in phones if s.phone in ("AA", "AO", "AE")])
    assert quiet < 0.6 * loud


def test_unknown_words_are_refused_by_name() -> None:
    with pytest.raises(AlignError, match="zorblax"):
        align(np.zeros(16000, np.float32), "hello zorblax")
