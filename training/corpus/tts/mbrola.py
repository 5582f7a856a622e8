"""MBROLA voices: recorded human diphones, spoken through espeak-ng (training data only).

espeak-ng's formant voices, flite and festival sound like machines; a model trained only on them
hears people poorly (docs/evaluation.md). An MBROLA database is a set of diphones cut from one
real speaker's recordings, concatenated and pitch-shifted by the ``mbrola`` program: its
spectra, formant transitions and stop bursts are a person's. espeak-ng drives it (``mb-us1``
etc.), so text, phonemes and their timings come from the same engine events as
:mod:`~xactor.training.corpus.tts.espeak`'s; only the output is MBROLA's (16 kHz).

Debian ships the program in ``contrib`` and the English databases in ``non-free``
(``mbrola-us1`` an American woman, ``mbrola-us2`` an American man, ``mbrola-en1`` a British man;
``mbrola-us3`` is left out: it has no diphones of espeak-ng's ``O2``, the vowel of "long" and "on",
and MBROLA speaks silence in their place). Their licence allows synthesis with the MBROLA
program and free redistribution, not incorporation into a product that is sold; the databases
never enter this repository, and what they train is weights, not the diphones.

Three speakers are too few to hold any out: an MBROLA corpus is training data only (like the
Piper voice's); validation and test voices come from the other engines.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from xactor.engines.timebase import SAMPLE_RATE
from xactor.training.corpus.phonemes import PhoneSpan
from xactor.training.corpus.tts.espeak import RATE_NORMAL_WPM, EspeakSynthesizer, voice_id
from xactor.training.corpus.tts.voices import Engine, SynthResult, Voice

DATABASES = Path("/usr/share/mbrola")

# (espeak-ng voice, MBROLA database, dialect of its phoneme mnemonics, sex, event lag in ms,
# variants as (pitch 0-100, pitch range 0-100, rate wpm)). The lag: espeak-ng emits a phoneme's
# event when it hands the phoneme to MBROLA, and the database's audio comes a constant time later
# (the shift of the spans that best lines vowels up with the audio's energy, the same at the
# start, middle and end of a 12 s utterance; espeak-ng's own voices: 0).
_VOICE_TABLE: tuple[tuple[str, str, str, str, float, tuple[tuple[int, int, int], ...]], ...] = (
    ("mb-us1", "us1", "en-us", "female", 48.0, ((50, 50, 165), (65, 60, 180), (40, 40, 150))),
    ("mb-us2", "us2", "en-us", "male", 48.0, ((50, 50, 170), (35, 60, 185), (60, 40, 155))),
    ("mb-en1", "en1", "en", "male", 50.0, ((50, 50, 170), (40, 60, 160), (60, 45, 185))),
)


def corpus_voices() -> list[Voice]:
    """The MBROLA corpus voices (no database needed to list them)."""
    return [
        Voice(
            id=voice_id(name, "", pitch, spread, wpm).replace("espeak-", "mbrola-", 1),
            engine="mbrola",
            name=name,
            pitch=float(pitch),
            pitch_range=float(spread),
            rate=wpm / RATE_NORMAL_WPM,
            sex="female" if sex == "female" else "male",
            extra={"dialect": dialect, "database": database, "rate_wpm": str(wpm), "lag_ms": str(lag)},
        )
        for name, database, dialect, sex, lag, variants in _VOICE_TABLE
        for pitch, spread, wpm in variants
    ]


class MbrolaSynthesizer(EspeakSynthesizer):
    """:class:`~training.corpus.tts.voices.Synthesizer` for the MBROLA voices (espeak-ng's
    library, its events and its lock; see :class:`EspeakSynthesizer`)."""

    engine: Engine = "mbrola"

    def available(self) -> bool:
        """espeak-ng loads, the ``mbrola`` program is installed and every database is there."""
        if not super().available():
            return False
        if shutil.which("mbrola") is None:
            self.reason = "mbrola unavailable: apt-get install mbrola (Debian contrib)"
            return False
        missing = [db for _, db, *_ in _VOICE_TABLE if not (DATABASES / db / db).is_file()]
        if missing:
            names = " ".join(f"mbrola-{db}" for db in missing)
            self.reason = f"MBROLA databases missing: apt-get install {names} (Debian non-free)"
            return False
        return True

    def voices(self) -> list[Voice]:
        return corpus_voices()

    def synth(self, text: str, voice: Voice) -> SynthResult:
        """Speak ``text``; the engine's spans moved earlier by the database's event lag."""
        result = super().synth(text, voice)
        duration = result.audio.shape[0] / SAMPLE_RATE
        phones = earlier(result.phones, float(voice.extra.get("lag_ms", "0")) / 1000.0, duration)
        return replace(result, phones=phones)


def earlier(phones: list[PhoneSpan], lag: float, duration: float) -> list[PhoneSpan]:
    """Contiguous ``phones`` from 0 to ``duration`` with every inner boundary ``lag`` seconds
    earlier (clamped to 0; a span left empty is dropped), still from 0 to ``duration``."""
    out: list[PhoneSpan] = []
    for i, p in enumerate(phones):
        start = 0.0 if i == 0 else max(p.start - lag, 0.0)
        end = duration if i == len(phones) - 1 else max(p.end - lag, 0.0)
        if end > start:
            out.append(replace(p, start=start, end=end))
    return out
