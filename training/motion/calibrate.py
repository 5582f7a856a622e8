"""``xactor train calibrate``: fit the articulation calibration of a set of generator weights.

The weights are streamed exactly as live (:class:`~engines.motion_source.generator.
GeneratorMotionSource`, the default lookahead, the tail released with silence) over training
clips — part of them through the call-quality augmentation, since that is what users sound like —
and the quantiles of their jaw and lip channels on speech frames are matched to the true motion's
on the same frames (:class:`~engines.motion_gen.calibration.Calibration`). The result is written
into the weights' JSON; refitting replaces it. Only training clips are used: held-out voices and
real speech stay unseen.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from xactor.engines import motion_space as ms
from xactor.engines import timebase
from xactor.engines.motion_gen.calibration import Calibration
from xactor.engines.motion_gen.weights import load_weights, save_calibration
from xactor.engines.motion_source.generator import GeneratorMotionSource
from xactor.engines.offline.speech_motion import motion_from_audio
from xactor.training.corpus.augment import loader_augment
from xactor.training.corpus.motion.visemes import viseme_for
from xactor.training.motion.data import Corpora, load_split
from xactor.training.motion.metrics import BILABIALS, OPEN_VOWELS

log = logging.getLogger(__name__)

# The channels that open and close the mouth; the small sideways ones keep the model's values.
CHANNELS: tuple[str, ...] = (
    "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthPressLeft", "mouthPressRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthRollLower", "mouthRollUpper",
)  # fmt: skip


def streamed_pairs(
    weights_dir: Path,
    name: str,
    data: Corpora,
    clips: int,
    seconds: float,
    augmented: float,
    seed: int,
    lookahead: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """([N, 40] the uncalibrated weights' streamed motion at ``lookahead`` (default: the
    config's), [N, 40] truth) on speech frames."""
    weights = replace(load_weights(weights_dir, name), calibration=None, lookahead_calibrations={})
    if lookahead is not None:
        weights.config.check_lookahead(lookahead)
    pool = load_split(data, "train")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(pool), size=min(clips, len(pool)), replace=False)
    hook = loader_augment()
    predicted, truth = [], []
    for j, i in enumerate(sorted(chosen)):
        clip = pool[int(i)]
        frames = min(clip.frames, round(seconds * timebase.FPS))
        audio = clip.audio[: frames * timebase.SAMPLES_PER_FRAME].astype(np.float32)
        if clip.audio.dtype == np.int16:
            audio /= 32768.0
        if j < round(augmented * len(chosen)):
            audio = hook(audio, int(rng.integers(2**31)))
        source = GeneratorMotionSource(weights, lookahead_frames=lookahead, seed=int(rng.integers(2**31)))
        motion, _ = motion_from_audio(source, audio)
        speech = clip.speech[:frames] > 0.5
        predicted.append(motion[:frames][speech])
        truth.append(clip.motion[:frames][speech])
        log.info("calibration clip %s: %d speech frames", clip.id, int(speech.sum()))
    return np.concatenate(predicted), np.concatenate(truth)


def target_shortfall(data: Corpora, clips: int = 200) -> tuple[float, float]:
    """How far the corpus's true jaw falls short of its viseme targets on (up to ``clips``)
    training clips: ``(reach, floor)``. ``floor`` is the jaw of its closures (the 90th percentile
    of jawOpen at /p b m/ centres); ``reach`` (≥ 1) stretches what lies above it so the stressed
    open vowels' true peaks meet their targets on average (unstressed AH is the schwa, no open
    vowel): mean(target − floor) / mean(peak − floor)."""
    jaw = ms.INDEX["jawOpen"]
    peaks: list[float] = []
    targets: list[float] = []
    closures: list[float] = []
    for clip in load_split(data, "train")[:clips]:
        for span in clip.phones:
            phone, start, end, stress = str(span[0]), float(span[1]), float(span[2]), int(span[3])
            lo = int(np.floor(start * timebase.FPS + 0.5))
            hi = max(lo + 1, int(np.ceil(end * timebase.FPS - 0.5)))
            if hi > clip.motion.shape[0]:
                continue
            if phone in BILABIALS:
                closures.append(float(clip.motion[min((lo + hi) // 2, hi - 1), jaw]))
            elif phone in OPEN_VOWELS and not (phone == "AH" and stress == 0):
                peaks.append(float(clip.motion[lo:hi, jaw].max()))
                targets.append(float(viseme_for(phone, stress).targets.get("jawOpen", 0.0)))
    if not peaks or not closures:
        raise ValueError("no stressed open vowels or no /p b m/ in the training clips")
    floor = float(np.percentile(closures, 90))
    reach = (float(np.mean(targets)) - floor) / max(float(np.mean(peaks)) - floor, 1e-6)
    return max(1.0, reach), floor


def calibrate(
    weights_dir: Path,
    name: str,
    data: Corpora,
    clips: int = 16,
    seconds: float = 60.0,
    augmented: float = 0.5,
    seed: int = 0,
    reach: bool = True,
    lookahead: int | None = None,
) -> Calibration:
    """Fit and write the calibration of ``weights_dir/name``; returns it. ``reach``: open
    vowels as far as the viseme targets (:func:`target_shortfall`), not as far as the corpus's
    composed jaw. ``lookahead``: stream at that L and keep the map for it (beside the default
    one, which is fitted at the config's L)."""
    predicted, truth = streamed_pairs(weights_dir, name, data, clips, seconds, augmented, seed, lookahead)
    stretch, floor = target_shortfall(data) if reach else (1.0, 0.0)
    calibration = Calibration.fit(predicted, truth, CHANNELS, reach=stretch, floor=floor)
    fitted = {
        "recipe": "xactor train calibrate",
        "clips": int(clips),
        "seconds": float(seconds),
        "augmented": float(augmented),
        "seed": int(seed),
        "speech_frames": int(predicted.shape[0]),
        "reach": round(stretch, 4),
        "reach_floor": round(floor, 4),
        "lookahead": lookahead,
    }
    save_calibration(weights_dir, name, calibration, fitted, lookahead)
    return calibration
