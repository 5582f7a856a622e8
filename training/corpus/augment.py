"""Call-quality augmentation: make clean TTS speech sound like a real person on a WebRTC call.

The motion model trains on synthetic speech but hears people through laptop and headset
microphones, in rooms, with noise around them, through the browser's gain control and the Opus
codec of the call (aiortc's libopus decoder on the server, :mod:`xactor.server.live.audio_in`). Every
effect here is one link of that chain, a callable ``(audio [N] float32 16 kHz, rng) -> audio [N]``
that keeps the length, the sample rate and the time alignment (no added delay: filters are
zero-phase, the codec's lookahead is cut off exactly), and returns values in [-1, 1]. Its
``run`` method also returns the parameters it drew, for the corpus manifest.

Order (:func:`augment`), the order sound meets things on its way to the server:

1. ``voice``   — another speaker through the WORLD vocoder: F0 level and range, vocal-tract length,
   breathiness (:mod:`xactor.training.corpus.tts.voice_warp`; about 0.1 CPU s per second, so p = 0.4);
   ``formant`` — vocal-tract warp (a speaker property, so before the room);
   ``speed``    — resampling warp (off by default, see below);
2. ``reverb``   — the room;
3. ``noise``    — acoustic noise in the room (pink, brown, babble, keyboard clicks): it reaches the
   microphone with the speech, so it goes through the microphone's response too;
4. ``eq``       — microphone / headset response and band limits (Bluetooth HFP is 3.4-4 kHz wide);
5. ``line_noise`` — electrical noise that enters after the capsule (mains hum, white self-noise),
   which the microphone's high-pass therefore does not remove;
6. ``gain`` → ``clip`` → ``agc`` — level changes as the talker moves, clipping in the preamp /
   converter, the browser's automatic gain control;
7. ``opus``     — the call: libopus at 12-32 kbit/s with packet loss concealed by libopus' PLC.

(This places the acoustic noise before the microphone EQ and the line noise after it, a
refinement of "room → mic EQ → noise → gain/clipping → codec": noise that is in the room is
filtered like the speech, so a narrowband headset gives narrowband noise.)

Determinism: :func:`augment` derives one independent random stream per stage from the seed
(``numpy.random.SeedSequence(seed).spawn``), and each stage decides whether it runs from its own
stream. The same seed gives the same bytes (same machine and library versions: libopus and FFT
SIMD paths may differ in the last bits between CPUs), and switching one stage off in the config
does not change what the others draw.

Timing. Everything keeps sample-exact alignment except :class:`SpeedWarp`, which changes the
speaking rate by ±3 % (a resampling warp changes pitch and timing together; a pitch-preserving
time stretch would change timing just the same). Motion labels are aligned to the clean audio, so
``speed`` is off by default (``p_speed = 0``); where it is enabled, ``applied["time_scale"]`` says
how to scale label times (``t_out = t_in * time_scale``, the output trimmed or zero-padded to N).
Speaking rate and pitch already vary per corpus voice at synthesis (``Voice.rate``, ``pitch``),
where they are free of artefacts and the labels come out right; the vocal-tract warp keeps pitch
and timing and only moves the formants.

Stored or on the fly — on the fly, in the training data loader (:mod:`xactor.training.corpus.store.loader`
already calls an ``(audio, seed) -> audio`` hook; :func:`loader_augment` makes one). Measured on
the 2-core dev machine (``python -m training.corpus.augment --bench speech.wav``, CPU seconds per
second of audio, 40 s of espeak-ng speech): the default chain costs 0.037 (every stage on: 0.041),
of which the Opus round trip is 0.039 when it runs (libopus encoding at 48 kHz; 0.030 at
complexity 5) and everything else together 0.016 when all of it runs (formant warp 0.007, pink / brown /
hum noise 0.002-0.003, reverb 0.002, EQ, gain, AGC, clicks, babble about 0.001 each); the log-mel
of the result adds 0.002 (the whole front end with VAD would be 0.022). So one core makes about
25 s of augmented audio a second, two cores 50 s: a 50 h corpus takes about an hour an epoch on
the two dev cores, about 7 minutes on the 16 cores of the GPU host. For that, every epoch hears a
fresh draw of rooms, noise, levels and losses, and the disk holds the corpus once. Storing K
augmented copies instead would multiply its size by K (the log-mel alone is 16 kB per second of
audio in float16: 50 h × 8 copies ≈ 23 GB, against 5.8 GB for the clean int16 audio) and freeze
the variety at K. When a training step eats audio faster than the loader's cores make it (more
than ~25 s of audio a second per core), precompute instead: augmentation is deterministic, so
copy ``k`` of a clip is ``augment(audio, (clip_seed, k))``, the same bytes as on the fly, and its
manifest entry is the ``applied`` dict. Evaluation sets need no storage either: seed their clips by
clip id, not by epoch, and the same bytes come back every time.

Packet loss: FFmpeg's libopus wrapper (what PyAV and aiortc decode with) always calls
``opus_decode`` with ``decode_fec = 0``, and an empty packet drains the decoder and ends the
stream (PyAV raises EOFError on the next packet), so neither FEC recovery nor a NULL packet
reaches libopus through it. A lost packet is replaced by a packet of
one byte, the TOC byte of the last received packet: libopus reads a zero-length frame as "lost"
(the path DTX uses) and runs its own packet loss concealment for exactly one 20 ms frame. FEC,
when drawn, is still switched on in the encoder (with the drawn loss rate as its expected loss), so
the bit budget it costs is in the signal, as it is on a WebRTC call.

Delay: the 16 ↔ 48 kHz conversions are whole-signal soxr calls, which have no delay; the encoder
reports its lookahead (the OpusHead pre-skip, 312 samples at 48 kHz in VOIP mode, 6.5 ms) and
the decoded stream is cut by exactly that; since every packet (received or concealed) decodes to
exactly one frame (checked), the output stays on the input's sample grid. What remains is the
codec's own phase response: on speech at 12-32 kbit/s (SILK) the cross-correlation peak is at -1
sample at 16 kHz (62 µs early; -1.5 below 1 kHz, -0.7 above 3 kHz), at 64 kbit/s (CELT) at 0 —
not a delay to cut, and far below the 10 ms feature hop.
"""

from __future__ import annotations

import argparse
import fractions
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import av
import numpy as np
import soxr
from scipy import signal

from xactor.engines.timebase import SAMPLE_RATE
from xactor.training.corpus.tts.voice_warp import world_warp

Params = dict[str, Any]
Seed = int | Sequence[int]
LoaderAugment = Callable[[np.ndarray, int], np.ndarray]

PEAK = 0.999  # where an effect scales its output down to instead of clipping by accident
_EPS = 1e-12


# --------------------------------------------------------------------------------------------
# helpers


def _as_audio(audio: np.ndarray) -> np.ndarray:
    """Any input as a float64 working copy [N] (effects compute in float64, return float32)."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)


def _finish(y: np.ndarray) -> np.ndarray:
    """float32 [N], finite, in [-1, 1] (the contract every effect keeps)."""
    y = np.nan_to_num(np.asarray(y, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def _fit_peak(y: np.ndarray) -> tuple[np.ndarray, float]:
    """Scale ``y`` down to peak :data:`PEAK` if it is louder (a recording level set to avoid
    clipping: clipping is the business of :class:`Clipping`). Returns (y, gain in dB applied)."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak <= PEAK:
        return y, 0.0
    g = PEAK / peak
    return y * g, 20.0 * math.log10(g)


def _uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    return float(lo if hi <= lo else rng.uniform(lo, hi))


def _log_uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    return float(lo if hi <= lo else math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _r(v: float, nd: int = 4) -> float:
    """A float rounded for the manifest (JSON stays small and readable)."""
    return round(float(v), nd)


def frame_powers(x: np.ndarray, frame: int = 320) -> np.ndarray:
    """Mean power of consecutive ``frame``-sample frames (20 ms by default; the tail is dropped
    unless the signal is shorter than one frame)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    n = x.size // frame
    if n == 0:
        return np.array([float(np.mean(x**2))]) if x.size else np.zeros(1)
    return np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)


def active_power(x: np.ndarray, floor_db: float = 40.0) -> float:
    """Power of the active part of a signal: mean power of the 20 ms frames within ``floor_db``
    of the loud frames (95th percentile). A simple stand-in for ITU-T P.56 active speech level: the
    SNR of speech with pauses should not depend on how long the pauses are. 0 for digital silence."""
    p = frame_powers(x)
    top = float(np.percentile(p, 95))
    if top <= 1e-12:
        return 0.0
    return float(np.mean(p[p >= top * 10.0 ** (-floor_db / 10.0)]))


def snr_db(clean: np.ndarray, noise: np.ndarray) -> float:
    """SNR as the noise effects define it: active power of ``clean`` over mean power of ``noise``."""
    pn = float(np.mean(np.asarray(noise, dtype=np.float64) ** 2))
    return 10.0 * math.log10(max(active_power(clean), _EPS) / max(pn, _EPS))


class Effect:
    """Base of every effect: ``effect(audio, rng) -> audio``; ``effect.run`` also returns the
    parameters it drew. Subclasses are frozen dataclasses holding the ranges they draw from."""

    name: ClassVar[str] = "effect"

    def run(self, audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
        raise NotImplementedError

    def __call__(self, audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.run(audio, rng)[0]


# --------------------------------------------------------------------------------------------
# noise


def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise (microphone / preamp self-noise)."""
    return rng.standard_normal(n)


def colored_noise(n: int, rng: np.random.Generator, exponent: float, f_low: float = 20.0) -> np.ndarray:
    """Noise with power ∝ 1/f^exponent (1: pink, like fans and air conditioning; 2: brown, like
    traffic and wind rumble), shaped in the frequency domain. Nothing below ``f_low``: sub-audio
    rumble would carry most of brown noise's power while nobody hears it."""
    if n == 0:
        return np.zeros(0)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    shape = np.zeros_like(f)
    keep = f >= f_low
    shape[keep] = f[keep] ** (-exponent / 2.0)
    return np.fft.irfft(spec * shape, n)


def hum_noise(n: int, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
    """Mains hum: 50 or 60 Hz (±0.2 %) with random harmonics up to 2 kHz, amplitudes falling as
    1/k^a, odd harmonics sometimes favoured (a rectifier's buzz). One period is built as a
    wavetable and read at the hum's phase (40 sines per sample would cost ten times more)."""
    f0 = float(rng.choice([50.0, 60.0])) * (1.0 + rng.uniform(-0.002, 0.002))
    slope = float(rng.uniform(0.5, 2.0))
    odd_boost = float(rng.uniform(0.0, 1.0))
    n_harm = int(2000 // f0)
    k = np.arange(1, n_harm + 1)
    amps = k**-slope * (1.0 + odd_boost * (k % 2))
    phases = rng.uniform(0.0, 2.0 * np.pi, n_harm)
    size = 4096
    theta = 2.0 * np.pi * np.arange(size + 1) / size
    table = np.sin(np.outer(theta, k) + phases) @ amps  # one period, last point = first
    pos = (np.arange(n) * (f0 / SAMPLE_RATE) + float(rng.random())) % 1.0 * size
    i = pos.astype(np.int64)
    frac = pos - i
    y = table[i] * (1.0 - frac) + table[i + 1] * frac
    return y, {"f0": _r(f0, 3), "slope": _r(slope, 2), "odd_boost": _r(odd_boost, 2)}


def click_noise(n: int, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
    """Keyboard-like clicks: a Poisson stream (1-8 keys a second) of short decaying resonant
    bursts, each key a press and, most of the time, a softer release 50-150 ms later."""
    rate = float(rng.uniform(1.0, 8.0))
    n_keys = max(int(rng.poisson(rate * n / SAMPLE_RATE)), 1)
    # A few click sounds (keys differ), each a noise burst through a random resonance.
    templates = []
    for _ in range(4):
        length = int(SAMPLE_RATE * rng.uniform(0.004, 0.015))
        tau = rng.uniform(0.0008, 0.004) * SAMPLE_RATE
        burst = rng.standard_normal(length) * np.exp(-np.arange(length) / tau)
        f_c = rng.uniform(1500.0, 6000.0)
        sos = signal.butter(2, [f_c / 1.5, min(f_c * 1.5, 7800.0)], "bandpass", fs=SAMPLE_RATE, output="sos")
        click = signal.sosfilt(sos, burst)
        templates.append(click / (np.max(np.abs(click)) + _EPS))
    y = np.zeros(n)
    starts = rng.integers(0, max(n, 1), n_keys)
    for s in starts:
        events = [(int(s), 1.0)]
        if rng.random() < 0.8:
            events.append((int(s + rng.uniform(0.05, 0.15) * SAMPLE_RATE), rng.uniform(0.2, 0.6)))
        for start, rel in events:
            tpl = templates[int(rng.integers(len(templates)))]
            amp = rel * rng.uniform(0.3, 1.0) * rng.choice([-1.0, 1.0])
            end = min(start + tpl.size, n)
            if start < end:
                y[start:end] += amp * tpl[: end - start]
    return y, {"keys_per_s": _r(rate, 2), "keys": n_keys}


def babble_noise(
    n: int, rng: np.random.Generator, sources: Sequence[np.ndarray], talkers: tuple[int, int] = (3, 6)
) -> tuple[np.ndarray, Params]:
    """Babble: 3-6 other talkers from ``sources`` (16 kHz clips, reused if there are fewer), each
    at its own level (±3 dB around equal active level), starting at a random offset and looped."""
    k = int(rng.integers(talkers[0], talkers[1] + 1))
    y = np.zeros(n)
    picks: list[int] = []
    for _ in range(k):
        i = int(rng.integers(len(sources)))
        src = np.asarray(sources[i], dtype=np.float64).reshape(-1)
        p = active_power(src)
        if src.size == 0 or p <= 0.0:
            continue
        src = src / math.sqrt(p)
        offset = int(rng.integers(src.size))
        reps = -(-(n + offset) // src.size)
        y += 10.0 ** (rng.uniform(-3.0, 3.0) / 20.0) * np.tile(src, reps)[offset : offset + n]
        picks.append(i)
    return y, {"talkers": len(picks), "sources": picks}


NoiseKind = Literal["white", "pink", "brown", "babble", "hum", "clicks"]


@dataclass(frozen=True)
class AdditiveNoise(Effect):
    """Add one kind of noise (drawn with ``kinds`` weights) at an SNR drawn from ``snr_db``.

    SNR = active power of the input (:func:`active_power`, pauses do not count) over the mean
    power of the noise. When the sum would exceed full scale, both are scaled down together
    (``scale_db``), which keeps the SNR. Babble needs ``babble_sources``; without them its weight
    is 0. A silent input gets the noise at -25 dBFS minus the SNR (as if speech were there)."""

    name: ClassVar[str] = "noise"
    snr_db: tuple[float, float] = (0.0, 30.0)
    kinds: tuple[tuple[NoiseKind, float], ...] = (
        ("pink", 2.0),
        ("brown", 1.0),
        ("babble", 2.0),
        ("clicks", 1.0),
    )
    babble_sources: tuple[np.ndarray, ...] = field(default=(), compare=False, repr=False)

    def run(self, audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
        x = _as_audio(audio)
        n = x.size
        kinds = [(k, w) for k, w in self.kinds if w > 0 and (k != "babble" or self.babble_sources)]
        if n == 0 or not kinds:
            return _finish(x), {"skipped": "no samples" if n == 0 else "no noise kind available"}
        weights = np.array([w for _, w in kinds], dtype=np.float64)
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))][0]
        snr = _uniform(rng, self.snr_db)
        extra: Params = {}
        if kind == "white":
            noise = white_noise(n, rng)
        elif kind == "pink":
            noise = colored_noise(n, rng, 1.0)
        elif kind == "brown":
            noise = colored_noise(n, rng, 2.0)
        elif kind == "hum":
            noise, extra = hum_noise(n, rng)
        elif kind == "clicks":
            noise, extra = click_noise(n, rng)
        else:
            noise, extra = babble_noise(n, rng, self.babble_sources)
        pn = float(np.mean(noise**2))
        if pn <= 0.0:
            return _finish(x), {"kind": kind, "skipped": "noise has no power", **extra}
        ps = active_power(x)
        ref = ps if ps > 0.0 else 10.0 ** (-25.0 / 10.0)
        noise = noise * math.sqrt(ref / pn * 10.0 ** (-snr / 10.0))
        y, scale_db = _fit_peak(x + noise)
        return _finish(y), {"kind": kind, "snr_db": _r(snr, 3), "scale_db": _r(scale_db, 3), **extra}


# --------------------------------------------------------------------------------------------
# room


@dataclass(frozen=True)
class RoomReverb(Effect):
    """Synthetic room: direct path (1 at lag 0) + a few early reflections + an exponentially
    decaying noise tail with the drawn RT60, scaled to the drawn direct-to-reverberant ratio.

    The direct path stays at lag 0 and is the largest tap (reflections travel further, so they
    are weaker), so the speech keeps its timing; the output is the first N samples of the full
    convolution (FFT). The tail is gently low-passed (walls and air absorb highs first)."""

    name: ClassVar[str] = "reverb"
    rt60_s: tuple[float, float] = (0.1, 0.8)
    drr_db: tuple[float, float] = (0.0, 20.0)
    early: tuple[int, int] = (2, 8)  # number of early reflections
    early_ms: tuple[float, float] = (1.0, 30.0)  # their delays after the direct path

    def impulse_response(self, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
        """The IR and its parameters (``h[0] = 1`` is the direct path)."""
        rt60 = _uniform(rng, self.rt60_s)
        drr = _uniform(rng, self.drr_db)
        n_ir = max(int(rt60 * 1.1 * SAMPLE_RATE), 2)
        t = np.arange(n_ir) / SAMPLE_RATE
        decay = np.exp(-6.9078 * t / rt60)  # -60 dB of amplitude at t = rt60
        n_early = int(rng.integers(self.early[0], self.early[1] + 1))
        delays = np.sort(rng.uniform(self.early_ms[0], self.early_ms[1], n_early) / 1000.0)
        onset = float(delays[0]) if n_early else self.early_ms[0] / 1000.0
        damping = float(rng.uniform(0.0, 0.6))
        tail = signal.lfilter([1.0 - damping], [1.0, -damping], rng.standard_normal(n_ir))
        tail *= decay * np.clip((t - onset) / 0.005, 0.0, 1.0)  # builds up over 5 ms after the first echo
        early = np.zeros(n_ir)
        for d in delays:
            i = min(round(d * SAMPLE_RATE), n_ir - 1)
            early[i] += rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.7) * math.exp(-6.9078 * d / rt60)
        # The tail carries 1-4x the early reflections' energy (more in livelier rooms), then the
        # whole reverberant part is scaled to the drawn DRR against the direct path's energy of 1.
        e_early = float(np.sum(early**2))
        e_tail = max(e_early, 0.05) * float(rng.uniform(1.0, 4.0)) * (0.5 + rt60 / 0.4)
        rev = early + tail * math.sqrt(e_tail / (float(np.sum(tail**2)) + _EPS))
        rev[0] = 0.0
        rev *= math.sqrt(10.0 ** (-drr / 10.0) / (float(np.sum(rev**2)) + _EPS))
        biggest = float(np.max(np.abs(rev)))
        if biggest > 0.8:  # keep the direct path the largest tap (it travels the shortest way)
            rev *= 0.8 / biggest
            drr = -10.0 * math.log10(float(np.sum(rev**2)) + _EPS)
        h = rev
        h[0] = 1.0
        return h, {
            "rt60_s": _r(rt60, 3),
            "drr_db": _r(drr, 2),
            "early": n_early,
            "first_echo_ms": _r(onset * 1000.0, 2),
            "damping": _r(damping, 3),
        }

    def run(self, audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
        x = _as_audio(audio)
        h, params = self.impulse_response(rng)
        if x.size == 0:
            return _finish(x), params
        y = signal.fftconvolve(x, h)[: x.size]
        y, fit = _fit_peak(y)
        return _finish(y), {**params, "fit_db": _r(fit, 3)}


# --------------------------------------------------------------------------------------------
# microphone


def _rbj_biquad(kind: str, f0: float, gain_db: float, q: float) -> np.ndarray:
    """One RBJ-cookbook biquad as an sos row: ``peak`` (presence) or ``highshelf`` (tilt)."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * f0 / SAMPLE_RATE
    cw, sw = math.cos(w0), math.sin(w0)
    alpha = sw / (2.0 * q)
    if kind == "peak":
        b = [1.0 + alpha * a, -2.0 * cw, 1.0 - alpha * a]
        den = [1.0 + alpha / a, -2.0 * cw, 1.0 - alpha / a]
    else:  # high shelf
        sa = 2.0 * math.sqrt(a) * alpha
        b = [
            a * ((a + 1) + (a - 1) * cw + sa),
            -2 * a * ((a - 1) + (a + 1) * cw),
            a * ((a + 1) + (a - 1) * cw - sa),
        ]
        den = [(a + 1) - (a - 1) * cw + sa, 2 * ((a - 1) - (a + 1) * cw), (a + 1) - (a - 1) * cw - sa]
    return np.array([*b, *den]) / den[0]


@dataclass(frozen=True)
class MicEQ(Effect):
    """Microphone / headset response: high-pass, low-pass band limit, an optional presence peak
    and a small spectral tilt, all applied zero-phase (forward-backward, ``sosfiltfilt``) so no
    frequency is delayed. Forward-backward squares the magnitude, so the peak and shelf are
    designed with half their dB gain, and the cut-offs are the -6 dB points of the applied
    response (Butterworth order 2 high-pass → 24 dB/oct, order 4 low-pass → 48 dB/oct)."""

    name: ClassVar[str] = "eq"
    highpass_hz: tuple[float, float] = (80.0, 300.0)
    lowpass_hz: tuple[float, float] = (3400.0, 7500.0)
    p_presence: float = 0.6
    presence_hz: tuple[float, float] = (2000.0, 6000.0)
    presence_db: tuple[float, float] = (0.0, 8.0)
    presence_q: tuple[float, float] = (0.7, 2.0)
    tilt_db: tuple[float, float] = (-4.0, 4.0)  # high shelf at 1.5 kHz

    def run(self, audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
        x = _as_audio(audio)
        hp = _log_uniform(rng, self.highpass_hz)
        lp = _log_uniform(rng, self.lowpass_hz)
        sos = [
            signal.butter(2, hp, "highpass", fs=SAMPLE_RATE, output="sos"),
            signal.butter(4, lp, "lowpass", fs=SAMPLE_RATE, output="sos"),
        ]
        params: Params = {"highpass_hz": _r(hp, 1), "lowpass_hz": _r(lp, 1)}
        if rng.random() < self.p_presence:
            f0 = _log_uniform(rng, self.presence_hz)
            g = _uniform(rng, self.presence_db)
            q = _uniform(rng, self.presence_q)
            sos.append(_rbj_biquad("peak", min(f0, 0.9 * lp), g / 2.0, q)[None, :])
            params["presence"] = {"hz": _r(f0, 1), "db": _r(g, 2), "q": _r(q, 2)}
        tilt = _uniform(rng, self.tilt_db)
        sos.append(_rbj_biquad("highshelf", 1500.0, tilt / 2.0, 0.5)[None, :])
        params["tilt_db"] = _r(tilt, 2)
        if x.size == 0:
            return _finish(x), params
        all_sos = np.concatenate(sos, axis=0)
        padlen = min(x.size - 1, 3 * (2 * len(all_sos) + 1))
        y = signal.sosfiltfilt(all_sos, x, padlen=max(padlen, 0))
        y, fit = _fit_peak(y)
        return _finish(y), {**params, "fit_db": _r(fit, 3)}


# --------------------------------------------------------------------------------------------
# level


@dataclass(frozen=True)
class GainEnvelope(Effect):
    """Slow level changes (the talker moves, turns, leans in): a smooth random envelope in dB,
    control points every 0.5-3 s, cosine-interpolated, within ±``max_db``. If the result would
    exceed full scale the whole envelope is lowered (``fit_db``): clipping is drawn separately."""

    name: ClassVar[str] = "gain"
    max_db: float = 10.0
    step_s: tuple[float, float] = (0.5, 3.0)

    def run(self, audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
        x = _as_audio(audio)
        step = _uniform(rng, self.step_s)
        n_pts = int(x.size / SAMPLE_RATE / step) + 2
        pts = rng.uniform(-self.max_db, self.max_db, n_pts)
        pos = np.arange(x.size) / SAMPLE_RATE / step
        i = np.minimum(pos.astype(np.int64), n_pts - 2)
        w = 0.5 - 0.5 * np.cos(np.pi * (pos - i))
        env_db = pts[i] * (1.0 - w) + pts[i + 1] * w
        y, fit = _fit_peak(x * 10.0 ** (env_db / 20.0))
        params = {
            "step_s": _r(step, 3),
            "min_db": _r(float(env_db.min()) if x.size else 0.0, 2),
            "max_db": _r(float(env_db.max()) if x.size else 0.0, 2),
            "fit_db": _r(fit, 3),
        }
        return _finish(y), params


@dataclass(frozen=True)
class Clipping(Effect):
    """Overdriven preamp or converter: the signal's peak driven ``overdrive_db`` past full scale,
    then hard-clipped (converter) or soft-clipped with tanh (analog stage), then the level set
    ``ceiling_db`` below full scale (a later digital gain)."""

    name: ClassVar[str] = "clip"
    p_hard: float = 0.6
    overdrive_db: tuple[float, float] = (1.0, 12.0)
    ceiling_db: tuple[float, float] = (-6.0, 0.0)

    def run(self, audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
        x = _as_audio(audio)
        hard = bool(rng.random() < self.p_hard)
        od = _uniform(rng, self.overdrive_db)
        ceiling = _uniform(rng, self.ceiling_db)
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        params: Params = {
            "mode": "hard" if hard else "soft",
            "overdrive_db": _r(od, 2),
            "ceiling_db": _r(ceiling, 2),
        }
        if peak < 1e-6:
            return _finish(x), {**params, "skipped": "silent"}
        driven = x * (10.0 ** (od / 20.0) / peak)
        y = np.clip(driven, -1.0, 1.0) if hard else np.tanh(driven)
        params["clipped_fraction"] = _r(float(np.mean(np.abs(driven) > 1.0)), 5)
        return _finish(y * 10.0 ** (ceiling / 20.0)), params


@dataclass(frozen=True)
class AutoGain(Effect):
    """Browser-style automatic gain control (getUserMedia's ``autoGainControl`` is on by default):
    per 10 ms block, a gain that steers the smoothed level toward ``target_db`` (slowly up,
    quickly down, held in pauses below the gate, at most ``max_gain_db``), then a fast compressor
    above ``threshold_db`` and a peak limiter. Causal, like the real thing: it pumps."""

    name: ClassVar[str] = "agc"
    target_db: tuple[float, float] = (-26.0, -16.0)  # RMS dBFS
    max_gain_db: tuple[float, float] = (6.0, 24.0)
    attack_s: tuple[float, float] = (0.02, 0.2)  # gain going down
    release_s: tuple[float, float] = (0.5, 3.0)  # gain going up
    gate_db: float = -55.0
    threshold_db: tuple[float, float] = (-20.0, -8.0)
    ratio: tuple[float, float] = (2.0, 6.0)

    def run(self, audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
        x = _as_audio(audio)
        target = _uniform(rng, self.target_db)
        max_gain = _uniform(rng, self.max_gain_db)
        attack = _log_uniform(rng, self.attack_s)
        release = _log_uniform(rng, self.release_s)
        thr = _uniform(rng, self.threshold_db)
        ratio = _uniform(rng, self.ratio)
        params: Params = {
            "target_db": _r(target, 2),
            "max_gain_db": _r(max_gain, 2),
            "attack_s": _r(attack, 3),
            "release_s": _r(release, 3),
            "threshold_db": _r(thr, 2),
            "ratio": _r(ratio, 2),
        }
        block = 160
        n_blocks = -(-x.size // block)
        if n_blocks == 0:
            return _finish(x), params
        padded = np.zeros(n_blocks * block)
        padded[: x.size] = x
        level = 10.0 * np.log10(np.mean(padded.reshape(n_blocks, block) ** 2, axis=1) + 1e-12)
        dt = block / SAMPLE_RATE
        k_att, k_rel = 1.0 - math.exp(-dt / attack), 1.0 - math.exp(-dt / release)
        k_level = 1.0 - math.exp(-dt / 0.1)  # the level the AGC steers by: 100 ms average
        gain = np.zeros(n_blocks)
        g, smooth = 0.0, float(level[0])
        for b in range(n_blocks):
            if level[b] > self.gate_db:  # speech (or loud noise): adapt; in pauses: hold
                smooth += k_level * (float(level[b]) - smooth)
                want = min(target - smooth, max_gain)
                g += (k_att if want < g else k_rel) * (want - g)
            # fast compressor on the gained block level (instant attack, 50 ms release)
            gained = float(level[b]) + g
            reduction = (gained - thr) * (1.0 - 1.0 / ratio) if gained > thr else 0.0
            gain[b] = g - reduction
        centres = (np.arange(n_blocks) + 0.5) * block
        gain_db = np.interp(np.arange(x.size), centres, gain)
        y = x * 10.0 ** (gain_db / 20.0)
        params["gain_db_mean"] = _r(float(np.mean(gain)), 2)
        params["limited_fraction"] = _r(float(np.mean(np.abs(y) > 1.0)), 5)
        return _finish(np.tanh(y) if np.any(np.abs(y) > 1.0) else y), params


# --------------------------------------------------------------------------------------------
# speaker warps


@dataclass(frozen=True)
class VoiceWarp(Effect):
    """The augmentation stage (``voice`` in :mod:`xactor.training.corpus.augment`): a random speaker move.

    Ranges: F0 ×0.7–1.6 (log-uniform), F0 range ×0.6–1.6, tract ×0.88–1.15 drawn to go with the
    F0 move (a higher voice mostly a shorter tract) plus its own jitter, breath 0–0.8."""

    name: ClassVar[str] = "voice"
    f0_ratio: tuple[float, float] = (0.7, 1.6)
    f0_range: tuple[float, float] = (0.6, 1.6)
    alpha_jitter: float = 0.04
    breath: tuple[float, float] = (0.0, 0.8)

    def run(self, audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
        lo, hi = np.log(self.f0_ratio[0]), np.log(self.f0_ratio[1])
        ratio = float(np.exp(rng.uniform(lo, hi)))
        spread = float(rng.uniform(*self.f0_range))
        alpha = float(np.clip(ratio**0.25 * (1.0 + rng.uniform(-1, 1) * self.alpha_jitter), 0.88, 1.15))
        breath = float(rng.uniform(*self.breath))
        y = world_warp(audio, SAMPLE_RATE, ratio, spread, alpha, breath)
        params: Params = {"f0_ratio": round(ratio, 4), "f0_range": round(spread, 4), "alpha": round(alpha, 4),
                  "breath": round(breath, 3)}  # fmt: skip
        return y, params


@dataclass(frozen=True)
class VocalTractWarp(Effect):
    """Formant shift by ``alpha`` (±10 %: shorter or longer vocal tract) that keeps pitch and timing.

    Per 32 ms STFT frame (hop 8 ms, sqrt-Hann analysis and synthesis, overlap-add: identity at
    ``alpha = 1``), the spectral envelope (cepstrum liftered to 1.9 ms, below any pitch period up
    to 500 Hz) is warped along frequency, ``env'(f) = env(f / alpha)``, and the frame multiplied by
    ``env' / env`` (limited to ±15 dB). A real, positive gain per bin moves the formants without
    touching the harmonics (pitch) or the phases (timing)."""

    name: ClassVar[str] = "formant"
    alpha: tuple[float, float] = (0.9, 1.1)
    n_fft: int = 512
    hop: int = 128
    lifter: int = 30

    def run(self, audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
        x = _as_audio(audio)
        alpha = _uniform(rng, self.alpha)
        params: Params = {"alpha": _r(alpha, 4)}
        if x.size == 0:
            return _finish(x), params
        w, hop = self.n_fft, self.hop
        win = np.sqrt(0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(w) / w))
        n_frames = -(-(x.size + w) // hop) + 1
        xp = np.zeros((n_frames - 1) * hop + w)
        xp[w : w + x.size] = x
        frames = np.lib.stride_tricks.sliding_window_view(xp, w)[::hop][:n_frames] * win
        spec = np.fft.rfft(frames, axis=1)
        log_mag = np.log(np.abs(spec) + 1e-9)
        cep = np.fft.irfft(log_mag, w, axis=1)
        cep[:, self.lifter + 1 : w - self.lifter] = 0.0
        env = np.fft.rfft(cep, axis=1).real  # smooth log envelope [frames, bins]
        bins = np.arange(w // 2 + 1, dtype=np.float64)
        src = np.clip(bins / alpha, 0.0, w // 2)
        lo = np.minimum(src.astype(np.int64), w // 2 - 1)
        frac = src - lo
        warped = env[:, lo] * (1.0 - frac) + env[:, lo + 1] * frac
        gain = np.exp(np.clip(warped - env, -15.0 / 8.686, 15.0 / 8.686))
        out = np.fft.irfft(spec * gain, w, axis=1) * win
        y = np.zeros_like(xp)
        norm = np.zeros_like(xp)
        for j in range(w // hop):  # overlap-add, one hop-wide column at a time
            seg = out[:, j * hop : (j + 1) * hop].reshape(-1)
            y[j * hop : j * hop + seg.size] += seg
            wseg = np.tile(win[j * hop : (j + 1) * hop] ** 2, n_frames)
            norm[j * hop : j * hop + wseg.size] += wseg
        y = y[w : w + x.size] / np.maximum(norm[w : w + x.size], 1e-6)
        y, fit = _fit_peak(y)
        return _finish(y), {**params, "fit_db": _r(fit, 3)}


@dataclass(frozen=True)
class SpeedWarp(Effect):
    """Speed change by ``factor`` (±3 %) with soxr: faster speech, higher pitch, then trimmed or
    zero-padded back to N samples. CHANGES TIMING: an event at input time ``t`` moves to
    ``t * time_scale`` (``time_scale = 1 / factor``), reported so that labels can be rescaled.
    Off in the default chain (the loader keeps the clean labels)."""

    name: ClassVar[str] = "speed"
    factor: tuple[float, float] = (0.97, 1.03)

    def run(self, audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
        x = _as_audio(audio)
        factor = _uniform(rng, self.factor)
        params: Params = {"factor": _r(factor, 5), "time_scale": 1.0 / factor}
        if x.size == 0:
            return _finish(x), params
        y = soxr.resample(x, SAMPLE_RATE * factor, SAMPLE_RATE, quality="HQ")
        out = np.zeros(x.size)
        out[: min(y.size, x.size)] = y[: x.size]
        y, fit = _fit_peak(out)
        return _finish(y), {**params, "fit_db": _r(fit, 3)}


# --------------------------------------------------------------------------------------------
# codec

OPUS_RATE = 48000
OPUS_FRAME = 960  # 20 ms at 48 kHz, WebRTC's packet time


def loss_pattern(n: int, rng: np.random.Generator, rate: float, burst: float) -> np.ndarray:
    """Which of ``n`` packets are lost (bool [n]); the first always arrives (the call is set up).

    ``burst <= 1``: independent losses at ``rate``. Otherwise a Gilbert model: a lossy state
    left with probability ``1 / burst`` (mean burst length ``burst`` packets), entered so that
    the long-run loss rate is ``rate``."""
    lost = np.zeros(n, dtype=bool)
    if n <= 1 or rate <= 0.0:
        return lost
    u = rng.random(n)
    if burst <= 1.0:
        lost = u < rate
    else:
        p_exit = 1.0 / burst
        p_enter = min(rate * p_exit / max(1.0 - rate, 1e-9), 1.0)
        bad = False
        for i in range(n):
            bad = u[i] >= p_exit if bad else u[i] < p_enter
            lost[i] = bad
    lost[0] = False
    return lost


def _frame_to_mono(frame: av.AudioFrame) -> np.ndarray:
    data = np.asarray(frame.to_ndarray())
    channels = len(frame.layout.channels)
    data = data.reshape(channels, -1) if frame.format.is_planar else data.reshape(-1, channels).T
    if data.dtype.kind == "i":
        data = data.astype(np.float64) / 32768.0
    return data.astype(np.float64).mean(axis=0)


def opus_pre_skip(extradata: bytes | None) -> int:
    """The encoder's lookahead in 48 kHz samples: the pre-skip of its OpusHead (RFC 7845 §5.1)."""
    if not extradata or len(extradata) < 12 or not extradata.startswith(b"OpusHead"):
        raise RuntimeError("libopus encoder gave no OpusHead; cannot know its delay")
    return int.from_bytes(extradata[10:12], "little")


def opus_round_trip(
    audio: np.ndarray,
    bitrate: int,
    lost: Callable[[int], np.ndarray] | None = None,
    fec: bool = False,
    expected_loss_pct: int = 0,
    concealment: Literal["plc", "zeros"] = "plc",
    complexity: int = 9,
) -> tuple[np.ndarray, Params]:
    """16 kHz audio [N] → soxr 48 kHz → libopus (VOIP, 20 ms, ``bitrate``) → packets, some lost →
    libopus decoder (as aiortc builds it) → soxr 16 kHz → [N], aligned with the input.

    ``lost(n_packets) -> bool [n_packets]`` picks the lost packets. A lost packet is concealed by
    libopus' PLC (``"plc"``: a TOC-only packet, see the module docstring), or replaced by 20 ms of
    digital silence (``"zeros"``: what a receiver without concealment that keeps time would give;
    for comparison). The encoder's lookahead (OpusHead pre-skip) is cut from the decoded stream."""
    x = _as_audio(audio)
    n = x.size
    if n == 0:
        return _finish(x), {"packets": 0, "lost": 0}
    x48 = soxr.resample(x, SAMPLE_RATE, OPUS_RATE, quality="HQ").astype(np.float32)
    n48 = x48.size  # exactly 3 N

    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate = OPUS_RATE
    enc.layout = "mono"
    enc.format = "flt"
    enc.bit_rate = int(bitrate)
    enc.time_base = fractions.Fraction(1, OPUS_RATE)
    enc.options = {
        "application": "voip",
        "frame_duration": "20",
        "vbr": "on",
        "fec": "1" if fec else "0",
        "packet_loss": str(int(expected_loss_pct)),
        "compression_level": str(int(complexity)),
    }
    enc.open()
    pre_skip = opus_pre_skip(bytes(enc.extradata or b""))
    # Enough frames to cover the input plus the lookahead, zero-padded: every frame full.
    n_frames = -(-(n48 + pre_skip) // OPUS_FRAME)
    padded = np.zeros(n_frames * OPUS_FRAME, dtype=np.float32)
    padded[:n48] = x48
    packets: list[bytes] = []
    for i in range(n_frames):
        frame = av.AudioFrame.from_ndarray(
            padded[None, i * OPUS_FRAME : (i + 1) * OPUS_FRAME], format="flt", layout="mono"
        )
        frame.sample_rate = OPUS_RATE
        frame.pts = i * OPUS_FRAME
        packets.extend(bytes(p) for p in enc.encode(frame))
    packets.extend(bytes(p) for p in enc.encode(None))
    packets = packets[:n_frames]  # the encoder may emit one more for the lookahead we padded for

    drop = lost(len(packets)) if lost is not None else np.zeros(len(packets), dtype=bool)
    # The decoder as aiortc (codecs/opus.py) creates it: libopus, 48 kHz, s16 stereo.
    dec = av.CodecContext.create("libopus", "r")
    dec.sample_rate = OPUS_RATE
    dec.layout = "stereo"
    dec.format = "s16"
    chunks: list[np.ndarray] = []
    last_toc = packets[0][0] & 0xFC  # code 0: one frame
    for pkt, is_lost in zip(packets, drop, strict=True):
        if is_lost and concealment == "zeros":
            chunks.append(np.zeros(OPUS_FRAME))
            continue
        data = bytes([last_toc]) if is_lost else pkt
        if not is_lost:
            last_toc = pkt[0] & 0xFC
        got = [_frame_to_mono(f) for f in dec.decode(av.Packet(data))]
        out = np.concatenate(got) if got else np.zeros(0)
        if out.size != OPUS_FRAME:  # would shift everything after it: never seen, but checked
            raise RuntimeError(f"libopus decoded {out.size} samples for a 20 ms packet")
        chunks.append(out)
    y48 = np.concatenate(chunks)[pre_skip : pre_skip + n48]
    y = soxr.resample(y48, OPUS_RATE, SAMPLE_RATE, quality="HQ")[:n]
    if y.size < n:
        y = np.concatenate([y, np.zeros(n - y.size)])
    params: Params = {
        "packets": len(packets),
        "lost": int(np.sum(drop)),
        "bytes": int(sum(len(p) for p in packets)),
        "pre_skip_48k": pre_skip,
    }
    return _finish(y), params


@dataclass(frozen=True)
class OpusCodec(Effect):
    """The WebRTC call: Opus VOIP at a bitrate drawn from ``bitrate`` (log-uniform), in-band FEC
    with probability ``p_fec``, packet loss with probability ``p_loss`` at a rate from
    ``loss_rate``, bursty (Gilbert, mean burst 2-5 packets) with probability ``p_burst``, lost
    packets concealed by libopus (:func:`opus_round_trip`)."""

    name: ClassVar[str] = "opus"
    bitrate: tuple[float, float] = (12000.0, 32000.0)
    p_fec: float = 0.5
    p_loss: float = 0.5
    loss_rate: tuple[float, float] = (0.0, 0.10)
    p_burst: float = 0.5
    burst: tuple[float, float] = (2.0, 5.0)
    concealment: Literal["plc", "zeros"] = "plc"

    def run(self, audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Params]:
        bitrate = int(round(_log_uniform(rng, self.bitrate) / 100.0) * 100)
        fec = bool(rng.random() < self.p_fec)
        has_loss = bool(rng.random() < self.p_loss)
        rate = _uniform(rng, self.loss_rate) if has_loss else 0.0
        bursty = bool(rng.random() < self.p_burst)
        burst = _uniform(rng, self.burst) if bursty else 1.0
        loss_rng = np.random.default_rng(rng.integers(2**63))

        def lost(n: int) -> np.ndarray:
            return loss_pattern(n, loss_rng, rate, burst)

        y, info = opus_round_trip(
            audio,
            bitrate,
            lost=lost,
            fec=fec,
            expected_loss_pct=round(rate * 100),
            concealment=self.concealment,
        )
        params: Params = {
            "bitrate": bitrate,
            "fec": fec,
            "loss_rate": _r(rate, 4),
            "burst": _r(burst, 2),
            "concealment": self.concealment,
            **info,
        }
        return y, params


# --------------------------------------------------------------------------------------------
# the chain


STAGES: tuple[str, ...] = (
    "voice", "formant", "speed", "reverb", "noise", "eq", "line_noise", "gain", "clip", "agc", "opus",
)  # fmt: skip


@dataclass(frozen=True)
class AugmentConfig:
    """Which effects :func:`augment` may apply, each with its probability and its ranges.

    Defaults aim at the calls the server will hear: most calls pass a codec (``p_opus`` 0.8, the
    rest stand for clean wide-band paths), many are in a room through a laptop or headset mic,
    some are noisy, few clip."""

    p_voice: float = 0.4  # WORLD: pitch, pitch range, tract length, breath (training.corpus.tts.voice_warp)
    voice: VoiceWarp = VoiceWarp()
    p_formant: float = 0.3
    formant: VocalTractWarp = VocalTractWarp()
    p_speed: float = 0.0  # changes timing (labels would have to be rescaled)
    speed: SpeedWarp = SpeedWarp()
    p_reverb: float = 0.5
    reverb: RoomReverb = RoomReverb()
    p_noise: float = 0.5
    noise: AdditiveNoise = AdditiveNoise()
    p_eq: float = 0.7
    eq: MicEQ = MicEQ()
    p_line_noise: float = 0.2
    line_noise: AdditiveNoise = AdditiveNoise(snr_db=(15.0, 40.0), kinds=(("white", 1.0), ("hum", 1.0)))
    p_gain: float = 0.5
    gain: GainEnvelope = GainEnvelope()
    p_clip: float = 0.1
    clip: Clipping = Clipping()
    p_agc: float = 0.4
    agc: AutoGain = AutoGain()
    p_opus: float = 0.8
    opus: OpusCodec = OpusCodec()

    def only(self, *names: str, p: float = 1.0) -> AugmentConfig:
        """This config with the stages ``names`` at probability ``p`` and every other stage off
        (for tests, ablations and cost measurements)."""
        unknown = set(names) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)}; stages are {STAGES}")
        probs: dict[str, Any] = {f"p_{n}": (p if n in names else 0.0) for n in STAGES}
        return replace(self, **probs)

    def stages(self, babble_sources: Sequence[np.ndarray] = ()) -> list[tuple[str, float, Effect]]:
        """(name, probability, effect) in the order they apply (fixed: the seed streams follow it)."""
        noise = replace(self.noise, babble_sources=tuple(babble_sources))
        line = replace(self.line_noise, babble_sources=tuple(babble_sources))
        return [
            ("voice", self.p_voice, self.voice),
            ("formant", self.p_formant, self.formant),
            ("speed", self.p_speed, self.speed),
            ("reverb", self.p_reverb, self.reverb),
            ("noise", self.p_noise, noise),
            ("eq", self.p_eq, self.eq),
            ("line_noise", self.p_line_noise, line),
            ("gain", self.p_gain, self.gain),
            ("clip", self.p_clip, self.clip),
            ("agc", self.p_agc, self.agc),
            ("opus", self.p_opus, self.opus),
        ]


def _seed_entropy(seed: Seed) -> int | list[int]:
    if isinstance(seed, int | np.integer):
        return int(seed)
    return [int(s) for s in seed]


def augment(
    audio: np.ndarray,
    seed: Seed,
    config: AugmentConfig | None = None,
    babble_sources: Sequence[np.ndarray] = (),
) -> tuple[np.ndarray, dict[str, Any]]:
    """Apply a random subset of the effects in their order; same seed ⇒ same bytes.

    ``babble_sources`` are other speech clips (16 kHz float) for babble noise. Returns the
    augmented audio (float32 [N], in [-1, 1]) and what was applied, JSON-able, for the manifest:
    ``{"seed", "time_scale", "effects": {name: params, ...}}`` (``time_scale`` is 1 unless
    ``speed`` ran)."""
    config = config or AugmentConfig()
    entropy = _seed_entropy(seed)
    stages = config.stages(babble_sources)
    streams = np.random.SeedSequence(entropy).spawn(len(stages))
    y = _finish(_as_audio(audio))
    effects: dict[str, Params] = {}
    time_scale = 1.0
    for (name, p, effect), stream in zip(stages, streams, strict=True):
        rng = np.random.default_rng(stream)
        if not rng.random() < p:
            continue
        y, params = effect.run(y, rng)
        effects[name] = params
        if name == "speed":
            time_scale *= float(params["time_scale"])
    return y, {"seed": entropy, "time_scale": time_scale, "effects": effects}


def loader_augment(
    config: AugmentConfig | None = None, babble_sources: Sequence[np.ndarray] = ()
) -> LoaderAugment:
    """The ``(audio, seed) -> audio`` hook :func:`xactor.training.corpus.store.loader.iter_windows` takes."""
    cfg = config or AugmentConfig()
    if cfg.p_speed > 0:
        raise ValueError("the loader keeps the clean labels: speed warps (p_speed > 0) would misalign them")
    sources = tuple(babble_sources)

    def run(audio: np.ndarray, seed: int) -> np.ndarray:
        return augment(audio, seed, cfg, sources)[0]

    return run


# --------------------------------------------------------------------------------------------
# cost


def measure_cost(audio: np.ndarray, repeats: int = 5) -> dict[str, float]:
    """CPU seconds per second of audio for each effect always on, the default chain and the chain
    with every stage on (``time.process_time``: all threads of this process)."""
    seconds = audio.size / SAMPLE_RATE
    cfg = AugmentConfig()
    out: dict[str, float] = {}
    babble = [np.roll(audio, audio.size // (k + 2)) for k in range(4)]

    def effect_cost(effect: Effect) -> float:
        return _time(lambda r: effect(audio, r), repeats) / seconds

    def chain_cost(config: AugmentConfig, n: int) -> float:
        return _time(lambda r: augment(audio, int(r.integers(1 << 30)), config, babble), n) / seconds

    for name, _, effect in cfg.stages(babble):
        if isinstance(effect, AdditiveNoise):
            if name == "noise":
                for kind in ("pink", "brown", "babble", "clicks", "white", "hum"):
                    out[f"noise:{kind}"] = effect_cost(replace(effect, kinds=((kind, 1.0),)))
            continue
        out[name] = effect_cost(effect)
    out["chain (default probabilities)"] = chain_cost(cfg, repeats * 4)
    out["chain (every stage but speed)"] = chain_cost(cfg.only(*(n for n in STAGES if n != "speed")), repeats)
    from xactor.engines.audio.features import log_mel

    out["log_mel of the result"] = _time(lambda r: log_mel(audio), repeats) / seconds
    return out


def _time(fn: Callable[[np.random.Generator], Any], repeats: int) -> float:
    rng = np.random.default_rng(1)
    fn(rng)  # warm-up (imports, plans)
    t0 = time.process_time()
    for _ in range(repeats):
        fn(rng)
    return (time.process_time() - t0) / repeats


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--bench", metavar="WAV", help="measure CPU cost on this speech file (any format)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.bench:
        from xactor.engines.audio.resample import load_wav_16k

        audio = load_wav_16k(args.bench)
        for name, cost in measure_cost(audio, args.repeats).items():
            print(f"{name:32s} {cost:8.4f} CPU s / s audio")


if __name__ == "__main__":
    _main()
