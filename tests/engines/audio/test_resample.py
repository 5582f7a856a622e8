from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np
import pytest

from xactor.engines.audio.resample import AudioResampler16k, load_wav_16k, resample_array


def _sine(freq: float, rate: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x: np.ndarray, rate: int = 16000) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


def _opus_like_frames(x: np.ndarray, rate: int = 48000, size: int = 960) -> list[av.AudioFrame]:
    """Stereo s16 packed frames like aiortc's Opus decoder yields (20 ms at 48 kHz)."""
    pcm = (x * 32767).astype(np.int16)
    stereo = np.stack([pcm, pcm], axis=1).reshape(1, -1)  # interleaved [1, N * 2]
    frames = []
    for i in range(0, len(x) - size + 1, size):
        frame = av.AudioFrame.from_ndarray(
            stereo[:, 2 * i : 2 * (i + size)].copy(), format="s16", layout="stereo"
        )
        frame.sample_rate = rate
        frame.pts = i
        frames.append(frame)
    return frames


def test_48k_stereo_s16_to_16k_mono_keeps_length_level_and_frequency() -> None:
    x = _sine(440.0, 48000, 1.0)
    resampler = AudioResampler16k()
    parts = [resampler.resample(f) for f in _opus_like_frames(x)]
    assert all(p.dtype == np.float32 and p.ndim == 1 for p in parts)
    # Steady state: 960 samples at 48 kHz -> 320 at 16 kHz (the first frame is short by the filter delay).
    assert all(len(p) == 320 for p in parts[1:])
    y = np.concatenate([*parts, resampler.flush()])
    assert len(y) == 16000
    assert _peak_hz(y) == pytest.approx(440.0, abs=2.0)
    # Channels are averaged (not summed at -3 dB): level stays 0.5.
    assert np.abs(y[1000:-1000]).max() == pytest.approx(0.5, abs=0.01)


def test_planar_float_44k1_and_mid_stream_format_change() -> None:
    resampler = AudioResampler16k()
    x = _sine(1000.0, 44100, 0.5)
    frame = av.AudioFrame.from_ndarray(x.reshape(1, -1), format="fltp", layout="mono")
    frame.sample_rate = 44100
    y1 = resampler.resample(frame)
    # The codec is renegotiated to 48 kHz stereo s16: the resampler rebuilds instead of raising.
    y2 = np.concatenate([resampler.resample(f) for f in _opus_like_frames(_sine(1000.0, 48000, 0.5))])
    assert abs(len(y1) - 8000) < 64
    assert abs(len(y2) - 8000) < 64
    assert _peak_hz(y2) == pytest.approx(1000.0, abs=4.0)


def test_passthrough_16k_mono_float() -> None:
    x = _sine(300.0, 16000, 0.1)
    frame = av.AudioFrame.from_ndarray(x.reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate = 16000
    np.testing.assert_allclose(AudioResampler16k().resample(frame), x, atol=1e-7)


def test_resample_array_rates_channels_and_ints() -> None:
    x = _sine(440.0, 44100, 1.0)
    y = resample_array(x, 44100)
    assert y.dtype == np.float32 and abs(len(y) - 16000) <= 1
    assert _peak_hz(y) == pytest.approx(440.0, abs=2.0)
    stereo = np.stack([x, np.zeros_like(x)], axis=1)  # [N, 2]
    assert np.abs(resample_array(stereo, 44100)).max() == pytest.approx(0.25, abs=0.01)
    ints = (x * 32767).astype(np.int16)
    np.testing.assert_allclose(resample_array(ints, 44100), y, atol=1e-3)
    np.testing.assert_array_equal(resample_array(y, 16000), y)
    with pytest.raises(ValueError):
        resample_array(x, 0)


def test_load_wav_16k(tmp_path: Path) -> None:
    x = _sine(440.0, 22050, 0.8)
    pcm = (np.stack([x, x], axis=1) * 32767).astype(np.int16)
    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(pcm.tobytes())
    y = load_wav_16k(path)
    assert y.dtype == np.float32 and abs(len(y) - 12800) <= 2
    assert _peak_hz(y) == pytest.approx(440.0, abs=2.0)
    assert np.abs(y).max() == pytest.approx(0.5, abs=0.01)
