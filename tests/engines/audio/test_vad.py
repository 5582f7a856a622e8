from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.engines.audio.speech import espeak_speech
from xactor.engines.audio.vad import CHUNK, SileroVAD, SpeechGate


def _probs(vad: SileroVAD, x: np.ndarray) -> np.ndarray:
    return np.array([vad.process(x[i : i + CHUNK]) for i in range(0, len(x) - CHUNK + 1, CHUNK)])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # silero_vad's importlib.resources.path
def test_matches_silero_own_onnx_wrapper() -> None:
    silero_vad = pytest.importorskip("silero_vad")
    torch = pytest.importorskip("torch")
    x = np.concatenate([np.zeros(8000, np.float32), espeak_speech()])[: 16000 * 3]
    reference = silero_vad.load_silero_vad(onnx=True)
    expected = [
        float(reference(torch.from_numpy(x[i : i + CHUNK]), 16000))
        for i in range(0, len(x) - CHUNK + 1, CHUNK)
    ]
    np.testing.assert_allclose(_probs(SileroVAD(), x), expected, atol=1e-5)


def test_speech_is_speech() -> None:
    probs = _probs(SileroVAD(), espeak_speech())
    assert probs.max() > 0.9
    assert (probs > 0.5).mean() > 0.6


def test_silence_and_white_noise_are_not_speech() -> None:
    vad = SileroVAD()
    assert _probs(vad, np.zeros(16000 * 2, np.float32)).max() < 0.1
    vad.reset()
    noise = (np.random.default_rng(0).standard_normal(16000 * 3) * 0.3).astype(np.float32)
    probs = _probs(vad, noise)
    assert probs.mean() < 0.1 and probs.max() < 0.5


def test_state_is_per_instance_and_reset_restarts() -> None:
    x = espeak_speech()[: 16000 * 2]
    a, b = SileroVAD(), SileroVAD()
    interleaved_a, interleaved_b = [], []
    for i in range(0, len(x) - CHUNK + 1, CHUNK):
        interleaved_a.append(a.process(x[i : i + CHUNK]))
        interleaved_b.append(b.process(np.zeros(CHUNK, np.float32)))
    fresh = SileroVAD()
    np.testing.assert_allclose(interleaved_a, _probs(fresh, x), atol=1e-6)
    fresh.reset()
    np.testing.assert_allclose(interleaved_a, _probs(fresh, x), atol=1e-6)


def test_wrong_chunk_length_raises() -> None:
    with pytest.raises(ValueError):
        SileroVAD().process(np.zeros(480, np.float32))


def test_gate_hysteresis_and_smooth_weight() -> None:
    gate = SpeechGate(min_speech_s=0.064, min_silence_s=0.2)
    weights = [gate.update(0.6) for _ in range(10)]
    assert gate.open and weights[0] == 0.0  # needs 64 ms above `on` first
    assert all(b >= a for a, b in itertools.pairwise(weights)) and weights[-1] > 0.95
    for _ in range(20):  # between off and on: stays open
        gate.update(0.4)
    assert gate.open
    gate.update(0.1)  # a short dip does not close it
    assert gate.open
    falling = []
    while gate.open:
        falling.append(gate.update(0.1))
    assert len(falling) * 0.032 == pytest.approx(0.2, abs=0.04)  # closes after min_silence_s
    falling += [gate.update(0.1) for _ in range(30)]
    assert falling[-1] < 0.05
    assert all(b <= a for a, b in zip(falling[-31:-1], falling[-30:], strict=True))
    assert gate.update(float("nan")) <= falling[-1]
    with pytest.raises(ValueError):
        SpeechGate(on=0.3, off=0.5)
