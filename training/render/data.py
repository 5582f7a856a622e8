"""Training pairs for the diffusion renderer: what the warp renderer makes of a procedural
identity's reference portrait for some motion (the *prior*), beside the identity drawn exactly
for that motion (the *target*).

Layout of a data folder::

    manifest.json          config, splits, shard list
    <split>-NNNN.npz       one shard: ``ids_per_shard`` identities × ``per_identity`` samples
        seeds      int64 [I]            identity seeds (split-disjoint ranges)
        reference  uint8 [I, S, S, 3]   each identity's reference portrait (motion zero)
        identity   int64 [N]            row of ``reference`` per sample
        motion     float32 [N, 40]
        landmarks  float16 [N, 478, 2]  target landmarks, crop px
        prior      uint8 [N, S, S, 3]   the warp renderer's frame
        target     uint8 [N, S, S, 3]   the exact frame

Identities never cross splits (train seeds from 0, val from 1,000,000, test from 2,000,000).
Motions come from the motion corpus's own split when one is given (real speech motion: visemes,
moods, head motion, blinks), else from :func:`random_motion`. Shards are written atomically; a
second run skips the complete ones (resume).
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xactor.engines import motion_space as ms

log = logging.getLogger(__name__)

SPLIT_SEED_BASE = {"train": 0, "val": 1_000_000, "test": 2_000_000}
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class RenderDataConfig:
    size: int = 128
    identities: dict[str, int] | None = None  # per split; default train 192, val 8, test 16
    ids_per_shard: int = 8
    per_identity: int = 48
    seed: int = 0
    corpus: str | None = None  # motion corpus folder (xactor synth); None: random motion

    def counts(self) -> dict[str, int]:
        return self.identities or {"train": 192, "val": 8, "test": 16}


def random_motion(rng: np.random.Generator, n: int) -> np.ndarray:
    """[n, 40] plausible motion without a corpus: a few expressions at a time, head pose and gaze
    around the front."""
    m = np.zeros((n, ms.MOTION_DIM), np.float32)
    expr = rng.uniform(0, 1, (n, ms.EXPRESSION_DIM)) * (rng.random((n, ms.EXPRESSION_DIM)) < 0.2)
    m[:, ms.EXPRESSION_SLICE] = expr
    m[:, ms.POSE_SLICE] = rng.normal(0, 1, (n, 6)) * np.array([0.15, 0.1, 0.07, 0.03, 0.03, 0.03])
    m[:, ms.GAZE_SLICE] = rng.uniform(-0.5, 0.5, (n, 2))
    return ms.clamp_np(m)


def corpus_motion(corpus: Path, split: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """[n, 40] frames drawn at random from the motion corpus's ``split`` (absolute motion)."""
    from xactor.training.corpus.store.format import iter_clips

    pools = [arrays["motion"].astype(np.float32) for _, arrays in iter_clips(corpus, split)]
    if not pools:
        raise ValueError(f"{corpus}: no clips in split {split!r}")
    frames = np.concatenate(pools)
    return ms.clamp_np(frames[rng.integers(0, len(frames), n)])


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:04d}.npz"


def _make_shard(args: tuple[RenderDataConfig, str, int, Path]) -> str:
    """One shard (run in a worker process; torch single-threaded there)."""
    import torch

    from xactor.engines.procedural.identity import sample_identity
    from xactor.engines.procedural.render import ProceduralFace, reference_and_warp

    cfg, split, index, out = args
    torch.set_num_threads(1)
    rng = np.random.default_rng([cfg.seed, SPLIT_SEED_BASE[split], index])
    first = SPLIT_SEED_BASE[split] + index * cfg.ids_per_shard
    count = min(cfg.ids_per_shard, cfg.counts()[split] - index * cfg.ids_per_shard)
    seeds = np.arange(first, first + count, dtype=np.int64)
    k = cfg.per_identity
    if cfg.corpus:
        motions = corpus_motion(Path(cfg.corpus), split, count * k, rng)
    else:
        motions = random_motion(rng, count * k)
    refs, priors, targets, marks = [], [], [], []
    for i, seed in enumerate(seeds):
        face = ProceduralFace(sample_identity(int(seed)), cfg.size)
        reference, warp = reference_and_warp(face, trace=False)
        batch = motions[i * k : (i + 1) * k]
        refs.append(reference)
        priors.append(warp.render(batch))
        targets.append(np.stack([face.render(m) for m in batch]))
        marks.append(face.face_model.landmarks(batch)[..., :2].astype(np.float16))
    path = out / shard_name(split, index)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(
        tmp,
        seeds=seeds,
        reference=np.stack(refs),
        identity=np.repeat(np.arange(count), k),
        motion=motions,
        landmarks=np.concatenate(marks),
        prior=np.concatenate(priors),
        target=np.concatenate(targets),
    )
    tmp.replace(path)
    return path.name


def build(cfg: RenderDataConfig, out: Path, workers: int = 2) -> dict[str, Any]:
    """Write every missing shard of every split, then the manifest (returned)."""
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    shards: dict[str, list[str]] = {}
    for split, count in cfg.counts().items():
        n_shards = -(-count // cfg.ids_per_shard)
        shards[split] = [shard_name(split, i) for i in range(n_shards)]
        jobs += [(cfg, split, i, out) for i in range(n_shards) if not (out / shard_name(split, i)).is_file()]
    log.info("render data: %d shards to make in %s", len(jobs), out)
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as pool:
            for name in pool.map(_make_shard, jobs):
                log.info("wrote %s", name)
    else:
        for job in jobs:
            log.info("wrote %s", _make_shard(job))
    manifest = {"config": asdict(cfg), "shards": shards}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{folder}: not a render data folder (no {MANIFEST}); make one with xactor synth render-data"
        )
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


@dataclass
class RenderSplit:
    """A split in memory (uint8 frames: 128 px × 10k samples is about 1.5 GB)."""

    reference: np.ndarray  # [I, S, S, 3] uint8
    identity: np.ndarray  # [N] rows of reference
    motion: np.ndarray  # [N, 40]
    landmarks: np.ndarray  # [N, 478, 2] float32
    prior: np.ndarray  # [N, S, S, 3] uint8
    target: np.ndarray  # [N, S, S, 3] uint8

    def __len__(self) -> int:
        return len(self.identity)


def load_split(folder: Path, split: str, limit_shards: int | None = None) -> RenderSplit:
    names = read_manifest(folder)["shards"][split][:limit_shards]
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("reference", "identity", "motion", "landmarks", "prior", "target")
    }
    offset = 0
    for name in names:
        with np.load(folder / name) as z:
            parts["identity"].append(z["identity"] + offset)
            offset += len(z["reference"])
            for k in ("reference", "motion", "prior", "target"):
                parts[k].append(z[k])
            parts["landmarks"].append(z["landmarks"].astype(np.float32))
    if not names:
        raise ValueError(f"{folder}: split {split!r} has no shards")
    return RenderSplit(**{k: np.concatenate(v) for k, v in parts.items()})
