"""bench/real_speech/stress.py: an alignment's unstressed AH becomes the schwa (AH0)."""

from __future__ import annotations

import pytest

from xactor.bench.real_speech.phones import OPEN_VOWELS, jaw_target
from xactor.bench.real_speech.stress import espeak_vowel_stress, mark_schwas


def _alignment() -> list[list[object]]:
    """'About the cut' as pocketsphinx aligns it: AH for every /ʌ/ and schwa alike."""
    spans = [
        ("sil", ""), ("AH", "about"), ("B", "about"), ("AW", "about"), ("T", "about"),
        ("DH", "the"), ("AH", "the"), ("K", "cut"), ("AH", "cut"), ("T", "cut"), ("sil", ""),
    ]  # fmt: skip
    return [[phone, 0.1 * i, 0.1 * (i + 1), word] for i, (phone, word) in enumerate(spans)]


def test_unstressed_ah_is_a_schwa_and_stressed_ah_stays_open() -> None:
    if espeak_vowel_stress("about the cut") is None:
        pytest.skip("espeak-ng is needed (scripts/bootstrap.sh installs it)")
    marked = mark_schwas(_alignment(), "About the cut.")
    assert [p[0] for p in marked if str(p[0]).startswith("AH")] == ["AH0", "AH0", "AH"]
    assert [p[1:] for p in marked] == [p[1:] for p in _alignment()]  # times and words untouched
    assert "AH0" not in OPEN_VOWELS and jaw_target("AH0") < jaw_target("AH")


def test_words_it_cannot_match_keep_the_aligners_reading() -> None:
    if espeak_vowel_stress("something else entirely") is None:
        pytest.skip("espeak-ng is needed (scripts/bootstrap.sh installs it)")
    assert mark_schwas(_alignment(), "Something else entirely.") == _alignment()
