"""The denoiser: a causal transformer over motion tokens, one token per 25 fps frame.

Each token is the sum of four embeddings — its noisy motion, its noise level (diffusion forcing:
every token has its own), its audio window and the emotion — then pre-norm transformer blocks
with rotary positions and block-causal attention (chunks of ``chunk`` frames: full attention
inside a chunk, causal across, at most ``context`` tokens back). The head predicts the clean
motion x̂0 of every token (flow matching, x_t = (1 - t)·x0 + t·ε; the sampler derives the velocity
from x̂0).

Audio window: frame t's audio embedding is a convolution over the per-frame audio vectors of
frames ``t - audio_history + 1 .. t + L`` (one learned filter bank over the window, the
cheap equivalent of attending to it: the window is short and fixed, so attention weights would
buy nothing). Anything longer — who is speaking, how, in what mood — reaches a token through the
self-attention over its history's tokens, each of which carries its own audio.

Streaming: :meth:`MotionDenoiser.forward` takes the new tokens' absolute positions and an
optional per-layer KV cache of earlier tokens, and returns the new tokens' keys and values, so the
sampler can grow and roll the cache (:mod:`xactor.engines.motion_gen.sampler`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from xactor.engines.motion_gen.config import MotionGenConfig

KV = tuple[torch.Tensor, torch.Tensor]  # keys, values: [B, H, S, dh] each


def block_causal_mask(pos_q: torch.Tensor, pos_k: torch.Tensor, chunk: int, context: int) -> torch.Tensor:
    """[n_q, n_k] bool, True where query may attend key: key's chunk not after the query's, and
    fewer than ``context`` frames back."""
    cq, ck = pos_q // chunk, pos_k // chunk
    back = pos_q[:, None] - pos_k[None, :]
    return (ck[None, :] <= cq[:, None]) & (back < context)


def teacher_forcing_mask(frames: int, chunk: int, context: int) -> torch.Tensor:
    """[2T, 2T] bool for a doubled sequence ``[clean 0..T-1 | noisy 0..T-1]``: clean tokens attend
    block-causally to clean ones; a noisy token attends to the clean tokens of earlier chunks and
    the noisy ones of its own chunk — what it would see streaming after clean history."""
    pos = torch.arange(frames)
    chunk_id = pos // chunk
    back = pos[:, None] - pos[None, :]
    near = back < context
    clean_clean = (chunk_id[None, :] <= chunk_id[:, None]) & near
    noisy_clean = (chunk_id[None, :] < chunk_id[:, None]) & near
    noisy_noisy = chunk_id[None, :] == chunk_id[:, None]
    top = torch.cat([clean_clean, torch.zeros_like(clean_clean)], dim=1)
    bottom = torch.cat([noisy_clean, noisy_noisy], dim=1)
    return torch.cat([top, bottom], dim=0)


def rope_tables(pos: torch.Tensor, dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [n, dim/2] for absolute positions ``pos`` [n] (float64 angles: long streams)."""
    inv = base ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=pos.device) / dim)
    ang = pos.to(torch.float64)[:, None] * inv[None, :]  # [n, dim/2]
    return ang.cos().float(), ang.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs of ``x`` [B, H, n, dh] by the angles of its positions."""
    x1, x2 = x[..., 0::2], x[..., 1::2]  # [B, H, n, dh/2]
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)  # [B, H, n, dh/2, 2]
    return out.flatten(-2)


def noise_level_features(t: torch.Tensor, dim: int = 32) -> torch.Tensor:
    """Sinusoidal features of noise levels ``t`` [...] in [0, 1] -> [..., dim]."""
    freqs = torch.exp(torch.linspace(0.0, math.log(1000.0), dim // 2, device=t.device))
    ang = t[..., None] * freqs * math.pi
    return torch.cat([ang.sin(), ang.cos()], dim=-1)


class Block(nn.Module):
    """Pre-norm self-attention + feed-forward, with rotary positions and an optional KV cache."""

    def __init__(self, cfg: MotionGenConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.heads = cfg.n_heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, cfg.ff_mult * d), nn.GELU(), nn.Linear(cfg.ff_mult * d, d))

    def forward(
        self,
        h: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None,
        past: KV | None = None,
    ) -> tuple[torch.Tensor, KV]:
        b, n, d = h.shape
        q, k, v = self.qkv(self.ln1(h)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)  # [B, H, n, dh]
        new: KV = (k, v)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)  # [B, H, S + n, dh]
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # [B, H, n, dh]
        h = h + self.proj(att.transpose(1, 2).reshape(b, n, d))
        return h + self.ff(self.ln2(h)), new


class PhoneRecognizer(nn.Module):
    """One audio vector (a 40 ms frame: 4 log-mel rows + VAD) -> phone logits [.., classes].

    Frame-local on purpose: no state of its own, so it runs inside every audio slot of the window
    and streaming needs nothing new. 40 ms is enough for most phones (a held-out-voice probe: 70 %
    of frames, two thirds of /p b m/); the window around the slot supplies the context.
    """

    def __init__(self, audio_dim: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(audio_dim, hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, classes),
        )

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.net(audio)


class AudioEncoder(nn.Module):
    """Per-frame audio vectors -> one embedding per frame from its window (history + lookahead).

    One model serves every lookahead L in 0..max_lookahead: the window always spans
    ``audio_history + max_lookahead`` frames, and the slots after frame t + L are replaced by a
    learned "not heard yet" vector, so L is a run-time setting (trained with L drawn per window).

    With ``cfg.phones`` each slot also carries its phone posteriors (:class:`PhoneRecognizer`,
    detached: only the phone loss trains it), projected by a zero-initialised layer so that weights
    trained without them fine-tune from the same function.
    """

    def __init__(self, cfg: MotionGenConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.window, self.history = cfg.audio_window, cfg.audio_history
        self.inp = nn.Sequential(nn.Linear(cfg.audio_dim, d), nn.GELU())
        self.phones = PhoneRecognizer(cfg.audio_dim, cfg.phone_hidden, cfg.phones) if cfg.phones else None
        self.phone_in = nn.Linear(cfg.phones, d) if cfg.phones else None
        if self.phone_in is not None:
            nn.init.zeros_(self.phone_in.weight)
            nn.init.zeros_(self.phone_in.bias)
        self.unseen = nn.Parameter(torch.zeros(d))
        self.mix = nn.Linear(self.window * d, d)  # a convolution over the window, written out
        self.out = nn.Sequential(nn.GELU(), nn.Linear(d, d))

    def phone_logits(self, audio: torch.Tensor) -> torch.Tensor:
        """``audio`` [B, T + window - 1, A] -> logits [B, T, classes] of each frame's own slot (t)."""
        if self.phones is None:
            raise ValueError("this model has no phonetic front end (config phones = 0)")
        frames = audio.shape[1] - self.window + 1
        return self.phones(audio[:, self.history - 1 : self.history - 1 + frames])

    def forward(self, audio: torch.Tensor, lookahead: torch.Tensor | int) -> torch.Tensor:
        """``audio`` [B, T + window - 1, A] (frame t's window is rows t .. t + window - 1) and
        ``lookahead`` (int or [B]) -> [B, T, d]."""
        h = self.inp(audio)  # [B, T + window - 1, d]
        if self.phones is not None and self.phone_in is not None:
            posteriors = self.phones(audio).softmax(-1).detach()  # [B, T + window - 1, classes]
            h = h + self.phone_in(posteriors)
        win = h.unfold(1, self.window, 1).transpose(2, 3)  # [B, T, window, d]
        la = torch.as_tensor(lookahead, device=win.device).reshape(-1, 1)  # [B or 1, 1]
        heard = torch.arange(self.window, device=win.device)[None, :] < self.history + la  # [B or 1, window]
        win = torch.where(heard[:, None, :, None], win, self.unseen)
        b, t = win.shape[:2]
        return self.out(self.mix(win.reshape(b, t, -1)))  # [B, T, d]


class MotionDenoiser(nn.Module):
    """x_t, t, audio and emotion per token -> x̂0 per token (all in normalised motion units)."""

    def __init__(self, cfg: MotionGenConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.audio = AudioEncoder(cfg)
        self.null_audio = nn.Parameter(torch.zeros(d))  # the audio embedding when audio is dropped
        self.motion_in = nn.Linear(cfg.motion_dim, d)
        self.level = nn.Sequential(nn.Linear(32, d), nn.SiLU(), nn.Linear(d, d))
        self.emotion = nn.Embedding(cfg.n_emotions + 1, d)  # last row: "none" (infer from audio)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_out = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.motion_dim)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def encode_audio(
        self, audio: torch.Tensor, lookahead: torch.Tensor | int, drop: torch.Tensor | None = None
    ) -> torch.Tensor:
        """[B, T + window - 1, A] -> [B, T, d] at lookahead L (int or [B]); ``drop`` [B] bool
        replaces a row's audio by the null embedding (classifier-free guidance's unconditional
        branch)."""
        emb = self.audio(audio, lookahead)
        if drop is not None:
            emb = torch.where(drop[:, None, None], self.null_audio.expand_as(emb), emb)
        return emb

    def emotion_embedding(self, emotion: torch.Tensor, intensity: torch.Tensor) -> torch.Tensor:
        """[B, T] labels (n_emotions = none) and intensities -> [B, T, d], interpolated from none."""
        none = self.emotion.weight[self.cfg.n_emotions]
        return none + intensity[..., None] * (self.emotion(emotion) - none)

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        audio_emb: torch.Tensor,
        emotion_emb: torch.Tensor,
        pos: torch.Tensor,
        mask: torch.Tensor | None,
        cache: list[KV] | None = None,
    ) -> tuple[torch.Tensor, list[KV]]:
        """``x_t`` [B, n, 40], ``t`` [B, n], embeddings [B, n, d], ``pos`` [n] absolute frame
        numbers, ``mask`` [n, S + n] over (cache + new) keys -> x̂0 [B, n, 40] and the new tokens'
        (keys, values) per layer."""
        h = self.motion_in(x_t) + self.level(noise_level_features(t)) + audio_emb + emotion_emb
        cos, sin = rope_tables(pos, self.cfg.d_model // self.cfg.n_heads, self.cfg.rope_base)
        new: list[KV] = []
        for i, block in enumerate(self.blocks):
            h, kv = block(h, cos, sin, mask, None if cache is None else cache[i])
            new.append(kv)
        return self.head(self.ln_out(h)), new
