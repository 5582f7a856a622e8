from __future__ import annotations

import numpy as np
import pytest

from tests.engines.audio.speech import espeak_speech
from xactor.engines.audio import features as F
from xactor.engines.audio.frontend import AudioFrontEnd, FrameFeatures, analyse
from xactor.engines.audio.vad import CHUNK, SileroVAD, SpeechGate
from xactor.engines.timebase import ROWS_PER_FRAME, SAMPLES_PER_FRAME

SPF = SAMPLES_PER_FRAME


def _speech_with_pauses() -> np.ndarray:
    silence = np.zeros(16000, np.float32)
    return np.concatenate([silence, espeak_speech(), silence])


def _stream(fe: AudioFrontEnd, x: np.ndarray, seed: int) -> FrameFeatures:
    """Push ``x`` in random chunks (empty, tiny, around the 512 / 640 boundaries, long)."""
    rng = np.random.default_rng(seed)
    parts, i = [], 0
    while i < len(x):
        n = int(rng.choice([0, 1, 7, 160, 511, 512, 513, 639, 640, 641, 1999, 5000]))
        parts.append(fe.push(x[i : i + n]))
        i += n
    return FrameFeatures.concat(parts)


def _assert_same(a: FrameFeatures, b: FrameFeatures) -> None:
    np.testing.assert_array_equal(a.index, b.index)
    np.testing.assert_array_equal(a.speech, b.speech)
    np.testing.assert_array_equal(a.log_mel, b.log_mel)
    for name in F.Prosody.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a.prosody, name), getattr(b.prosody, name), err_msg=name)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streaming_equals_offline_bit_for_bit(seed: int) -> None:
    x = _speech_with_pauses()
    offline = analyse(x)
    n = len(x) // SPF
    assert len(offline) == n
    assert offline.index.dtype == np.int64 and offline.speech.dtype == np.float32
    assert offline.log_mel.shape == (n, ROWS_PER_FRAME, F.N_MELS) and offline.log_mel.dtype == np.float32
    assert offline.prosody.rms_db.shape == (n, ROWS_PER_FRAME)
    _assert_same(_stream(AudioFrontEnd(), x, seed), offline)


def test_without_prosody_log_mel_and_speech_are_unchanged_and_prosody_is_zero() -> None:
    """The generator's front end skips the prosody analysis: what it does read is the same."""
    x = _speech_with_pauses()
    full, lean = analyse(x), _stream(AudioFrontEnd(prosody=False), x, seed=0)
    np.testing.assert_array_equal(lean.index, full.index)
    np.testing.assert_array_equal(lean.speech, full.speech)
    np.testing.assert_array_equal(lean.log_mel, full.log_mel)
    for name in F.Prosody.__dataclass_fields__:
        rows = getattr(lean.prosody, name)
        assert rows.shape == (len(full), ROWS_PER_FRAME) and not rows.any(), name
    assert np.abs(full.prosody.rms_db).sum() > 0  # the full front end does measure it


def test_frames_sit_on_the_time_base() -> None:
    """Frame k holds feature rows 4k..4k+3 and the gate after chunk (k+1)*640 // 512 - 1."""
    x = np.clip(_speech_with_pauses(), -1.0, 1.0)  # espeak peaks a little above 1; the front end clips
    got = analyse(x)
    n = len(got)
    np.testing.assert_allclose(got.log_mel.reshape(-1, F.N_MELS), F.log_mel(x)[: n * 4], atol=1e-5)
    rows, ref = got.prosody_rows(), F.prosody(x)
    for name in F.Prosody.__dataclass_fields__:
        np.testing.assert_allclose(getattr(rows, name), getattr(ref, name)[: n * 4], atol=1e-3, err_msg=name)
    vad, gate = SileroVAD(), SpeechGate()
    weights = [gate.update(vad.process(x[i : i + CHUNK])) for i in range(0, len(x) - CHUNK + 1, CHUNK)]
    expected = [weights[(k + 1) * SPF // CHUNK - 1] for k in range(n)]
    np.testing.assert_allclose(got.speech, expected, atol=1e-6)


def test_frame_k_is_released_exactly_when_its_audio_is_in() -> None:
    fe = AudioFrontEnd()
    x = np.random.default_rng(0).uniform(-0.1, 0.1, SPF * 6).astype(np.float32)
    released: list[int] = []
    for start in range(0, len(x), 97):  # boundaries fall inside pushes
        out = fe.push(x[start : start + 97])
        released += out.index.tolist()
        have = min(start + 97, len(x))
        assert released == list(range(have // SPF)), have
        assert fe.samples == have and fe.next_frame == have // SPF
    fe.reset()
    assert len(fe.push(x[: SPF - 1])) == 0  # one sample short of frame 0
    assert fe.push(x[SPF - 1 : SPF]).index.tolist() == [0]  # the sample that completes it
    assert len(fe.push(np.zeros(0, np.float32))) == 0
    assert fe.push(x[SPF : 3 * SPF]).index.tolist() == [1, 2]


def test_speech_weight_high_on_speech_low_on_silence() -> None:
    x = _speech_with_pauses()
    speech = analyse(x).speech
    lead = 16000 // SPF  # frames of leading silence
    assert speech[: lead - 1].max() < 0.05
    talking = speech[lead : len(speech) - lead]
    assert (talking > 0.5).mean() > 0.7 and talking.max() > 0.95
    assert speech[-5:].max() < 0.05  # the gate has closed again in the trailing second


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_silence(bad: float) -> None:
    n = SPF * 20
    got = analyse(np.full(n, bad, np.float32))
    _assert_same(got, analyse(np.zeros(n, np.float32)))
    assert np.isfinite(got.log_mel).all() and got.speech.max() < 0.05
    # Out-of-range samples are clipped like the live path does: 10x a signal == its clipped self.
    x = np.sin(np.arange(n) / 5).astype(np.float32)
    _assert_same(analyse(10 * x), analyse(np.clip(10 * x, -1, 1)))


def test_reset_restarts_and_stage_seconds_pop() -> None:
    x = _speech_with_pauses()[: 16000 * 3]
    fe = AudioFrontEnd()
    first = fe.push(x)
    stages = fe.pop_stage_seconds()
    assert set(stages) == {"vad", "features"} and stages["vad"] > 0 and stages["features"] > 0
    assert fe.pop_stage_seconds() == {"vad": 0.0, "features": 0.0}
    fe.push(np.ones(777, np.float32))  # leave partial chunks and frames behind
    fe.reset()
    assert fe.samples == 0 and fe.next_frame == 0
    _assert_same(_stream(fe, x, 3), first)


def test_batch_helpers() -> None:
    feats = analyse(np.zeros(SPF * 5, np.float32))
    one = feats[2]
    assert len(one) == 1 and one.index.tolist() == [2] and one.log_mel.shape == (1, 4, F.N_MELS)
    assert feats[-1].index.tolist() == [4]
    assert feats[1:3].index.tolist() == [1, 2]
    _assert_same(FrameFeatures.concat([feats[:2], feats[2:]]), feats)
    empty = FrameFeatures.empty()
    assert len(empty) == 0 and empty.log_mel.shape == (0, 4, F.N_MELS)
    assert len(FrameFeatures.concat([])) == 0 and len(analyse(np.zeros(SPF - 1, np.float32))) == 0
    assert len(feats.prosody_rows()) == 20
