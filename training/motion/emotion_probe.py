"""Metric 6's judge: a small emotion classifier over 2 s windows of motion, trained on true motion.

Whether generated motion *acts* the mood of the voice cannot be read off one channel: the corpus
sets a mood per stretch of speech and lets it shift expression offsets (smile, brows, lids) and
the head. So a probe learns, from the training split's true motion, to name the emotion of a
2 s window from per-channel statistics (mean and std of each of the 40 channels); generated
motion of the test clips is then scored by how often the probe names the clip's true emotion.
The probe's accuracy on the test split's *true* motion is the ceiling.

The probe is multinomial logistic regression (standardised features, L2, L-BFGS from zeros:
deterministic), cached by a key of the training data and its settings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from xactor.engines.timebase import FPS
from xactor.training.corpus.store.format import EMOTIONS, complete_shards, read_shard_meta, shard_paths

WINDOW = 2 * FPS  # 50 frames
HOP = FPS  # windows every second
L2 = 1e-3
VERSION = 1


def window_features(motion: np.ndarray, window: int = WINDOW, hop: int = HOP) -> np.ndarray:
    """[T, 40] -> [W, 80]: mean and std of every channel over each ``window`` frames, ``hop`` apart."""
    starts = range(0, motion.shape[0] - window + 1, hop)
    wins = (
        np.stack([motion[s : s + window] for s in starts])
        if len(starts)
        else np.zeros((0, window, motion.shape[1]))
    )
    return np.concatenate([wins.mean(1), wins.std(1)], axis=1).astype(np.float64)  # [W, 80]


def window_labels(emotion: np.ndarray, window: int = WINDOW, hop: int = HOP, classes: int = 5) -> np.ndarray:
    """[T] per-frame labels -> [W] the majority label of each window (ties: the lower index)."""
    starts = range(0, emotion.shape[0] - window + 1, hop)
    return np.array(
        [np.bincount(emotion[s : s + window], minlength=classes).argmax() for s in starts], np.int64
    )


@dataclass(frozen=True)
class EmotionProbe:
    """Standardisation and logistic-regression weights; :meth:`predict` window features."""

    mean: np.ndarray  # [F]
    std: np.ndarray  # [F]
    weights: np.ndarray  # [F, K]
    bias: np.ndarray  # [K]
    key: str = ""

    def predict(self, features: np.ndarray) -> np.ndarray:
        """[W, F] -> [W] class indices."""
        return (((features - self.mean) / self.std) @ self.weights + self.bias).argmax(1)

    def accuracy(self, motions: Sequence[np.ndarray], emotions: Sequence[np.ndarray]) -> float:
        """Share of the 2 s windows of every clip (motion [T, 40], true labels [T]) named right."""
        hits, total = 0, 0
        for m, e in zip(motions, emotions, strict=True):
            feats, labels = window_features(m), window_labels(e, classes=self.bias.shape[0])
            if len(labels):
                hits += int((self.predict(feats) == labels).sum())
                total += len(labels)
        return hits / total if total else float("nan")

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez(tmp, mean=self.mean, std=self.std, weights=self.weights, bias=self.bias, key=self.key)
        tmp.replace(path)

    @staticmethod
    def load(path: Path) -> EmotionProbe:
        with np.load(path) as z:
            return EmotionProbe(z["mean"], z["std"], z["weights"], z["bias"], str(z["key"]))


def fit_probe(features: np.ndarray, labels: np.ndarray, classes: int, l2: float = L2) -> EmotionProbe:
    """Multinomial logistic regression of labels [W] on features [W, F] (mean cross-entropy +
    ``l2``·|w|²), from zeros with L-BFGS: the same data gives the same probe."""
    mean = features.mean(0)
    std = np.maximum(features.std(0), 1e-6)
    x = (features - mean) / std  # [W, F]
    n, f = x.shape
    onehot = np.eye(classes)[labels]  # [W, K]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: f * classes].reshape(f, classes), theta[f * classes :]
        z = x @ w + b  # [W, K]
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        ce = -float((onehot * np.log(p + 1e-12)).sum()) / n + l2 * float((w * w).sum())
        g = (p - onehot) / n  # [W, K]
        return ce, np.concatenate([(x.T @ g + 2 * l2 * w).ravel(), g.sum(0)])

    res = minimize(
        loss, np.zeros(f * classes + classes), jac=True, method="L-BFGS-B", options={"maxiter": 500}
    )
    theta = res.x
    return EmotionProbe(mean, std, theta[: f * classes].reshape(f, classes), theta[f * classes :])


def split_motion(root: Path, split: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(id, motion [T, 40], emotion [T]) of every clip of ``split``, without loading its audio."""
    out = []
    for index in complete_shards(root):
        wanted = [c["id"] for c in read_shard_meta(root, index)["clips"] if c["split"] == split]
        if not wanted:
            continue
        with np.load(shard_paths(root, index)[0]) as z:
            for cid in wanted:
                out.append((cid, z[f"{cid}/motion"].astype(np.float32), z[f"{cid}/emotion"].astype(np.int64)))
    return out


def probe_key(clips: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> str:
    """What the probe depends on: the training clips' contents and the probe's settings."""
    h = hashlib.sha256(json.dumps([VERSION, WINDOW, HOP, L2, len(EMOTIONS)]).encode())
    for cid, motion, emotion in clips:
        h.update(cid.encode())
        h.update(np.ascontiguousarray(motion).tobytes())
        h.update(np.ascontiguousarray(emotion).tobytes())
    return h.hexdigest()[:16]


def load_or_train(root: Path, cache: Path) -> EmotionProbe:
    """The probe for corpus ``root``'s train split: from ``cache`` (a .npz file) when its key
    matches, else trained on the split's true motion and saved there."""
    clips = split_motion(root, "train")
    if not clips:
        raise ValueError(f"{root}: no train clips to fit the emotion probe on")
    key = probe_key(clips)
    if cache.is_file():
        probe = EmotionProbe.load(cache)
        if probe.key == key:
            return probe
    feats = np.concatenate([window_features(m) for _, m, _ in clips])
    labels = np.concatenate([window_labels(e, classes=len(EMOTIONS)) for _, _, e in clips])
    fitted = fit_probe(feats, labels, len(EMOTIONS))
    probe = EmotionProbe(fitted.mean, fitted.std, fitted.weights, fitted.bias, key)
    probe.save(cache)
    return probe
