"""Bring any audio to float32 16 kHz mono, the rate every audio model here works at (docs/ARCHITECTURE.md §4).

* :class:`AudioResampler16k` converts a live stream of ``av.AudioFrame`` (48 kHz stereo Opus from
  aiortc) with FFmpeg's resampler, which keeps its filter state between frames, so a stream
  converts without clicks at frame boundaries.
* :func:`resample_array` converts a whole numpy signal with soxr (high quality, for offline tools).
* :func:`load_wav_16k` decodes any file FFmpeg reads and returns it at 16 kHz mono.
"""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import soxr

from xactor.engines.timebase import SAMPLE_RATE as SAMPLE_RATE  # re-exported for importers

logger = logging.getLogger(__name__)


def _to_mono_float(frame: av.AudioFrame) -> np.ndarray:
    """Samples of a packed/planar frame as float32 [N], channels averaged, in [-1, 1]."""
    data: np.ndarray = np.asarray(frame.to_ndarray())
    fmt = frame.format
    channels = len(frame.layout.channels)
    # planar [C, N] or interleaved [1, N*C] -> [C, N]
    data = data.reshape(channels, -1) if fmt.is_planar else data.reshape(-1, channels).T
    if data.dtype.kind == "i":
        data = data.astype(np.float32) / float(2 ** (8 * data.dtype.itemsize - 1))
    elif data.dtype.kind == "u":  # u8: offset binary
        data = (data.astype(np.float32) - 128.0) / 128.0
    return data.astype(np.float32).mean(axis=0)


class AudioResampler16k:
    """Streaming converter from ``av.AudioFrame`` (any rate, layout, format) to float32 16 kHz mono.

    One instance per incoming track: it holds the resampler's filter state. When the input's
    format, layout or rate changes mid-stream (a renegotiated codec), the resampler is rebuilt
    and the stream goes on; the few samples of filter delay held at that moment are dropped.
    """

    def __init__(self) -> None:
        self._resampler: av.AudioResampler | None = None
        self._signature: tuple[str, str, int] | None = None

    def _new_resampler(self) -> av.AudioResampler:
        # Keep the layout: FFmpeg's stereo->mono downmix adds the channels at -3 dB (a sine in both
        # channels comes out 1.41x louder and may clip); we average them ourselves instead.
        return av.AudioResampler(format="flt", rate=SAMPLE_RATE)

    def resample(self, frame: av.AudioFrame) -> np.ndarray:
        """Convert one frame; returns float32 [N] in [-1, 1] (N may vary by a sample or so)."""
        signature = (frame.format.name, frame.layout.name, int(frame.sample_rate))
        if self._resampler is None or signature != self._signature:
            if self._resampler is not None:
                logger.info(
                    "audio input changed from %s to %s; rebuilding resampler", self._signature, signature
                )
            self._resampler = self._new_resampler()
            self._signature = signature
        out = [_to_mono_float(f) for f in self._resampler.resample(frame)]
        return _join(out)

    def flush(self) -> np.ndarray:
        """Samples still held in the resampler's filter (end of stream)."""
        if self._resampler is None:
            return np.zeros(0, dtype=np.float32)
        out = [_to_mono_float(f) for f in self._resampler.resample(None)]
        self._resampler = None
        self._signature = None
        return _join(out)


def _join(chunks: list[np.ndarray]) -> np.ndarray:
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.clip(np.concatenate(chunks), -1.0, 1.0).astype(np.float32, copy=False)


def resample_array(samples: np.ndarray, rate: int) -> np.ndarray:
    """Whole signal [N] or [N, C] at ``rate`` Hz -> float32 [M] at 16 kHz mono (soxr, high quality)."""
    x = np.asarray(samples)
    if x.dtype.kind == "i":
        x = x.astype(np.float32) / float(2 ** (8 * x.dtype.itemsize - 1))
    x = x.astype(np.float32, copy=False)
    if x.ndim == 2:
        x = x.mean(axis=1)
    elif x.ndim != 1:
        raise ValueError(f"expected samples [N] or [N, C], got shape {x.shape}")
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    if rate != SAMPLE_RATE:
        x = soxr.resample(x, rate, SAMPLE_RATE, quality="HQ")
    return np.asarray(x, dtype=np.float32)


def load_wav_16k(path: str | Path) -> np.ndarray:
    """Decode the first audio stream of any file FFmpeg reads -> float32 [N] at 16 kHz mono."""
    chunks: list[np.ndarray] = []
    rate = 0
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError(f"{path}: no audio stream")
        stream = container.streams.audio[0]
        # Format/layout conversion only; the rate change is done by soxr on the whole signal.
        converter: av.AudioResampler | None = None
        for frame in container.decode(stream):
            if converter is None:
                rate = int(frame.sample_rate)
                converter = av.AudioResampler(format="flt", rate=rate)
            chunks.extend(_to_mono_float(f) for f in converter.resample(frame))
        if converter is not None:
            chunks.extend(_to_mono_float(f) for f in converter.resample(None))
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return resample_array(np.concatenate(chunks), rate)
