"""Samplers over one denoiser wrapper: offline whole-sequence, and streaming over a rolling KV cache.

Flow matching with x̂0 prediction: x_t = (1 - t)·x0 + t·ε, so from x̂0 at level t the deterministic
(DDIM-like) step to a lower level s is ``x_s = x̂0 + (s / t)·(x_t - x̂0)``.

* :class:`Denoiser` — the one wrapper every sampler calls: model + audio classifier-free guidance
  (the conditional and unconditional branches run as one doubled batch, each with its own cache).
* :func:`sample_offline` — every token of a whole sequence at the same level, ``steps`` passes
  over the sequence (fast for a file; the history a token sees is as noisy as itself).
* :class:`StreamingGenerator` — frame by frame as audio arrives (diffusion forcing's inference):
  the past is clean (or at a small ``history_noise`` level) and cached, the new chunk of
  ``chunk`` frames is denoised from pure noise in ``steps`` passes over the cache. The previous
  chunk's clean tokens ride along in the new chunk's first pass, so caching them costs no extra
  pass: a 1-step student makes one model call per chunk. The cache keeps the last
  ``context - chunk`` tokens, so a stream runs forever at constant cost.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from xactor.engines.motion_gen.model import KV, MotionDenoiser, block_causal_mask


def time_steps(steps: int, shift: float = 1.0) -> list[float]:
    """Noise levels 1 = t_0 > ... > t_steps = 0; ``shift`` > 1 spends more of them at high noise."""
    t = np.linspace(1.0, 0.0, steps + 1)
    return [float(shift * x / (1.0 + (shift - 1.0) * x)) for x in t]


def step_toward(x_t: torch.Tensor, x0: torch.Tensor, t: float, s: float) -> torch.Tensor:
    """The deterministic flow step from level ``t`` to ``s`` given x̂0."""
    return x0 if s <= 0.0 else x0 + (s / t) * (x_t - x0)


@dataclass
class Conditioning:
    """Per-token conditioning embeddings of a batch: audio [B, n, d], emotion [B, n, d]."""

    audio: torch.Tensor
    emotion: torch.Tensor

    def window(self, start: int, stop: int) -> Conditioning:
        return Conditioning(self.audio[:, start:stop], self.emotion[:, start:stop])


class Denoiser:
    """The model with classifier-free guidance over audio: x̂0 = u + w·(c - u)."""

    def __init__(self, model: MotionDenoiser, guidance: float = 1.0) -> None:
        self.model = model
        self.guidance = guidance

    @property
    def guided(self) -> bool:
        return self.guidance != 1.0

    @property
    def branches(self) -> int:
        """Batch multiplier: 2 with guidance (conditional + unconditional rows), else 1."""
        return 2 if self.guided else 1

    def expand(self, cond: Conditioning) -> Conditioning:
        """Conditioning for the model's batch: with guidance, the unconditional rows appended."""
        if not self.guided:
            return cond
        null = self.model.null_audio.expand_as(cond.audio)
        return Conditioning(torch.cat([cond.audio, null]), torch.cat([cond.emotion, cond.emotion]))

    def __call__(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        cond: Conditioning,
        pos: torch.Tensor,
        mask: torch.Tensor | None,
        cache: list[KV] | None = None,
    ) -> tuple[torch.Tensor, list[KV]]:
        """``x_t`` [B, n, 40] and ``t`` [B, n]; ``cond`` already :meth:`expand`-ed, ``cache`` with
        B × branches rows -> guided x̂0 [B, n, 40] and the new keys/values (B × branches rows)."""
        k = self.branches
        x0, kv = self.model(x_t.repeat(k, 1, 1), t.repeat(k, 1), cond.audio, cond.emotion, pos, mask, cache)
        if self.guided:
            c, u = x0.chunk(2)
            x0 = u + self.guidance * (c - u)
        return x0, kv


@torch.no_grad()
def sample_offline(
    denoiser: Denoiser, cond: Conditioning, noise: torch.Tensor, steps: int, shift: float = 1.0
) -> torch.Tensor:
    """Whole sequences at once: ``noise`` [B, T, 40] -> motion [B, T, 40] (normalised units)."""
    cfg = denoiser.model.cfg
    frames = noise.shape[1]
    pos = torch.arange(frames)
    mask = block_causal_mask(pos, pos, cfg.chunk, cfg.context)
    full = denoiser.expand(cond)
    x, levels = noise, time_steps(steps, shift)
    for t, s in itertools.pairwise(levels):
        x0, _ = denoiser(x, torch.full(x.shape[:2], t), full, pos, mask)
        x = step_toward(x, x0, t, s)
    return x


class StreamingGenerator:
    """Audio vectors in (one per frame), motion out (normalised), ``chunk`` frames at a time.

    Frame k's audio window needs frames up to k + L (``lookahead``, 0..max_lookahead of the
    weights), so frame k comes out once audio frame k + L is in. State: the audio window, the KV
    cache, the previous chunk's clean tokens (not yet cached), the position and the noise
    generator. ``reset`` clears all of it.
    """

    def __init__(
        self,
        denoiser: Denoiser,
        silence: np.ndarray,
        steps: int,
        shift: float = 1.0,
        history_noise: float = 0.0,
        seed: int = 0,
        lookahead: int | None = None,
    ) -> None:
        self.denoiser = denoiser
        self.cfg = denoiser.model.cfg
        self.lookahead = self.cfg.lookahead if lookahead is None else lookahead
        self.cfg.check_lookahead(self.lookahead)
        self.silence = torch.from_numpy(np.asarray(silence, np.float32))
        self.levels = time_steps(steps, shift)
        self.history_noise = history_noise
        self.seed = seed
        self.emotion = (self.cfg.n_emotions, 0.0)  # none: inferred from the audio
        self.reset()

    def reset(self) -> None:
        cfg = self.cfg
        self.audio: deque[torch.Tensor] = deque(
            [self.silence] * (cfg.audio_history - 1), maxlen=cfg.audio_history + self.lookahead
        )
        self.cache: list[KV] | None = None
        self.pending: torch.Tensor | None = None  # [1, C, 40] clean tokens of the last chunk
        self.pending_emb: Conditioning | None = None
        self.queue: list[Conditioning] = []  # per-frame conditioning of the chunk being gathered
        self.next_pos = 0  # position of the first frame not generated yet
        self.audio_frames = 0
        self.rng = torch.Generator().manual_seed(self.seed)

    def set_emotion(self, label: int | None, intensity: float = 1.0) -> None:
        """Condition on an emotion label (index into the corpus's EMOTIONS) or None to infer it."""
        self.emotion = (self.cfg.n_emotions, 0.0) if label is None else (int(label), float(intensity))

    @torch.no_grad()
    def push(self, audio: np.ndarray) -> list[np.ndarray]:
        """Append audio vectors [n, A]; return the motion [40] of every frame that became ready."""
        out: list[np.ndarray] = []
        for row in torch.from_numpy(np.asarray(audio, np.float32)):
            self.audio.append(row)
            self.audio_frames += 1
            if self.audio_frames > self.lookahead:
                out.extend(self._frame_ready())
        return out

    @torch.no_grad()
    def flush(self) -> list[np.ndarray]:
        """End of stream: pad the lookahead with silence and return the frames still owed."""
        out: list[np.ndarray] = []
        for _ in range(self.lookahead):
            self.audio.append(self.silence)
            out.extend(self._frame_ready())
        return out

    def _frame_ready(self) -> list[np.ndarray]:
        """Frame (next_pos + queued)'s audio window is complete: embed it; generate at chunk end."""
        model = self.denoiser.model
        emotion = model.emotion_embedding(*self._emotion_now())
        self.queue.append(Conditioning(model.encode_audio(self._window(), self.lookahead), emotion))
        if len(self.queue) < self.cfg.chunk:
            return []
        cond = Conditioning(
            torch.cat([c.audio for c in self.queue], 1), torch.cat([c.emotion for c in self.queue], 1)
        )
        self.queue = []
        return self._emit(self._generate(cond))

    # The four places a batch of streams differs from one (training.motion.streaming overrides them).

    def _window(self) -> torch.Tensor:
        """[1, window, A]: the audio window, slots after t + L filled (the encoder masks them)."""
        unheard = [self.silence] * (self.cfg.max_lookahead - self.lookahead)
        return torch.stack([*self.audio, *unheard])[None]

    def _emotion_now(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Label and intensity [1, 1] of the frame being embedded."""
        label, strength = self.emotion
        return torch.tensor([[label]]), torch.tensor([[strength]])

    def _noise(self, c: int) -> torch.Tensor:
        """[1, C, 40] the new chunk's starting noise."""
        return torch.randn((1, c, self.cfg.motion_dim), generator=self.rng)

    def _emit(self, x: torch.Tensor) -> list[np.ndarray]:
        """A generated chunk [1, C, 40] -> C frames [40]."""
        return list(x[0].numpy())

    def _generate(self, cond: Conditioning) -> torch.Tensor:
        """The next chunk [B, C, 40] from noise, over the cache (the last chunk riding along)."""
        cfg, den = self.cfg, self.denoiser
        c = cfg.chunk
        new_pos = torch.arange(self.next_pos, self.next_pos + c)
        x = self._noise(c)  # [B, C, 40]
        b = x.shape[0]
        full = den.expand(cond)
        for i, (t, s) in enumerate(zip(self.levels[:-1], self.levels[1:], strict=True)):
            t_new = torch.full((b, c), t)
            if i == 0 and self.pending is not None and self.pending_emb is not None:
                # The last chunk's clean tokens ride along: their keys/values join the cache.
                ride = den.expand(self.pending_emb)
                both = Conditioning(
                    torch.cat([ride.audio, full.audio], 1), torch.cat([ride.emotion, full.emotion], 1)
                )
                pos = torch.cat([new_pos - c, new_pos])
                x_in = torch.cat([self.pending, x], 1)
                t_in = torch.cat([torch.full((b, c), self.history_noise), t_new], 1)
                x0, kv = den(x_in, t_in, both, pos, self._mask(pos), self.cache)
                self._append(kv, c)
                x0 = x0[:, c:]
            else:
                x0, _ = den(x, t_new, full, new_pos, self._mask(new_pos), self.cache)
            x = step_toward(x, x0, t, s)
        self.pending = self._as_history(x)
        self.pending_emb = cond
        self.next_pos += c
        return x

    def _as_history(self, x: torch.Tensor) -> torch.Tensor:
        """Clean tokens as they enter the history: noised to ``history_noise`` if set."""
        if self.history_noise <= 0.0:
            return x
        eps = torch.randn(x.shape, generator=self.rng)
        return (1.0 - self.history_noise) * x + self.history_noise * eps

    def _mask(self, pos: torch.Tensor) -> torch.Tensor:
        cached = 0 if self.cache is None else self.cache[0][0].shape[2]
        first = int(pos[0]) - cached
        keys = torch.cat([torch.arange(first, int(pos[0])), pos]) if cached else pos
        return block_causal_mask(pos, keys, self.cfg.chunk, self.cfg.context)

    def _append(self, kv: list[KV], n: int) -> None:
        """Append the first ``n`` new tokens' keys/values per layer; keep the last context - chunk."""
        keep = self.cfg.context - self.cfg.chunk
        head = [(k[:, :, :n], v[:, :, :n]) for k, v in kv]
        if self.cache is None:
            merged = head
        else:
            merged = [
                (torch.cat([pk, k], 2), torch.cat([pv, v], 2))
                for (pk, pv), (k, v) in zip(self.cache, head, strict=True)
            ]
        self.cache = [(k[:, :, -keep:], v[:, :, -keep:]) for k, v in merged]
