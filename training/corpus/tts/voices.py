"""A corpus voice: one engine + voice + variant + fixed pitch / rate offsets, and the synthesiser contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from xactor.training.corpus.phonemes import PhoneSpan

Engine = Literal["espeak-ng", "flite", "festival", "piper", "mbrola"]


@dataclass(frozen=True)
class Voice:
    """A reproducible speaker. ``id`` is unique across engines and stable across runs."""

    id: str  # e.g. "espeak-en-us+m3-p60-r170"
    engine: Engine
    name: str  # the engine's voice name (espeak-ng "en-us", flite "slt", festival "kal_diphone")
    variant: str = ""  # espeak-ng variant ("m3", "f2", "klatt2"...), else ""
    pitch: float = 0.0  # engine-specific pitch setting or offset
    pitch_range: float = 0.0  # engine-specific pitch range setting (espeak-ng -P analogue)
    rate: float = 1.0  # speaking-rate factor (1 = the engine's default)
    sex: Literal["female", "male"] = "male"
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SynthResult:
    """What an engine returns for one utterance: 16 kHz mono float32 audio and its phonemes."""

    audio: np.ndarray  # [N] float32 in [-1, 1] at engines.timebase.SAMPLE_RATE
    phones: list[PhoneSpan]  # in order, times in seconds from the start of ``audio``
    text: str
    voice: Voice
    words: list[str] = field(default_factory=list)


class Synthesizer(Protocol):
    """One TTS engine: text + voice → audio with phoneme timings from the engine itself."""

    @property
    def engine(self) -> Engine:
        """The engine's name (read-only: implementations narrow it to their own literal)."""
        ...

    def available(self) -> bool:
        """Whether the engine is installed here (tests skip with the reason otherwise)."""
        ...

    def voices(self) -> list[Voice]:
        """The corpus voices this engine contributes."""
        ...

    def synth(self, text: str, voice: Voice) -> SynthResult:
        """Speak ``text``; raises RuntimeError with the engine's message on failure."""
        ...
