"""A motion source that needs no training: prosody drives the mouth, VAD gates it, life runs always.

It is the fallback when no generator weights are present and the baseline the learned generator
must beat. Three parts, each with one job:

1. :class:`~engines.audio.frontend.AudioFrontEnd` turns pushed audio into one
   :class:`~engines.audio.frontend.FrameFeatures` per 25 fps frame (VAD speech weight, 4 log-mel
   and 4 prosody rows) — the same features the learned generator and training read.
2. This module, the animator, makes the mouth and the brows:

   * mouth — ``jawOpen`` follows the speech level (adaptive to the microphone's gain: mapped
     between the tracked noise floor / speech peak), smoothed with a fast attack and a slower
     release, and multiplied by the VAD speech weight; with lookahead, the jaw anticipates the next
     frames' opening a little (as lips do before sound). Low spectral centroid in voiced speech
     (rounded o/u) adds ``mouthFunnel``/``mouthPucker``; high centroid (spread i/e) a little
     ``mouthStretch``/``mouthSmile``; dips of the level inside speech (stop closures: p, b, t, k)
     add ``mouthPress``/``mouthClose``.
   * brows — small ``browInnerUp``/``browOuterUp`` on pitch and level peaks (emphasis); the same
     emphasis is handed to Life as a nod.

3. :class:`~engines.motion_source.life.Life` adds what runs speech or not: blinks, idle head
   motion (livelier while speaking), gaze and breathing.

Everything evolves per 10 ms row, per VAD chunk or per video frame from reset, never per push, so
the output does not depend on how the audio was chunked; with a seed it is deterministic.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from xactor.engines import motion_space as ms
from xactor.engines.audio.features import Prosody
from xactor.engines.audio.frontend import AudioFrontEnd
from xactor.engines.motion_source.base import (
    MotionFrame,
    MotionSource,
    MotionSourceSpec,
    register_motion_source,
)
from xactor.engines.motion_source.life import Life, LifeConfig, alpha
from xactor.engines.timebase import FRAME_SECONDS, HOP, ROWS_PER_FRAME, SAMPLE_RATE, frame_end_sample

_ROW_S = HOP / SAMPLE_RATE  # 10 ms


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
    # Brows (emphasis; the nod on the same emphasis is Life's nod_max)
    brow_inner_max: float = 0.35
    brow_outer_max: float = 0.25
    # Blinks, idle head, gaze, breathing
    life: LifeConfig = field(default_factory=LifeConfig)

    def __post_init__(self) -> None:
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
        a_floor_down, a_floor_up = alpha(_ROW_S, 0.1), alpha(_ROW_S, 5.0)
        a_peak_up, a_peak_down = alpha(_ROW_S, 0.05), alpha(_ROW_S, 3.0)
        a_att, a_rel = alpha(_ROW_S, cfg.jaw_attack_s), alpha(_ROW_S, cfg.jaw_release_s)
        a_slow = alpha(_ROW_S, 0.15)
        a_cl_att, a_cl_rel = alpha(_ROW_S, 0.015), alpha(_ROW_S, 0.05)
        a_cen = alpha(_ROW_S, 0.04)
        a_cen_mean = alpha(_ROW_S, 2.0)
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


class HeuristicMotionSource(MotionSource):
    """Training-free motion source (see module docstring). One instance per session.

    Not thread-safe: call ``push_audio`` and ``pull`` from one thread (or under one lock).
    """

    name = "heuristic"

    def __init__(
        self, lookahead_frames: int = 1, seed: int | None = None, config: HeuristicConfig | None = None
    ) -> None:
        if lookahead_frames < 0:
            raise ValueError(f"lookahead_frames must be >= 0, got {lookahead_frames}")
        self._lookahead = int(lookahead_frames)
        self.cfg = config or HeuristicConfig()
        self._frontend = AudioFrontEnd()
        self._life = Life(seed=seed, config=self.cfg.life)
        self.reset()

    @property
    def lookahead_frames(self) -> int:
        return self._lookahead

    def reset(self) -> None:
        self._frontend.reset()
        self._life.reset()
        self._tracker = _RowTracker(self.cfg)
        # Frames the front end released that are not yet pulled: (tracker rows [4, 5], speech).
        self._pending: deque[tuple[np.ndarray, float]] = deque()
        self._next_frame = 0
        self._f0_mean = 120.0
        self._level_slow = 0.0
        self._emphasis = 0.0

    # ---- audio in -------------------------------------------------------------------------
    def push_audio(self, samples: np.ndarray) -> None:
        """Append float32 16 kHz mono samples; NaN/inf are zeroed and values clipped to [-1, 1]."""
        feats = self._frontend.push(samples)
        if not len(feats):
            return
        rows = self._tracker.process(feats.prosody_rows())  # [n * 4, 5]
        rows = rows.reshape(len(feats), ROWS_PER_FRAME, rows.shape[1])  # [n, 4, 5]
        self._pending.extend(zip(rows, feats.speech.tolist(), strict=True))

    def pop_stage_seconds(self) -> dict[str, float]:
        """Seconds spent in VAD and in feature analysis since the last call (the front end's)."""
        return self._frontend.pop_stage_seconds()

    # ---- frames out -----------------------------------------------------------------------
    def pull(self) -> list[MotionFrame]:
        frames: list[MotionFrame] = []
        while len(self._pending) > self._lookahead:  # frame k's audio and its lookahead are in
            frames.append(self._make_frame(self._next_frame))
            self._pending.popleft()
            self._next_frame += 1
        return frames

    def _make_frame(self, k: int) -> MotionFrame:
        """Frame k from pending frames k .. k + lookahead (``self._pending[0 .. L]``)."""
        cfg, dt, idx = self.cfg, FRAME_SECONDS, ms.INDEX
        rows = self._pending[0][0]  # [4, 5]
        env, closure, centroid_ratio, voicing, f0 = (rows[:, c] for c in range(5))
        # The gate after the newest audio the frame depends on (opens a little early with lookahead).
        speech = self._pending[self._lookahead][1]

        # Mouth: own level, plus a geometric share of each lookahead frame's level (anticipation).
        level = float(env.mean())
        for ahead in range(1, self._lookahead + 1):
            level = max(level, cfg.anticipation**ahead * float(self._pending[ahead][0][:, 0].mean()))
        jaw = cfg.jaw_max * speech * level**cfg.jaw_gamma
        mouth: dict[str, float] = {"jawOpen": jaw}
        voiced = float(np.clip((voicing.mean() - 0.3) / 0.4, 0.0, 1.0))
        c = float(centroid_ratio.mean())
        r0, r1 = cfg.round_ratio
        rounding = float(np.clip((r0 - c) / (r0 - r1), 0.0, 1.0)) * voiced * speech
        s0, s1 = cfg.spread_ratio
        spreading = float(np.clip((c - s0) / (s1 - s0), 0.0, 1.0)) * voiced * speech
        opening = min(1.0, 2.0 * level)
        mouth["mouthPucker"] = cfg.pucker_max * rounding * opening
        mouth["mouthFunnel"] = cfg.funnel_max * rounding * opening
        close = float(closure.max()) * speech
        for side in ("Left", "Right"):
            mouth[f"mouthSmile{side}"] = cfg.smile_max * spreading
            mouth[f"mouthStretch{side}"] = cfg.stretch_max * spreading
            mouth[f"mouthLowerDown{side}"] = cfg.lower_down_max * speech * level
            mouth[f"mouthPress{side}"] = cfg.press_max * close
        mouth["mouthClose"] = min(jaw, close * jaw)  # lips meet while the jaw stays a little open

        # Emphasis: pitch above the speaker's running mean, or level above its slow average.
        f0_voiced = f0[(f0 > 0) & (voicing > 0.7)]
        pitch_up = 0.0
        if f0_voiced.size and speech > 0.5:
            f0_now = float(np.median(f0_voiced))
            self._f0_mean += (f0_now - self._f0_mean) * alpha(dt, 2.0)
            pitch_up = float(np.clip((f0_now / self._f0_mean - 1.1) / 0.25, 0.0, 1.0))
        loud_up = float(np.clip((level - self._level_slow - 0.2) / 0.4, 0.0, 1.0)) * speech
        self._level_slow += (level - self._level_slow) * alpha(dt, 0.6)
        target = max(pitch_up * min(1.0, 2.0 * level), loud_up)
        self._emphasis += (target - self._emphasis) * alpha(dt, 0.08 if target > self._emphasis else 0.4)
        mouth["browInnerUp"] = cfg.brow_inner_max * self._emphasis
        mouth["browOuterUpLeft"] = mouth["browOuterUpRight"] = cfg.brow_outer_max * self._emphasis

        # Life (blinks, head with the nod, gaze, breathing) underneath; the mouth and brows on top.
        m = self._life.step(k, speech, self._emphasis)  # [40]
        for name, value in mouth.items():
            m[idx[name]] = value
        return MotionFrame(
            index=k,
            motion=ms.clamp_np(m),
            newest_sample=frame_end_sample(k, self._lookahead),
            speech=float(speech),
        )


register_motion_source(
    MotionSourceSpec(
        name="heuristic",
        description="training-free: loudness and spectrum drive the mouth, VAD gates it, life runs always",
        backends=(),  # numpy + the shared silero-vad session: no model to place on a backend
        build=lambda o: HeuristicMotionSource(lookahead_frames=o.lookahead_frames, seed=o.seed),
    )
)
