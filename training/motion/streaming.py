"""Many live streams in one batch, for evaluation: the live sampler's numbers at a fraction of the cost.

Evaluation must stream each clip exactly as the server would (:class:`StreamingGenerator`: frame by
frame, KV cache, silence before the first frame), but one stream per call leaves the CPU idle in
Python overhead: a model call on 16 rows costs about as much as on 2. :class:`BatchStreamer` runs B
independent streams side by side — every row its own seed, noise draws and cache rows, so row ``i``
equals a ``StreamingGenerator(seed=seeds[i])`` fed the same audio (tested) — and drops a row as
soon as its clip is done, so short clips cost nothing once finished.

Emotion: one label for every row (:meth:`set_emotion`, as live), or an emotion track — a label and
intensity per row and frame (:meth:`BatchStreamer.set_emotion_track`) — so the evaluation can
condition each clip on its true, changing emotion; row ``i`` then equals a live stream whose
``set_emotion`` is called before each frame is embedded (tested).

It subclasses the live sampler and overrides only its four one-row hooks (window, emotion, noise,
emit); the rest (audio window, mask, cache rolling, the denoising loop) is the live code itself.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from xactor.engines import motion_space as ms
from xactor.engines.motion_gen.sampler import Conditioning, Denoiser, StreamingGenerator


class BatchStreamer(StreamingGenerator):
    """B live streams at once: :meth:`push` takes audio [n, B, A] and returns one [B, 40] per frame."""

    def __init__(
        self,
        denoiser: Denoiser,
        silence: np.ndarray,
        steps: int,
        shift: float,
        seeds: list[int],
        lookahead: int | None = None,
    ) -> None:
        self.seeds = list(seeds)
        self.track: tuple[torch.Tensor, torch.Tensor] | None = None  # labels, intensities [B, T]
        rows = np.tile(np.asarray(silence, np.float32), (len(self.seeds), 1))  # [B, A]
        super().__init__(denoiser, rows, steps, shift, history_noise=0.0, seed=0, lookahead=lookahead)

    def reset(self) -> None:
        super().reset()
        self.rngs = [torch.Generator().manual_seed(s) for s in self.seeds]

    @property
    def rows(self) -> int:
        return len(self.rngs)

    def set_emotion_track(self, labels: np.ndarray | None, intensity: np.ndarray | None = None) -> None:
        """Condition row ``i``'s frame ``k`` on ``labels[i, k]`` (EMOTIONS index; ``n_emotions`` =
        none) at ``intensity[i, k]`` (default 1), both [B, T]; past column T - 1 the last holds.
        ``None`` goes back to :meth:`set_emotion`'s one label for all rows."""
        if labels is None:
            self.track = None
            return
        lab = torch.as_tensor(np.asarray(labels, np.int64))
        strength = (
            torch.ones(lab.shape) if intensity is None else torch.as_tensor(np.asarray(intensity, np.float32))
        )
        if lab.ndim != 2 or lab.shape[0] != self.rows or lab.shape[1] < 1 or strength.shape != lab.shape:
            raise ValueError(
                f"emotion track {tuple(lab.shape)} / {tuple(strength.shape)}: want [{self.rows}, T ≥ 1] twice"
            )
        self.track = (lab, strength)

    def keep(self, rows: list[int]) -> None:
        """Drop every stream not in ``rows`` (call between chunks: nothing may be half gathered)."""
        if self.queue:
            raise RuntimeError("keep() inside a chunk")
        idx = torch.tensor(rows, dtype=torch.long)
        self.rngs = [self.rngs[i] for i in rows]
        self.seeds = [self.seeds[i] for i in rows]
        self.silence = self.silence[idx]
        if self.track is not None:
            self.track = (self.track[0][idx], self.track[1][idx])
        self.audio = deque((a[idx] for a in self.audio), maxlen=self.audio.maxlen)
        if self.pending is not None and self.pending_emb is not None:
            self.pending = self.pending[idx]
            self.pending_emb = Conditioning(self.pending_emb.audio[idx], self.pending_emb.emotion[idx])
        if self.cache is not None:
            b = self.cache[0][0].shape[0] // self.denoiser.branches
            both = torch.cat([idx + k * b for k in range(self.denoiser.branches)])  # guided: [cond | uncond]
            self.cache = [(k[both], v[both]) for k, v in self.cache]

    def _window(self) -> torch.Tensor:
        unheard = [self.silence] * (self.cfg.max_lookahead - self.lookahead)
        return torch.stack([*self.audio, *unheard], 1)  # [B, window, A]

    def _noise(self, c: int) -> torch.Tensor:
        """[B, C, 40]: each row draws from its own generator, as its live stream would."""
        return torch.cat([torch.randn((1, c, self.cfg.motion_dim), generator=g) for g in self.rngs])

    def _emit(self, x: torch.Tensor) -> list[np.ndarray]:
        return list(x.transpose(0, 1).numpy())  # C × [B, 40]

    def _emotion_now(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Labels and intensities [B, 1] of the frame being embedded (``next_pos`` + queued)."""
        if self.track is None:
            label, strength = self.emotion
            return torch.full((self.rows, 1), label), torch.full((self.rows, 1), strength)
        labels, strengths = self.track
        k = min(self.next_pos + len(self.queue), labels.shape[1] - 1)
        return labels[:, k : k + 1], strengths[:, k : k + 1]


def stream_rows(
    denoiser: Denoiser,
    silence: np.ndarray,
    steps: int,
    shift: float,
    audio: list[np.ndarray],
    frames: list[int],
    seeds: list[int],
    lookahead: int,
    emotion: tuple[int | None, float] = (None, 1.0),
    tracks: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> list[np.ndarray]:
    """Stream each row's audio vectors ``audio[i]`` [n_i, A] -> its first ``frames[i]`` motion
    frames [frames_i, 40] (normalised units), as a live stream fed that audio then silence.

    A row needs ``frames[i] + lookahead`` audio frames; what it lacks is silence (what the live
    server feeds after the speaker stops), and it leaves the batch once its frames are out.
    Emotion: ``emotion`` (label or None, intensity) for every frame of every row, unless
    ``tracks`` gives each row its own per-frame labels and intensities ([≥ frames_i] each).
    """
    n = len(audio)
    if not n:
        return []
    gen = BatchStreamer(denoiser, silence, steps, shift, seeds, lookahead)
    gen.set_emotion(*emotion)
    if tracks is not None:
        gen.set_emotion_track(*padded_tracks(tracks, frames, denoiser.model.cfg.n_emotions))
    dim = np.asarray(silence).shape[-1]
    sil = np.asarray(silence, np.float32)
    out: list[list[np.ndarray]] = [[] for _ in range(n)]
    alive = list(range(n))
    k = 0  # audio frames pushed
    while alive:
        step = np.empty((1, len(alive), dim), np.float32)  # [1, B, A]
        for j, i in enumerate(alive):
            step[0, j] = audio[i][k] if k < len(audio[i]) else sil
        for frame in gen.push(step):  # [B, 40] each
            for j, i in enumerate(alive):
                out[i].append(frame[j])
        k += 1
        done = [j for j, i in enumerate(alive) if len(out[i]) >= frames[i]]
        if done and not gen.queue:
            still = [j for j in range(len(alive)) if j not in done]
            alive = [alive[j] for j in still]
            if alive:
                gen.keep(still)
    return [
        np.stack(o[:f]) if f else np.zeros((0, ms.MOTION_DIM), np.float32)
        for o, f in zip(out, frames, strict=True)
    ]


def padded_tracks(
    tracks: list[tuple[np.ndarray, np.ndarray]], frames: list[int], none: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row (labels, intensities) -> [B, max frames] each: a row's first ``frames[i]`` values,
    then its last one held (frames nobody keeps: a row leaves once its own are out); an empty
    row is "none" (label ``none``, intensity 0)."""
    width = max([1, *frames])
    labels = np.full((len(tracks), width), none, np.int64)
    strength = np.zeros((len(tracks), width), np.float32)
    for i, ((lab, inten), n) in enumerate(zip(tracks, frames, strict=True)):
        lab, inten = np.asarray(lab)[:n], np.asarray(inten)[:n]
        if len(lab) != n or len(inten) != n:
            raise ValueError(f"row {i}: emotion track of {len(lab)}/{len(inten)} frames, {n} wanted")
        if n:
            labels[i] = np.concatenate([lab, np.full(width - n, lab[-1])])
            strength[i] = np.concatenate([inten, np.full(width - n, inten[-1])])
    return labels, strength
