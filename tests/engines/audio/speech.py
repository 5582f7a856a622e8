"""Real (synthetic) speech for audio tests, made with espeak-ng at test time; skips without it."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from xactor.engines.audio.resample import load_wav_16k

SENTENCE = "Hello there. This is a test of the voice activity detector, and it should say speech."


@functools.lru_cache(maxsize=8)
def _espeak(text: str, voice: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
        return load_wav_16k(path)


def espeak_speech(text: str = SENTENCE, voice: str = "en") -> np.ndarray:
    """float32 16 kHz mono speech of ``text``; skips the test when espeak-ng is not installed."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    return _espeak(text, voice).copy()
