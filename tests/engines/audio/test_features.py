from __future__ import annotations

import numpy as np
import pytest

from tests.engines.audio.speech import espeak_speech
from xactor.engines.audio import features as F


def _signal() -> np.ndarray:
    rng = np.random.default_rng(1)
    t = np.arange(16000 * 2) / 16000
    x = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(
        t.size
    )
    return x.astype(np.float32)


def _random_chunks(x: np.ndarray, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out, i = [], 0
    while i < len(x):
        n = int(rng.choice([0, 1, 7, 159, 160, 161, 512, 640, 1999]))
        out.append(x[i : i + n])
        i += n
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_streaming_log_mel_equals_offline(seed: int) -> None:
    x = _signal()
    offline = F.log_mel(x)
    assert offline.shape == (len(x) // F.HOP, F.N_MELS) and offline.dtype == np.float32
    stream = F.StreamingLogMel()
    rows = [stream.push(c) for c in _random_chunks(x, seed)]
    assert all(r.shape[1] == F.N_MELS for r in rows)
    np.testing.assert_allclose(np.concatenate(rows), offline, atol=1e-5, rtol=0)
    assert stream.rows == len(offline)


def test_streaming_analysis_equals_offline_on_speech() -> None:
    x = espeak_speech()
    analysis = F.StreamingAnalysis()
    mels, pros = zip(*(analysis.push(c) for c in _random_chunks(x, 2)), strict=True)
    np.testing.assert_allclose(np.concatenate(mels), F.log_mel(x), atol=1e-5, rtol=0)
    streamed, offline = F.Prosody.concat(list(pros)), F.prosody(x)
    for name in F.Prosody.__dataclass_fields__:
        np.testing.assert_allclose(getattr(streamed, name), getattr(offline, name), atol=1e-3, err_msg=name)


def test_rows_are_causal() -> None:
    x = _signal()
    changed = x.copy()
    changed[1600:] = 0.9  # change everything from sample 1600 on
    a, b = F.log_mel(x), F.log_mel(changed)
    np.testing.assert_array_equal(a[:10], b[:10])  # row i depends only on samples < (i + 1) * 160
    assert not np.allclose(a[10], b[10])


def test_mel_filterbank_is_slaney() -> None:
    assert F._hz_to_mel_slaney(np.array(1000.0)) == pytest.approx(15.0)
    assert F._hz_to_mel_slaney(np.array(200.0)) == pytest.approx(3.0)
    hz = np.array([0.0, 500.0, 1000.0, 4000.0, 8000.0])
    np.testing.assert_allclose(F._mel_to_hz_slaney(F._hz_to_mel_slaney(hz)), hz, atol=1e-6)
    bank = F.mel_filterbank()
    assert bank.shape == (80, 257) and (bank >= 0).all() and (bank.sum(axis=1) > 0).all()
    assert (np.diff(np.argmax(bank, axis=1)) >= 0).all()
    # Slaney normalisation: every triangle has unit area in Hz (checked where bins resolve it).
    df = 16000 / 512
    np.testing.assert_allclose(bank[40:].sum(axis=1) * df, 1.0, rtol=0.03)


def test_tone_lands_in_its_band() -> None:
    t = np.arange(16000) / 16000
    mel = F.log_mel(0.5 * np.sin(2 * np.pi * 1000 * t))
    band = int(np.argmax(mel[50]))
    peak_hz = F.mel_filterbank()[band].argmax() * 16000 / 512
    assert peak_hz == pytest.approx(1000.0, rel=0.1)


def test_prosody_cues() -> None:
    t = np.arange(16000) / 16000
    tone = F.prosody(0.3 * np.sin(2 * np.pi * 150 * t))
    assert np.median(tone.f0[5:]) == pytest.approx(150.0, rel=0.03)
    assert tone.voicing[5:].min() > 0.9 and tone.flatness[5:].max() < 0.05
    assert np.median(tone.rms_db[5:]) == pytest.approx(20 * np.log10(0.3 / np.sqrt(2)), abs=0.5)
    noise = F.prosody(np.random.default_rng(0).standard_normal(16000) * 0.1)
    assert np.median(noise.flatness[5:]) > 0.5 and np.median(noise.voicing[5:]) < 0.45
    assert np.median(noise.centroid[5:]) == pytest.approx(4000.0, rel=0.1)
    dc = F.prosody(np.ones(3200))
    assert (dc.rms_db[3:] == F.RMS_FLOOR_DB).all()  # a DC offset is not loudness
    silent = F.prosody(np.zeros(3200))
    assert (silent.rms_db == F.RMS_FLOOR_DB).all() and (silent.f0 == 0).all()
    assert all(np.isfinite(getattr(silent, n)).all() for n in F.Prosody.__dataclass_fields__)
    assert len(F.prosody(np.zeros(100))) == 0
