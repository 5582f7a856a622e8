"""How often the generator's own phone recognizer (its phonetic front end, ``cfg.phones``) names
the phone the aligner found: frame-level accuracy of its argmax on the real dev set.

The recognizer is frame-local (one 40 ms audio slot in, logits out), so it is scored on exactly
the audio vectors the streaming generator feeds itself: the generator source is driven as live
and its per-frame vectors are read back (``_audio``, its queue of vectors not yet stepped: a
private attribute, read here so that whatever the source does to its audio — normalisation per
stream included — is what is scored). Classes are the training's ``PHONE_CLASSES`` (silence and
the ARPAbet phones without stress), the aligner's inventory too.
"""

from __future__ import annotations

import numpy as np
import torch

from xactor.engines.motion_gen.weights import GeneratorWeights
from xactor.engines.motion_source.generator import GeneratorMotionSource
from xactor.training.corpus.motion.visemes import SCHWA
from xactor.training.motion.data import PHONE_CLASSES


def audio_vectors(weights: GeneratorWeights, samples: np.ndarray) -> np.ndarray:
    """The generator's per-frame audio vectors [T, A] for 16 kHz ``samples`` (T = whole frames)."""
    source = GeneratorMotionSource(weights, lookahead_frames=0, seed=0)
    source.push_audio(samples)
    if not source._audio:
        return np.zeros((0, weights.config.audio_dim), np.float32)
    return np.concatenate(source._audio).astype(np.float32)  # [T, A]


@torch.no_grad()
def recognised(weights: GeneratorWeights, samples: np.ndarray) -> np.ndarray:
    """The recognizer's phone per frame [T] (str), or an empty array for weights without one."""
    phones = weights.model.audio.phones
    if phones is None:
        return np.zeros(0, object)
    logits = phones(torch.from_numpy(audio_vectors(weights, samples)))  # [T, classes]
    return np.array(PHONE_CLASSES, object)[logits.argmax(-1).numpy()]


def accuracy(predicted: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> tuple[int, int]:
    """(correct, counted) over the frames of ``mask`` both series cover."""
    n = min(len(predicted), len(truth), len(mask))
    sel = mask[:n]
    truth = np.where(truth[:n] == SCHWA, "AH", truth[:n])  # the recognizer's inventory has no stress
    return int((predicted[:n][sel] == truth[sel]).sum()), int(sel.sum())
