"""Build a corpus: plan clips, synthesise them in worker processes, write shards, resume.

A build is a deterministic *plan* — clip ``i`` has its split, voice, seed and target length fixed
by the corpus seed alone — cut into shards of ``shard_clips`` clips. Workers (one process each:
espeak-ng and festival are one engine per process) build whole shards and write them atomically;
the parent shows progress and, at the end, rebuilds the manifest from the shards. A second run
with the same arguments skips the shards that exist, so an interrupted build continues where it
stopped and ends with the same bytes as an uninterrupted one.

One clip: a speaker (voice) talks for ``clip_seconds`` — utterances from its split's text pool,
with pauses of 0.2–2 s between them and now and then a muted stretch (silence: the face listens)
— while an emotion schedule changes several times; each utterance is spoken with the prosody of
the emotion of its moment (pitch level and range, rate). The audio is analysed once by the
server's own front end (VAD weight, log-mel, prosody per frame) and the motion is made from the
phonemes, that prosody, the emotion track and the life module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xactor.engines import timebase
from xactor.training.corpus.phonemes import SILENCE, PhoneSpan
from xactor.training.corpus.store.format import complete_shards, config_dict, write_manifest
from xactor.training.corpus.synth.splits import SPLITS, split_voices
from xactor.training.corpus.tts.voices import Synthesizer, SynthResult, Voice

log = logging.getLogger(__name__)

ENGINES: tuple[str, ...] = ("espeak-ng", "flite", "festival")  # the default build
# piper: a neural voice; mbrola: recorded human diphones (each its own corpus, train only)
KNOWN_ENGINES: tuple[str, ...] = (*ENGINES, "piper", "mbrola")


@dataclass(frozen=True)
class SynthConfig:
    """Everything that decides a corpus's bytes (saved in its manifest)."""

    hours: float = 5.0
    seed: int = 0
    clip_seconds: tuple[float, float] = (60.0, 300.0)  # each clip's length is drawn in this range
    shard_clips: int = 4
    split_shares: dict[str, float] = field(default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1})
    engines: tuple[str, ...] = ENGINES
    pause_seconds: tuple[float, float] = (0.2, 2.0)
    muted_probability: float = 0.08  # after an utterance, a muted stretch of 2-8 s instead of a pause
    held_out_voices: float = 0.2  # share of voice families for val + test


@dataclass(frozen=True)
class ClipPlan:
    index: int
    split: str
    voice: Voice
    seed: int
    seconds: float

    @property
    def id(self) -> str:
        return f"{self.split}-{self.index:06d}"


def make_synthesizer(engine: str) -> Synthesizer:
    """The synthesiser of ``engine`` (imported here: each engine loads native libraries)."""
    if engine == "espeak-ng":
        from xactor.training.corpus.tts.espeak import EspeakSynthesizer

        return EspeakSynthesizer()
    if engine == "flite":
        from xactor.training.corpus.tts.flite import FliteSynthesizer

        return FliteSynthesizer()
    if engine == "festival":
        from xactor.training.corpus.tts.festival import FestivalSynthesizer

        return FestivalSynthesizer()
    if engine == "piper":
        from xactor.training.corpus.tts.piper import PiperSynthesizer

        return PiperSynthesizer()
    if engine == "mbrola":
        from xactor.training.corpus.tts.mbrola import MbrolaSynthesizer

        return MbrolaSynthesizer()
    raise ValueError(f"unknown engine {engine!r}; known: {', '.join(KNOWN_ENGINES)}")


def available_voices(engines: tuple[str, ...]) -> list[Voice]:
    """Corpus voices of the engines installed here (an engine that is missing is logged, skipped)."""
    voices: list[Voice] = []
    for engine in engines:
        synth = make_synthesizer(engine)
        if not synth.available():
            log.warning("engine %s is not available here; its voices are left out", engine)
            continue
        voices.extend(synth.voices())
    return voices


def plan_clips(config: SynthConfig, voices: list[Voice]) -> list[ClipPlan]:
    """Clips until ``hours`` are reached; split by the configured shares, voices by split."""
    by_split = split_voices(voices, config.seed, config.held_out_voices)
    if not by_split["train"]:
        raise ValueError(f"no voice for the train split: {len(voices)} voices are too few")
    shares_by_split = dict(config.split_shares)
    for split in SPLITS:
        if not by_split[split]:
            # One voice family (a single neural voice) cannot be held out from itself: its corpus
            # is training data only, and voices held out by family come from the other corpora.
            log.warning("no voice family left for the %s split: its share goes to train", split)
            shares_by_split["train"] += shares_by_split[split]
            shares_by_split[split] = 0.0
    rng = np.random.default_rng([config.seed, 1])
    plans: list[ClipPlan] = []
    total = 0.0
    target = config.hours * 3600.0
    shares = np.array([shares_by_split[s] for s in SPLITS], dtype=np.float64)
    shares /= shares.sum()
    done = dict.fromkeys(SPLITS, 0.0)
    while total < target:
        # The split furthest below its share goes next: every prefix of the plan is balanced.
        split = SPLITS[
            int(np.argmin([done[s] / max(shares[i] * target, 1e-9) if shares[i] > 0 else np.inf
                           for i, s in enumerate(SPLITS)]))
        ]  # fmt: skip
        pool = by_split[split]
        voice = pool[int(rng.integers(len(pool)))]
        lo, hi = config.clip_seconds
        seconds = float(min(rng.uniform(lo, hi), max(target - total, lo)))
        plans.append(ClipPlan(len(plans), split, voice, int(rng.integers(2**31)), seconds))
        done[split] += seconds
        total += seconds
    return plans


def shards_of(plans: list[ClipPlan], shard_clips: int) -> list[list[ClipPlan]]:
    return [plans[i : i + shard_clips] for i in range(0, len(plans), shard_clips)]


# ---- one clip ---------------------------------------------------------------------------------------


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * timebase.SAMPLE_RATE), dtype=np.float32)


def _shift(phones: list[PhoneSpan], offset: float, word_offset: int) -> list[PhoneSpan]:
    return [
        PhoneSpan(
            p.phone, p.start + offset, p.end + offset, p.stress, p.word + word_offset if p.word >= 0 else -1
        )
        for p in phones
    ]


def _add_silence(phones: list[PhoneSpan], start: float, end: float) -> None:
    """Append a silence span, merged with a silence that ends where it starts."""
    if end <= start:
        return
    if phones and phones[-1].phone == SILENCE and abs(phones[-1].end - start) < 1e-6:
        last = phones.pop()
        phones.append(PhoneSpan(SILENCE, last.start, end))
    else:
        phones.append(PhoneSpan(SILENCE, start, end))


@dataclass
class ClipAudio:
    """A clip's speech before analysis: audio, phonemes, texts and where the muted stretches are."""

    audio: np.ndarray
    phones: list[PhoneSpan]
    texts: list[str]
    muted: list[tuple[float, float]]  # (start s, end s)
    emotions: list[tuple[float, str, float]]  # (utterance start s, emotion, intensity) per utterance


class _Timeline:
    """Audio parts and phonemes appended in time order (silences merged)."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.phones: list[PhoneSpan] = []
        self.t = 0.0
        self.words = 0

    def silence(self, seconds: float) -> None:
        audio = _silence(seconds)
        self.parts.append(audio)
        end = self.t + audio.size / timebase.SAMPLE_RATE
        _add_silence(self.phones, self.t, end)
        self.t = end

    def speech(self, result: SynthResult, gain: float = 1.0) -> None:
        audio = np.clip(np.asarray(result.audio, dtype=np.float32) * gain, -1.0, 1.0)
        self.parts.append(audio)
        for span in _shift(result.phones, self.t, self.words):
            if span.phone == SILENCE:
                _add_silence(self.phones, span.start, span.end)
            else:
                self.phones.append(span)
        end = self.t + audio.size / timebase.SAMPLE_RATE
        if self.phones[-1].end < end:
            _add_silence(self.phones, self.phones[-1].end, end)
        self.words += max((p.word for p in result.phones), default=-1) + 1
        self.t = end

    def audio(self) -> np.ndarray:
        """All parts, padded with silence to whole video frames."""
        audio = np.concatenate(self.parts) if self.parts else np.zeros(0, np.float32)
        frames = max(1, -(-audio.size // timebase.SAMPLES_PER_FRAME))
        padded = np.pad(audio, (0, frames * timebase.SAMPLES_PER_FRAME - audio.size))
        _add_silence(self.phones, self.t, padded.size / timebase.SAMPLE_RATE)
        return padded


Segments = tuple[str | float, ...]


def speak_clip(
    plan: ClipPlan,
    config: SynthConfig,
    speak: Callable[[str, str, float], tuple[SynthResult, float]],
    utterances: Iterator[Segments],
    emotion_at: Callable[[float], tuple[str, float]],
) -> ClipAudio:
    """Utterances, pauses and muted stretches until the clip's length.

    ``utterances`` gives each utterance's segments (text, and pause seconds between texts);
    ``speak(text, emotion, intensity)`` returns the engine's result and an amplitude gain for the
    emotion at the utterance's start time.
    """
    rng = np.random.default_rng([plan.seed, 2])
    line = _Timeline()
    line.silence(float(rng.uniform(0.3, 1.0)))
    texts: list[str] = []
    muted: list[tuple[float, float]] = []
    emotions: list[tuple[float, str, float]] = []
    while line.t < plan.seconds:
        segments = next(utterances)
        emotion, intensity = emotion_at(line.t)
        emotions.append((line.t, emotion, intensity))
        for segment in segments:
            if isinstance(segment, str):
                result, gain = speak(segment, emotion, intensity)
                line.speech(result, gain)
                texts.append(segment)
            else:
                line.silence(float(segment))
        if rng.random() < config.muted_probability:
            gap = float(rng.uniform(2.0, 8.0))
            muted.append((line.t, line.t + gap))
        else:
            gap = float(rng.uniform(*config.pause_seconds))
        line.silence(gap)
    audio = line.audio()
    return ClipAudio(audio, line.phones, texts, muted, emotions)


def pending_shards(
    root: Path, plans: list[ClipPlan], config: SynthConfig
) -> list[tuple[int, list[ClipPlan]]]:
    done = set(complete_shards(root))
    return [(i, s) for i, s in enumerate(shards_of(plans, config.shard_clips)) if i not in done]


BuildShard = Callable[[Path, int, list[ClipPlan], SynthConfig], int]


def run_build(
    root: Path,
    config: SynthConfig,
    plans: list[ClipPlan],
    build_shard: BuildShard,
    workers: int = 1,
    on_shard: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Build every missing shard (in ``workers`` processes), then the manifest."""
    root.mkdir(parents=True, exist_ok=True)
    todo = pending_shards(root, plans, config)
    if workers <= 1:
        for index, shard in todo:
            clips = build_shard(root, index, shard, config)
            if on_shard is not None:
                on_shard(index, clips)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures: dict[Future[int], int] = {
                pool.submit(build_shard, root, index, shard, config): index for index, shard in todo
            }
            for future in as_completed(futures):
                clips = future.result()
                if on_shard is not None:
                    on_shard(futures[future], clips)
    return write_manifest(root, config_dict(config))
