"""espeak-ng through ctypes: audio format, phoneme contract, ARPAbet mapping, voices, timing."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from xactor.engines.audio.features import prosody
from xactor.engines.timebase import SAMPLE_RATE
from xactor.training.corpus.phonemes import ARPABET, SILENCE, VOWELS, check_spans
from xactor.training.corpus.tts import espeak as te
from xactor.training.corpus.tts.voices import SynthResult, Voice

from .energy import frames, rms_db

_SYNTH = te.EspeakSynthesizer()
_AVAILABLE = _SYNTH.available()
needs_espeak = pytest.mark.skipif(not _AVAILABLE, reason=_SYNTH.reason or "espeak-ng unavailable")

# Harvard sentences plus words for the rarer phonemes (ZH, OY, UH, NG, CH, JH, TH, DH) and the
# r-coloured / centring vowels of every dialect.
RICH = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "Four hours of steady work faced us.",
    "The boy was there when the sun rose.",
    "The source of the huge river is the clear spring.",
    "Help the woman get back to her feet.",
    "The measure of his vision was pleasure in beige azure.",
    "Who put the book on the good wooden shelf? Joy and noise annoy the loyal boy.",
    "Thank them; though they think the thing is with the other mother.",
    "Yes, you usually yell at the young yak. Vivid voices veer over the valley.",
    "Chess champions choose cheap cheese. George judged the jolly jury.",
    "Sing a long song, ringing and bringing. How now, brown cow, about the mouth of the house.",
    "Bob bought a map of Maine. Father caught a hot dog at the lot. Fire, hour, tower, science.",
    "Sure, tour, poor, cure. Car, far, start; near, here, beer; care, where, bear; more, door.",
    "Bird, word, heard, nurse, first, turn. Button, little, bottle, kitten, city, butter, water.",
    "What, which, when, why. The loch was dark. Whose shoe? Whisper, white, whale.",
    "Xylophone, exact, anxious, luxury, garage, rouge, genre, usual, casual.",
    "One, two, three, seven, eight, eleven, twelve, hundred, thousand. Ah, oh, eh, uh, hmm.",
]
# Phonemes a dialect of espeak-ng does not produce: Caribbean stops th (t̪, d), West Midlands drops h.
DIALECT_GAPS = {"en-029": {"TH", "DH"}, "en-gb-x-gbcwmd": {"HH"}}
STOPS = {"P", "B", "T", "D", "K", "G"}


def _voice(voice_id_part: str) -> Voice:
    return next(v for v in _SYNTH.voices() if voice_id_part in v.id)


def _phones(result: SynthResult) -> list[str]:
    return [p.phone for p in result.phones if p.phone != SILENCE]


def _contains_run(seq: list[str], run: list[str]) -> int:
    """Index where ``run`` occurs contiguously in ``seq`` (-1 if not)."""
    return next((i for i in range(len(seq) - len(run) + 1) if seq[i : i + len(run)] == run), -1)


# ---------------------------------------------------------------------------------------------
# Pure conversion (no library needed)
# ---------------------------------------------------------------------------------------------


def _raw(mnemonics: list[str], traces: list[str] | None = None, word_at: int = 1) -> te.RawSynthesis:
    """A fake engine output: one phoneme every 100 ms (non-zero audio), one WORD event."""
    rate = 1000
    events = [te.RawEvent(1, 0, word_at, 3)]
    events += [te.RawEvent(7, 100 * (i + 1), word_at, 0, m) for i, m in enumerate(mnemonics)]
    samples = np.ones(100 * (len(mnemonics) + 1), dtype=np.int16)  # [N]: no engine silence
    return te.RawSynthesis(samples, rate, events, traces or [])


def test_unknown_mnemonic_is_an_error_listing_it() -> None:
    with pytest.raises(te.UnknownPhonemeError) as err:
        te.events_to_spans(_raw(["b", "Q^", "0", "y:", "b"]), "en-us", "Bob")
    assert err.value.unknown == ["Q^", "y:"]
    assert "'Q^'" in str(err.value) and "'y:'" in str(err.value)


def test_conversion_silence_merge_glide_stress_and_split() -> None:
    raw = _raw(["_:", "_", "k", "A@", "r", "i", ";", "_"], traces=["k 'A@ r ,i"])
    us, words = te.events_to_spans(raw, "en-us", "carry")
    assert words == ["car"]
    assert [p.phone for p in us] == ["sil", "K", "AA", "R", "IY", "sil"]  # A@'s own R merged into r
    assert [p.stress for p in us] == [0, 0, 1, 0, 2, 0]
    assert us[0].start == 0.0 and us[0].end == pytest.approx(0.3)  # lead-in + two pauses merged
    iy = us[4]
    assert (iy.start, iy.end) == (pytest.approx(0.6), pytest.approx(0.8))  # ";" given to IY
    check_spans(us, 0.9)

    gb, _ = te.events_to_spans(_raw(["k", "A@", "_"]), "en", "car")
    assert [p.phone for p in gb] == ["sil", "K", "AA", "sil"]  # non-rhotic
    rho, _ = te.events_to_spans(_raw(["k", "A@", "_"]), "en-us", "car")
    assert [p.phone for p in rho] == ["sil", "K", "AA", "R", "sil"]
    aa, r = rho[2], rho[3]
    assert aa.end == r.start == pytest.approx(0.2 + te.SPLIT_FIRST * 0.1)
    assert r.word == aa.word == 0 and rho[0].word == -1


def test_every_mapped_phone_is_in_the_inventory() -> None:
    for dialect in te.DIALECTS:
        for mnemonic, phones in te.arpabet_map(dialect).items():
            assert phones and all(p in ARPABET for p in phones), (dialect, mnemonic, phones)
    assert not te.PAUSES & set(te.arpabet_map("en-us"))


def test_prepause_moves_start_back_to_the_engine_silence() -> None:
    rate = 1000
    samples = np.ones(500, dtype=np.int16)  # [500]
    samples[240:300] = 0  # 60 ms of engine silence before the "t" event at 300
    events = [te.RawEvent(1, 0, 1, 3), te.RawEvent(7, 100, 1, 0, "a"), te.RawEvent(7, 300, 1, 0, "t")]
    events.append(te.RawEvent(7, 400, 1, 0, "_"))
    spans, _ = te.events_to_spans(te.RawSynthesis(samples, rate, events), "en-us", "at")
    assert [(p.phone, p.start, p.end) for p in spans] == [
        ("sil", 0.0, 0.1),
        ("AE", 0.1, 0.24),
        ("T", 0.24, 0.4),
        ("sil", 0.4, 0.5),
    ]


def test_voice_ids_are_stable_and_varied() -> None:
    voices = te.corpus_voices()
    assert len(voices) >= 18
    assert len({v.id for v in voices}) == len(voices)
    assert te.voice_id("en-us", "f2", 70, 50, 160) == "espeak-en-us+f2-p70-r160"
    assert _voice("en-us+f2").id == "espeak-en-us+f2-p70-r160"
    assert {v.name for v in voices} >= set(te.DIALECTS)
    assert {v.sex for v in voices} == {"female", "male"}
    assert any(v.variant.startswith("klatt") for v in voices)
    assert len({(v.pitch, v.pitch_range, v.rate) for v in voices}) > 10
    for v in voices:
        assert v.engine == "espeak-ng" and v.id.startswith("espeak-")
        assert round(v.rate * te.RATE_NORMAL_WPM) == int(v.extra["rate_wpm"])


def test_missing_library_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(te, "_LIBRARY_NAME", None)
    monkeypatch.setattr(te, "LIBRARY_NAMES", ("libespeak-ng-missing.so.9",))
    monkeypatch.setattr(te.ctypes.util, "find_library", lambda name: None)
    synth = te.EspeakSynthesizer()
    assert not synth.available()
    assert "libespeak-ng not found" in synth.reason


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------


@needs_espeak
def test_audio_is_16k_float32_in_range_and_spans_fill_it() -> None:
    r = _SYNTH.synth("Bob bought a map of Maine, then he left.", _voice("en-us+m3"))
    assert r.audio.dtype == np.float32 and r.audio.ndim == 1
    assert float(np.abs(r.audio).max()) <= 1.0 and float(r.audio.std()) > 0.01
    seconds = r.audio.shape[0] / SAMPLE_RATE
    check_spans(r.phones, seconds)
    assert r.phones[0].start == 0.0 and r.phones[-1].end == pytest.approx(seconds, abs=1e-6)
    for a, b in zip(r.phones, r.phones[1:], strict=False):
        assert b.start == pytest.approx(a.end, abs=1e-9)  # contiguous
        assert not (a.phone == b.phone == SILENCE)  # merged
        assert b.duration > 0.0
    assert r.words == ["Bob", "bought", "a", "map", "of", "Maine", "then", "he", "left"]
    for p in r.phones:
        assert (p.word == -1) == (p.phone == SILENCE)
        assert p.stress == 0 or p.phone in VOWELS


@needs_espeak
@pytest.mark.parametrize("voice", ["en-us+m3", "en+f1", "en-gb-x-rp+m4", "en-gb-scotland+f3"])
def test_bob_bought_a_map_of_maine(voice: str) -> None:
    r = _SYNTH.synth("Bob bought a map of Maine.", _voice(voice))
    seq = _phones(r)
    at = [_contains_run(seq, run) for run in (["B", "AA", "B"], ["M", "AE", "P"], ["M", "EY", "N"])]
    assert -1 not in at and at == sorted(at), seq
    stressed = {p.phone for p in r.phones if p.stress == 1}
    assert {"AA", "AE", "EY"} <= stressed  # Bob, map, Maine carry primary stress


@needs_espeak
def test_pauses_at_commas_and_periods_are_silence() -> None:
    r = _SYNTH.synth("Hello there, my friend. How are you?", _voice("en-us+f2"))
    inner = r.phones[1:-1]
    pauses = [i for i, p in enumerate(inner) if p.phone == SILENCE]
    assert len(pauses) == 2 and all(inner[i].duration > 0.05 for i in pauses)
    around = [(r.words[inner[i - 1].word], r.words[inner[i + 1].word]) for i in pauses]
    assert around == [("there", "my"), ("friend", "How")]
    assert r.phones[0].phone == r.phones[-1].phone == SILENCE


@needs_espeak
def test_same_text_and_voice_give_identical_bytes() -> None:
    a, b = _voice("en-us+f2"), _voice("en+klatt4")  # f2 has echo, klatt4 the Klatt synthesiser
    text = "The quick brown fox jumps over the lazy dog, again and again."
    first = _SYNTH.synth(text, a)
    _SYNTH.synth("Something else entirely, to disturb any state.", b)
    _SYNTH.synth(text, b)
    again = _SYNTH.synth(text, a)
    assert first.audio.tobytes() == again.audio.tobytes()
    assert first.phones == again.phones and first.words == again.words


@needs_espeak
def test_threads_are_serialised_and_stay_deterministic() -> None:
    voice, text = _voice("en-us+m3"), "Sphinx of black quartz, judge my vow."
    expected = _SYNTH.synth(text, voice).audio.tobytes()
    out: list[bytes] = []

    def run() -> None:
        out.append(_SYNTH.synth(text, voice).audio.tobytes())

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == [expected] * 3


@needs_espeak
def test_female_voices_have_higher_f0_than_male_voices() -> None:
    text = "She sells sea shells by the sea shore, and he laughs about it."
    f0: dict[str, list[float]] = {"female": [], "male": []}
    for voice in _SYNTH.voices():
        track = prosody(_SYNTH.synth(text, voice).audio).f0
        f0[voice.sex].append(float(np.median(track[track > 0])))
    assert min(f0["female"]) > max(f0["male"]) + 40.0, f0
    assert max(f0["male"]) - min(f0["male"]) > 15.0  # the male pitch offsets differ audibly


@needs_espeak
@pytest.mark.slow
def test_every_voice_speaks_a_rich_list_without_unknown_mnemonics() -> None:
    union: set[str] = set()
    for voice in _SYNTH.voices():
        seen: set[str] = set()
        for text in RICH:
            r = _SYNTH.synth(text, voice)  # raises UnknownPhonemeError on any unmapped mnemonic
            check_spans(r.phones, r.audio.shape[0] / SAMPLE_RATE)
            assert 20 * np.log10(float(r.audio.std()) + 1e-9) > -40.0, (voice.id, text)
            assert len(_phones(r)) > len(text.split()), (voice.id, text)
            seen |= {p.phone for p in r.phones}
        missing = set(ARPABET) - seen
        assert missing == DIALECT_GAPS.get(voice.name, set()), (voice.id, sorted(missing))
        union |= seen
    assert union == set(ARPABET) | {SILENCE}


@needs_espeak
def test_stop_closures_and_pauses_line_up_with_the_audio_energy() -> None:
    """The engine's timing against the signal (10 ms RMS): closure onsets, closures, vowels."""
    onset_ms: list[float] = []
    closure_inside: list[bool] = []
    vowel_louder: list[bool] = []
    for voice in ("en-us+m3", "en-us+f2", "en-gb-x-rp+m4", "en-029+f4"):
        for text in RICH[:8]:
            r = _SYNTH.synth(text, _voice(voice))
            db, step = rms_db(r.audio)
            for prev, p, nxt in zip(r.phones, r.phones[1:], r.phones[2:], strict=False):
                if (p.phone in STOPS or p.phone == SILENCE) and prev.phone in VOWELS and p.duration > 0.02:
                    # the steepest fall of the RMS near the start: where the closure / pause begins
                    win = frames(p.start - 0.04, p.start + 0.04, step)
                    drop = (win.start + int(np.argmin(np.diff(db[win]))) + 0.5) * step
                    onset_ms.append(1000 * abs(drop - p.start))
                if p.phone in STOPS and prev.phone in VOWELS and nxt.phone in VOWELS:
                    win = frames(p.start - 0.03, p.end + 0.03, step)
                    t_min = (win.start + int(np.argmin(db[win]))) * step
                    closure_inside.append(p.start - 0.005 <= t_min <= p.end + 0.005)
                if p.phone in VOWELS and p.duration > 0.03 and prev.phone in STOPS:
                    vowel = float(np.median(db[frames(p.start, p.end, step)]))
                    closure = float(db[frames(prev.start, prev.end, step)].min())
                    vowel_louder.append(vowel > closure + 10.0)
    assert len(onset_ms) > 50 and len(closure_inside) > 20
    assert float(np.median(onset_ms)) <= 10.0 and float(np.percentile(onset_ms, 90)) <= 20.0
    assert np.mean(closure_inside) >= 0.95
    assert np.mean(vowel_louder) >= 0.95


@needs_espeak
def test_bad_voices_are_refused() -> None:
    good = _voice("en-us+m3")
    names = ("id", "engine", "name", "variant", "pitch", "pitch_range", "rate")
    fields = {k: getattr(good, k) for k in names}
    with pytest.raises(RuntimeError, match="no variant"):
        _SYNTH.synth("Hello.", Voice(**{**fields, "variant": "nonexistent"}))
    with pytest.raises(RuntimeError, match="SetVoiceByName"):
        _SYNTH.synth("Hello.", Voice(**{**fields, "name": "xx-nowhere"}))
    with pytest.raises(ValueError, match="pitch"):
        _SYNTH.synth("Hello.", Voice(**{**fields, "pitch": 150.0}))
    with pytest.raises(ValueError, match="rate"):
        _SYNTH.synth("Hello.", Voice(**{**fields, "rate": 5.0}))
    with pytest.raises(ValueError, match="not an espeak-ng voice"):
        _SYNTH.synth("Hello.", Voice(**{**fields, "engine": "flite"}))
    with pytest.raises(ValueError, match="empty"):
        _SYNTH.synth("  ", good)
