"""What the generator reads and writes, normalised: per-frame audio vectors and motion.

Audio: each 25 fps frame gives the shared front end's four 10 ms log-mel rows (80 bins) and the VAD
speech weight (:mod:`xactor.engines.audio.frontend`, the same numbers live and in training). Each mel bin
is standardised with the training corpus's mean and std, the four rows are flattened and the
speech weight appended: one vector of ``4 × 80 + 1`` values per frame. Audio before the stream
starts (the window's history at frame 0) is digital silence: the log floor in every bin, speech 0.

Speaker and channel (:class:`StreamShift`, weights trained with ``stream_norm_seconds > 0``): a
stream cannot be normalised per utterance (it has no future), but it can be normalised by its past.
Each stream keeps a causal running mean of its own log-mel over speech (VAD-weighted, a few
seconds long) and every row is moved by (corpus speech mean − that mean) before the corpus
standardisation: a microphone's EQ, the level and a speaker's spectral tilt are constant offsets
per bin in log-mel, and cancel. It starts at the corpus mean (no shift), exactly as in training,
where it runs over each clip from its first frame. Older weights (0) get the corpus
standardisation only; their level invariance came from the augmentation's gain and AGC alone.

Motion: each of the 40 channels standardised with the corpus's mean and std; the model works in
that space and :meth:`Normalizer.motion_out` maps back and clamps to the motion space.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from xactor.engines import motion_space as ms
from xactor.engines.audio.features import LOG_FLOOR, N_MELS
from xactor.engines.timebase import FRAME_SECONDS, ROWS_PER_FRAME


@dataclass(frozen=True)
class Normalizer:
    """Corpus statistics the model was trained with (saved with its weights)."""

    mel_mean: np.ndarray  # [80]
    mel_std: np.ndarray  # [80]
    motion_mean: np.ndarray  # [40]
    motion_std: np.ndarray  # [40]
    mel_speech_mean: np.ndarray | None = None  # [80] over speech rows: :class:`StreamShift`'s target

    def audio(self, log_mel: np.ndarray, speech: np.ndarray) -> np.ndarray:
        """[n, 4, 80] log-mel rows and [n] speech weights -> [n, 321] float32 model input."""
        n = log_mel.shape[0]
        mel = (log_mel - self.mel_mean) / self.mel_std  # [n, 4, 80]
        return np.concatenate([mel.reshape(n, -1), speech.reshape(n, 1)], axis=1).astype(np.float32)

    def silence(self, rows: int = 4) -> np.ndarray:
        """[321] the audio vector of a frame of digital silence (the window's padding)."""
        mel = np.full((1, rows, N_MELS), np.log(LOG_FLOOR), np.float32)
        return self.audio(mel, np.zeros(1, np.float32))[0]

    def motion_in(self, motion: np.ndarray) -> np.ndarray:
        """[..., 40] absolute motion -> normalised."""
        return ((motion - self.motion_mean) / self.motion_std).astype(np.float32)

    def motion_out(self, z: np.ndarray) -> np.ndarray:
        """[..., 40] normalised -> absolute motion, clamped to the motion space."""
        return ms.clamp_np((z * self.motion_std + self.motion_mean).astype(np.float32))

    def tensors(self) -> dict[str, torch.Tensor]:
        return {
            f"norm.{k}": torch.from_numpy(np.asarray(v, np.float32))
            for k, v in self.__dict__.items()
            if v is not None
        }

    @staticmethod
    def from_tensors(tensors: dict[str, torch.Tensor]) -> Normalizer:
        return Normalizer(
            **{
                k: tensors[f"norm.{k}"].numpy()
                for k in Normalizer.__dataclass_fields__
                if f"norm.{k}" in tensors
            }
        )

    @staticmethod
    def fit(log_mel: np.ndarray, motion: np.ndarray, speech_rows: np.ndarray | None = None) -> Normalizer:
        """Statistics of [N, 80] log-mel rows and [M, 40] motion frames (std floored: constant
        channels stay finite); ``speech_rows`` [N] bool marks the rows of speech (their mean is
        the stream shift's target)."""
        speech_mean = None
        if speech_rows is not None and speech_rows.any():
            speech_mean = log_mel[speech_rows].mean(0).astype(np.float32)
        return Normalizer(
            mel_mean=log_mel.mean(0).astype(np.float32),
            mel_std=np.maximum(log_mel.std(0), 1e-2).astype(np.float32),
            motion_mean=motion.mean(0).astype(np.float32),
            motion_std=np.maximum(motion.std(0), 1e-2).astype(np.float32),
            mel_speech_mean=speech_mean,
        )


MAX_SHIFT = 5.0  # nats (~43 dB) per bin: beyond this the input is not speech the model knows


class StreamShift:
    """A stream's causal speech mean per mel bin, moved onto the corpus's (module docstring).

    One per stream, reset at its start. ``apply`` must see every frame once, in order; the frame's
    own rows are shifted by the mean *before* them, then update it (weighted by the frame's speech
    weight), so offline over a whole clip and live in any chunking give the same numbers.
    """

    def __init__(self, target: np.ndarray, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError(f"stream normalisation needs a positive time constant, got {seconds}")
        self.target = np.asarray(target, np.float32)
        rows = seconds / FRAME_SECONDS * ROWS_PER_FRAME
        self.rate = float(1.0 - (1.0 - 1.0 / rows) ** ROWS_PER_FRAME)  # per frame of 4 rows
        self.reset()

    def reset(self) -> None:
        self.mean = self.target.astype(np.float64)

    def apply(self, log_mel: np.ndarray, speech: np.ndarray) -> np.ndarray:
        """[n, 4, 80] log-mel rows and [n] speech weights -> the shifted rows [n, 4, 80]."""
        out = np.empty_like(log_mel, dtype=np.float32)
        for k in range(log_mel.shape[0]):
            shift = np.clip(self.target - self.mean, -MAX_SHIFT, MAX_SHIFT)  # [80]
            out[k] = log_mel[k] + shift
            self.mean += float(speech[k]) * self.rate * (log_mel[k].mean(0) - self.mean)
        return out


def stream_shift(norm: Normalizer, seconds: float) -> StreamShift | None:
    """The shift a model trained with ``stream_norm_seconds = seconds`` needs (None: none)."""
    if seconds <= 0:
        return None
    if norm.mel_speech_mean is None:
        raise ValueError("weights trained with stream normalisation lack the corpus speech mean")
    return StreamShift(norm.mel_speech_mean, seconds)
