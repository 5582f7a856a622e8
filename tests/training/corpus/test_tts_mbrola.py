"""MBROLA voices through espeak-ng: the voice list, the split, the output rate and the timing."""

from __future__ import annotations

import numpy as np
import pytest

from xactor.engines.timebase import SAMPLE_RATE
from xactor.training.corpus.motion.emotion import tts_prosody
from xactor.training.corpus.phonemes import SILENCE, VOWELS, PhoneSpan, check_spans
from xactor.training.corpus.synth.clip import emotional_voice
from xactor.training.corpus.synth.splits import split_voices
from xactor.training.corpus.tts import espeak as te
from xactor.training.corpus.tts import mbrola as mb

from .energy import frames, rms_db, vowel_offset_ms
from .test_tts_espeak import RICH, STOPS

_SYNTH = mb.MbrolaSynthesizer()
_AVAILABLE = _SYNTH.available()
needs_mbrola = pytest.mark.skipif(not _AVAILABLE, reason=_SYNTH.reason or "MBROLA unavailable")


def test_voices_are_recorded_speakers_of_both_sexes_with_their_dialects() -> None:
    voices = mb.corpus_voices()
    assert len({v.id for v in voices}) == len(voices) == 9
    assert {v.engine for v in voices} == {"mbrola"}
    assert {v.sex for v in voices} == {"female", "male"}
    assert {te.dialect(v) for v in voices} == {"en-us", "en"}
    assert all(v.id.startswith("mbrola-mb-") and float(v.extra["lag_ms"]) > 0 for v in voices)


def test_every_mbrola_voice_is_a_training_voice() -> None:
    espeak = te.corpus_voices()
    splits = split_voices([*espeak, *mb.corpus_voices()], seed=0)
    assert {v.engine for v in splits["val"] + splits["test"]} == {"espeak-ng"}
    assert {v.id for v in splits["train"] if v.engine == "mbrola"} == {v.id for v in mb.corpus_voices()}


def test_an_emotion_moves_an_mbrola_voice_in_espeak_units() -> None:
    voice = mb.corpus_voices()[0]
    moved = emotional_voice(voice, tts_prosody("happy", 1.0))
    assert 0 <= moved.pitch <= 99 and moved.pitch > voice.pitch  # a setting, not a percent offset


def test_earlier_moves_inner_boundaries_and_keeps_the_spans_contiguous() -> None:
    spans = [PhoneSpan(SILENCE, 0.0, 0.03), PhoneSpan("B", 0.03, 0.1), PhoneSpan("AA", 0.1, 0.3)]
    out = mb.earlier(spans, 0.05, 0.32)
    assert [p.phone for p in out] == ["B", "AA"]  # the leading silence is gone: B starts at 0
    assert out[0].start == 0.0 and out[0].end == pytest.approx(0.05)
    assert out[1].start == pytest.approx(0.05) and out[1].end == 0.32
    check_spans(out, 0.32)


@needs_mbrola
def test_speech_is_16khz_in_real_time_with_contiguous_spans() -> None:
    for voice in mb.corpus_voices()[::3]:
        r = _SYNTH.synth("Bob bought a map of Maine, and the telephone rang twice.", voice)
        seconds = r.audio.shape[0] / SAMPLE_RATE
        check_spans(r.phones, seconds)
        assert 2.0 < seconds < 4.5, (voice.id, seconds)  # not stretched by a wrong sample rate
        assert [p.phone for p in r.phones if p.phone != SILENCE][:3] == ["B", "AA", "B"]


@needs_mbrola
def test_spans_line_up_with_the_audio_energy() -> None:
    """After the event lag: vowels on the loud stretches (±10 ms) and every stop between two
    vowels holding its closure's quietest moment."""
    inside: list[bool] = []
    for voice in mb.corpus_voices()[::3]:
        text = " ".join(RICH[:6])
        r = _SYNTH.synth(text, voice)
        assert abs(vowel_offset_ms(r.audio, r.phones)) <= 10.0, voice.id
        db, step = rms_db(r.audio)
        for prev, p, nxt in zip(r.phones, r.phones[1:], r.phones[2:], strict=False):
            if p.phone in STOPS and prev.phone in VOWELS and nxt.phone in VOWELS:
                win = frames(p.start - 0.03, p.end + 0.03, step)
                t_min = (win.start + int(np.argmin(db[win]))) * step
                inside.append(p.start - 0.005 <= t_min <= p.end + 0.005)
    assert len(inside) > 10 and np.mean(inside) >= 0.9
