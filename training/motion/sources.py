"""The motion sources ``xactor eval motion`` compares, each run on clip audio exactly as live.

* :class:`GeneratorSource` — learned weights (teacher or student) through the live streaming
  sampler (:mod:`xactor.training.motion.streaming` batches many streams; row i equals one live stream),
  blinks and gaze from Life as live (:mod:`xactor.engines.motion_source.generator`), at any
  lookahead L the weights serve, emotion "none" (inferred from the audio) or each row's own
  per-frame label and intensity (``emotions``), the weights' own steps, guidance and shift; and
  the same weights through ``sample_offline`` for comparison.
* :class:`HeuristicSource` — the training-free live source, fed the clip's samples.

Both take :class:`Feed` rows (what a source hears) and return absolute motion [frames, 40] per
row: the first ``frames`` of a stream that heard the row's audio and then silence, so a prefix of
a long run equals a short run (streams are causal), which the evaluation relies on to score one
run on several spans.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from xactor.engines import motion_space as ms
from xactor.engines.motion_gen.sampler import Conditioning, Denoiser, sample_offline
from xactor.engines.motion_gen.weights import GeneratorWeights
from xactor.engines.motion_source.heuristic import HeuristicMotionSource
from xactor.engines.motion_source.life import life_track, with_life_channels
from xactor.engines.timebase import SAMPLE_RATE, SAMPLES_PER_FRAME
from xactor.training.motion.data import audio_vectors
from xactor.training.motion.streaming import stream_rows

HEURISTIC_LOOKAHEAD = 1  # the server's default lookahead_frames


@dataclass
class Feed:
    """One clip's audio as a source hears it: samples [N] float32 16 kHz and the shared front end's
    features of those samples (log-mel rows [T × 4, 80], VAD speech weight [T])."""

    audio: np.ndarray
    log_mel: np.ndarray
    speech: np.ndarray


def life_speech(vectors: np.ndarray, frames: int, lookahead: int) -> np.ndarray:
    """[frames] the speech weight the live source hands Life at frame k: audio frame k + L's VAD
    weight (the audio vector's last column), silence (0) past the end of the audio."""
    speech = np.zeros(frames, np.float32)
    heard = vectors[lookahead : lookahead + frames, -1]
    speech[: len(heard)] = heard
    return speech


class GeneratorSource:
    """A generator checkpoint, streamed like live (see module docstring)."""

    def __init__(self, name: str, weights: GeneratorWeights) -> None:
        self.name = name
        self.weights = weights
        self.denoiser = Denoiser(weights.model, weights.sampler.guidance)
        self._vectors: dict[int, tuple[Feed, np.ndarray]] = {}  # by id(feed); holding the feed keeps the id

    @property
    def lookahead(self) -> int:
        return self.weights.config.lookahead

    def vectors(self, feed: Feed) -> np.ndarray:
        """[T, A] model audio vectors of a feed (cached per feed)."""
        key = id(feed)
        if key not in self._vectors:
            vectors = audio_vectors(
                self.weights.normalizer, feed.log_mel, feed.speech, self.weights.config.stream_norm_seconds
            )
            self._vectors[key] = (feed, vectors)
        return self._vectors[key][1]

    def run(
        self,
        feeds: list[Feed],
        frames: list[int],
        seeds: list[int],
        lookahead: int | None = None,
        emotions: list[tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> list[np.ndarray]:
        """Stream every row (its feed, frame count and seed) in one batch -> motion [frames_i, 40];
        ``emotions``: each row's (labels, intensities) per frame instead of "none" (inferred)."""
        la = self.lookahead if lookahead is None else lookahead
        return self.stream(
            [self.vectors(f)[: n + la] for f, n in zip(feeds, frames, strict=True)],
            frames,
            seeds,
            la,
            emotions,
        )

    def stream(
        self,
        vectors: list[np.ndarray],
        frames: list[int],
        seeds: list[int],
        lookahead: int | None = None,
        emotions: list[tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> list[np.ndarray]:
        """Like :meth:`run` from model audio vectors [n_i, A] (e.g. a long stream made of many clips)."""
        la = self.lookahead if lookahead is None else lookahead
        s, norm = self.weights.sampler, self.weights.normalizer
        out = stream_rows(
            self.denoiser, norm.silence(), s.steps, s.shift, vectors, frames, seeds, la, tracks=emotions
        )
        return [
            with_life_channels(self.weights.absolute(z, la), life_track(life_speech(v, n, la), seed))
            for z, v, n, seed in zip(out, vectors, frames, seeds, strict=True)
        ]

    @torch.no_grad()
    def offline(self, feed: Feed, frames: int, seed: int, lookahead: int | None = None) -> np.ndarray:
        """The first ``frames`` of a feed through ``sample_offline``, on the noise a live stream with
        ``seed`` draws (chunk by chunk from one generator), so only the sampler differs."""
        cfg, norm, s = self.weights.config, self.weights.normalizer, self.weights.sampler
        la = self.lookahead if lookahead is None else lookahead
        vec = self.vectors(feed)[: frames + cfg.max_lookahead]
        sil = norm.silence()[None]
        after = frames + cfg.max_lookahead - len(vec)
        window = np.concatenate([np.repeat(sil, cfg.audio_history - 1, 0), vec, np.repeat(sil, after, 0)])
        model = self.weights.model
        audio_emb = model.encode_audio(torch.from_numpy(window)[None], la)  # [1, frames, d]
        labels = torch.full((1, frames), cfg.n_emotions)
        emotion_emb = model.emotion_embedding(labels, torch.zeros(1, frames))
        rng = torch.Generator().manual_seed(seed)
        chunks = -(-frames // cfg.chunk)
        noise = torch.cat(
            [torch.randn((1, cfg.chunk, cfg.motion_dim), generator=rng) for _ in range(chunks)], 1
        )
        z = sample_offline(
            self.denoiser, Conditioning(audio_emb, emotion_emb), noise[:, :frames], s.steps, s.shift
        )
        life = life_track(life_speech(self.vectors(feed), frames, la), seed)
        return with_life_channels(self.weights.absolute(z[0].numpy(), la), life)


class HeuristicSource:
    """The training-free live source, one fresh instance per row, fed 1 s pushes of samples."""

    name = "heuristic"
    lookahead = HEURISTIC_LOOKAHEAD

    def run(
        self, feeds: list[Feed], frames: list[int], seeds: list[int], lookahead: int | None = None
    ) -> list[np.ndarray]:
        la = self.lookahead if lookahead is None else lookahead
        out = []
        for feed, n, seed in zip(feeds, frames, seeds, strict=True):
            src = HeuristicMotionSource(lookahead_frames=la, seed=seed)
            need = (n + la) * SAMPLES_PER_FRAME
            audio = feed.audio[:need]
            audio = np.concatenate([audio, np.zeros(need - len(audio), np.float32)])
            motion: list[np.ndarray] = []
            for i in range(0, need, SAMPLE_RATE):  # one second a push
                src.push_audio(audio[i : i + SAMPLE_RATE])
                motion.extend(f.motion for f in src.pull())
            out.append(np.stack(motion[:n]) if n else ms.zeros(0))
        return out
