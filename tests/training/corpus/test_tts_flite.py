"""flite through its C library: phonemes from the engine's own utterance, checked against its audio.

The helpers here (sentence list, phone search, timing checks) are shared with
``test_tts_festival.py``: both engines promise the same contract.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from xactor.engines.audio.features import prosody
from xactor.engines.timebase import SAMPLE_RATE
from xactor.training.corpus.phonemes import ARPABET, SILENCE, VOWELS, PhoneSpan, check_spans
from xactor.training.corpus.tts.flite import (
    EngineSegment,
    FliteSynthesizer,
    ascii_text,
    build_spans,
    cmu_to_arpabet,
    voice_id,
)
from xactor.training.corpus.tts.voices import SynthResult, Voice

# Harvard sentences (IEEE 1969) plus a few that bring the rare phonemes (ZH, OY, UH) and text
# normalisation (numbers, money, abbreviations, punctuation) into the sample.
RICH_SENTENCES: tuple[str, ...] = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The source of the huge river is the clear spring.",
    "Help the woman get back to her feet.",
    "The soft cushion broke the man's fall.",
    "The measure of pleasure is a beige treasure, Jim joked.",
    "Joy, the young cowboy, should push the thick oily ring.",
    "Vision and usual azure hues: who could enjoy the genre?",
    "On June 3rd, 1999, Dr. Smith paid $42.50 for 7 books at 10:30.",
    "Thank you! Why not? Well... we'll see, I guess.",
)
BOB = "Bob bought a map of Maine."
ROOT = Path(__file__).resolve().parents[3]
VOICELESS_STOPS = frozenset({"P", "T", "K"})
SHARP = frozenset({SILENCE, "P", "T", "K", "CH", "F", "TH", "S", "SH", "HH"})

_SYNTH = FliteSynthesizer()
_REASON = _SYNTH.unavailable_reason()
needs_flite = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")


# --- shared helpers ---------------------------------------------------------------------------


def phone_names(result: SynthResult) -> list[str]:
    return [p.phone for p in result.phones]


def find_in_order(phones: list[str], patterns: list[list[set[str]]]) -> bool:
    """Whether each pattern (a run of alternatives per position) occurs, in this order."""
    pos = 0
    for pattern in patterns:
        n = len(pattern)
        for i in range(pos, len(phones) - n + 1):
            if all(phones[i + k] in pattern[k] for k in range(n)):
                pos = i + n
                break
        else:
            return False
    return True


def assert_bob(result: SynthResult) -> None:
    """B AA/AO B, M AE P, M EY N in order, a pause at each end, word indices following the text."""
    names = phone_names(result)
    assert find_in_order(
        names,
        [
            [{"B"}, {"AA", "AO"}, {"B"}],
            [{"M"}, {"AE"}, {"P"}],
            [{"M"}, {"EY"}, {"N"}],
        ],
    ), names
    assert names[0] == SILENCE and names[-1] == SILENCE
    assert [w.lower() for w in result.words] == ["bob", "bought", "a", "map", "of", "maine"]
    assert [p.word for p in result.phones if p.phone != SILENCE][:3] == [0, 0, 0]
    assert all(p.word == -1 for p in result.phones if p.phone == SILENCE)
    stressed = [p for p in result.phones if p.phone in {"AE", "EY"}]
    assert stressed and all(p.stress == 1 for p in stressed)


def assert_audio_contract(result: SynthResult) -> None:
    """16 kHz mono float32 in [-1, 1], audible, and the phonemes contiguous inside it."""
    a = result.audio
    assert a.dtype == np.float32 and a.ndim == 1
    assert float(np.abs(a).max()) <= 1.0
    assert float(np.sqrt(np.mean(a.astype(np.float64) ** 2))) > 0.01
    seconds = a.shape[0] / SAMPLE_RATE
    check_spans(result.phones, seconds)
    assert result.phones[0].start == 0.0
    for x, y in zip(result.phones, result.phones[1:], strict=False):
        assert y.start == pytest.approx(x.end, abs=1e-9)  # contiguous, no gaps
    assert result.phones[-1].end >= seconds - 0.06  # the spans cover the clip
    assert all(p.phone in ARPABET or p.phone == SILENCE for p in result.phones)


def median_f0(audio: np.ndarray) -> float:
    f0 = prosody(audio).f0
    voiced = f0[f0 > 0]
    assert voiced.size > 20
    return float(np.median(voiced))


def _lowband_db(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """80–1000 Hz energy (dB) in 8 ms windows every 2 ms, with the windows' centre times."""
    win, hop = 128, 32
    x = audio.astype(np.float64)
    n = 1 + (x.shape[0] - win) // hop
    idx = np.arange(n)[:, None] * hop + np.arange(win)[None, :]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(win), n=256)) ** 2
    freqs = np.fft.rfftfreq(256, 1 / SAMPLE_RATE)
    db = 10 * np.log10(spec[:, (freqs >= 80) & (freqs <= 1000)].sum(1) + 1e-10)
    return (np.arange(n) * hop + win / 2) / SAMPLE_RATE, db


def boundary_errors(result: SynthResult) -> list[float]:
    """Signed error (s) of each vowel ↔ {pause, voiceless obstruent} boundary against the audio.

    The audio's boundary is the steepest rise (into the vowel) or fall (out of it) of the
    low-band energy within ±40 ms of the engine's boundary (and inside the two phones).
    """
    t, db = _lowband_db(result.audio)
    slope = np.gradient(np.convolve(db, np.ones(3) / 3, mode="same"), t)
    errors = []
    for a, b in zip(result.phones, result.phones[1:], strict=False):
        if a.duration < 0.03 or b.duration < 0.03:
            continue
        if a.phone in VOWELS and b.phone in SHARP:
            sign = -1.0
        elif a.phone in SHARP and b.phone in VOWELS:
            sign = 1.0
        else:
            continue
        m = (t >= max(a.end - 0.04, a.start + 0.01)) & (t <= min(a.end + 0.04, b.end - 0.01))
        if m.sum() >= 3:
            errors.append(float(t[m][np.argmax(sign * slope[m])] - a.end))
    return errors


def closure_minimum_outside(result: SynthResult) -> list[float]:
    """For each vowel–voiceless stop–vowel: how far (s) the energy minimum between the vowels'
    middles lies outside the stop's span (0 = inside, where the closure silence must be)."""
    t, db = _lowband_db(result.audio)
    out = []
    ph = result.phones
    for a, b, c in zip(ph, ph[1:], ph[2:], strict=False):
        if b.phone in VOICELESS_STOPS and a.phone in VOWELS and c.phone in VOWELS:
            m = (t >= (a.start + a.end) / 2) & (t <= (c.start + c.end) / 2)
            tmin = float(t[m][np.argmin(db[m])])
            out.append(max(b.start - tmin, tmin - b.end, 0.0))
    return out


def assert_timings_match_audio(results: list[SynthResult]) -> None:
    """The engine's times agree with its audio (measured, see ``boundary_errors``)."""
    errors = np.abs(np.concatenate([boundary_errors(r) for r in results]))
    assert errors.size >= 30
    assert float(np.median(errors)) <= 0.02, float(np.median(errors))
    outside = np.concatenate([closure_minimum_outside(r) for r in results])
    assert outside.size >= 3 and float(np.mean(outside == 0.0)) >= 0.9
    for r in results:  # pauses are quiet, vowels loud
        t, db = _lowband_db(r.audio)
        vowel = [db[(t >= p.start) & (t < p.end)].mean() for p in r.phones if p.phone in VOWELS]
        pause = [
            db[(t >= p.start + 0.01) & (t < p.end - 0.01)].mean()
            for p in r.phones
            if p.phone == SILENCE and p.duration > 0.05
        ]
        assert pause and np.mean(vowel) - np.mean(pause) > 25.0


# --- engine-free units ------------------------------------------------------------------------


def test_phone_map() -> None:
    assert cmu_to_arpabet("aa") == ("AA", None)
    assert cmu_to_arpabet("ax") == ("AH", 0)
    assert cmu_to_arpabet("axr") == ("ER", 0)
    assert cmu_to_arpabet("pau") == (SILENCE, None)
    assert cmu_to_arpabet("h#") == (SILENCE, None)
    assert cmu_to_arpabet("hh") == ("HH", None)
    with pytest.raises(ValueError, match="unknown engine phone"):
        cmu_to_arpabet("q")


def test_build_spans_merges_pauses_and_cuts_trailing_pause() -> None:
    segs = [
        EngineSegment("pau", 0.2, 0, -1),
        EngineSegment("hh", 0.3, 1, 0),
        EngineSegment("ax", 0.4, 1, 0),
        EngineSegment("pau", 0.5, 0, -1),
        EngineSegment("pau", 0.6, 0, -1),
        EngineSegment("t", 0.7, 0, 1),
        EngineSegment("pau", 0.9, 0, -1),
    ]
    spans = build_spans(segs, audio_seconds=0.8)
    assert spans == [
        PhoneSpan(SILENCE, 0.0, 0.2),
        PhoneSpan("HH", 0.2, 0.3, 0, 0),
        PhoneSpan("AH", 0.3, 0.4, 0, 0),  # reduced vowel: stress 0 whatever the syllable says
        PhoneSpan(SILENCE, 0.4, 0.6),
        PhoneSpan("T", 0.6, 0.7, 0, 1),
        PhoneSpan(SILENCE, 0.7, 0.8),  # cut at the audio's end
    ]


def test_ascii_text_and_ids() -> None:
    assert ascii_text("Café “naïve”\n\tdéjà\x00vu – ok") == 'Cafe "naive" deja vu - ok'
    assert voice_id("flite", "slt", 20, 1.1) == "flite-slt-p+20-r1.1"
    assert voice_id("festival", "kal", 0, 0.9) == "festival-kal-p0-r0.9"
    assert voice_id("flite", "awb", -10, 1.0) == "flite-awb-p-10-r1.0"


# --- the engine -------------------------------------------------------------------------------


def _voice(name: str, pitch: float = 0.0, rate: float = 1.0) -> Voice:
    return next(v for v in _SYNTH.voices() if v.name == name and v.pitch == pitch and v.rate == rate)


@needs_flite
def test_voices_all_work() -> None:
    voices = _SYNTH.voices()
    assert len(voices) >= 10
    assert len({v.id for v in voices}) == len(voices)
    assert {v.sex for v in voices} == {"female", "male"}
    for v in voices:
        assert v.id.startswith(f"flite-{v.name}-p")
        r = _SYNTH.synth("Hello there, how are you?", v)
        assert_audio_contract(r)


@needs_flite
@pytest.mark.parametrize("name", ["slt", "awb", "rms", "kal16"])
def test_bob_bought_a_map_of_maine(name: str) -> None:
    r = _SYNTH.synth(BOB, _voice(name))
    assert_audio_contract(r)
    assert_bob(r)


@needs_flite
def test_pauses_are_sil() -> None:
    r = _SYNTH.synth("Wait, what? Yes. I know.", _voice("slt"))
    names = phone_names(r)
    assert "pau" not in names
    inner = [p for p in r.phones[1:-1] if p.phone == SILENCE]
    assert inner and all(p.duration > 0 for p in inner)  # the phrase breaks
    assert all(a.phone != SILENCE or b.phone != SILENCE for a, b in zip(r.phones, r.phones[1:], strict=False))


@needs_flite
def test_deterministic() -> None:
    v = _voice("slt", 15, 0.9)
    a = _SYNTH.synth(BOB, v)
    _SYNTH.synth("Something else in between.", _voice("slt", -10, 1.1))  # other features on the voice
    b = _SYNTH.synth(BOB, v)
    assert a.audio.tobytes() == b.audio.tobytes()
    assert a.phones == b.phones


@needs_flite
def test_deterministic_across_processes() -> None:
    """A corpus rebuilt in another process gets the same bytes (libc rand() is reseeded), whatever
    the process spoke before. Both sides are fresh processes: libc's generator is process-global,
    and a thread another test left behind in this one (a codec's, a thread pool's) may call rand()
    in the middle of an utterance, which no corpus build does."""
    code = (
        "import hashlib, sys; from xactor.training.corpus.tts.flite import FliteSynthesizer as F; s = F(); "
        "v = next(v for v in s.voices() if v.id == 'flite-awb-p0-r1.0'); "
        "other = next(v for v in s.voices() if v.id != 'flite-awb-p0-r1.0'); "
        "[s.synth('Something else first.', other) for _ in range(int(sys.argv[1]))]; "
        f"print(hashlib.sha256(s.synth({BOB!r}, v).audio.tobytes()).hexdigest())"
    )
    digests = [
        subprocess.run(
            [sys.executable, "-c", code, str(before)], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout.strip()
        for before in (0, 2)
    ]
    assert len(digests[0]) == 64 and digests[0] == digests[1]


@needs_flite
def test_female_f0_above_male_and_pitch_offsets_work() -> None:
    text = "The quick brown fox jumps over the lazy dog while we wait for the evening train."
    female = median_f0(_SYNTH.synth(text, _voice("slt")).audio)
    for male in ("awb", "rms"):
        assert female > 1.15 * median_f0(_SYNTH.synth(text, _voice(male)).audio)
    up = median_f0(_SYNTH.synth(text, _voice("slt", 25, 1.2)).audio)
    assert up > 1.12 * female
    awb_up = median_f0(_SYNTH.synth(text, _voice("awb", 15, 1.1)).audio)
    assert awb_up > 1.07 * median_f0(_SYNTH.synth(text, _voice("awb")).audio)


@needs_flite
def test_rate_changes_duration() -> None:
    base = _SYNTH.synth(BOB, _voice("rms")).audio.shape[0]
    assert _SYNTH.synth(BOB, _voice("rms", 0, 1.2)).audio.shape[0] < 0.9 * base
    assert _SYNTH.synth(BOB, _voice("rms", 0, 0.9)).audio.shape[0] > 1.05 * base


@needs_flite
@pytest.mark.parametrize("name", ["slt", "awb", "rms", "kal16"])
def test_rich_sentences_known_phones_and_timings(name: str) -> None:
    """No unknown phone over the sample (the map raises), every clip valid, times match audio."""
    results = [_SYNTH.synth(s, _voice(name)) for s in RICH_SENTENCES]
    seen: set[str] = set()
    for r in results:
        assert_audio_contract(r)
        seen.update(phone_names(r))
    assert set(ARPABET) <= seen
    assert_timings_match_audio(results)


@needs_flite
def test_errors() -> None:
    with pytest.raises(RuntimeError):
        _SYNTH.synth("   ", _voice("slt"))
    with pytest.raises(RuntimeError):
        _SYNTH.synth("...", _voice("slt"))
    with pytest.raises(ValueError, match="pitch"):
        _SYNTH.synth(BOB, replace(_voice("rms"), pitch=10))
    with pytest.raises(ValueError, match="not a flite voice"):
        _SYNTH.synth(BOB, Voice(id="x", engine="festival", name="kal_diphone"))
    r = _SYNTH.synth("Café déjà vu, naïve!", _voice("awb"))  # non-ASCII folded, still speech
    assert_audio_contract(r)
    assert r.text == "Café déjà vu, naïve!"
