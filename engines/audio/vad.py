"""Voice activity: silero-vad v5 run directly with onnxruntime, plus a hysteresis speech gate.

The ONNX graph shipped in the ``silero_vad`` package (``silero_vad/data/silero_vad.onnx``) takes

* ``input`` float32 [B, 64 + 512]: 512 new samples at 16 kHz with the previous call's last 64
  samples prepended (zeros on the first call) — the context the v5 model was trained with,
* ``state`` float32 [2, B, 128]: the recurrent state returned by the previous call,
* ``sr`` int64 scalar: 16000,

and returns ``output`` [B, 1] (speech probability of the 32 ms chunk) and ``stateN``. This mirrors
``silero_vad.utils_vad.OnnxWrapper.__call__`` without its torch dependency.

The ``InferenceSession`` is loaded once per process and shared (``run`` is thread-safe); the state
and context live in each :class:`SileroVAD`, one per session.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort

from xactor.engines.timebase import SAMPLE_RATE

logger = logging.getLogger(__name__)

CHUNK = 512  # samples at 16 kHz per VAD step (32 ms)
CONTEXT = 64  # samples of the previous chunk prepended to each input
CHUNK_SECONDS = CHUNK / SAMPLE_RATE


def model_path() -> Path:
    """The v5 ONNX model inside the installed ``silero_vad`` package (no download)."""
    return Path(str(resources.files("silero_vad").joinpath("data", "silero_vad.onnx")))


@functools.lru_cache(maxsize=4)
def shared_session(path: str | None = None) -> ort.InferenceSession:
    """One CPU InferenceSession per model file per process; single-threaded (the model is tiny)."""
    opts = ort.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    file = path or str(model_path())
    logger.info("loading silero-vad from %s", file)
    return ort.InferenceSession(file, sess_options=opts, providers=["CPUExecutionProvider"])


class SileroVAD:
    """Streaming speech probability for 512-sample chunks of 16 kHz audio; one instance per session."""

    def __init__(self, session: ort.InferenceSession | None = None) -> None:
        self._session = session or shared_session()
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        """Forget the recurrent state and context (a new stream)."""
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, CONTEXT), dtype=np.float32)

    def process(self, chunk: np.ndarray) -> float:
        """Speech probability in [0, 1] of one chunk float32 [512] in [-1, 1]."""
        x = np.asarray(chunk, dtype=np.float32).reshape(1, -1)  # [1, 512]
        if x.shape[1] != CHUNK:
            raise ValueError(f"silero-vad needs chunks of {CHUNK} samples at 16 kHz, got {x.shape[1]}")
        x = np.concatenate([self._context, x], axis=1)  # [1, 576]
        out, state = self._session.run(None, {"input": x, "state": self._state, "sr": self._sr})
        self._state = state
        self._context = x[:, -CONTEXT:]
        return float(out[0, 0])


@dataclass
class SpeechGate:
    """Hysteresis on the VAD probability, turned into a smooth speech weight in [0, 1].

    The gate opens once the probability has stayed >= ``on`` for ``min_speech_s`` and closes once
    it has stayed < ``off`` for ``min_silence_s`` (short pauses between words keep it open). The
    weight follows the gate with one-pole smoothing (``attack_s`` rising, ``release_s`` falling),
    so anything it multiplies fades instead of switching.
    """

    on: float = 0.5
    off: float = 0.35
    min_speech_s: float = 0.032  # one VAD chunk: open quickly so the first syllable is not lost
    min_silence_s: float = 0.25
    attack_s: float = 0.03
    release_s: float = 0.15

    def __post_init__(self) -> None:
        if not 0.0 <= self.off <= self.on <= 1.0:
            raise ValueError(f"need 0 <= off <= on <= 1, got off={self.off}, on={self.on}")
        self.reset()

    def reset(self) -> None:
        self.open = False
        self.weight = 0.0
        self._run = 0.0  # seconds the probability has been on the other side of the gate

    def update(self, prob: float, dt: float = CHUNK_SECONDS) -> float:
        """Advance by ``dt`` seconds with speech probability ``prob``; returns the weight."""
        if not np.isfinite(prob):
            prob = 0.0
        if self.open:
            self._run = self._run + dt if prob < self.off else 0.0
            if self._run >= self.min_silence_s:
                self.open, self._run = False, 0.0
        else:
            self._run = self._run + dt if prob >= self.on else 0.0
            if self._run >= self.min_speech_s:
                self.open, self._run = True, 0.0
        target = 1.0 if self.open else 0.0
        tau = self.attack_s if target > self.weight else self.release_s
        self.weight += (target - self.weight) * (1.0 - float(np.exp(-dt / max(tau, 1e-6))))
        return self.weight
