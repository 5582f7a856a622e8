"""A motion source that needs no training: prosody drives the mouth, VAD gates it, life runs always.

It is the fallback when no generator weights are present and the baseline the learned generator
must beat. Per pushed audio it runs silero-vad (512-sample chunks) and the streaming prosody of
:mod:`engines.audio.features` (10 ms rows); per 25 fps video frame it turns them into a motion
vector:

* mouth — ``jawOpen`` follows the speech level (adaptive to the microphone's gain: mapped between
  the tracked noise floor / speech peak), smoothed with a fast attack and a slower release, and
  multiplied by the VAD speech weight; with lookahead, the jaw anticipates the next frame's
  opening a little (as lips do before sound). Low spectral centroid in voiced speech (rounded
  o/u) adds ``mouthFunnel``/``mouthPucker``; high centroid (spread i/e) a little
  ``mouthStretch``/``mouthSmile``; dips of the level inside speech (stop closures: p, b, t, k) add
  ``mouthPress``/``mouthClose``.
* brows — small ``browInnerUp``/``browOuterUp`` on pitch and level peaks (emphasis), with a nod.
* always, speech or not — blinks (both eyes, 2–6 s apart, 150–250 ms, sometimes double), a slow
  idle head motion (incommensurate sinusoids plus a slow random walk, a few degrees; larger and
  faster while speaking) and gaze drift with small saccades.

Everything evolves per 10 ms row, per VAD chunk or per video frame from reset, never per push, so
the output does not depend on how the audio was chunked; with a seed it is deterministic.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from engines import motion_space as ms
from engines.audio.features import HOP, Prosody, StreamingAnalysis
from engines.audio.vad import CHUNK, CHUNK_SECONDS, SileroVAD, SpeechGate
from engines.motion_source.base import (
    MotionFrame,
    MotionSource,
    MotionSourceSpec,
    register_motion_source,
)

_ROW_S = HOP / 16000  # 10 ms
_ROWS_PER_FRAME = 4  # 640 / 160


def _alpha(dt: float, tau: float) -> float:
    """One-pole smoothing coefficient for a step of ``dt`` seconds and time constant ``tau``."""
    return 1.0 - math.exp(-dt / max(tau, 1e-6))


@dataclass(frozen=True)
class HeuristicConfig:
    """Parameters of :class:`HeuristicMotionSource` (times in seconds, angles in radians)."""

    # Mouth
    jaw_max: float = 0.45  # jawOpen at full speech level
    jaw_gamma: float = 1.3  # > 1 keeps moderate levels less open than loud ones
    jaw_attack_s: float = 0.025  # envelope rise time constant
    jaw_release_s: float = 0.07  # envelope fall time constant
    level_range_db: float = 24.0  # dB below the tracked speech peak that maps to a closed jaw
    floor_margin_db: float = 6.0  # the closed level is at least this far above the noise floor
    anticipation: float = 0.5  # weight of each lookahead frame's opening (per frame, geometric)
    # Vowel shape from the spectral centroid relative to the speaker's running mean over voiced
    # speech (a ratio, so it holds for low and high voices): rounded o/u sit near 0.7-0.85 of the
    # mean, spread i/e near 1.15-1.4 (measured on espeak-ng vowels).
    round_ratio: tuple[float, float] = (0.92, 0.72)  # centroid ratio from -> to: rounding 0 -> 1
    spread_ratio: tuple[float, float] = (1.12, 1.4)  # centroid ratio from -> to: spreading 0 -> 1
    pucker_max: float = 0.45
    funnel_max: float = 0.3
    smile_max: float = 0.15
    stretch_max: float = 0.2
    press_max: float = 0.5
    lower_down_max: float = 0.25  # lower lip follows the jaw a little
    # Brows and nods (emphasis)
    brow_inner_max: float = 0.35
    brow_outer_max: float = 0.25
    nod_max: float = 0.035  # head pitch (chin down) on emphasis
    # Blinks
    blink_interval_s: tuple[float, float] = (2.0, 6.0)
    blink_duration_s: tuple[float, float] = (0.15, 0.25)
    double_blink_p: float = 0.12
    # Head (idle amplitudes, multiplied by 1 + head_speech_gain while speaking)
    head_yaw: float = 0.035
    head_pitch: float = 0.025
    head_roll: float = 0.018
    head_tx: float = 0.008
    head_ty: float = 0.005
    head_log_scale: float = 0.004
    head_speech_gain: float = 1.2
    head_speech_speedup: float = 0.6
    # Gaze
    gaze_saccade_interval_s: tuple[float, float] = (1.0, 4.0)
    gaze_yaw_sd: float = 0.08
    gaze_pitch_sd: float = 0.04

    def __post_init__(self) -> None:
        lo, hi = self.blink_interval_s
        if not 0 < lo <= hi:
            raise ValueError(f"blink_interval_s must be 0 < lo <= hi, got {self.blink_interval_s}")
        if not 0 < self.jaw_max <= 1:
            raise ValueError(f"jaw_max must be in (0, 1], got {self.jaw_max}")


class _RowTracker:
    """Per-10 ms-row state: adaptive level mapping, jaw envelope, closure dips, smoothed centroid."""

    def __init__(self, cfg: HeuristicConfig) -> None:
        self.cfg = cfg
        self.floor_db = -70.0
        self.peak_db = -25.0
        self.env = 0.0
        self.env_slow = 0.0
        self.closure = 0.0
        self.centroid = 1000.0
        self.log_centroid_mean = math.log(1000.0)

    def process(self, p: Prosody) -> np.ndarray:
        """Rows of prosody -> [n, 5]: env (jaw drive 0..1), closure 0..1, centroid ratio, voicing, f0 Hz.

        The centroid ratio is the smoothed centroid over the speaker's running mean (voiced rows).
        """
        cfg = self.cfg
        out = np.zeros((len(p), 5), dtype=np.float64)
        a_floor_down, a_floor_up = _alpha(_ROW_S, 0.1), _alpha(_ROW_S, 5.0)
        a_peak_up, a_peak_down = _alpha(_ROW_S, 0.05), _alpha(_ROW_S, 3.0)
        a_att, a_rel = _alpha(_ROW_S, cfg.jaw_attack_s), _alpha(_ROW_S, cfg.jaw_release_s)
        a_slow = _alpha(_ROW_S, 0.15)
        a_cl_att, a_cl_rel = _alpha(_ROW_S, 0.015), _alpha(_ROW_S, 0.05)
        a_cen = _alpha(_ROW_S, 0.04)
        a_cen_mean = _alpha(_ROW_S, 2.0)
        for i in range(len(p)):
            db = float(p.rms_db[i])
            # Noise floor: follows dips fast, creeps up slowly. Speech peak: the opposite.
            self.floor_db += (db - self.floor_db) * (a_floor_down if db < self.floor_db else a_floor_up)
            self.peak_db += (db - self.peak_db) * (a_peak_up if db > self.peak_db else a_peak_down)
            self.peak_db = max(self.peak_db, self.floor_db + 20.0)
            lo = max(self.floor_db + cfg.floor_margin_db, self.peak_db - cfg.level_range_db)
            hi = max(self.peak_db - 2.0, lo + 1.0)
            drive = min(max((db - lo) / (hi - lo), 0.0), 1.0)
            self.env += (drive - self.env) * (a_att if drive > self.env else a_rel)
            self.env_slow += (drive - self.env_slow) * a_slow
            # A closure: the level falls far below its recent average while the speech goes on.
            dip = min(max((self.env_slow - drive) / 0.5, 0.0), 1.0) if self.env_slow > 0.25 else 0.0
            self.closure += (dip - self.closure) * (a_cl_att if dip > self.closure else a_cl_rel)
            voiced = float(p.voicing[i])
            if drive > 0.2 and voiced > 0.5 and p.centroid[i] > 0:
                self.centroid += (float(p.centroid[i]) - self.centroid) * a_cen
                self.log_centroid_mean += (
                    math.log(float(p.centroid[i])) - self.log_centroid_mean
                ) * a_cen_mean
            ratio = self.centroid / math.exp(self.log_centroid_mean)
            out[i] = (self.env, self.closure, ratio, voiced, float(p.f0[i]))
        return out


def _blink_shape(u: float) -> float:
    """Eyelid closure over a blink, u in [0, 1): fast close (35 %), slower open."""
    if u <= 0.0 or u >= 1.0:
        return 0.0
    a = 0.35
    if u < a:
        x = u / a
        return x * x * (3 - 2 * x)
    x = (u - a) / (1 - a)
    return 1.0 - x * x * (3 - 2 * x)


class HeuristicMotionSource(MotionSource):
    """Training-free motion source (see module docstring). One instance per session.

    Not thread-safe: call ``push_audio`` and ``pull`` from one thread (or under one lock).
    """

    def __init__(
        self, lookahead_frames: int = 1, seed: int | None = None, config: HeuristicConfig | None = None
    ) -> None:
        if lookahead_frames < 0:
            raise ValueError(f"lookahead_frames must be >= 0, got {lookahead_frames}")
        self._lookahead = int(lookahead_frames)
        self._seed = seed
        self.cfg = config or HeuristicConfig()
        self._vad = SileroVAD()
        self._analysis = StreamingAnalysis()
        self._stage_s = {"vad": 0.0, "features": 0.0}  # compute time, for the server's stage timings
        self.reset()

    @property
    def lookahead_frames(self) -> int:
        return self._lookahead

    def reset(self) -> None:
        cfg = self.cfg
        self._rng = np.random.default_rng(self._seed)
        self._n_samples = 0
        self._next_frame = 0
        self._vad.reset()
        self._analysis.reset()
        self._gate = SpeechGate()
        self._vad_pending = np.zeros(0, dtype=np.float32)
        self._vad_weights: list[float] = []  # gate weight after each VAD chunk
        self._vad_base = 0  # chunk index of _vad_weights[0]
        self._tracker = _RowTracker(cfg)
        self._rows = np.zeros((0, 5))  # tracker output for rows from _row_base on
        self._row_base = 0
        # Frame-level state.
        self._speech_slow = 0.0
        self._f0_mean = 120.0
        self._level_slow = 0.0
        self._emphasis = 0.0
        self._blinks: list[tuple[float, float]] = []  # (start s, duration s)
        self._next_blink_s = float(self._rng.uniform(0.5, cfg.blink_interval_s[1]))
        # Head: 3 sinusoids per channel (yaw, pitch, roll, tx, ty, log-scale) with random phases.
        self._head_freqs = self._rng.uniform(0.05, 0.35, size=(6, 3))
        self._head_phase = self._rng.uniform(0.0, 2 * np.pi, size=(6, 3))
        self._head_weights = self._rng.uniform(0.5, 1.0, size=(6, 3))
        self._head_weights /= self._head_weights.sum(axis=1, keepdims=True)
        self._head_walk = np.zeros(6)
        self._head_amp = np.array(
            [cfg.head_yaw, cfg.head_pitch, cfg.head_roll, cfg.head_tx, cfg.head_ty, cfg.head_log_scale]
        )
        self._gaze = np.zeros(2)
        self._gaze_target = np.zeros(2)
        self._next_saccade_s = float(self._rng.uniform(*cfg.gaze_saccade_interval_s))

    # ---- audio in -------------------------------------------------------------------------
    def push_audio(self, samples: np.ndarray) -> None:
        """Append float32 16 kHz mono samples; NaN/inf are zeroed and values clipped to [-1, 1]."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if x.size == 0:
            return
        x = np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)
        self._n_samples += x.size
        # VAD on fixed 512-sample chunks counted from reset.
        t0 = time.perf_counter()
        pending = np.concatenate([self._vad_pending, x])
        n_chunks = pending.size // CHUNK
        for j in range(n_chunks):
            prob = self._vad.process(pending[j * CHUNK : (j + 1) * CHUNK])
            self._vad_weights.append(self._gate.update(prob, CHUNK_SECONDS))
        self._vad_pending = pending[n_chunks * CHUNK :]
        t1 = time.perf_counter()
        # Prosody rows -> tracker.
        _, pros = self._analysis.push(x)
        self._stage_s["vad"] += t1 - t0
        self._stage_s["features"] += time.perf_counter() - t1
        if len(pros):
            self._rows = np.concatenate([self._rows, self._tracker.process(pros)])

    def pop_stage_seconds(self) -> dict[str, float]:
        """Seconds spent in VAD and in feature analysis since the last call (server stage timings)."""
        out, self._stage_s = self._stage_s, {"vad": 0.0, "features": 0.0}
        return out

    # ---- frames out -----------------------------------------------------------------------
    def pull(self) -> list[MotionFrame]:
        spf = self.samples_per_frame
        available = self._n_samples // spf - self._lookahead  # frames whose audio + lookahead is in
        frames: list[MotionFrame] = []
        while self._next_frame < available:
            frames.append(self._make_frame(self._next_frame))
            self._next_frame += 1
        # Drop rows and VAD weights no future frame needs.
        keep_row = self._next_frame * _ROWS_PER_FRAME
        if keep_row > self._row_base:
            self._rows = self._rows[keep_row - self._row_base :]
            self._row_base = keep_row
        keep_chunk = max((self._next_frame + self._lookahead) * spf // CHUNK - 1, 0)
        if keep_chunk > self._vad_base:
            del self._vad_weights[: keep_chunk - self._vad_base]
            self._vad_base = keep_chunk
        return frames

    def _frame_rows(self, k: int) -> np.ndarray:
        start = k * _ROWS_PER_FRAME - self._row_base
        return self._rows[start : start + _ROWS_PER_FRAME]  # [4, 5]

    def _speech_weight(self, k: int) -> float:
        """Gate weight after the last VAD chunk that ends within frame k's audio + lookahead."""
        end = (k + 1 + self._lookahead) * self.samples_per_frame
        j = end // CHUNK - 1
        if j < 0:
            return 0.0
        return float(self._vad_weights[j - self._vad_base])

    def _make_frame(self, k: int) -> MotionFrame:
        cfg = self.cfg
        dt = 1.0 / self.fps
        t = k * dt
        rows = self._frame_rows(k)
        env, closure, centroid_ratio, voicing, f0 = (rows[:, c] for c in range(5))
        speech = self._speech_weight(k)
        m = np.zeros(ms.MOTION_DIM, dtype=np.float32)
        idx = ms.INDEX

        # Mouth: own level, plus a geometric share of each lookahead frame's level (anticipation).
        level = float(env.mean())
        for ahead in range(1, self._lookahead + 1):
            level = max(level, cfg.anticipation**ahead * float(self._frame_rows(k + ahead)[:, 0].mean()))
        jaw = cfg.jaw_max * speech * level**cfg.jaw_gamma
        m[idx["jawOpen"]] = jaw
        voiced = float(np.clip((voicing.mean() - 0.3) / 0.4, 0.0, 1.0))
        c = float(centroid_ratio.mean())
        r0, r1 = cfg.round_ratio
        rounding = float(np.clip((r0 - c) / (r0 - r1), 0.0, 1.0)) * voiced * speech
        s0, s1 = cfg.spread_ratio
        spreading = float(np.clip((c - s0) / (s1 - s0), 0.0, 1.0)) * voiced * speech
        opening = min(1.0, 2.0 * level)
        m[idx["mouthPucker"]] = cfg.pucker_max * rounding * opening
        m[idx["mouthFunnel"]] = cfg.funnel_max * rounding * opening
        for side in ("Left", "Right"):
            m[idx[f"mouthSmile{side}"]] = cfg.smile_max * spreading
            m[idx[f"mouthStretch{side}"]] = cfg.stretch_max * spreading
            m[idx[f"mouthLowerDown{side}"]] = cfg.lower_down_max * speech * level
        close = float(closure.max()) * speech
        for side in ("Left", "Right"):
            m[idx[f"mouthPress{side}"]] = cfg.press_max * close
        m[idx["mouthClose"]] = min(jaw, close * jaw)  # lips meet while the jaw stays a little open

        # Emphasis: pitch above the speaker's running mean, or level above its slow average.
        self._speech_slow += (speech - self._speech_slow) * _alpha(dt, 0.5)
        f0_voiced = f0[(f0 > 0) & (voicing > 0.7)]
        pitch_up = 0.0
        if f0_voiced.size and speech > 0.5:
            f0_now = float(np.median(f0_voiced))
            self._f0_mean += (f0_now - self._f0_mean) * _alpha(dt, 2.0)
            pitch_up = float(np.clip((f0_now / self._f0_mean - 1.1) / 0.25, 0.0, 1.0))
        loud_up = float(np.clip((level - self._level_slow - 0.2) / 0.4, 0.0, 1.0)) * speech
        self._level_slow += (level - self._level_slow) * _alpha(dt, 0.6)
        target = max(pitch_up * min(1.0, 2.0 * level), loud_up)
        self._emphasis += (target - self._emphasis) * _alpha(dt, 0.08 if target > self._emphasis else 0.4)
        m[idx["browInnerUp"]] = cfg.brow_inner_max * self._emphasis
        m[idx["browOuterUpLeft"]] = cfg.brow_outer_max * self._emphasis
        m[idx["browOuterUpRight"]] = cfg.brow_outer_max * self._emphasis

        # Blinks (always).
        blink = self._blink(t, dt)
        m[idx["eyeBlinkLeft"]] = blink
        m[idx["eyeBlinkRight"]] = blink

        # Head (always): slow sinusoids + slow random walk, livelier while speaking.
        self._head_phase += (
            2 * np.pi * self._head_freqs * dt * (1.0 + cfg.head_speech_speedup * self._speech_slow)
        )
        osc = (self._head_weights * np.sin(self._head_phase)).sum(axis=1)  # [6] in [-1, 1]
        self._head_walk += -self._head_walk * _alpha(dt, 2.0) + self._rng.normal(0.0, 0.06, 6)
        amp = self._head_amp * (1.0 + cfg.head_speech_gain * self._speech_slow)
        head = amp * (0.8 * osc + 0.35 * np.clip(self._head_walk, -1.0, 1.0))
        head[1] += cfg.nod_max * self._emphasis
        m[ms.POSE_SLICE] = head

        # Gaze: small saccades to nearby targets (often back to the camera), smooth drift between.
        if t >= self._next_saccade_s:
            if self._rng.random() < 0.5:
                self._gaze_target = np.zeros(2)
            else:
                self._gaze_target = self._rng.normal(0.0, [cfg.gaze_yaw_sd, cfg.gaze_pitch_sd])
            self._next_saccade_s = t + float(self._rng.uniform(*cfg.gaze_saccade_interval_s))
        drift = self._rng.normal(0.0, 0.004, 2)
        self._gaze += (self._gaze_target - self._gaze) * _alpha(dt, 0.03) + drift
        m[ms.GAZE_SLICE] = self._gaze

        newest = (k + 1 + self._lookahead) * self.samples_per_frame - 1
        return MotionFrame(index=k, motion=ms.clamp_np(m), newest_sample=newest, speech=float(speech))

    def _blink(self, t: float, dt: float) -> float:
        """Eyelid closure at time t; schedules the next blink (its apex lands on a frame)."""
        cfg = self.cfg
        if t >= self._next_blink_s:
            dur = float(self._rng.uniform(*cfg.blink_duration_s))
            # Start so that the closed apex (35 % in) falls exactly on this frame or the next.
            apex = math.ceil((t + 0.35 * dur) / dt - 1e-9) * dt
            start = apex - 0.35 * dur
            self._blinks.append((start, dur))
            end = start + dur
            if self._rng.random() < cfg.double_blink_p:
                dur2 = float(self._rng.uniform(*cfg.blink_duration_s))
                apex2 = math.ceil((end + self._rng.uniform(0.05, 0.15) + 0.35 * dur2) / dt) * dt
                self._blinks.append((apex2 - 0.35 * dur2, dur2))
                end = apex2 + 0.65 * dur2
            self._next_blink_s = end + float(self._rng.uniform(*cfg.blink_interval_s))
        value = 0.0
        for start, dur in self._blinks:
            value = max(value, _blink_shape((t - start) / dur))
        self._blinks = [(s, d) for s, d in self._blinks if t < s + d]
        return value


register_motion_source(
    MotionSourceSpec(
        name="heuristic",
        description="training-free: loudness and spectrum drive the mouth, VAD gates it, life runs always",
        backends=(),  # numpy + the shared silero-vad session: no model to place on a backend
        build=lambda o: HeuristicMotionSource(lookahead_frames=o.lookahead_frames, seed=o.seed),
    )
)
