"""Motion metrics for ``xactor eval motion``: one pure-numpy function per metric.

Every function takes generated ("pred") and ground-truth ("true") motion in the absolute motion
space (:mod:`xactor.engines.motion_space`, [T, 40] per clip, 25 fps) or what was derived from it (face
landmarks, lip gaps, audio onsets), and returns plain floats, so each is testable on hand-made
arrays. Frames are paired by index: pred frame k is the motion for the audio of truth frame k.
Where a metric has no frames to look at it returns NaN rather than a misleading 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from xactor.engines import motion_space as ms
from xactor.engines.timebase import FPS, ROWS_PER_FRAME

JAW = ms.INDEX["jawOpen"]
# The mouth: jaw and every mouth* coefficient (what lip sync is judged on).
LIP_CHANNELS: tuple[int, ...] = tuple(i for i, n in enumerate(ms.NAMES) if n.startswith(("jaw", "mouth")))
# The upper face: brows and eyelids (blink, wide, squint) — gaze is not a face shape.
UPPER_FACE_CHANNELS: tuple[int, ...] = tuple(
    i for i, n in enumerate(ms.NAMES) if n.startswith(("brow", "eyeBlink", "eyeWide", "eyeSquint"))
)
CHANNEL_GROUPS: dict[str, tuple[int, ...]] = {
    "head": tuple(range(ms.POSE_DIM)),
    "mouth": (*LIP_CHANNELS, ms.INDEX["cheekPuff"]),
    "brows": tuple(i for i, n in enumerate(ms.NAMES) if n.startswith("brow")),
    "eyes": tuple(i for i, n in enumerate(ms.NAMES) if n.startswith("eye")),
    "gaze": tuple(range(ms.GAZE_SLICE.start, ms.GAZE_SLICE.stop)),
}
BILABIALS: frozenset[str] = frozenset({"P", "B", "M"})
# The vowels the jaw opens widest for (their stressed forms: unstressed AH is the schwa).
OPEN_VOWELS: frozenset[str] = frozenset({"AA", "AE", "AH", "AO", "AW", "AY"})
SILENCE = "sil"


# --- lip sync ---------------------------------------------------------------------------------------


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equal-length series (NaN when either is constant)."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")


def jaw_correlation(pred: np.ndarray, true: np.ndarray) -> float:
    """Metric 1 — Pearson ρ of ``jawOpen`` over all frames [N, 40] (clips concatenated)."""
    return pearson(pred[:, JAW], true[:, JAW])


def lip_mae(pred: np.ndarray, true: np.ndarray) -> float:
    """Metric 2 — mean absolute error of the mouth coefficients (jawOpen, mouth*) over [N, 40]."""
    idx = list(LIP_CHANNELS)
    return float(np.abs(pred[:, idx] - true[:, idx]).mean()) if len(pred) else float("nan")


def lip_vertex_error(pred_lips: np.ndarray, true_lips: np.ndarray) -> float:
    """Metric 3 — LVE (as in MeshTalk/FaceFormer): per frame the largest distance between a
    predicted and the true lip landmark [N, K, 3], averaged over frames. In the landmarks' units
    (face widths for the canonical face model); the head pose is left out by the caller, so it
    measures the mouth's shape, not where the head is."""
    if not len(pred_lips):
        return float("nan")
    return float(np.linalg.norm(pred_lips - true_lips, axis=-1).max(axis=1).mean())


def frame_phones(phones: Sequence[Sequence[Any]], frames: int, fps: int = FPS) -> np.ndarray:
    """The phone covering each frame's centre, [frames] of str (``sil`` where none does), from the
    corpus's ``[phone, start_s, end_s, stress, word]`` spans."""
    out = np.full(frames, SILENCE, dtype=object)
    centres = (np.arange(frames) + 0.5) / fps
    for span in phones:
        phone, start, end = str(span[0]), float(span[1]), float(span[2])
        lo, hi = np.searchsorted(centres, [start, end])
        out[lo:hi] = phone
    return out


def closed_share(gap: np.ndarray, frames: np.ndarray, threshold: float) -> float:
    """Metric 4 — the share of the selected frames (bool mask [N]) whose lip gap [N] is at most
    ``threshold`` ("lips closed"). With the bilabial mask (/P B M/ at the frame centre) higher is
    better; with the other speech frames it counts closures where the lips should be open."""
    sel = np.asarray(frames, bool)
    return float((gap[sel] <= threshold).mean()) if sel.any() else float("nan")


# --- dynamics -----------------------------------------------------------------------------------------


def upper_face_dynamics_deviation(preds: Sequence[np.ndarray], trues: Sequence[np.ndarray]) -> float:
    """Metric 5 — FDD-style upper-face dynamics deviation: per clip, the std over time of each brow
    and eyelid channel; |std_pred - std_true| averaged over channels and clips. 0 when the
    generated brows and lids move as much as the truth's (not necessarily at the same times)."""
    idx = list(UPPER_FACE_CHANNELS)
    devs = [np.abs(p[:, idx].std(0) - t[:, idx].std(0)).mean() for p, t in zip(preds, trues, strict=True)]
    return float(np.mean(devs)) if devs else float("nan")


def jitter(motions: Sequence[np.ndarray]) -> dict[str, float]:
    """Metric 7 — mean absolute second difference (acceleration per frame²) of each channel group
    (:data:`CHANNEL_GROUPS`), over every frame of every clip (never across a clip boundary), in the
    channels' own units. Compare with the truth's: much higher is jitter, much lower is mush."""
    acc = [np.abs(np.diff(m, n=2, axis=0)) for m in motions if len(m) > 2]  # [T - 2, 40] each
    if not acc:
        return {g: float("nan") for g in CHANNEL_GROUPS}
    a = np.concatenate(acc)  # [N, 40]
    return {g: float(a[:, list(idx)].mean()) for g, idx in CHANNEL_GROUPS.items()}


# --- head motion and speech rhythm ----------------------------------------------------------------


def head_speed(motion: np.ndarray, smooth: int = 3) -> np.ndarray:
    """Angular speed of the head [T] (radians per frame, yaw/pitch/roll), box-smoothed over
    ``smooth`` frames so frame-to-frame jitter does not count as a movement."""
    rot = motion[:, :3].astype(np.float64)
    speed = np.concatenate([[0.0], np.linalg.norm(np.diff(rot, axis=0), axis=1)])
    return np.convolve(speed, np.ones(smooth) / smooth, mode="same") if smooth > 1 else speed


def onset_strength(log_mel: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """Audio onset strength per frame [T]: the spectral flux of the log-mel rows [T × 4, 80] (sum of
    the bins' rises from one 10 ms row to the next), summed over the frame's rows and weighted by
    the VAD speech weight [T] (noise in pauses makes no beats)."""
    t = speech.shape[0]
    mel = np.asarray(log_mel[: t * ROWS_PER_FRAME], np.float64)
    flux = np.maximum(np.diff(mel, axis=0, prepend=mel[:1]), 0.0).sum(1)  # [T × 4]
    return flux.reshape(t, ROWS_PER_FRAME).sum(1) * speech  # [T]


def peak_frames(x: np.ndarray, min_distance: int = 5, quantile: float = 0.5) -> np.ndarray:
    """Indices of the peaks of ``x`` [T]: local maxima above its ``quantile``, strongest first kept,
    none closer than ``min_distance`` frames to a stronger one (sorted)."""
    x = np.asarray(x, np.float64)
    if len(x) < 3:
        return np.zeros(0, np.int64)
    floor = np.quantile(x, quantile)
    inner = np.arange(1, len(x) - 1)
    cand = inner[(x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:]) & (x[1:-1] > floor)]
    kept: list[int] = []
    for i in cand[np.argsort(-x[cand], kind="stable")]:
        if all(abs(int(i) - k) >= min_distance for k in kept):
            kept.append(int(i))
    return np.array(sorted(kept), np.int64)


def beat_alignment(
    head_speeds: Sequence[np.ndarray], onsets: Sequence[np.ndarray], sigma: float = 2.0
) -> float:
    """Metric 8 — beat alignment score (BAS, as in Bailando, head motion for dance): for every peak
    of the head's angular speed, exp(-d² / 2σ²) with d the frames to the nearest audio onset peak
    (σ = 2 frames = 80 ms), averaged over all head peaks of all clips. 1 = every head movement
    lands on an onset; clips without onsets are skipped."""
    scores: list[np.ndarray] = []
    for speed, onset in zip(head_speeds, onsets, strict=True):
        heads, beats = peak_frames(speed), peak_frames(onset)
        if not len(heads) or not len(beats):
            continue
        d = np.abs(heads[:, None] - beats[None, :]).min(1)  # [n_head_peaks]
        scores.append(np.exp(-(d.astype(np.float64) ** 2) / (2 * sigma**2)))
    return float(np.concatenate(scores).mean()) if scores else float("nan")


# --- sampling ---------------------------------------------------------------------------------------------


def seed_diversity(runs: np.ndarray, scale: np.ndarray) -> float:
    """Metric 9 — diversity across seeds: the std over seeds of runs [S, N, 40] (same audio, S
    seeds), per frame and channel, in units of ``scale`` [40] (the truth's per-channel std),
    averaged. 0 = the seed changes nothing; ~1 = as different as unrelated motion."""
    return float((runs.std(axis=0) / scale).mean())


def drift(
    motion: np.ndarray,
    scale: np.ndarray,
    frames_per_minute: int = 60 * FPS,
    channels: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Metric 10 — drift over a long stream [N, 40]: per whole minute the mean and std of each
    channel; the largest deviation of any later minute from minute one, relative to ``scale`` [40]
    (the truth's per-channel std), in percent — the worst channel (``mean_pct``, ``std_pct``), the
    median channel's worst minute (``median_mean_pct``) and which channel was worst. A stationary
    signal gives ≈ 0 plus its sampling noise; content moves it too, so compare sources on the same
    audio. ``channels``: only these (by index into the motion space)."""
    index = np.arange(motion.shape[1]) if channels is None else np.asarray(channels)
    motion, scale = motion[:, index], np.asarray(scale)[index]
    minutes = motion.shape[0] // frames_per_minute
    if minutes < 2:
        nan = float("nan")
        return {"mean_pct": nan, "std_pct": nan, "median_mean_pct": nan, "minutes": float(minutes)}
    blocks = motion[: minutes * frames_per_minute].reshape(minutes, frames_per_minute, -1)  # [M, F, 40]
    mean, std = blocks.mean(1), blocks.std(1)  # [M, 40]
    mean_dev = (np.abs(mean[1:] - mean[0]) / scale).max(0)  # [40] each channel's worst minute
    return {
        "mean_pct": float(100 * mean_dev.max()),
        "std_pct": float(100 * (np.abs(std[1:] - std[0]) / scale).max()),
        "median_mean_pct": float(100 * np.median(mean_dev)),
        "worst_channel": ms.CHANNELS[int(index[mean_dev.argmax()])].name,
        "minutes": float(minutes),
    }


def agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Metric 11 — how close two generations [N, 40] of the same audio are (streaming vs offline):
    ρ(jawOpen) between them and their mouth-coefficient MAE."""
    return {"rho_jaw": jaw_correlation(a, b), "lip_mae": lip_mae(a, b)}
