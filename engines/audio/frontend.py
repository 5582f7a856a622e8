"""The audio front end: pushed 16 kHz audio in, one record of audio features per video frame out.

Every consumer of audio — the heuristic animator, the learned motion generator, the synthetic
corpus generator and training — reads its features from here, so they all see the same numbers on
the same grid (:mod:`xactor.engines.timebase`): frame ``k`` owns samples ``[640k, 640k + 640)``, log-mel
and prosody rows ``4k .. 4k + 3`` (:mod:`xactor.engines.audio.features`, right-aligned, causal) and the
speech weight of the VAD chunks ending within its audio. A frame is released, once, as soon as
``(k + 1) * 640`` samples are in; lookahead is the consumer's business (a consumer wanting ``L``
frames of lookahead waits for ``L`` more frames).

Why chunking cannot change the numbers: silero-vad steps on 512-sample chunks counted from reset,
the :class:`~engines.audio.vad.SpeechGate` once per chunk, and the feature analysis runs on exactly
one frame's 640 samples at a time (4 rows per call, so even the BLAS/FFT batch sizes are fixed).
:func:`analyse` is the same code on a whole signal, so offline features (training, corpus) equal
the streamed ones bit for bit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from xactor.engines.audio.features import N_MELS, Prosody, StreamingAnalysis
from xactor.engines.audio.vad import CHUNK, CHUNK_SECONDS, SileroVAD, SpeechGate
from xactor.engines.timebase import ROWS_PER_FRAME, SAMPLES_PER_FRAME


@dataclass(frozen=True)
class FrameFeatures:
    """Audio features of ``n`` consecutive video frames (a batch; ``n`` may be 0 or 1).

    * ``index``   [n] int64 — frame numbers since reset, consecutive.
    * ``speech``  [n] float32 — :class:`SpeechGate` weight (0..1) after the last VAD chunk that
      ends within the frame's audio (each frame has one or two; the gate has seen both).
    * ``log_mel`` [n, 4, 80] float32 — the frame's four 10 ms log-mel rows.
    * ``prosody`` :class:`Prosody` with each field [n, 4] float32 — the frame's four prosody rows.
    """

    index: np.ndarray
    speech: np.ndarray
    log_mel: np.ndarray
    prosody: Prosody

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def __getitem__(self, key: int | slice) -> FrameFeatures:
        """Frames ``key`` of the batch; an int gives a batch of one."""
        if isinstance(key, int):
            key = slice(key, key + 1 or None)
        return FrameFeatures(
            self.index[key], self.speech[key], self.log_mel[key], self.prosody.map(lambda a: a[key])
        )

    def prosody_rows(self) -> Prosody:
        """The prosody as consecutive 10 ms rows, each field [n * 4]."""
        return self.prosody.map(lambda a: a.reshape(-1))

    @staticmethod
    def empty() -> FrameFeatures:
        """A batch of no frames."""
        return FrameFeatures(
            index=np.zeros(0, dtype=np.int64),
            speech=np.zeros(0, dtype=np.float32),
            log_mel=np.zeros((0, ROWS_PER_FRAME, N_MELS), dtype=np.float32),
            prosody=Prosody(*(np.zeros((0, ROWS_PER_FRAME), np.float32) for _ in range(5))),
        )

    @staticmethod
    def concat(parts: list[FrameFeatures]) -> FrameFeatures:
        """Join batches in order (they must be consecutive; not checked)."""
        if not parts:
            return FrameFeatures.empty()
        return FrameFeatures(
            index=np.concatenate([p.index for p in parts]),
            speech=np.concatenate([p.speech for p in parts]),
            log_mel=np.concatenate([p.log_mel for p in parts]),
            prosody=Prosody.concat([p.prosody for p in parts]),
        )


def sanitize(samples: np.ndarray) -> np.ndarray:
    """Any input as float32 [N] in [-1, 1]: NaN and ±inf become 0 (garbage, not loudness)."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    return np.clip(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)


def _last_chunk_of_frame(k: int) -> int:
    """Index of the last 512-sample VAD chunk ending within frame ``k``'s audio (always >= 0)."""
    return (k + 1) * SAMPLES_PER_FRAME // CHUNK - 1


class AudioFrontEnd:
    """Streaming VAD + log-mel + prosody per video frame (see module docstring).

    One instance per session (it holds VAD state and buffers); not thread-safe.
    """

    def __init__(
        self, vad: SileroVAD | None = None, gate: SpeechGate | None = None, prosody: bool = True
    ) -> None:
        """``prosody=False``: the frames' prosody rows stay zero (for consumers that read only
        log-mel and speech, such as the learned generator)."""
        self._vad = vad or SileroVAD()
        self._gate = gate or SpeechGate()
        self._analysis = StreamingAnalysis(prosody)
        self._stage_s = {"vad": 0.0, "features": 0.0}
        self.reset()

    def reset(self) -> None:
        """Forget all audio: the next frame is 0 and sample counting restarts (stage seconds stay)."""
        self._vad.reset()
        self._gate.reset()
        self._analysis.reset()
        self._samples = 0
        self._next_frame = 0
        self._vad_pending = np.zeros(0, dtype=np.float32)  # < 512 samples not yet in a chunk
        self._frame_pending = np.zeros(0, dtype=np.float32)  # < 640 samples not yet in a frame
        self._weights: list[float] = []  # gate weight after each VAD chunk, from chunk _weight_base
        self._weight_base = 0

    @property
    def samples(self) -> int:
        """Samples pushed since reset."""
        return self._samples

    @property
    def next_frame(self) -> int:
        """Index of the next frame to be released."""
        return self._next_frame

    def push(self, samples: np.ndarray) -> FrameFeatures:
        """Append float32 16 kHz mono audio (any length); returns the frames it completed, in order."""
        x = sanitize(samples)
        if x.size == 0:
            return FrameFeatures.empty()
        self._samples += x.size
        t0 = time.perf_counter()
        self._run_vad(x)
        t1 = time.perf_counter()
        buf = np.concatenate([self._frame_pending, x])
        n_new = buf.size // SAMPLES_PER_FRAME
        mels, pros = [], []
        for f in range(n_new):
            mel, p = self._analysis.push(buf[f * SAMPLES_PER_FRAME : (f + 1) * SAMPLES_PER_FRAME])
            mels.append(mel)  # [4, 80]
            pros.append(p)  # 4 rows
        self._frame_pending = buf[n_new * SAMPLES_PER_FRAME :]
        self._stage_s["vad"] += t1 - t0
        self._stage_s["features"] += time.perf_counter() - t1
        if n_new == 0:
            return FrameFeatures.empty()
        index = np.arange(self._next_frame, self._next_frame + n_new, dtype=np.int64)
        speech = np.array(
            [self._weights[_last_chunk_of_frame(int(k)) - self._weight_base] for k in index],
            dtype=np.float32,
        )
        self._next_frame += n_new
        # Forget the weights no future frame needs (the next frame's chunk may not have run yet).
        drop = min(_last_chunk_of_frame(self._next_frame) - self._weight_base, len(self._weights))
        del self._weights[:drop]
        self._weight_base += drop
        return FrameFeatures(
            index=index,
            speech=speech,
            log_mel=np.stack(mels),  # [n, 4, 80]
            prosody=Prosody.concat(pros).map(lambda a: a.reshape(n_new, ROWS_PER_FRAME)),  # [n, 4]
        )

    def _run_vad(self, x: np.ndarray) -> None:
        """Step silero-vad and the gate over every 512-sample chunk completed by ``x``."""
        pending = np.concatenate([self._vad_pending, x])
        n_chunks = pending.size // CHUNK
        for j in range(n_chunks):
            prob = self._vad.process(pending[j * CHUNK : (j + 1) * CHUNK])
            self._weights.append(self._gate.update(prob, CHUNK_SECONDS))
        self._vad_pending = pending[n_chunks * CHUNK :]

    def pop_stage_seconds(self) -> dict[str, float]:
        """Compute seconds spent in VAD and in feature analysis since the last call."""
        out, self._stage_s = self._stage_s, {"vad": 0.0, "features": 0.0}
        return out


def analyse(samples: np.ndarray) -> FrameFeatures:
    """Offline features of a whole 16 kHz signal [N] -> ``N // 640`` frames, equal to streaming.

    A fresh front end fed the whole signal at once: the same code, hence the same numbers, as any
    chunking of a live stream (training and the corpus generator rely on this).
    """
    return AudioFrontEnd().push(samples)
