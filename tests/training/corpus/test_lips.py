"""Lips from phonemes: closures survive blending, vowels open and round, anticipation, rest.

Phone spans are built by hand (no TTS); loudness is given per frame, or measured by the audio
front end on a synthetic voice. Thresholds (see training/corpus/motion/visemes.py for why the closure
is "mouthClose equals jawOpen", not "mouthClose >= 0.6"):

* bilabial centre frames: jawOpen <= 0.1, sealed (mouthClose >= jawOpen), mouthPress >= 0.5;
* open vowel centres: jawOpen >= 0.25 at mid loudness; louder vowels open more;
* a P's closure has begun 40 ms before it sounds: mouthPress >= 0.1 above the same utterance
  with a T in its place, in the last frame whose centre is at least 40 ms before the P;
* pauses longer than 150 ms: every lip channel <= 0.02 outside the release after speech (80 ms)
  and the preparation before it (150 ms; both shrink in pauses too short for them).
"""

from __future__ import annotations

import numpy as np
import pytest

from xactor.engines import motion_space as ms
from xactor.engines.audio.frontend import analyse
from xactor.engines.timebase import FRAME_SECONDS, SAMPLE_RATE
from xactor.training.corpus.motion.lips import (
    LipConfig,
    frame_level_db,
    frame_loudness,
    frame_of,
    frame_times,
    lip_track,
    rest_windows,
    speech_mask,
)
from xactor.training.corpus.motion.visemes import (
    BILABIALS,
    LIP_CHANNELS,
    LIP_INDEX,
    OPEN,
    ROUNDED,
    SPREAD,
    VISEMES,
)
from xactor.training.corpus.phonemes import SILENCE, PhoneSpan

VOWEL_S = 0.12
DIPHTHONG_S = 0.18  # espeak-ng's diphthongs run 150-250 ms
CONSONANT_S = 0.07


def spans(spec: str, start: float = 0.4, tail: float = 0.4) -> tuple[list[PhoneSpan], int]:
    """Phones from "B AA1 B | M AE1 P" (digits: stress; pauses: "|" 0.4 s, "~" 0.16 s, "_" 0.1 s)
    after a ``start`` s pause, with a ``tail`` s pause; returns (spans, frame count)."""
    pauses = {"|": 0.4, "~": 0.16, "_": 0.1}
    out = [PhoneSpan(SILENCE, 0.0, start)]
    t = start
    for token in spec.split():
        if token in pauses:
            out.append(PhoneSpan(SILENCE, t, t + pauses[token]))
        else:
            phone, stress = (token[:-1], int(token[-1])) if token[-1].isdigit() else (token, 0)
            dur = CONSONANT_S
            if stress or phone in OPEN:
                dur = DIPHTHONG_S if VISEMES[phone].glide else VOWEL_S
            out.append(PhoneSpan(phone, t, t + dur, stress))
        t = out[-1].end
    out.append(PhoneSpan(SILENCE, t, t + tail))
    return out, int(np.ceil((t + tail) / FRAME_SECONDS))


def col(motion: np.ndarray, name: str) -> np.ndarray:
    return motion[:, ms.INDEX[name]]


def centre_frame(p: PhoneSpan) -> int:
    return frame_of(0.5 * (p.start + p.end))


def press(motion: np.ndarray) -> np.ndarray:
    return 0.5 * (col(motion, "mouthPressLeft") + col(motion, "mouthPressRight"))


SENTENCES = (
    "B AA1 B B AO1 T AH0 M AE1 P AH0 V M EY1 N",  # "Bob bought a map of Maine"
    "P IY1 P | M UW1 N B IY1 M",  # spread and rounded contexts, closure after a pause
    "AH0 M P AE1 M B AH0 L | S IH1 M P AH0 L _ B AA1 B",  # geminates, short pause
    "W AH1 M AH0 N P UW1 SH T IH1 P AA1 P M AA1 M",  # "woman pushed pipe pop mom"
)


@pytest.mark.parametrize("spec", SENTENCES)
@pytest.mark.parametrize("loud", [0.0, 0.5, 1.0])
def test_bilabial_centres_are_sealed(spec: str, loud: float) -> None:
    phones, frames = spans(spec)
    m = lip_track(phones, frames, np.full(frames, loud))
    checked = 0
    for p in phones:
        if p.phone in BILABIALS:
            k = centre_frame(p)
            assert col(m, "jawOpen")[k] <= 0.1, (p, col(m, "jawOpen")[k])
            assert col(m, "mouthClose")[k] >= col(m, "jawOpen")[k] - 1e-6, p  # sealed
            assert press(m)[k] >= 0.5, (p, press(m)[k])
            checked += 1
    assert checked >= 4


def test_lips_never_pass_through_each_other() -> None:
    """mouthClose beyond jawOpen pushes the lips through each other in the face basis."""
    for spec in SENTENCES:
        phones, frames = spans(spec)
        m = lip_track(phones, frames)
        assert np.all(col(m, "mouthClose") <= col(m, "jawOpen") + 1e-6)


@pytest.mark.parametrize("vowel", sorted(OPEN))
@pytest.mark.parametrize("context", ["T {} D", "B {} P", "HH {} N", "M {} M"])
def test_open_vowels_open_the_jaw(vowel: str, context: str) -> None:
    phones, frames = spans(context.format(vowel + "1"))
    m = lip_track(phones, frames, np.full(frames, 0.5))
    v = next(p for p in phones if p.phone == vowel)
    # A diphthong's open part is its nucleus (the first 60 %): look at its middle.
    at = v.start + (0.3 if VISEMES[vowel].glide else 0.5) * v.duration
    assert col(m, "jawOpen")[frame_of(at)] >= 0.25


def test_louder_vowels_open_more() -> None:
    phones, frames = spans("T AA1 D AH0 T AE1 D AH0 B AA1 T")
    quiet = lip_track(phones, frames, np.full(frames, 0.2))
    loud = lip_track(phones, frames, np.full(frames, 0.9))
    for p in phones:
        if p.phone in OPEN and p.stress:
            k = centre_frame(p)
            assert col(loud, "jawOpen")[k] > col(quiet, "jawOpen")[k] + 0.05


def synthetic_voice(phones: list[PhoneSpan], seconds: float, gains: dict[int, float]) -> np.ndarray:
    """A buzzy 120 Hz voice: vowels loud (times ``gains[i]`` for phone i), consonants soft, pauses 0."""
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    phase = 2 * np.pi * np.cumsum(120.0 + 15.0 * np.sin(2 * np.pi * 0.7 * t)) / SAMPLE_RATE
    buzz = sum(np.sin(h * phase) / h for h in range(1, 12))
    env = np.zeros(n)
    for i, p in enumerate(phones):
        a, b = int(p.start * SAMPLE_RATE), int(p.end * SAMPLE_RATE)
        if p.phone != SILENCE:
            env[a:b] = 0.3 * gains.get(i, 1.0) if p.stress or p.phone in OPEN else 0.03
    env = np.convolve(env, np.ones(80) / 80, mode="same")  # 5 ms edges
    return (0.4 * buzz * env).astype(np.float32)


def test_louder_vowels_open_more_with_measured_loudness() -> None:
    phones, frames = spans("T AA1 D AH0 T AA1 D AH0 T AA1 D")
    vowels = [i for i, p in enumerate(phones) if p.phone == "AA"]
    gains = {vowels[0]: 0.25, vowels[1]: 0.6, vowels[2]: 1.0}  # quiet, mid, loud
    audio = synthetic_voice(phones, frames * FRAME_SECONDS, gains)
    features = analyse(audio)
    assert len(features) == frames
    loudness = frame_loudness(frame_level_db(features), speech_mask(phones, frames))
    m = lip_track(phones, frames, loudness)
    jaws = [col(m, "jawOpen")[centre_frame(phones[i])] for i in vowels]
    assert jaws[0] < jaws[1] < jaws[2]
    assert jaws[2] - jaws[0] > 0.08
    assert min(jaws) >= 0.25


def test_rounded_vowels_pucker_more_than_spread_ones() -> None:
    rounding, spreading = {}, {}
    for vowel in sorted((ROUNDED | SPREAD) - {"W", "R"}):
        phones, frames = spans(f"T {vowel}1 D")
        m = lip_track(phones, frames)
        v = next(p for p in phones if p.phone == vowel)
        k = frame_of(v.start + (0.3 if VISEMES[vowel].glide else 0.5) * v.duration)
        rounding[vowel] = col(m, "mouthPucker")[k] + col(m, "mouthFunnel")[k]
        spreading[vowel] = col(m, "mouthStretchLeft")[k] + col(m, "mouthSmileLeft")[k]
    rounded = [v for v in rounding if v in ROUNDED]
    spread = [v for v in rounding if v in SPREAD]
    assert min(rounding[v] for v in rounded) > max(rounding[v] for v in spread) + 0.2, rounding
    # OY glides to a spread IY, so its spreading is excluded from the reverse check.
    monophthongs = [v for v in rounded if VISEMES[v].glide is None]
    assert min(spreading[v] for v in spread) > max(spreading[v] for v in monophthongs) + 0.1, spreading


def test_labiodentals_roll_the_lower_lip() -> None:
    phones, frames = spans("AA1 F AA1 V IY1 F UW1 V AE1")
    m = lip_track(phones, frames)
    roll = col(m, "mouthRollLower")
    vowel_roll = max(roll[centre_frame(p)] for p in phones if p.stress)
    for p in phones:
        if p.phone in ("F", "V"):
            assert roll[centre_frame(p)] >= 0.3
            assert roll[centre_frame(p)] > vowel_roll + 0.15


def test_closure_anticipates_the_p() -> None:
    """The lips start closing for a P at least 40 ms before it sounds (anticipation)."""
    for spec in ("M AA1 P AH0", "S IY1 P AH0", "T UW1 P AH0", "HH AE1 P IY0"):
        phones, frames = spans(spec)
        alt = [PhoneSpan("T", p.start, p.end) if p.phone == "P" else p for p in phones]
        with_p, with_t = lip_track(phones, frames), lip_track(alt, frames)
        p = next(s for s in phones if s.phone == "P")
        k = int(np.flatnonzero(frame_times(frames) <= p.start - 0.04)[-1])
        assert press(with_p)[k] >= press(with_t)[k] + 0.1, spec
        assert col(with_p, "jawOpen")[k] < col(with_t, "jawOpen")[k], spec


def test_closure_after_a_pause_begins_in_the_pause() -> None:
    phones, frames = spans("B AA1 D", start=0.6)
    m = lip_track(phones, frames)
    b = phones[1]
    k = int(np.flatnonzero(frame_times(frames) <= b.start - 0.04)[-1])  # 40-80 ms before the B
    assert press(m)[k] >= 0.1


def test_long_silence_is_still() -> None:
    cfg = LipConfig()
    phones, frames = spans("B AA1 B | M AE1 P _ AH0 M AY1 N ~ M IY1", start=0.5, tail=0.6)
    m = lip_track(phones, frames)
    t = frame_times(frames)
    lips = m[:, LIP_INDEX]
    long_pauses = [(i, p) for i, p in enumerate(phones) if p.phone == SILENCE and p.duration > 0.15]
    assert len(long_pauses) == 4
    for i, p in long_pauses:
        release, prepare = rest_windows(p, i == 0, i == len(phones) - 1, cfg)
        rest = (t >= p.start + release) & (t < p.end - prepare)
        assert rest.sum() >= 1
        assert np.abs(lips[rest]).max() <= 0.02
        if p.duration >= 0.3:  # long enough for the full windows: 80 ms release, 150 ms preparation
            assert (release, prepare) == (0.0 if i == 0 else 0.08, 0.0 if i == len(phones) - 1 else 0.15)
    # A short pause inside a phrase is an ordinary segment: the lips pass through, not to rest.
    short = next(p for p in phones if p.phone == SILENCE and p.duration < 0.15)
    assert np.abs(lips[frame_of(0.5 * (short.start + short.end))]).max() > 0.02


def test_only_lip_channels_move_and_stay_in_bounds() -> None:
    phones, frames = spans(SENTENCES[3])
    m = lip_track(phones, frames, np.linspace(0, 1, frames))
    assert m.shape == (frames, ms.MOTION_DIM) and m.dtype == np.float32
    assert np.all(m >= ms.LOW) and np.all(m <= ms.HIGH)
    others = np.setdiff1d(np.arange(ms.MOTION_DIM), LIP_INDEX)
    assert np.all(m[:, others] == 0)
    assert len(LIP_CHANNELS) == 16
    again = lip_track(phones, frames, np.linspace(0, 1, frames))
    assert again.tobytes() == m.tobytes()


def test_uncovered_time_is_silence() -> None:
    """Gaps between spans and time after the last one rest, not hold the last shape."""
    phones = [PhoneSpan("AA", 0.5, 0.7, 1), PhoneSpan("UW", 1.5, 1.7, 1)]
    m = lip_track(phones, 75)
    t = frame_times(75)
    gap = (t > 0.85) & (t < 1.35)
    assert np.abs(m[gap][:, LIP_INDEX]).max() <= 0.02
    assert np.abs(m[t > 1.9][:, LIP_INDEX]).max() <= 0.02
    assert col(m, "jawOpen")[frame_of(0.6)] > 0.3
