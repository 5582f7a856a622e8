"""Phone alignment with a real acoustic model: pocketsphinx's US English model (in its wheel).

Forced alignment in pocketsphinx 5 takes two passes over the audio: the first aligns the words
of the known text (``set_align_text``), the second, seeded with that word alignment
(``set_alignment``), aligns the phones inside them. Times come in 10 ms frames. Phones are
ARPAbet without stress, the corpus's inventory (:mod:`xactor.training.corpus.phonemes`); silence and
pocketsphinx's noise fillers are ``sil``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from xactor.engines.timebase import SAMPLE_RATE

FRAME_S = 0.01  # pocketsphinx's frame rate: 100 a second
SILENCE = "sil"


class AlignError(RuntimeError):
    """The aligner could not align the text to the audio (words it does not know, or no path)."""


@dataclass(frozen=True)
class PhoneSpan:
    phone: str  # ARPAbet, no stress, or "sil"
    start: float  # seconds
    end: float
    word: str  # the word it belongs to ("" for silence)


@functools.cache
def _decoder() -> Any:
    from pocketsphinx import Decoder

    return Decoder(samprate=SAMPLE_RATE, bestpath=False, loglevel="ERROR")


def add_words(pronounce: dict[str, str]) -> None:
    """Teach the aligner's dictionary words it lacks (word -> ARPAbet phones, space-separated)."""
    decoder = _decoder()
    for word, phones in pronounce.items():
        if decoder.lookup_word(word) is None:
            decoder.add_word(word, phones, True)


def unknown_words(text: str) -> list[str]:
    """Words of ``text`` that the aligner's dictionary lacks."""
    decoder = _decoder()
    return [w for w in text.split() if decoder.lookup_word(w) is None]


NOISE_FLOOR = 5e-4  # about -66 dBFS


def _pcm(samples: np.ndarray, floor: float = 0.0) -> bytes:
    """16-bit PCM, with a faint fixed noise floor of std ``floor`` added when asked (see :func:`align`)."""
    noise = np.random.default_rng(0).normal(0.0, floor, samples.size) if floor > 0 else 0.0
    return (np.clip(samples + noise, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def align(samples: np.ndarray, text: str, offset_s: float = 0.0) -> list[PhoneSpan]:
    """Phones of ``text`` (lower-case words) in ``samples`` (16 kHz mono float), times + ``offset_s``.

    When the audio as it is finds no alignment, it is tried again with a faint noise floor
    (:data:`NOISE_FLOOR`): pocketsphinx's noise removal tracks the quietest level it hears, and
    digital silence (padding, the gaps of synthetic speech) drives that estimate to nothing —
    espeak-ng speech was then heard as other words and did not align. Recordings carry their own
    noise and align as they are.
    """
    missing = unknown_words(text)
    if missing:
        raise AlignError(f"words not in the aligner's dictionary: {', '.join(missing)}")
    try:
        return _align(_pcm(samples), text, offset_s)
    except AlignError:
        return _align(_pcm(samples, NOISE_FLOOR), text, offset_s)


def _align(pcm: bytes, text: str, offset_s: float) -> list[PhoneSpan]:
    decoder = _decoder()
    decoder.set_align_text(text)
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    if decoder.hyp() is None:
        raise AlignError(f"no alignment of {text[:40]!r}...")
    decoder.set_alignment()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    alignment = decoder.get_alignment()
    if alignment is None:
        raise AlignError(f"no phone alignment of {text[:40]!r}...")
    spans: list[PhoneSpan] = []
    for word in alignment:
        name = word.name.split("(")[0]  # "and(2)": the dictionary's second pronunciation
        is_word = not (name.startswith(("<", "[", "+")) or name == "<sil>")
        for phone in word:
            label = phone.name if is_word and phone.name != "SIL" else SILENCE
            start = offset_s + phone.start * FRAME_S
            spans.append(PhoneSpan(label, start, start + phone.duration * FRAME_S, name if is_word else ""))
    return spans


def align_segments(
    samples: np.ndarray, segments: list[tuple[float, float, str]], margin_s: float = 0.15
) -> list[PhoneSpan]:
    """Align each transcribed ``(start_s, end_s, words)`` span of ``samples`` on its own (with
    ``margin_s`` of context each side): a long file of which only parts are transcribed."""
    spans: list[PhoneSpan] = []
    for start, end, words in segments:
        lo = max(int((start - margin_s) * SAMPLE_RATE), 0)
        hi = min(int((end + margin_s) * SAMPLE_RATE), samples.size)
        spans += align(samples[lo:hi], words, offset_s=lo / SAMPLE_RATE)
    return spans
