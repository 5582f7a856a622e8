"""The generator's configuration: a frozen dataclass saved as JSON beside the weights.

The JSON and the safetensors file alone rebuild the model (:mod:`xactor.engines.motion_gen.weights`), so
a weights folder never depends on the code's defaults of the day.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from xactor.engines import motion_space as ms
from xactor.engines.audio.features import N_MELS
from xactor.engines.timebase import ROWS_PER_FRAME


class LookaheadError(ValueError):
    """A lookahead the weights were not trained for."""


@dataclass(frozen=True)
class MotionGenConfig:
    """Shape of the denoiser and of its conditioning (frames are 25 fps video frames)."""

    motion_dim: int = ms.MOTION_DIM  # 40
    mel_rows: int = ROWS_PER_FRAME  # 4 log-mel rows (10 ms) per frame
    n_mels: int = N_MELS  # 80
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    ff_mult: int = 3
    audio_history: int = 8  # frames of past audio the audio window sees (frame t: t-7 .. t)
    max_lookahead: int = 3  # the audio window reaches this far ahead; frames beyond L are masked
    lookahead: int = 1  # default L: future frames of audio frame t uses (latency floor L × 40 ms)
    chunk: int = 1  # C: tokens per attention block (full attention inside, causal across)
    context: int = 256  # tokens of history a token attends to (256 = 10.24 s)
    n_emotions: int = 5  # training.corpus.store.format.EMOTIONS; index n_emotions = "none" (inferred)
    rope_base: float = 10000.0
    # The phonetic front end: a per-frame phone recognizer over each audio slot whose posteriors
    # join the slot (0 = none). Trained on the corpus's phone alignments only (the motion loss does
    # not reach it), it is this project's stand-in for a pretrained speech encoder: it hands the
    # motion model "this is an /m/" instead of leaving it to find closures in raw log-mel.
    phones: int = 0
    phone_hidden: int = 256
    # Per-stream normalisation of the log-mel (engines.motion_gen.features.StreamShift): the time
    # constant in seconds of the running speech mean each stream is moved by (0 = none).
    stream_norm_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError("d_model / n_heads must be an even integer")
        if not 0 <= self.lookahead <= self.max_lookahead:
            raise ValueError(f"lookahead {self.lookahead} outside 0..max_lookahead={self.max_lookahead}")
        if self.chunk < 1 or self.context < self.chunk:
            raise ValueError(f"bad lookahead/chunk/context: {self.lookahead}/{self.chunk}/{self.context}")

    def check_lookahead(self, lookahead: int, what: str = "lookahead", weights: str = "the weights") -> None:
        """:class:`LookaheadError` unless 0 <= ``lookahead`` <= ``max_lookahead``: the one check
        every consumer of a lookahead (sampler, step engine, motion source, training) makes."""
        if not 0 <= lookahead <= self.max_lookahead:
            raise LookaheadError(
                f"{what} {lookahead} is outside 0..{self.max_lookahead}, "
                f"the lookaheads {weights} were trained for"
            )

    def same_network(self, other: MotionGenConfig) -> bool:
        """Whether weights of one load into the other: equal but for how the audio is normalised
        before it (a fine-tune may switch stream normalisation on)."""
        return replace(self, stream_norm_seconds=0.0) == replace(other, stream_norm_seconds=0.0)

    @property
    def audio_dim(self) -> int:
        """Per-frame audio input: 4 × 80 normalised log-mel values and the VAD speech weight."""
        return self.mel_rows * self.n_mels + 1

    @property
    def audio_window(self) -> int:
        """Audio frames one token's audio window covers (history + itself + max lookahead)."""
        return self.audio_history + self.max_lookahead

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> MotionGenConfig:
        """Rebuild from saved JSON; unknown keys are an error (a newer format, not silently ignored)."""
        known = {f.name for f in fields(MotionGenConfig)}
        data = dict(data)
        data.pop("aux_phones", None)  # older weights: a training-only head inference never used
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}")
        return MotionGenConfig(**data)
