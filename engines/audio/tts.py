"""Text to speech for presenter mode and test speech: espeak-ng, a Debian package, no model download.

The voice is robotic; the point is a speaking portrait from text with no external service. A
pipeline with its own TTS sends that audio instead (``WS /sessions/stream``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from xactor.engines.audio.resample import load_wav_16k

MAX_TEXT_CHARS = 2000


class TtsUnavailableError(RuntimeError):
    """espeak-ng is not installed on this host."""


def have_tts() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, voice: str = "en-us", words_per_minute: int = 160) -> np.ndarray:
    """``text`` spoken by espeak-ng → float32 [N] at 16 kHz mono, peak-normalised to 0.5."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise TtsUnavailableError("espeak-ng is not installed (apt-get install espeak-ng)")
    if not text.strip():
        raise ValueError("nothing to say: the text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"the text is {len(text)} characters; at most {MAX_TEXT_CHARS}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tts.wav"
        # "--" ends the options: a text starting with "-" is spoken, not parsed.
        subprocess.run(
            [exe, "-v", voice, "-s", str(words_per_minute), "-w", str(path), "--", text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        speech = load_wav_16k(path)
    peak = float(np.abs(speech).max()) if speech.size else 0.0
    return (speech * (0.5 / peak) if peak > 0 else speech).astype(np.float32)
