"""What the generator reads and writes, normalised: per-frame audio vectors and motion.

Audio: each 25 fps frame gives the shared front end's four 10 ms log-mel rows (80 bins) and the VAD
speech weight (:mod:`engines.audio.frontend`, the same numbers live and in training). Each mel bin
is standardised with the training corpus's mean and std, the four rows are flattened and the
speech weight appended: one vector of ``4 × 80 + 1`` values per frame. Audio before the stream
starts (the window's history at frame 0) is digital silence: the log floor in every bin, speech 0.

Gain: the bins are not normalised per utterance (a streaming model cannot see the future), so
level invariance comes from the corpus augmentation's gain, clipping and AGC stages; the speech
weight marks speech whatever its level.

Motion: each of the 40 channels standardised with the corpus's mean and std; the model works in
that space and :meth:`Normalizer.motion_out` maps back and clamps to the motion space.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engines import motion_space as ms
from engines.audio.features import LOG_FLOOR, N_MELS


@dataclass(frozen=True)
class Normalizer:
    """Corpus statistics the model was trained with (saved with its weights)."""

    mel_mean: np.ndarray  # [80]
    mel_std: np.ndarray  # [80]
    motion_mean: np.ndarray  # [40]
    motion_std: np.ndarray  # [40]

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
        return {f"norm.{k}": torch.from_numpy(np.asarray(v, np.float32)) for k, v in self.__dict__.items()}

    @staticmethod
    def from_tensors(tensors: dict[str, torch.Tensor]) -> Normalizer:
        return Normalizer(**{k: tensors[f"norm.{k}"].numpy() for k in Normalizer.__dataclass_fields__})

    @staticmethod
    def fit(log_mel: np.ndarray, motion: np.ndarray) -> Normalizer:
        """Statistics of [N, 80] log-mel rows and [M, 40] motion frames (std floored: constant
        channels stay finite)."""
        return Normalizer(
            mel_mean=log_mel.mean(0).astype(np.float32),
            mel_std=np.maximum(log_mel.std(0), 1e-2).astype(np.float32),
            motion_mean=motion.mean(0).astype(np.float32),
            motion_std=np.maximum(motion.std(0), 1e-2).astype(np.float32),
        )
