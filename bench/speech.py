"""Test speech with known onsets, made with espeak-ng at run time (no downloaded audio).

:func:`speech_with_onsets` lays phrases out on a silent timeline at fixed times and measures each
phrase's true onset (first 10 ms window above -35 dBFS), so a latency probe knows exactly when
speech starts in the signal it sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from xactor.engines.audio.tts import have_tts, speak

PHRASES = (
    "Hello there, how are you today?",
    "Papa bought a big blue boat.",
    "Maybe we should meet at noon.",
    "Open the window, it is warm.",
    "Bob and Mary made a map.",
    "What a beautiful morning this is.",
)


def have_espeak() -> bool:
    return have_tts()


def tts(text: str, voice: str = "en-us", speed: int = 150) -> np.ndarray:
    """espeak-ng speech as float32 16 kHz mono."""
    return speak(text, voice, speed)


def onset(x: np.ndarray, rate: int, threshold_db: float = -35.0) -> int:
    """First sample of the first 10 ms window whose RMS is above ``threshold_db`` dBFS (-1 if none)."""
    win = rate // 100
    n = x.size // win
    if n == 0:
        return -1
    rms = np.sqrt(np.mean(x[: n * win].reshape(n, win) ** 2, axis=1) + 1e-12)
    above = np.nonzero(20 * np.log10(rms) > threshold_db)[0]
    return int(above[0] * win) if above.size else -1


@dataclass(frozen=True)
class SpeechTimeline:
    signal: np.ndarray  # float32 mono at ``rate``
    rate: int
    onsets: list[int]  # sample index of each phrase's speech onset
    ends: list[int]  # sample index where each phrase's audio ends

    @property
    def seconds(self) -> float:
        return self.signal.size / self.rate


def speech_with_onsets(
    duration_s: float,
    period_s: float = 3.0,
    lead_s: float = 1.0,
    rate: int = 48000,
    phrases: tuple[str, ...] = PHRASES,
    voice: str = "en-us",
) -> SpeechTimeline:
    """Phrases starting every ``period_s`` from ``lead_s`` on, silence between; total ``duration_s``."""
    clips = [tts(p, voice) for p in phrases]
    if rate != 16000:
        clips = [soxr.resample(c, 16000, rate).astype(np.float32) for c in clips]
    total = int(duration_s * rate)
    signal = np.zeros(total, dtype=np.float32)
    onsets: list[int] = []
    ends: list[int] = []
    t = lead_s
    i = 0
    while True:
        start = int(t * rate)
        clip = clips[i % len(clips)][: int((period_s - 0.6) * rate)]  # keep >= 0.6 s of silence after
        if start + clip.size > total:
            break
        signal[start : start + clip.size] = clip * (0.5 / max(float(np.abs(clip).max()), 1e-6))
        first = onset(clip, rate)
        if first >= 0:
            onsets.append(start + first)
            ends.append(start + clip.size)
        t += period_s
        i += 1
    return SpeechTimeline(signal, rate, onsets, ends)


def write_wav(path: Path, signal: np.ndarray, rate: int) -> None:
    """16-bit mono PCM WAV (what Chromium's fake audio capture reads)."""
    import wave

    pcm = (np.clip(signal, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
