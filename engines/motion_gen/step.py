"""The streaming step as one fixed-shape function of tensors: what export and every backend run.

:class:`~engines.motion_gen.sampler.StreamingGenerator` is the reference: Python state, a cache
that grows to ``context - C`` tokens, absolute rotary positions. :class:`MotionStep` computes the
same chunk from explicit state tensors of fixed shape, so it exports to ONNX and one call can
carry sessions of any age side by side:

* the KV cache has ``S = context - C`` slots per row, right-aligned (newest last), with a
  validity mask — a young session's empty slots are masked out;
* keys are cached *before* their rotation and rotated when used, by their slot's position
  relative to the new chunk. Attention depends only on relative positions, so no session's
  absolute frame number enters the graph (and a 30-minute stream needs no large angles);
* the previous chunk's clean tokens ride along in the first denoising pass (as in the reference)
  and are state too, with a flag for "there is none" (a session's first chunk);
* the denoising loop (``steps`` passes, guidance as a doubled batch) is unrolled: the graph is
  the whole step, one call per chunk.

History noise (``StreamingGenerator.history_noise``) is not supported here: the live sampler
keeps its history clean.

Names and shapes (B rows, G = 2 with guidance else 1, C chunk, W = C + audio_window - 1,
A audio dim, d model dim, N layers, H heads, S cache slots, dh head dim):

=================  ==============================  =========================================
input              shape, dtype                    meaning
=================  ==============================  =========================================
audio              [B, W, A] float32               the chunk's audio window rows
lookahead          [B] int64                       L per row (0..max_lookahead)
emotion            [B, C] int64                    label per frame (n_emotions = none)
intensity          [B, C] float32                  emotion intensity per frame
noise              [B, C, 40] float32              the chunk's starting noise
cache_k, cache_v   [N, G·B, H, S, dh] float32      keys (unrotated) and values, newest last
cache_valid        [B, S] float32                  1 where a slot holds a token
ride_x             [B, C, 40] float32              the previous chunk's clean tokens
ride_audio         [B, C, d] float32               their audio embeddings
ride_emotion       [B, C, d] float32               their emotion embeddings
ride_valid         [B] float32                     1 when there is a previous chunk
=================  ==============================  =========================================

Outputs: ``motion`` [B, C, 40] (normalised) and every state input again, advanced (``*_out``).
"""

from __future__ import annotations

import itertools
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from xactor.engines.motion_gen.model import (
    Block,
    MotionDenoiser,
    apply_rope,
    block_causal_mask,
    noise_level_features,
    rope_tables,
)
from xactor.engines.motion_gen.sampler import step_toward, time_steps

STATE = ("cache_k", "cache_v", "cache_valid", "ride_x", "ride_audio", "ride_emotion", "ride_valid")
INPUTS = ("audio", "lookahead", "emotion", "intensity", "noise", *STATE)
OUTPUTS = ("motion", *(f"{name}_out" for name in STATE))


class MotionStep(nn.Module):
    """One streaming chunk of a batch of sessions (see module docstring); weights shared, read-only."""

    # Buffers (rotary tables and attention rules of the two passes), declared for the type checker.
    cos_first: torch.Tensor
    sin_first: torch.Tensor
    cos_later: torch.Tensor
    sin_later: torch.Tensor
    rule_first: torch.Tensor
    rule_later: torch.Tensor

    def __init__(self, model: MotionDenoiser, steps: int, shift: float, guidance: float) -> None:
        super().__init__()
        self.model = model  # no mode change: training rolls out the model it is training
        cfg = model.cfg
        self.levels = time_steps(steps, shift)
        self.guidance = float(guidance)
        self.branches = 2 if self.guidance != 1.0 else 1
        self.chunk, self.slots = cfg.chunk, cfg.context - cfg.chunk
        c, s = self.chunk, self.slots
        # Positions relative to the new chunk's first frame: cache slots before the ride-along
        # tokens (first pass) or right before the chunk (later passes), ride -C..-1, new 0..C-1.
        pos_first = torch.cat([torch.arange(s) - s - c, torch.arange(-c, c)])
        pos_later = torch.cat([torch.arange(s) - s, torch.arange(c)])
        dh = cfg.d_model // cfg.n_heads
        for name, pos, queries in (("first", pos_first, 2 * c), ("later", pos_later, c)):
            cos, sin = rope_tables(pos, dh, cfg.rope_base)
            self.register_buffer(f"cos_{name}", cos, persistent=False)
            self.register_buffer(f"sin_{name}", sin, persistent=False)
            # The reference's block-causal, context-limited rule over these positions [n_q, n_k].
            rule = block_causal_mask(pos[-queries:], pos, cfg.chunk, cfg.context)
            self.register_buffer(f"rule_{name}", rule, persistent=False)

    def state_shapes(self, batch: int) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        """Shape and dtype of every state tensor for ``batch`` rows (zeros = a fresh session)."""
        cfg = self.model.cfg
        dh, rows, c = cfg.d_model // cfg.n_heads, self.branches * batch, self.chunk
        kv = (cfg.n_layers, rows, cfg.n_heads, self.slots, dh)
        f = torch.float32
        return {
            "cache_k": (kv, f),
            "cache_v": (kv, f),
            "cache_valid": ((batch, self.slots), f),
            "ride_x": ((batch, c, cfg.motion_dim), f),
            "ride_audio": ((batch, c, cfg.d_model), f),
            "ride_emotion": ((batch, c, cfg.d_model), f),
            "ride_valid": ((batch,), f),
        }

    @staticmethod
    def _mask(rule: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """[B, 1, n_q, n_k] bool: the position rule [n_q, n_k] and each row's key validity [B, n_k]."""
        return (rule[None] & (valid[:, None, :] > 0.5))[:, None]

    def _attend(
        self,
        block: Block,
        h: torch.Tensor,
        past_k: torch.Tensor,
        past_v: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``block`` on new tokens ``h`` [R, n, d] over unrotated cached keys/values [R, H, P, dh];
        cos/sin for the P + n positions -> h, the new tokens' unrotated keys and values."""
        r, n, d = h.shape
        q, k, v = block.qkv(block.ln1(h)).view(r, n, 3, block.heads, d // block.heads).permute(2, 0, 3, 1, 4)
        keys = torch.cat([past_k, k], dim=2)  # [R, H, P + n, dh]
        values = torch.cat([past_v, v], dim=2)
        q = apply_rope(q, cos[-n:], sin[-n:])
        keys = apply_rope(keys, cos, sin)
        att = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)  # [R, H, n, dh]
        h = h + block.proj(att.transpose(1, 2).reshape(r, n, d))
        return h + block.ff(block.ln2(h)), k, v

    def _denoise(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        audio: torch.Tensor,
        emotion: torch.Tensor,
        cache_k: torch.Tensor,
        cache_v: torch.Tensor,
        valid: torch.Tensor,
        first: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Guided x̂0 [B, n, 40] of tokens ``x_t`` at levels ``t`` [B, n] with expanded embeddings
        [G·B, n, d], over the cache; and the tokens' unrotated keys/values [N, G·B, H, n, dh]."""
        model, g = self.model, self.branches
        h = model.motion_in(x_t.repeat(g, 1, 1)) + model.level(noise_level_features(t.repeat(g, 1)))
        h = h + audio + emotion
        cos, sin = (self.cos_first, self.sin_first) if first else (self.cos_later, self.sin_later)
        rule = self.rule_first if first else self.rule_later
        mask = self._mask(rule, valid).repeat(g, 1, 1, 1)  # [G·B, 1, n, S + n]
        new_k, new_v = [], []
        for i, block in enumerate(model.blocks):
            h, k, v = self._attend(cast(Block, block), h, cache_k[i], cache_v[i], cos, sin, mask)
            new_k.append(k)
            new_v.append(v)
        x0 = model.head(model.ln_out(h))
        if g == 2:
            c, u = x0.chunk(2)
            x0 = u + self.guidance * (c - u)
        return x0, torch.stack(new_k), torch.stack(new_v)

    def _expand(self, audio: torch.Tensor, emotion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings [B, n, d] -> the model batch's [G·B, n, d] (null audio in the guided half)."""
        if self.branches == 1:
            return audio, emotion
        return torch.cat([audio, self.model.null_audio.expand_as(audio)]), torch.cat([emotion, emotion])

    def forward(
        self,
        audio: torch.Tensor,
        lookahead: torch.Tensor,
        emotion: torch.Tensor,
        intensity: torch.Tensor,
        noise: torch.Tensor,
        cache_k: torch.Tensor,
        cache_v: torch.Tensor,
        cache_valid: torch.Tensor,
        ride_x: torch.Tensor,
        ride_audio: torch.Tensor,
        ride_emotion: torch.Tensor,
        ride_valid: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        model, c = self.model, self.chunk
        ones = torch.ones_like(noise[..., 0])  # [B, C] (shapes from tensors: the batch stays dynamic)
        new_audio = model.encode_audio(audio, lookahead)  # [B, C, d]
        new_emotion = model.emotion_embedding(emotion, intensity)  # [B, C, d]
        new_a, new_e = self._expand(new_audio, new_emotion)
        ride_a, ride_e = self._expand(ride_audio, ride_emotion)
        ride_flags = ride_valid[:, None] * ones  # [B, C]
        x = noise
        for i, (t, s) in enumerate(itertools.pairwise(self.levels)):
            t_new = ones * t
            if i == 0:  # the ride-along tokens join the first pass; their keys/values join the cache
                valid = torch.cat([cache_valid, ride_flags, ones], 1)  # [B, S + 2C]
                x0, k, v = self._denoise(
                    torch.cat([ride_x, x], 1),
                    torch.cat([ones * 0.0, t_new], 1),
                    torch.cat([ride_a, new_a], 1),
                    torch.cat([ride_e, new_e], 1),
                    cache_k,
                    cache_v,
                    valid,
                    first=True,
                )
                cache_k = torch.cat([cache_k, k[:, :, :, :c]], 3)[:, :, :, c:]  # [N, G·B, H, S, dh]
                cache_v = torch.cat([cache_v, v[:, :, :, :c]], 3)[:, :, :, c:]
                cache_valid = torch.cat([cache_valid, ride_flags], 1)[:, c:]  # [B, S]
                x0 = x0[:, c:]
            else:
                valid = torch.cat([cache_valid, ones], 1)
                x0, _, _ = self._denoise(x, t_new, new_a, new_e, cache_k, cache_v, valid, first=False)
            x = step_toward(x, x0, t, s)
        return (x, cache_k, cache_v, cache_valid, x, new_audio, new_emotion, torch.ones_like(ride_valid))
