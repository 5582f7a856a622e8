"""Log-mel features and cheap prosody at 16 kHz, offline and streaming with identical results.

Framing (the same for every function here): 25 ms Hann windows (400 samples) every 10 ms (160
samples), *right-aligned*: row ``i`` is the window over samples ``[(i + 1) * 160 - 400,
(i + 1) * 160)`` of the stream, with zeros before the stream's start. So row ``i`` depends only on
samples that precede ``(i + 1) * 160``; a signal of ``N`` samples has ``N // 160`` rows; video
frame ``k`` (640 samples, 25 fps) owns rows ``4k .. 4k + 3`` and they are complete exactly when
the frame's own audio is. This causal alignment makes latency accounting exact (no hidden
half-window lookahead); any lookahead is the caller's explicit choice.

Log-mel: |rfft(512)|² of the window -> 80 Slaney mel bands (Slaney mel scale and area
normalisation, as librosa's default) from 0 to 8 kHz -> ``ln(mel + 1e-6)``. No per-utterance
normalisation, so streaming and offline agree exactly.

Prosody per row (:class:`Prosody`), used by the heuristic motion source:

* ``rms_db``   — RMS level of the raw (unwindowed) 25 ms window with its mean removed (a DC offset
  is not loudness), dB re full scale, floored at -100. Loudness: drives jaw opening.
* ``centroid`` — spectral centroid in Hz (power-weighted mean frequency). Low for rounded back
  vowels (o, u), high for spread front vowels (i, e) and very high for fricatives (s, f).
* ``flatness`` — spectral flatness in [0, 1] (geometric / arithmetic mean of the power spectrum).
  Near 0 for tonal (voiced) sound, near 1 for noise (fricatives, breath, hiss).
* ``f0``       — fundamental frequency in Hz from the peak of the normalised autocorrelation of
  the windowed frame over lags 80–400 Hz (Boersma's window correction); 0 when unvoiced.
* ``voicing``  — that autocorrelation peak height in [0, 1]; > ~0.45 means voiced.

These are deliberately crude (one 25 ms window, no tracking); they are cues for a fallback
animator, not a pitch tracker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from xactor.engines.timebase import HOP as HOP  # 10 ms row step (re-exported for importers)
from xactor.engines.timebase import SAMPLE_RATE as SAMPLE_RATE

WIN = 400  # 25 ms
N_FFT = 512
N_MELS = 80
FMIN = 0.0
FMAX = 8000.0
LOG_FLOOR = 1e-6
RMS_FLOOR_DB = -100.0
F0_MIN = 80.0
F0_MAX = 400.0
VOICING_THRESHOLD = 0.45
_AC_FFT = 1024  # >= 2 * WIN: linear (not circular) autocorrelation


def _hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz (3 mels / 200 Hz), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3.0
    mel = hz / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_part = min_log_mel + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / logstep
    return np.where(hz >= min_log_hz, log_part, mel)


def _mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3.0
    hz = mel * f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_part = min_log_hz * np.exp(logstep * (mel - min_log_mel))
    return np.where(mel >= min_log_mel, log_part, hz)


def mel_filterbank(
    n_mels: int = N_MELS, n_fft: int = N_FFT, sr: int = SAMPLE_RATE, fmin: float = FMIN, fmax: float = FMAX
) -> np.ndarray:
    """Triangular Slaney-normalised mel filters [n_mels, n_fft // 2 + 1] (librosa's default bank)."""
    fft_hz = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    mel_pts = np.linspace(_hz_to_mel_slaney(np.array(fmin)), _hz_to_mel_slaney(np.array(fmax)), n_mels + 2)
    hz_pts = _mel_to_hz_slaney(mel_pts)  # [n_mels + 2]
    fdiff = np.diff(hz_pts)  # [n_mels + 1]
    ramps = hz_pts[:, None] - fft_hz[None, :]  # [n_mels + 2, n_bins]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))  # [n_mels, n_bins]
    enorm = 2.0 / (hz_pts[2:] - hz_pts[:-2])  # equal-area (Slaney) normalisation
    return weights * enorm[:, None]


_WINDOW = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(WIN) / WIN)).astype(np.float64)  # periodic Hann
_MEL = mel_filterbank()  # [80, 257]
_FREQS = np.linspace(0.0, SAMPLE_RATE / 2.0, N_FFT // 2 + 1)
# Autocorrelation of the window itself, for Boersma's correction r_x(τ) ≈ r_xw(τ) / r_w(τ).
_WIN_AC = np.fft.irfft(np.abs(np.fft.rfft(_WINDOW, _AC_FFT)) ** 2, _AC_FFT)[: WIN // 2 + 1]
_WIN_AC = _WIN_AC / _WIN_AC[0]
_LAG_MIN = int(np.floor(SAMPLE_RATE / F0_MAX))  # 40
_LAG_MAX = int(np.ceil(SAMPLE_RATE / F0_MIN))  # 200


def frame_signal(samples: np.ndarray) -> np.ndarray:
    """Right-aligned windows of a whole signal (zeros before its start): [N // 160, 400] float64."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    n_rows = x.shape[0] // HOP
    padded = np.concatenate([np.zeros(WIN - HOP), x])
    if n_rows == 0:
        return np.zeros((0, WIN))
    idx = np.arange(n_rows)[:, None] * HOP + np.arange(WIN)[None, :]  # [rows, 400]
    return padded[idx]


def _power(frames: np.ndarray) -> np.ndarray:
    """Power spectrum of Hann-windowed frames [n, 400] -> [n, 257]."""
    return np.abs(np.fft.rfft(frames * _WINDOW, N_FFT, axis=-1)) ** 2


def _log_mel_from_power(power: np.ndarray) -> np.ndarray:
    return np.log(power @ _MEL.T + LOG_FLOOR).astype(np.float32)  # [n, 80]


@dataclass(frozen=True)
class Prosody:
    """Per-row prosody cues, each [n] float32 (see module docstring for definitions).

    Grouped by video frame (:class:`xactor.engines.audio.frontend.FrameFeatures`) each field is
    [frames, 4] instead; :meth:`map` reshapes all fields at once.
    """

    rms_db: np.ndarray
    centroid: np.ndarray
    flatness: np.ndarray
    f0: np.ndarray
    voicing: np.ndarray

    @staticmethod
    def concat(parts: list[Prosody]) -> Prosody:
        return Prosody(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in Prosody.__dataclass_fields__)
        )

    def map(self, fn: Callable[[np.ndarray], np.ndarray]) -> Prosody:
        """The same cues with ``fn`` applied to every field (a reshape, a slice)."""
        return Prosody(*(fn(getattr(self, f)) for f in Prosody.__dataclass_fields__))

    def __len__(self) -> int:
        return int(self.rms_db.shape[0])


def _prosody(frames: np.ndarray, power: np.ndarray) -> Prosody:
    """Prosody of frames [n, 400] with their power spectra [n, 257]."""
    rms = np.std(frames, axis=-1)  # AC RMS: mean removed
    rms_db = np.maximum(20.0 * np.log10(rms + 1e-12), RMS_FLOOR_DB)
    total = power.sum(axis=-1)
    safe_total = np.maximum(total, 1e-20)
    centroid = (power @ _FREQS) / safe_total
    p = power[:, 1:] + 1e-12  # drop DC
    flatness = np.exp(np.mean(np.log(p), axis=-1)) / np.mean(p, axis=-1)
    # Autocorrelation of the windowed frame, normalised and window-corrected.
    spec = np.abs(np.fft.rfft(frames * _WINDOW, _AC_FFT, axis=-1)) ** 2
    ac = np.fft.irfft(spec, _AC_FFT, axis=-1)[:, : _LAG_MAX + 1]  # [n, lags]
    r = ac / np.maximum(ac[:, :1], 1e-20) / np.maximum(_WIN_AC[None, : _LAG_MAX + 1], 1e-3)
    band = r[:, _LAG_MIN : _LAG_MAX + 1]
    best = np.argmax(band, axis=-1)
    voicing = np.clip(band[np.arange(band.shape[0]), best], 0.0, 1.0)
    silent = total < 1e-10
    voicing = np.where(silent, 0.0, voicing)
    f0 = np.where(voicing >= VOICING_THRESHOLD, SAMPLE_RATE / (best + _LAG_MIN), 0.0)
    centroid = np.where(silent, 0.0, centroid)
    flatness = np.where(silent, 1.0, flatness)
    return Prosody(
        rms_db=rms_db.astype(np.float32),
        centroid=centroid.astype(np.float32),
        flatness=flatness.astype(np.float32),
        f0=f0.astype(np.float32),
        voicing=voicing.astype(np.float32),
    )


def log_mel(samples: np.ndarray) -> np.ndarray:
    """Offline log-mel of a whole 16 kHz signal [N] -> float32 [N // 160, 80]."""
    return _log_mel_from_power(_power(frame_signal(samples)))


def prosody(samples: np.ndarray) -> Prosody:
    """Offline prosody of a whole 16 kHz signal [N] -> :class:`Prosody` with N // 160 rows."""
    frames = frame_signal(samples)
    return _prosody(frames, _power(frames))


class _Framer:
    """Ring buffer turning pushed samples into the same right-aligned windows as :func:`frame_signal`."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._buf = np.zeros(WIN - HOP, dtype=np.float64)  # the last 240 samples (zeros at start)
        self.rows = 0  # rows emitted so far

    def push(self, samples: np.ndarray) -> np.ndarray:
        """New complete windows [n_new, 400] float64."""
        x = np.concatenate([self._buf, np.asarray(samples, dtype=np.float64).reshape(-1)])
        n_new = (x.shape[0] - (WIN - HOP)) // HOP
        if n_new <= 0:
            self._buf = x
            return np.zeros((0, WIN))
        idx = np.arange(n_new)[:, None] * HOP + np.arange(WIN)[None, :]
        frames = x[idx]
        self._buf = x[n_new * HOP :]  # keeps 240 + (leftover < 160) samples
        self.rows += n_new
        return frames


class _StreamingRows:
    """Shared streaming state: one :class:`_Framer`, reset and a row counter."""

    def __init__(self) -> None:
        self._framer = _Framer()

    def reset(self) -> None:
        self._framer.reset()

    @property
    def rows(self) -> int:
        """Rows emitted since reset; row i ends at sample (i + 1) * 160."""
        return self._framer.rows


class StreamingLogMel(_StreamingRows):
    """Streaming twin of :func:`log_mel`: push any number of samples, get the newly completed rows."""

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Append 16 kHz samples [n]; returns log-mel rows [n_new_hops, 80] float32."""
        return _log_mel_from_power(_power(self._framer.push(samples)))


class StreamingAnalysis(_StreamingRows):
    """Streaming log-mel and prosody from one framing and one FFT per row. ``prosody=False``
    leaves the prosody rows at zero (its pitch and voicing analysis is a third of the features'
    time, and the learned generator reads log-mel only)."""

    def __init__(self, prosody: bool = True) -> None:
        super().__init__()
        self.prosody = prosody

    def push(self, samples: np.ndarray) -> tuple[np.ndarray, Prosody]:
        """Append samples; returns (log-mel [n_new, 80], :class:`Prosody` with n_new rows)."""
        frames = self._framer.push(samples)
        power = _power(frames)
        if not self.prosody:
            rows = len(frames)
            return _log_mel_from_power(power), Prosody(*(np.zeros(rows, np.float32) for _ in fields(Prosody)))
        return _log_mel_from_power(power), _prosody(frames, power)
