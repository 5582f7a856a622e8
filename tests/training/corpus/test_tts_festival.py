"""festival through one long-lived ``festival --pipe`` process: phonemes from festival's own
utterance, checked against its audio; the process survives hostile text, hangs and deaths."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import replace

import pytest

from xactor.training.corpus.phonemes import ARPABET, SILENCE
from xactor.training.corpus.tts.festival import FestivalSynthesizer, scheme_string
from xactor.training.corpus.tts.voices import SynthResult, Voice

from .test_tts_flite import (
    BOB,
    RICH_SENTENCES,
    assert_audio_contract,
    assert_bob,
    assert_timings_match_audio,
    median_f0,
    phone_names,
)

_REASON = FestivalSynthesizer().unavailable_reason()
needs_festival = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")


@pytest.fixture(scope="module")
def festival() -> Iterator[FestivalSynthesizer]:
    with FestivalSynthesizer() as synth:
        yield synth


def _voice(synth: FestivalSynthesizer, short: str, pitch: float = 0.0, rate: float = 1.0) -> Voice:
    return next(
        v
        for v in synth.voices()
        if v.id == f"festival-{short}-{'p0' if pitch == 0 else f'p{pitch:+g}'}-r{rate:.1f}"
    )


def test_scheme_string() -> None:
    assert scheme_string('a "b" \\ (c)') == '"a \\"b\\" \\\\ (c)"'


@needs_festival
def test_voices_all_work(festival: FestivalSynthesizer) -> None:
    voices = festival.voices()
    assert len(voices) >= 6
    assert len({v.id for v in voices}) == len(voices)
    assert {v.sex for v in voices} == {"female", "male"}
    for v in voices:
        assert_audio_contract(festival.synth("Hello there, how are you?", v))


@needs_festival
@pytest.mark.parametrize("short", ["kal", "ked", "slt"])
def test_bob_bought_a_map_of_maine(festival: FestivalSynthesizer, short: str) -> None:
    r = festival.synth(BOB, _voice(festival, short))
    assert_audio_contract(r)
    assert_bob(r)


@needs_festival
def test_pauses_are_sil(festival: FestivalSynthesizer) -> None:
    r = festival.synth("Wait, what? Yes. I know.", _voice(festival, "kal"))
    assert "pau" not in phone_names(r)
    assert any(p.phone == SILENCE for p in r.phones[1:-1])
    assert all(a.phone != SILENCE or b.phone != SILENCE for a, b in zip(r.phones, r.phones[1:], strict=False))


@needs_festival
def test_deterministic_across_calls_and_processes(festival: FestivalSynthesizer) -> None:
    for short, pitch, rate in (("kal", 20, 0.9), ("slt", 0, 1.2)):
        v = _voice(festival, short, pitch, rate)
        a = festival.synth(BOB, v)
        festival.synth("Something else in between.", _voice(festival, "ked", 15, 1.1))
        b = festival.synth(BOB, v)
        with FestivalSynthesizer() as other:
            c = other.synth(BOB, v)
        assert a.audio.tobytes() == b.audio.tobytes() == c.audio.tobytes()
        assert a.phones == b.phones == c.phones


@needs_festival
def test_female_f0_above_male_and_controls(festival: FestivalSynthesizer) -> None:
    text = "The quick brown fox jumps over the lazy dog while we wait for the evening train."
    female = median_f0(festival.synth(text, _voice(festival, "slt")).audio)
    for male in ("kal", "ked"):
        assert female > 1.3 * median_f0(festival.synth(text, _voice(festival, male)).audio)
    kal = festival.synth(text, _voice(festival, "kal"))
    kal_up = festival.synth(text, _voice(festival, "kal", 20, 0.9))
    assert median_f0(kal_up.audio) > 1.1 * median_f0(kal.audio)
    assert kal_up.audio.shape[0] > 1.05 * kal.audio.shape[0]
    slt_fast = festival.synth(text, _voice(festival, "slt", 0, 1.2))
    assert slt_fast.audio.shape[0] < 0.9 * festival.synth(text, _voice(festival, "slt")).audio.shape[0]


@needs_festival
@pytest.mark.parametrize("short", ["kal", "ked", "slt"])
def test_rich_sentences_known_phones_and_timings(festival: FestivalSynthesizer, short: str) -> None:
    """No unknown phone over the sample (the map raises), every clip valid, times match audio."""
    results: list[SynthResult] = [festival.synth(s, _voice(festival, short)) for s in RICH_SENTENCES]
    seen: set[str] = set()
    for r in results:
        assert_audio_contract(r)
        seen.update(phone_names(r))
    assert set(ARPABET) <= seen
    assert_timings_match_audio(results)


@needs_festival
def test_survives_hostile_text(festival: FestivalSynthesizer) -> None:
    v = _voice(festival, "kal")
    festival.synth("Warm up.", v)
    pid = festival.pid
    for text in (
        'He said "stop" \\ now (really)) ((quit) "; (exit) \\"',
        '")) (quit) (format t "XACTOR_OK 99")',
        "Café “naïve” déjà\nvu\x00 – ok?",
    ):
        r = festival.synth(text, v)
        assert_audio_contract(r)
        assert len(r.words) >= 3
    assert festival.pid == pid  # nothing was evaluated, nothing crashed
    with pytest.raises(RuntimeError, match="no words"):
        festival.synth("...", v)  # the diphone synthesiser would segfault on it: refused in Scheme
    assert festival.pid == pid
    assert_bob(festival.synth(BOB, v))


@needs_festival
def test_restarts_after_death_and_timeout() -> None:
    with FestivalSynthesizer() as synth:
        v = _voice(synth, "ked")
        synth.synth(BOB, v)
        assert synth.pid is not None and synth.starts == 1
        os.kill(synth.pid, signal.SIGKILL)
        assert_bob(synth.synth(BOB, v))  # restarted before the utterance
        assert synth.starts == 2
        synth.timeout, synth.per_char = 0.0, 0.0
        with pytest.raises(RuntimeError, match="timed out"):
            synth.synth(BOB, v)
        assert synth.pid is None  # killed
        synth.timeout, synth.per_char = 30.0, 0.05
        assert_bob(synth.synth(BOB, v))
        assert synth.starts == 3
    assert synth.pid is None


@needs_festival
def test_refuses_what_it_cannot_do(festival: FestivalSynthesizer) -> None:
    with pytest.raises(ValueError, match="pitch"):
        festival.synth(BOB, replace(_voice(festival, "slt"), pitch=10))
    with pytest.raises(ValueError, match="not a festival voice"):
        festival.synth(BOB, Voice(id="x", engine="flite", name="slt"))
    with pytest.raises(RuntimeError, match="nothing to say"):
        festival.synth(" \n ", _voice(festival, "kal"))
