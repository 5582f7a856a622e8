"""A clip's whole motion: lips + prosodic gestures + emotion + life, deterministic and in bounds.

Phones by hand, features from the audio front end on a synthetic voice (or built from a level
array for minutes-long clips, where running the VAD would only cost time).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.training.corpus.test_lips import col, press, spans, synthetic_voice
from xactor.engines import motion_space as ms
from xactor.engines.audio.features import Prosody
from xactor.engines.audio.frontend import FrameFeatures, analyse
from xactor.engines.timebase import FRAME_SECONDS, ROWS_PER_FRAME
from xactor.training.corpus.motion.compose import MotionConfig, clip_motion, muted_frames
from xactor.training.corpus.motion.emotion import (
    EMOTIONS,
    OFFSETS,
    TTS_PROSODY,
    EmotionSegment,
    constant_emotion,
    emotion_schedule,
    track_from_segments,
    tts_prosody,
)
from xactor.training.corpus.motion.lips import frame_of, frame_times
from xactor.training.corpus.motion.prosody import prosody_motion
from xactor.training.corpus.motion.visemes import BILABIALS, LIP_INDEX
from xactor.training.corpus.phonemes import SILENCE, PhoneSpan

SENTENCE = "B AA1 B B AO1 T AH0 M AE1 P AH0 V M EY1 N | HH IY1 W AA1 Z AH0 T HH OW1 M"


def level_features(level_db: np.ndarray, speech: np.ndarray | None = None) -> FrameFeatures:
    """Features [T] with the given frame levels (dB) and nothing else: no F0, no mel."""
    n = level_db.shape[0]
    rows = np.repeat(np.asarray(level_db, np.float32)[:, None], ROWS_PER_FRAME, axis=1)  # [T, 4]
    zeros = np.zeros((n, ROWS_PER_FRAME), np.float32)
    return FrameFeatures(
        index=np.arange(n, dtype=np.int64),
        speech=np.zeros(n, np.float32) if speech is None else speech.astype(np.float32),
        log_mel=np.zeros((n, ROWS_PER_FRAME, 80), np.float32),
        prosody=Prosody(rows, zeros, zeros + 1, zeros, zeros),
    )


@pytest.fixture(scope="module")
def clip() -> tuple[list[PhoneSpan], FrameFeatures]:
    phones, frames = spans(SENTENCE, start=0.6, tail=0.8)
    audio = synthetic_voice(phones, frames * FRAME_SECONDS, {})
    features = analyse(audio)
    assert len(features) == frames
    return phones, features


def test_shape_bounds_and_determinism(clip: tuple[list[PhoneSpan], FrameFeatures]) -> None:
    phones, features = clip
    track = emotion_schedule(len(features), seed=5)
    a = clip_motion(phones, features, seed=11, style=0.7, emotion_track=track)
    b = clip_motion(phones, features, seed=11, style=0.7, emotion_track=track)
    c = clip_motion(phones, features, seed=12, style=0.7, emotion_track=track)
    assert a.shape == (len(features), ms.MOTION_DIM) and a.dtype == np.float32
    assert a.tobytes() == b.tobytes()  # same seed, same bytes
    assert a.tobytes() != c.tobytes()  # life and gestures depend on the seed
    assert np.all(a >= ms.LOW) and np.all(a <= ms.HIGH) and np.isfinite(a).all()
    # Blinks come from life; the lips from the phonemes.
    assert col(a, "eyeBlinkLeft").max() > 0.9 or len(features) < 100
    assert col(a, "jawOpen").max() > 0.3


@pytest.mark.parametrize("emotion", EMOTIONS)
def test_bilabials_sealed_in_the_full_motion(
    clip: tuple[list[PhoneSpan], FrameFeatures], emotion: str
) -> None:
    """Emotion offsets (surprise opens the jaw, anger presses) do not undo a closure."""
    phones, features = clip
    m = clip_motion(
        phones, features, seed=3, style=1.0, emotion_track=constant_emotion(len(features), emotion)
    )
    for p in phones:
        if p.phone in BILABIALS:
            k = frame_of(0.5 * (p.start + p.end))
            assert col(m, "jawOpen")[k] <= 0.1
            assert col(m, "mouthClose")[k] >= col(m, "jawOpen")[k] - 1e-6
            assert press(m)[k] >= 0.5
    assert np.all(col(m, "mouthClose") <= col(m, "jawOpen") + 1e-6)


def test_pauses_are_a_listening_face(clip: tuple[list[PhoneSpan], FrameFeatures]) -> None:
    phones, features = clip
    m = clip_motion(phones, features, seed=4)
    t = frame_times(len(features))
    lead = t < phones[0].end - 0.15  # the opening pause, before the lips prepare
    pause = next(p for p in phones[1:-1] if p.phone == SILENCE)
    inner = (t >= pause.start + 0.08) & (t < pause.end - 0.15)
    for still in (lead, inner):
        assert still.sum() >= 3
        assert np.abs(m[still][:, LIP_INDEX]).max() <= 0.02
        assert np.abs(col(m, "browInnerUp")[still]).max() <= 0.02  # no prosodic gestures
    # ...but life goes on: the head moves while listening.
    assert np.ptp(col(m, "headYaw")[lead]) > 0.0


def test_muted_audio_silences_the_lips() -> None:
    """Phonemes say speech, the audio is cut: still face there, lips elsewhere."""
    phones, frames = spans("M AA1 M AH0 N AA1 T AH0 D AA1 M AA1 N AH0 M AA1", start=0.4)
    audio = synthetic_voice(phones, frames * FRAME_SECONDS, {})
    cut = slice(int(0.9 * 16000), int(1.4 * 16000))
    audio[cut] = 0.0
    features = analyse(audio)
    muted = muted_frames(features, MotionConfig())
    t = frame_times(frames)
    assert muted[(t > 0.95) & (t < 1.35)].all() and not muted[(t > 0.45) & (t < 0.85)].any()
    m = clip_motion(phones, features, seed=1)
    inner = (t > 0.9 + 0.08) & (t < 1.4 - 0.15)
    assert np.abs(m[inner][:, LIP_INDEX]).max() <= 0.02
    assert col(m, "jawOpen")[(t > 0.4) & (t < 0.85)].max() > 0.25


def test_emotion_schedule_changes_smoothly() -> None:
    frames = int(180 / FRAME_SECONDS)  # 3 minutes
    for seed in range(5):
        track = emotion_schedule(frames, seed=seed)
        labels = track.label
        changes = int(np.count_nonzero(np.diff(labels)))
        assert changes >= 3, (seed, changes)
        assert len(track.segments) - 1 == changes
        for seg in track.segments[1:]:
            assert 1.0 <= seg.fade_s <= 3.0
        assert np.all((track.intensity >= 0) & (track.intensity <= 1))
        # A 1 s smoothstep moves at most 1.5 / s: 0.06 a frame.
        assert np.abs(np.diff(track.strength, axis=0)).max() <= 0.061
        assert np.abs(np.diff(track.offsets(), axis=0)).max() <= 0.061
        again = emotion_schedule(frames, seed=seed)
        assert again.strength.tobytes() == track.strength.tobytes()
        assert track.at(90.0)[0] in EMOTIONS


EXPECTED_CHANNELS = {
    "happy": ("mouthSmileLeft", "mouthSmileRight", "eyeSquintLeft"),
    "sad": ("browInnerUp", "mouthFrownLeft", "mouthFrownRight", "headPitch"),
    "angry": ("browDownLeft", "browDownRight", "mouthPressLeft"),
    "surprised": ("browInnerUp", "browOuterUpLeft", "eyeWideLeft", "jawOpen"),
}


def test_emotion_offsets_show_in_the_right_channels() -> None:
    frames = int(180 / FRAME_SECONDS)
    seen: set[str] = set()
    for seed in range(8):
        track = emotion_schedule(frames, seed=seed)
        offsets = track.offsets()
        for emotion, names in EXPECTED_CHANNELS.items():
            frames_of = (track.label == EMOTIONS.index(emotion)) & (track.intensity > 0.3)
            if frames_of.sum() < 25:
                continue
            seen.add(emotion)
            for name in names:
                assert offsets[frames_of, ms.INDEX[name]].min() > 0.01, (emotion, name)
        neutral = track.strength[:, 1:].sum(axis=1) == 0
        assert np.all(offsets[neutral] == 0)
    assert seen == set(EXPECTED_CHANNELS)


@pytest.mark.parametrize("emotion", EMOTIONS[1:])
def test_emotion_reaches_the_clip_motion(clip: tuple[list[PhoneSpan], FrameFeatures], emotion: str) -> None:
    phones, features = clip
    n = len(features)
    base = clip_motion(phones, features, seed=2, emotion_track=constant_emotion(n, "neutral"))
    moved = clip_motion(phones, features, seed=2, emotion_track=constant_emotion(n, emotion, 0.8))
    t = frame_times(n)
    quiet = t < 0.4  # before the lips prepare: only the offset differs
    for name, value in OFFSETS[emotion].items():
        diff = (moved - base)[quiet, ms.INDEX[name]]
        assert np.allclose(diff, 0.8 * value, atol=1e-5), (emotion, name)


def test_tts_prosody_table() -> None:
    assert set(TTS_PROSODY) == set(EMOTIONS)
    assert tts_prosody("sad", 0.0) == TTS_PROSODY["neutral"]
    assert tts_prosody("happy", 1.0) == TTS_PROSODY["happy"]
    half = tts_prosody("sad", 0.5)
    assert TTS_PROSODY["sad"].rate < half.rate < 1.0
    assert TTS_PROSODY["sad"].pitch_semitones < half.pitch_semitones < 0.0
    assert TTS_PROSODY["angry"].energy > 1.0 > TTS_PROSODY["sad"].energy
    with pytest.raises(ValueError):
        tts_prosody("bored")


def stressed_clip() -> tuple[list[PhoneSpan], list[PhoneSpan], int]:
    """Words with a stressed vowel every 1.3 s, and the same with every stress mark removed."""
    spec = " _ ".join(["T AH0 M AA1 T AH0"] * 6)
    phones, frames = spans(spec, start=0.8, tail=1.0)
    flat = [PhoneSpan(p.phone, p.start, p.end, 0, p.word) for p in phones]
    return phones, flat, frames


@pytest.mark.parametrize("style", [0.3, 1.0])
def test_nods_lead_stressed_syllables(style: float) -> None:
    phones, _, frames = stressed_clip()
    g = prosody_motion(phones, frames, None, style=style, seed=9)
    assert len(g.accents) >= 2
    t = frame_times(frames)
    for a in g.accents:
        window = np.abs(t - a.onset) < 0.5
        apex = t[window][np.argmax(g.emphasis[window])]
        lead = a.onset - apex
        assert 0.04 <= lead <= 0.12, (a, lead)  # 75 ms, give or take half a frame
        pitch = g.motion[:, ms.INDEX["headPitch"]]
        assert abs(t[window][np.argmax(pitch[window])] - apex) <= FRAME_SECONDS + 1e-9


def test_nods_reach_the_clip_motion_and_lead() -> None:
    """Same phones with and without stress marks: the head-pitch difference is the nod."""
    phones, flat, frames = stressed_clip()
    features = level_features(np.full(frames, -20.0))
    stressed = clip_motion(phones, features, seed=6, style=1.0)
    plain = clip_motion(flat, features, seed=6, style=1.0)
    nod = col(stressed, "headPitch") - col(plain, "headPitch")
    t = frame_times(frames)
    assert nod.max() > 0.03  # about 2 degrees and more at full style
    vowels = [p for p in phones if p.stress == 1]
    led = 0
    for v in vowels:
        window = np.abs(t - v.start) < 0.5
        if nod[window].max() < 0.01:
            continue  # this accent was not gestured
        apex = t[window][np.argmax(nod[window])]
        assert 0.0 < v.start - apex <= 0.15
        led += 1
    assert led >= 3


def test_head_moves_no_faster_than_a_head(clip: tuple[list[PhoneSpan], FrameFeatures]) -> None:
    phones, features = clip
    m = clip_motion(phones, features, seed=8, style=1.0, emotion_track=emotion_schedule(len(features), 1))
    step = np.abs(np.diff(m[:, :3], axis=0))  # yaw, pitch, roll per frame
    assert step.max() <= 0.05  # < 72 degrees a second
    brows = np.abs(np.diff(m[:, [ms.INDEX["browInnerUp"], ms.INDEX["browOuterUpLeft"]]], axis=0))
    assert brows.max() <= 0.2


def test_style_scales_gestures() -> None:
    phones, _, frames = stressed_clip()
    calm = [prosody_motion(phones, frames, None, style=0.0, seed=s) for s in range(6)]
    lively = [prosody_motion(phones, frames, None, style=1.0, seed=s) for s in range(6)]
    assert sum(len(g.accents) for g in lively) > sum(len(g.accents) for g in calm)
    energy = [np.abs(g.motion).sum() for g in calm], [np.abs(g.motion).sum() for g in lively]
    assert np.mean(energy[1]) > 2 * np.mean(energy[0])


def test_segments_crossfade() -> None:
    segs = [EmotionSegment("happy", 1.0, 0.0, 0.0), EmotionSegment("sad", 0.5, 4.0, 2.0)]
    track = track_from_segments(segs, 200)
    t = frame_times(200)
    assert np.allclose(track.strength[t < 4.0, 1], 1.0)
    assert np.allclose(track.strength[t > 6.0, 2], 0.5)
    mid = frame_of(5.0)
    assert track.label[mid - 2] == 1 and track.label[mid + 2] == 2


def test_track_resized_to_the_spoken_clip() -> None:
    track = emotion_schedule(1000, seed=3)
    longer, shorter = track.resized(1100), track.resized(900)
    assert len(longer) == 1100 and len(shorter) == 900
    assert longer.strength[:1000].tobytes() == track.strength.tobytes()
    assert np.all(longer.label[1000:] == track.label[-1])
    assert shorter.intensity.tobytes() == track.intensity[:900].tobytes()
