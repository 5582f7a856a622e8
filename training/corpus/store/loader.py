"""Training windows streamed from a corpus: fixed-length slices of log-mel, motion and labels.

The loader reads one shard at a time (never the whole corpus), cuts every clip of the wanted
split into windows of ``window`` frames every ``hop`` frames and yields them in a seeded order
(shards shuffled, then windows within a buffer of a few shards). With ``augment`` it applies the
call-quality augmentation to the clip's audio first (a fresh draw per epoch and clip, seeded) and
recomputes the log-mel rows from the augmented audio with the same front end the server runs, so
the model trains on what a call would give it; the motion and labels stay those of the clean
speech.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xactor.engines import timebase
from xactor.engines.audio.features import log_mel
from xactor.training.corpus.store.format import clip_arrays, complete_shards, read_shard_meta, shard_paths

Augment = Callable[[np.ndarray, int], np.ndarray]  # (audio [N], seed) -> audio [N]


@dataclass(frozen=True)
class Window:
    """One training example (W frames)."""

    clip_id: str
    start: int  # first frame in the clip
    log_mel: np.ndarray  # [W * 4, 80] float32
    motion: np.ndarray  # [W, 40] float32
    speech: np.ndarray  # [W] float32
    emotion: np.ndarray  # [W] int64
    intensity: np.ndarray  # [W] float32


def clip_windows(
    clip_id: str, arrays: dict[str, np.ndarray], window: int, hop: int, mel: np.ndarray | None = None
) -> Iterator[Window]:
    """Windows of one clip's arrays (``mel`` overrides the stored log-mel, e.g. after augmentation)."""
    rows = timebase.ROWS_PER_FRAME
    mel = arrays["log_mel"] if mel is None else mel
    frames = int(arrays["motion"].shape[0])
    for start in range(0, frames - window + 1, hop):
        end = start + window
        yield Window(
            clip_id=clip_id,
            start=start,
            log_mel=np.asarray(mel[start * rows : end * rows], dtype=np.float32),  # [W * 4, 80]
            motion=np.asarray(arrays["motion"][start:end], dtype=np.float32),
            speech=np.asarray(arrays["speech"][start:end], dtype=np.float32),
            emotion=np.asarray(arrays["emotion"][start:end], dtype=np.int64),
            intensity=np.asarray(arrays["intensity"][start:end], dtype=np.float32),
        )


def iter_windows(
    root: Path,
    split: str,
    window: int = 250,
    hop: int = 125,
    seed: int = 0,
    epoch: int = 0,
    augment: Augment | None = None,
    shuffle: bool = True,
    buffer_shards: int = 4,
) -> Iterator[Window]:
    """Every window of ``split`` once, in an order fixed by (seed, epoch)."""
    rng = np.random.default_rng([seed, epoch])
    shards = complete_shards(root)
    if shuffle:
        rng.shuffle(shards)
    buffer: list[Window] = []
    for n, index in enumerate(shards, 1):
        meta = read_shard_meta(root, index)
        wanted = [c for c in meta["clips"] if c["split"] == split]
        if wanted:
            with np.load(shard_paths(root, index)[0]) as z:
                for c in wanted:
                    arrays = clip_arrays(z, c["id"])
                    mel = None
                    if augment is not None:
                        noisy = augment(arrays["audio"], int(rng.integers(2**31)))
                        mel = log_mel(noisy)  # [N // 160, 80]: the server's front end rows
                    buffer.extend(clip_windows(c["id"], arrays, window, hop, mel))
        if n % buffer_shards == 0 or n == len(shards):
            if shuffle:
                order = rng.permutation(len(buffer))
                buffer = [buffer[i] for i in order]
            yield from buffer
            buffer = []
