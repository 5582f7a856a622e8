"""Experiment (issue 18, not shipped): an explicit closure head against the student's own press.

A small bilabial detector is trained alone on the TTS corpora, on exactly the audio vectors the
student is fed (its normaliser and per-stream shift, its 11-slot window, the lookahead drawn per
window as the teacher's training does), with the loader's call-quality augmentation. It is then
scored on the real dev set, beside the student's own mouthPress as a detector of the same frames,
and a seal is simulated in motion space where either fires: how many /p b m/ close, and what the
correlation with phone openness pays for them. Nothing here is trained on the dev set.

Run: ``.venv/bin/python scripts/bilabial_probe.py CORPUS [CORPUS ...] --devset DEVSET [--steps 6000]``
(3 min of training and 1 min of scoring on 2 cores). Result: docs/training.md, "Tried and not shipped".
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from xactor.bench.real_speech import metrics
from xactor.bench.real_speech import motion_space as msp
from xactor.bench.real_speech.clips import ClipData, load_clips
from xactor.bench.real_speech.offline import SourceFactory, clip_motion
from xactor.bench.real_speech.recognizer import audio_vectors
from xactor.engines import motion_space as ms
from xactor.engines.motion_gen.weights import SHIPPED_DIR, STUDENT, GeneratorWeights, load_weights
from xactor.training.motion.data import PHONE_CLASSES, Augmenter, BatchSampler, load_split

BILABIAL_IDS = torch.tensor([PHONE_CLASSES.index(p) for p in ("P", "B", "M")])
PRESS = [ms.INDEX["mouthPressLeft"], ms.INDEX["mouthPressRight"]]
JAW, CLOSE = ms.INDEX["jawOpen"], ms.INDEX["mouthClose"]


class BilabialDetector(nn.Module):
    """Audio window [B, T + window - 1, A] at lookahead L -> logit [B, T] of "frame t is /p b m/"."""

    def __init__(self, audio_dim: int, window: int, history: int, hidden: int = 64) -> None:
        super().__init__()
        self.window, self.history = window, history
        self.slot = nn.Sequential(nn.Linear(audio_dim, hidden), nn.GELU())
        self.unseen = nn.Parameter(torch.zeros(hidden))
        self.head = nn.Sequential(nn.Linear(window * hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, audio: torch.Tensor, lookahead: torch.Tensor | int) -> torch.Tensor:
        h = self.slot(audio)  # [B, T + window - 1, d]
        win = h.unfold(1, self.window, 1).transpose(2, 3)  # [B, T, window, d]
        heard = torch.arange(self.window)[None, :] < self.history + torch.as_tensor(lookahead).reshape(-1, 1)
        win = torch.where(heard[:, None, :, None], win, self.unseen)
        b, t = win.shape[:2]
        return self.head(win.reshape(b, t, -1)).squeeze(-1)  # [B, T]


def train(weights: GeneratorWeights, corpora: list[Path], steps: int) -> BilabialDetector:
    cfg, norm = weights.config, weights.normalizer
    det = BilabialDetector(cfg.audio_dim, cfg.audio_window, cfg.audio_history)
    clips = load_split(corpora, "train", None)
    sampler = BatchSampler(cfg, norm, clips, 64, seed=1, p_augment=0.75, lookahead_p=(0.3, 0.5, 0.1, 0.1))
    augmenter = Augmenter(corpora, "train", clips, None, seed=3).start()
    opt = torch.optim.AdamW(det.parameters(), lr=1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=steps, pct_start=0.05)
    try:
        for step in range(steps):
            augmenter.collect()
            batch = sampler.batch(32)
            target = torch.isin(batch.phones, BILABIAL_IDS).float()
            loss = nn.functional.binary_cross_entropy_with_logits(
                det(batch.audio, batch.lookahead), target, pos_weight=torch.tensor(4.0)
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if step % 500 == 0:
                print(f"step {step}: loss {loss.item():.4f}, {augmenter.done} clips augmented", flush=True)
    finally:
        augmenter.stop()
    return det.eval()


@torch.no_grad()
def detect(
    det: BilabialDetector, weights: GeneratorWeights, clip: ClipData, lookahead: int = 1
) -> np.ndarray:
    """P(/p b m/) per frame [T] of a dev-set clip, streamed as live (silence before and after)."""
    cfg = weights.config
    audio = torch.from_numpy(audio_vectors(weights, clip.samples))  # [T, A]
    silence = torch.from_numpy(weights.normalizer.silence())
    padded = torch.cat(
        [silence.expand(cfg.audio_history - 1, -1), audio, silence.expand(cfg.max_lookahead, -1)]
    )  # [T + window - 1, A]
    return det(padded[None], lookahead).sigmoid()[0].numpy()


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    order = np.argsort(-score)
    hits, misses = np.cumsum(positive[order]), np.cumsum(~positive[order])
    return float(np.trapz(hits / positive.sum(), misses / (~positive).sum()))


def phones_found(scores: dict[str, np.ndarray], clips: list[ClipData], threshold: float) -> int:
    """/p b m/ phones with a score over ``threshold`` within the phone ± 1 frame: the evaluation's
    own closure window (:func:`metrics.closures`), on the negated score."""
    return sum(metrics.closures(-scores[c.id], c.bilabials, -threshold)[0] for c in clips)


def detector_table(
    name: str, scores: dict[str, np.ndarray], clips: list[ClipData], thresholds: list[float]
) -> None:
    score = np.concatenate([scores[c.id][: c.frames][c.scored[: len(scores[c.id])]] for c in clips])
    positive = np.concatenate(
        [
            np.isin(c.per_frame[: len(scores[c.id])], ["P", "B", "M"])[c.scored[: len(scores[c.id])]]
            for c in clips
        ]
    )
    print(f"{name}: frame AUC {auc(score, positive):.3f}")
    for t in thresholds:
        print(
            f"  > {t}: {phones_found(scores, clips, t)} of {sum(len(c.bilabials) for c in clips)} phones, "
            f"false alarms on {float((score[~positive] > t).mean()):.1%} of other frames"
        )


def sealed(motion: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``motion`` [T, 40] moved by ``weight`` [T] toward the corpus's /p b m/ contact: jaw at most
    0.05, press at least 0.6, lips sealed (mouthClose = jawOpen)."""
    out = motion.copy()
    w = weight[:, None]  # [T, 1]
    out[:, JAW : JAW + 1] += w * (np.minimum(out[:, JAW : JAW + 1], 0.05) - out[:, JAW : JAW + 1])
    out[:, PRESS] += w * (np.maximum(out[:, PRESS], 0.6) - out[:, PRESS])
    out[:, CLOSE : CLOSE + 1] += w * (out[:, JAW : JAW + 1] - out[:, CLOSE : CLOSE + 1])
    return out


Weight = Callable[[ClipData], np.ndarray]  # a clip -> how far to seal each frame [T]


def seal_row(name: str, clips: list[ClipData], motions: dict[str, np.ndarray], weight: Weight | None) -> None:
    closed = total = 0
    series = []
    for clip in clips:
        motion = motions[clip.id]
        opening = msp.opening(motion if weight is None else sealed(motion, weight(clip)))
        c, t = metrics.closures(opening, clip.bilabials, msp.closed_threshold())
        closed, total = closed + c, total + t
        series.append((opening, clip.target[: len(opening)], clip.scored[: len(opening)]))
    print(f"{name:32s} sealed {closed} of {total}, rho {metrics.correlation(series, 0):.3f} (motion space)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="+", type=Path)
    parser.add_argument("--devset", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=6000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    weights = load_weights(SHIPPED_DIR, STUDENT)
    det = train(weights, args.corpora, args.steps)
    clips = load_clips(args.devset)
    student = SourceFactory(SHIPPED_DIR)
    motions, probs, press = {}, {}, {}
    for clip in clips:
        p = detect(det, weights, clip)
        m = clip_motion(student("student"), clip.samples)
        n = min(len(p), len(m), clip.frames)
        motions[clip.id], probs[clip.id], press[clip.id] = m[:n], p[:n], m[:n, PRESS].mean(1)
    detector_table("detector", probs, clips, [0.3, 0.5, 0.7, 0.9])
    detector_table("student's mouthPress", press, clips, [0.2, 0.3, 0.4, 0.5])
    seal_row("student", clips, motions, None)

    def over(scores: dict[str, np.ndarray], threshold: float) -> Weight:
        return lambda clip: np.clip((scores[clip.id] - threshold) / 0.1, 0.0, 1.0)

    for t in (0.5, 0.7, 0.8, 0.9):
        seal_row(f"sealed where detector > {t}", clips, motions, over(probs, t))
    for t in (0.3, 0.4, 0.5):
        seal_row(f"sealed where press > {t}", clips, motions, over(press, t))


if __name__ == "__main__":
    main()
