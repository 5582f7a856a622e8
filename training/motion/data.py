"""Training batches for the generator, from a corpus split held in memory.

A 5-hour corpus is ~1 GB in memory (audio, float16 log-mel and motion), so the split is loaded
once and windows are cut at random: a random clip (weighted by length), a random start — a
quarter of the time at the clip's first frame, so the model learns how a session starts, with
digital silence as the audio history, exactly as the live generator starts.

Augmentation: the corpus's call-quality chain (:mod:`xactor.training.corpus.augment`) costs ~0.05 CPU
seconds per second of audio with the log-mel, too much to redo for every window on two cores. A
low-priority child process re-augments one clip after another, forever (a fresh seed each time)
and the trainer keeps each clip's latest augmented log-mel; a window uses it with probability
``p_augment`` once it exists, else the clean rows. The motion and labels are always the clean speech's.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xactor.engines.audio.features import log_mel
from xactor.engines.motion_gen.config import MotionGenConfig
from xactor.engines.motion_gen.features import Normalizer, stream_shift
from xactor.engines.timebase import ROWS_PER_FRAME
from xactor.training.corpus.augment import loader_augment
from xactor.training.corpus.phonemes import ARPABET, SILENCE
from xactor.training.corpus.store.format import clip_arrays, complete_shards, read_shard_meta, shard_paths
from xactor.training.motion.metrics import frame_phones

log = logging.getLogger(__name__)


PHONE_CLASSES: tuple[str, ...] = (SILENCE, *ARPABET)  # the auxiliary phone head's classes


UNKNOWN_PHONE = -100  # a frame of a clip without alignment: the phone loss ignores it


def phone_classes(phones: list, frames: int, known: bool = True) -> np.ndarray:
    """[T] index into :data:`PHONE_CLASSES` of the phone at each frame's centre (silence if none);
    :data:`UNKNOWN_PHONE` everywhere for a clip whose phones are not known (real videos)."""
    if not known:
        return np.full(frames, UNKNOWN_PHONE, np.int64)
    index = {p: i for i, p in enumerate(PHONE_CLASSES)}
    return np.array([index.get(p, 0) for p in frame_phones(phones, frames)], np.int64)


@dataclass
class ClipData:
    """One clip's arrays (log-mel [T × 4, 80], motion [T, 40], per-frame labels [T])."""

    id: str
    audio: np.ndarray
    log_mel: np.ndarray
    motion: np.ndarray
    speech: np.ndarray
    emotion: np.ndarray
    intensity: np.ndarray
    phones: list
    aug_mel: np.ndarray | None = None
    shifted: dict[str, np.ndarray] = field(default_factory=dict)  # stream-shifted rows: "clean", "aug"
    phone_ids: np.ndarray | None = None  # [T] int64: PHONE_CLASSES index of the phone at each frame
    phones_known: bool = True  # False: no alignment (``xactor prepare`` on real videos)

    def __post_init__(self) -> None:
        if self.phone_ids is None:
            self.phone_ids = phone_classes(self.phones, self.frames, self.phones_known)

    @property
    def frames(self) -> int:
        return int(self.motion.shape[0])


Corpora = Path | Sequence[Path]  # one corpus folder, or several trained on together


def corpus_roots(roots: Corpora) -> list[Path]:
    return [Path(roots)] if isinstance(roots, str | Path) else [Path(r) for r in roots]


def load_split(roots: Corpora, split: str, limit: int | None = None) -> list[ClipData]:
    """Every clip of ``split`` (at most ``limit`` per corpus) of each corpus, in shard order; a
    corpus without that split (a single neural voice has no held-out voice) adds nothing."""
    clips: list[ClipData] = []
    for root in corpus_roots(roots):
        clips += _load_one(root, split, limit)
    if not clips:
        raise ValueError(f"{', '.join(map(str, corpus_roots(roots)))}: no clips in split {split!r}")
    return clips


def _load_one(root: Path, split: str, limit: int | None) -> list[ClipData]:
    clips: list[ClipData] = []
    for index in complete_shards(root):
        meta = read_shard_meta(root, index)
        wanted = [c for c in meta["clips"] if c["split"] == split]
        if not wanted:
            continue
        with np.load(shard_paths(root, index)[0]) as z:
            for c in wanted:
                a = clip_arrays(z, c["id"])
                clips.append(
                    ClipData(
                        c["id"],
                        a["audio"],
                        a["log_mel"],
                        a["motion"].astype(np.float32),
                        a["speech"].astype(np.float32),
                        a["emotion"].astype(np.int64),
                        a["intensity"].astype(np.float32),
                        c.get("phones", []),
                        phones_known=bool(c.get("extra", {}).get("phones_known", True)),
                    )
                )
                if limit is not None and len(clips) >= limit:
                    return clips
    return clips


def fit_normalizer(clips: list[ClipData], max_rows: int = 400_000, seed: int = 0) -> Normalizer:
    """Corpus statistics of log-mel bins and motion channels (a seeded subsample of rows)."""
    rng = np.random.default_rng(seed)
    mel = np.concatenate([c.log_mel for c in clips]).astype(np.float32)  # [N, 80]
    speech = np.concatenate([np.repeat(c.speech, ROWS_PER_FRAME)[: c.log_mel.shape[0]] for c in clips]) > 0.5
    if mel.shape[0] > max_rows:
        keep = rng.choice(mel.shape[0], max_rows, replace=False)
        mel, speech = mel[keep], speech[keep]
    motion = np.concatenate([c.motion for c in clips])
    return Normalizer.fit(mel, motion, speech)


def _augment_forever(roots: list[str], split: str, limit: int | None, seed: int, nice: int, out: Any) -> None:
    """Child process: re-augment random clips of the split forever, sending (index, log-mel)."""
    os.nice(nice)
    torch.set_num_threads(1)
    clips = load_split([Path(r) for r in roots], split, limit)
    hook = loader_augment()
    rng = np.random.default_rng(seed)
    while True:
        i = int(rng.integers(len(clips)))
        try:
            noisy = hook(clips[i].audio, int(rng.integers(2**31)))
        except Exception:  # one bad draw must not end augmentation for the run
            log.exception("augmenting %s failed", clips[i].id)
            continue
        out.put((i, log_mel(noisy).astype(np.float16)))  # blocks while the trainer is behind


class Augmenter:
    """A low-priority child process that keeps re-augmenting clips (see module docstring).

    A process, not a thread: the augmentation chain is partly Python, and holding the GIL next to
    the training loop made steps four times slower. ``nice`` keeps it from slowing training much:
    it works in what CPU the trainer leaves.
    """

    def __init__(
        self, roots: Corpora, split: str, clips: list[ClipData], limit: int | None, seed: int, nice: int = 10
    ) -> None:
        ctx = mp.get_context("spawn")
        self.clips = clips
        self.done = 0
        self.queue: Any = ctx.Queue(maxsize=2)
        self.proc = ctx.Process(
            target=_augment_forever,
            args=([str(r) for r in corpus_roots(roots)], split, limit, seed, nice, self.queue),
            daemon=True,
        )

    def start(self) -> Augmenter:
        self.proc.start()
        return self

    def collect(self) -> None:
        """Install every augmented log-mel that is ready (non-blocking)."""
        while True:
            try:
                i, mel = self.queue.get_nowait()
            except queue.Empty:
                return
            self.clips[i].aug_mel = mel
            self.clips[i].shifted.pop("aug", None)
            self.done += 1

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.join(timeout=5)


@dataclass
class Batch:
    """Model-ready tensors: audio [B, W + window - 1, A], motion [B, W, 40] (normalised),
    emotion [B, W] (labels), intensity [B, W], lookahead [B] (L of each window), phones [B, W]
    (:data:`PHONE_CLASSES` indices)."""

    audio: torch.Tensor
    motion: torch.Tensor
    emotion: torch.Tensor
    intensity: torch.Tensor
    lookahead: torch.Tensor
    phones: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        """The same batch on ``device`` (batches are sampled on the CPU, then moved)."""
        return Batch(*(getattr(self, f.name).to(device, non_blocking=True) for f in fields(self)))


def audio_vectors(
    norm: Normalizer, mel_rows: np.ndarray, speech: np.ndarray, stream_seconds: float = 0.0
) -> np.ndarray:
    """[T × 4, 80] log-mel rows and [T] speech -> [T, A] model audio vectors; ``stream_seconds``
    > 0: the rows are a whole stream from its start, moved by its running speech mean first."""
    t = speech.shape[0]
    rows = shifted_rows(norm, mel_rows, speech, stream_seconds)
    return norm.audio(rows[: t * ROWS_PER_FRAME].astype(np.float32).reshape(t, ROWS_PER_FRAME, -1), speech)


def shifted_rows(norm: Normalizer, mel_rows: np.ndarray, speech: np.ndarray, seconds: float) -> np.ndarray:
    """A stream's rows [T × 4, 80] (``speech`` [T]) as :class:`~engines.motion_gen.features.
    StreamShift` moves them when the stream starts at its first frame, as live streams do (the
    rows unchanged where ``seconds`` is 0)."""
    shift = stream_shift(norm, seconds)
    if shift is None:
        return mel_rows
    t = speech.shape[0]
    mel = mel_rows[: t * ROWS_PER_FRAME].astype(np.float32).reshape(t, ROWS_PER_FRAME, -1)  # [T, 4, 80]
    return shift.apply(mel, speech).reshape(t * ROWS_PER_FRAME, -1)


def window_audio(
    cfg: MotionGenConfig, norm: Normalizer, clip: ClipData, start: int, frames: int, mel: np.ndarray
) -> np.ndarray:
    """Audio vectors for frames ``start .. start + frames - 1`` with their windows:
    [frames + window - 1, A], silence outside the clip."""
    lo, hi = start - cfg.audio_history + 1, start + frames + cfg.max_lookahead
    a, b = max(lo, 0), min(hi, clip.frames)
    rows = ROWS_PER_FRAME
    inner = audio_vectors(norm, mel[a * rows : b * rows], clip.speech[a:b])
    sil = norm.silence()
    return np.concatenate([np.tile(sil, (a - lo, 1)), inner, np.tile(sil, (hi - b, 1))]).astype(np.float32)


class BatchSampler:
    """Random training windows (seeded per rank)."""

    def __init__(
        self,
        cfg: MotionGenConfig,
        norm: Normalizer,
        clips: list[ClipData],
        frames: int,
        seed: int,
        p_augment: float = 0.75,
        p_start: float = 0.25,
        lookahead_p: tuple[float, ...] | None = None,
    ) -> None:
        self.cfg, self.norm, self.clips, self.frames = cfg, norm, clips, frames
        self.rng = np.random.default_rng(seed)
        self.p_augment, self.p_start = p_augment, p_start
        # L drawn per window (None: always the config's default L)
        self.lookahead_p = None if lookahead_p is None else np.asarray(lookahead_p) / np.sum(lookahead_p)
        lengths = np.array([max(c.frames - frames, 0) + 1 for c in clips], np.float64)
        self.weights = lengths / lengths.sum()

    def window(self, clip: ClipData, start: int, augmented: bool) -> tuple[np.ndarray, ...]:
        which, mel = (
            ("aug", clip.aug_mel) if augmented and clip.aug_mel is not None else ("clean", clip.log_mel)
        )
        if self.cfg.stream_norm_seconds > 0:
            if which not in clip.shifted:
                speech = clip.speech[: clip.frames]
                clip.shifted[which] = shifted_rows(self.norm, mel, speech, self.cfg.stream_norm_seconds)
            mel = clip.shifted[which]
        w = self.frames
        audio = window_audio(self.cfg, self.norm, clip, start, w, mel)
        motion = self.norm.motion_in(clip.motion[start : start + w])
        assert clip.phone_ids is not None
        span = slice(start, start + w)
        return audio, motion, clip.emotion[span], clip.intensity[span], clip.phone_ids[span]

    def batch(self, size: int) -> Batch:
        parts = []
        for _ in range(size):
            clip = self.clips[int(self.rng.choice(len(self.clips), p=self.weights))]
            top = max(clip.frames - self.frames, 0)
            start = 0 if self.rng.random() < self.p_start else int(self.rng.integers(top + 1))
            parts.append(self.window(clip, start, bool(self.rng.random() < self.p_augment)))
        audio, motion, emotion, intensity, phones = (np.stack(p) for p in zip(*parts, strict=True))
        if self.lookahead_p is None:
            la = np.full(size, self.cfg.lookahead)
        else:
            la = self.rng.choice(len(self.lookahead_p), size=size, p=self.lookahead_p)
        return Batch(
            torch.from_numpy(audio),
            torch.from_numpy(motion),
            torch.from_numpy(emotion),
            torch.from_numpy(intensity),
            torch.from_numpy(la.astype(np.int64)),
            torch.from_numpy(phones),
        )
