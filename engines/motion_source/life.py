"""Life: the motion a portrait makes whether or not it speaks — blinks, idle head, gaze, breathing.

Without it a face looks frozen in silence; every motion source layers its mouth and brows over it,
and the synthetic corpus generator uses it for the non-speech channels, so both see the same
statistics. Per 25 fps frame, from the frame index, how much the person speaks (0..1) and
optionally an emphasis (0..1, for a nod), it writes the pose, ``eyeBlink*`` and gaze channels of a
motion vector (:mod:`xactor.engines.motion_space`):

* blinks — both eyes, the next one 2–6 s after the previous ends (and, half the time, one at once
  when speech stops: people blink at phrase ends), 150–250 ms long, fast close
  (35 %) and slower open, the closed apex on a frame so the lids close fully; 12 % doubles;
* idle head — per pose channel 3 incommensurate sinusoids (0.05–0.35 Hz) plus a slow random walk,
  a few degrees; larger and faster while speaking (0.5 s-smoothed speech);
* gaze — saccades every 1–4 s to a small random offset or back to the camera, a tiny drift between;
* breathing — a slow sinusoid (0.2–0.3 Hz, fixed per seed) on ``headTy`` and ``headPitch``, a
  fraction of the idle amplitude (the head rises a little and the chin lifts on the inhale).

Each part draws from its own random stream (spawned from the seed), so configuring one part does
not reshuffle the others. The state advances one frame per call, never per audio push, so the
result depends only on the per-frame inputs: deterministic with a seed, independent of chunking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from xactor.engines import motion_space as ms
from xactor.engines.timebase import FRAME_SECONDS

# Channels Life writes; every other channel of its output is 0.
BLINK_CHANNELS: tuple[int, int] = (ms.INDEX["eyeBlinkLeft"], ms.INDEX["eyeBlinkRight"])
LIFE_CHANNELS: np.ndarray = np.array(
    [*range(ms.POSE_DIM), *BLINK_CHANNELS, *range(ms.GAZE_SLICE.start, ms.GAZE_SLICE.stop)]
)
# Channels the corpus takes from Life alone — no speech content, emotion or gesture reaches them:
# a learned source can at best imitate their statistics, so it takes them from Life itself.
PURE_LIFE_CHANNELS: np.ndarray = np.array([*BLINK_CHANNELS, *range(ms.GAZE_SLICE.start, ms.GAZE_SLICE.stop)])
_BLINK_APEX = 0.35  # fraction of a blink spent closing


def with_life_channels(motion: np.ndarray, life: np.ndarray) -> np.ndarray:
    """``motion`` [..., 40] with :data:`PURE_LIFE_CHANNELS` (blinks, gaze) taken from ``life`` [..., 40]."""
    out = np.array(motion, dtype=np.float32, copy=True)
    out[..., PURE_LIFE_CHANNELS] = life[..., PURE_LIFE_CHANNELS]
    return out


def alpha(dt: float, tau: float) -> float:
    """One-pole smoothing coefficient for a step of ``dt`` seconds and time constant ``tau``."""
    return 1.0 - math.exp(-dt / max(tau, 1e-6))


@dataclass(frozen=True)
class LifeConfig:
    """Parameters of :class:`Life` (times in seconds, angles in radians, shifts in face widths)."""

    # Blinks
    blink_interval_s: tuple[float, float] = (2.0, 6.0)  # from one blink's end to the next's trigger
    blink_duration_s: tuple[float, float] = (0.15, 0.25)
    double_blink_p: float = 0.12
    double_blink_gap_s: tuple[float, float] = (0.05, 0.15)
    # People blink more at phrase ends: when speech stops, a blink comes at once with this chance
    # (unless one is under way or ended less than ``phrase_end_refractory_s`` ago).
    phrase_end_blink_p: float = 0.5
    phrase_end_refractory_s: float = 0.6
    # Head (idle amplitudes, multiplied by 1 + head_speech_gain while speaking)
    head_yaw: float = 0.035
    head_pitch: float = 0.025
    head_roll: float = 0.018
    head_tx: float = 0.008
    head_ty: float = 0.005
    head_log_scale: float = 0.004
    head_freq_hz: tuple[float, float] = (0.05, 0.35)
    head_speech_gain: float = 1.2
    head_speech_speedup: float = 0.6
    speech_smoothing_s: float = 0.5  # how slowly the head follows the speech weight
    nod_max: float = 0.035  # head pitch (chin down) at full emphasis
    # Gaze
    gaze_saccade_interval_s: tuple[float, float] = (1.0, 4.0)
    gaze_yaw_sd: float = 0.08
    gaze_pitch_sd: float = 0.04
    gaze_drift_sd: float = 0.004  # per frame
    # Breathing (absolute amplitudes: about 30 % of the idle ty, 15 % of the idle pitch)
    breath_hz: tuple[float, float] = (0.2, 0.3)  # the rate is drawn once per seed in this range
    breath_ty: float = 0.0015
    breath_pitch: float = 0.004

    def __post_init__(self) -> None:
        for name in ("blink_interval_s", "blink_duration_s", "gaze_saccade_interval_s", "breath_hz"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must be 0 < lo <= hi, got {(lo, hi)}")
        if not 0.0 <= self.phrase_end_blink_p <= 1.0:
            raise ValueError(f"phrase_end_blink_p must be in [0, 1], got {self.phrase_end_blink_p}")
        if not 0.0 <= self.double_blink_p <= 1.0:
            raise ValueError(f"double_blink_p must be in [0, 1], got {self.double_blink_p}")


def _unit(x: float) -> float:
    """``x`` clipped to [0, 1]; NaN/inf -> 0 (plain floats: this runs per frame)."""
    x = float(x)
    return min(max(x, 0.0), 1.0) if math.isfinite(x) else 0.0


def blink_shape(u: float) -> float:
    """Eyelid closure over a blink, ``u`` in [0, 1): smooth close to 1 at 35 %, slower open."""
    if u <= 0.0 or u >= 1.0:
        return 0.0
    if u < _BLINK_APEX:
        x = u / _BLINK_APEX
        return x * x * (3 - 2 * x)
    x = (u - _BLINK_APEX) / (1 - _BLINK_APEX)
    return 1.0 - x * x * (3 - 2 * x)


class Life:
    """Per-frame life motion (see module docstring). One instance per stream; call :meth:`step`
    with frame indices 0, 1, 2, ... in order."""

    def __init__(self, seed: int | None = None, config: LifeConfig | None = None) -> None:
        self.cfg = config or LifeConfig()
        self._seed = seed
        self.reset()

    def reset(self) -> None:
        """Back to frame 0 with the same random draws (a fresh entropy draw without a seed)."""
        cfg = self.cfg
        blink_ss, head_ss, gaze_ss, breath_ss = np.random.SeedSequence(self._seed).spawn(4)
        self._blink_rng = np.random.default_rng(blink_ss)
        self._head_rng = np.random.default_rng(head_ss)
        self._gaze_rng = np.random.default_rng(gaze_ss)
        breath_rng = np.random.default_rng(breath_ss)
        self._next_index = 0
        self._speech_slow = 0.0
        self._a_speech = alpha(FRAME_SECONDS, cfg.speech_smoothing_s)
        self._a_walk = alpha(FRAME_SECONDS, 2.0)  # the head's random walk decays over 2 s
        self._a_saccade = alpha(FRAME_SECONDS, 0.03)  # a saccade takes ~30 ms
        # Blinks: (apex frame, duration s); the first is triggered within 0.5 s .. the longest gap.
        self._blinks: list[tuple[int, float]] = []
        self._next_blink_s = float(self._blink_rng.uniform(0.5, cfg.blink_interval_s[1]))
        self._last_blink_end_s = -1e9
        self._was_speaking = False
        # Head: 3 sinusoids per channel (yaw, pitch, roll, tx, ty, log-scale) with random phases.
        self._head_freqs = self._head_rng.uniform(*cfg.head_freq_hz, size=(6, 3))  # [6, 3] Hz
        self._head_phase = self._head_rng.uniform(0.0, 2 * np.pi, size=(6, 3))
        self._head_weights = self._head_rng.uniform(0.5, 1.0, size=(6, 3))
        self._head_weights /= self._head_weights.sum(axis=1, keepdims=True)
        self._head_walk = np.zeros(6)
        self._head_amp = np.array(
            [cfg.head_yaw, cfg.head_pitch, cfg.head_roll, cfg.head_tx, cfg.head_ty, cfg.head_log_scale]
        )
        # Gaze
        self._gaze = np.zeros(2)
        self._gaze_target = np.zeros(2)
        self._next_saccade_s = float(self._gaze_rng.uniform(*cfg.gaze_saccade_interval_s))
        # Breathing: a fixed rate and phase per seed.
        self.breath_hz = float(breath_rng.uniform(*cfg.breath_hz))
        self._breath_phase0 = float(breath_rng.uniform(0.0, 2 * np.pi))

    def step(self, index: int, speech: float, emphasis: float = 0.0) -> np.ndarray:
        """Life motion of frame ``index`` -> float32 [MOTION_DIM]; only :data:`LIFE_CHANNELS` set.

        ``speech`` (0..1) is how much the person speaks at this frame; ``emphasis`` (0..1) nods.
        """
        if index != self._next_index:
            raise ValueError(f"Life.step expects frame {self._next_index}, got {index}")
        self._next_index += 1
        speech, emphasis = _unit(speech), _unit(emphasis)
        self._speech_slow += (speech - self._speech_slow) * self._a_speech
        m = np.zeros(ms.MOTION_DIM, dtype=np.float32)
        speaking = speech >= 0.5
        if self._was_speaking and not speaking:
            self._phrase_end(index)
        self._was_speaking = speaking
        blink = self._blink(index)
        m[BLINK_CHANNELS[0]] = blink
        m[BLINK_CHANNELS[1]] = blink
        m[ms.POSE_SLICE] = self._head(index, emphasis)
        m[ms.GAZE_SLICE] = self._gaze_step(index)
        return np.clip(m, ms.LOW, ms.HIGH, out=m)

    def _phrase_end(self, k: int) -> None:
        """Speech just stopped: blink now with ``phrase_end_blink_p`` (a phrase-final blink)."""
        cfg, t = self.cfg, k * FRAME_SECONDS
        busy = bool(self._blinks) or t - self._last_blink_end_s < cfg.phrase_end_refractory_s
        if self._blink_rng.random() < cfg.phrase_end_blink_p and not busy:
            self._next_blink_s = min(self._next_blink_s, t)

    def _blink(self, k: int) -> float:
        """Eyelid closure at frame k; schedules the next blink (its apex lands on a frame)."""
        cfg, dt, rng = self.cfg, FRAME_SECONDS, self._blink_rng
        t = k * dt
        if t >= self._next_blink_s:
            dur = float(rng.uniform(*cfg.blink_duration_s))
            apex = math.ceil((t + _BLINK_APEX * dur) / dt - 1e-9)  # first frame the apex can land on
            self._blinks.append((apex, dur))
            end = apex * dt + (1 - _BLINK_APEX) * dur
            if rng.random() < cfg.double_blink_p:
                dur2 = float(rng.uniform(*cfg.blink_duration_s))
                gap = float(rng.uniform(*cfg.double_blink_gap_s))
                apex2 = math.ceil((end + gap + _BLINK_APEX * dur2) / dt)
                self._blinks.append((apex2, dur2))
                end = apex2 * dt + (1 - _BLINK_APEX) * dur2
            self._last_blink_end_s = end
            self._next_blink_s = end + float(rng.uniform(*cfg.blink_interval_s))
        value = 0.0
        for apex, dur in self._blinks:
            value = max(value, blink_shape((k - apex) * dt / dur + _BLINK_APEX))
        self._blinks = [(a, d) for a, d in self._blinks if (k - a) * dt < (1 - _BLINK_APEX) * d]
        return value

    def _head(self, k: int, emphasis: float) -> np.ndarray:
        """Pose [6]: sinusoids + random walk (livelier with speech), breathing, and the nod."""
        cfg, dt = self.cfg, FRAME_SECONDS
        self._head_phase += (
            2 * np.pi * self._head_freqs * dt * (1.0 + cfg.head_speech_speedup * self._speech_slow)
        )
        osc = (self._head_weights * np.sin(self._head_phase)).sum(axis=1)  # [6] in [-1, 1]
        self._head_walk += -self._head_walk * self._a_walk + self._head_rng.normal(0.0, 0.06, 6)
        amp = self._head_amp * (1.0 + cfg.head_speech_gain * self._speech_slow)
        head = amp * (0.8 * osc + 0.35 * np.clip(self._head_walk, -1.0, 1.0))  # [6]
        breath = math.sin(2 * math.pi * self.breath_hz * k * dt + self._breath_phase0)  # +1: inhaled
        head[ms.INDEX["headTy"]] -= cfg.breath_ty * breath  # up on the inhale
        head[ms.INDEX["headPitch"]] += cfg.nod_max * emphasis - cfg.breath_pitch * breath
        return head

    def _gaze_step(self, k: int) -> np.ndarray:
        """Gaze [2]: saccades to nearby targets (often back to the camera), smooth drift between."""
        cfg, dt, rng = self.cfg, FRAME_SECONDS, self._gaze_rng
        t = k * dt
        if t >= self._next_saccade_s:
            if rng.random() < 0.5:
                self._gaze_target = np.zeros(2)
            else:
                self._gaze_target = rng.normal(0.0, [cfg.gaze_yaw_sd, cfg.gaze_pitch_sd])
            self._next_saccade_s = t + float(rng.uniform(*cfg.gaze_saccade_interval_s))
        drift = rng.normal(0.0, cfg.gaze_drift_sd, 2)
        self._gaze += (self._gaze_target - self._gaze) * self._a_saccade + drift
        return self._gaze


def life_track(
    speech: np.ndarray,
    seed: int | None = None,
    config: LifeConfig | None = None,
    emphasis: np.ndarray | None = None,
) -> np.ndarray:
    """Offline life motion for a whole clip: speech [T] (0..1 per frame) -> float32 [T, MOTION_DIM].

    Frame for frame what a fresh :class:`Life` streams for the same inputs (the corpus generator
    builds its non-speech channels with it).
    """
    s = np.asarray(speech, dtype=np.float64).reshape(-1)  # [T]
    e = np.zeros_like(s) if emphasis is None else np.asarray(emphasis, dtype=np.float64).reshape(-1)
    if e.shape != s.shape:
        raise ValueError(f"emphasis has {e.shape[0]} frames, speech {s.shape[0]}")
    life = Life(seed=seed, config=config)
    out = np.zeros((s.shape[0], ms.MOTION_DIM), dtype=np.float32)  # [T, 40]
    for k in range(s.shape[0]):
        out[k] = life.step(k, float(s[k]), float(e[k]))
    return out
