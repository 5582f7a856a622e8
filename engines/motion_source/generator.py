"""The learned motion source: the motion generator (stage 1) behind the MotionSource contract.

Per session: pushed audio → the shared :class:`~engines.audio.frontend.AudioFrontEnd` (VAD, log-mel)
→ :meth:`Normalizer.audio <engines.motion_gen.features.Normalizer.audio>` (one vector per frame) →
:class:`~engines.motion_gen.sampler.StreamingGenerator` (its own KV cache, emotion and noise) →
:meth:`Normalizer.motion_out <engines.motion_gen.features.Normalizer.motion_out>` → absolute motion.
Blinks and gaze come from :class:`~engines.motion_source.life.Life` (driven by the same VAD
weight as the heuristic's), not from the model: the corpus draws them from Life alone, so the
model could only imitate a random process — and, free-running for minutes on its own past, its
imitation drifted (gaze locked off-camera after ~4 minutes; blinks too frequent, sometimes one eye).

The generator releases frame ``k`` once audio frame ``k + L`` is in, i.e. once
``(k + 1 + L) × 640`` samples are pushed: exactly the MotionSource contract — for weights with
chunk C = 1 (the default). Weights trained with C > 1 release a chunk's frames together, when its
last frame's audio is in, and ``newest_sample`` says so.

Weights are loaded once per process and shared by every session (the model is read-only at
inference; each session's state lives in its own StreamingGenerator). The student
(``motion_student``, 1–2 steps) runs when present, else the teacher. Missing or corrupt weights
are not fatal: building the source logs one warning and returns the heuristic source instead, so a
server without weights still serves a talking face — and says so in ``describe()``.

Backends (``options.backend``): ``onnxruntime`` (the step exported to ONNX once per weights file,
:mod:`xactor.engines.motion_gen.runtime`) or ``torch`` (the reference sampler); ``auto`` is whichever
ran one session's step faster on this machine, measured once per process and weights file (ONNX
Runtime here, 1.9 vs 3.2 ms). Both give the same frames (tested). torch threads are the
render worker's (``torch_threads`` setting); the ONNX Runtime session uses one thread.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xactor.engines.audio.frontend import AudioFrontEnd
from xactor.engines.inference import Engine
from xactor.engines.motion_gen.engine_stream import EngineStreamer, StepBatcher
from xactor.engines.motion_gen.features import stream_shift
from xactor.engines.motion_gen.runtime import STEP_BACKENDS, StepEngine, fastest_backend, step_engine
from xactor.engines.motion_gen.sampler import Denoiser, StreamingGenerator
from xactor.engines.motion_gen.weights import (
    SHIPPED_DIR,
    STUDENT,
    TEACHER,
    GeneratorWeights,
    WeightsError,
    load_weights,
)
from xactor.engines.motion_source.base import (
    EMOTIONS,
    BatchMember,
    MotionFrame,
    MotionSource,
    MotionSourceOptions,
    MotionSourceSpec,
    check_emotion,
    register_motion_source,
)
from xactor.engines.motion_source.life import Life, with_life_channels
from xactor.engines.timebase import frame_end_sample

log = logging.getLogger(__name__)

_Signature = tuple[int, int, int, int]  # mtime_ns and size of the .safetensors and the .json
_cache: dict[tuple[Path, str], tuple[_Signature, GeneratorWeights]] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True, eq=False)
class StepMember(BatchMember):
    """A generator session on a step engine, in a batch: sessions on the same ``engine`` object
    run their waiting chunks in one call per round (:class:`StepBatcher`)."""

    engine: Engine
    branches: int  # 2 with guidance, else 1
    streamer: EngineStreamer  # the session's stream: its due chunks

    def batch_key(self) -> Hashable:
        return (StepMember, id(self.engine))

    def has_work(self) -> bool:
        return bool(self.streamer.due)

    def run_batch(self, members: Sequence[StepMember]) -> None:
        StepBatcher(self.engine, self.branches).run([m.streamer for m in members])


def weights_name(folder: Path) -> str:
    """Which checkpoint of ``folder`` runs live: the student when it is there, else the teacher."""
    return STUDENT if (folder / f"{STUDENT}.safetensors").is_file() else TEACHER


def _signature(folder: Path, name: str) -> _Signature:
    a, b = (folder / f"{name}.safetensors").stat(), (folder / f"{name}.json").stat()
    return (a.st_mtime_ns, a.st_size, b.st_mtime_ns, b.st_size)


def shared_weights(folder: Path, name: str) -> GeneratorWeights:
    """``load_weights(folder, name)``, loaded once per process and shared (reloaded only when the
    files change); raises :class:`WeightsError` like it."""
    key = (folder.resolve(), name)
    with _cache_lock:
        try:
            signature = _signature(folder, name)
        except OSError:
            signature = None
        hit = _cache.get(key)
        if hit is not None and hit[0] == signature:
            return hit[1]
        weights = load_weights(folder, name)
        if signature is not None:
            _cache[key] = (signature, weights)
        return weights


class GeneratorMotionSource(MotionSource):
    """The learned generator as a motion source (see module docstring). One instance per session.

    Not thread-safe: call ``push_audio`` and ``pull`` from one thread (or under one lock).
    """

    name = "generator"

    def __init__(
        self,
        weights: GeneratorWeights,
        lookahead_frames: int | None = None,
        seed: int | None = None,
        emotion: str | None = None,
        emotion_intensity: float = 1.0,
        weights_label: str = "",
        engine: StepEngine | None = None,
    ) -> None:
        cfg = weights.config
        lookahead = cfg.lookahead if lookahead_frames is None else int(lookahead_frames)
        which = f" {weights_label}" if weights_label else ""
        cfg.check_lookahead(lookahead, "lookahead_frames", f"the generator weights{which}")
        check_emotion(emotion, emotion_intensity)
        self._lookahead = lookahead
        self._weights = weights
        self._label = weights_label
        self._emotion = (emotion, float(emotion_intensity))
        self._normalizer = weights.normalizer
        self._shift = stream_shift(weights.normalizer, cfg.stream_norm_seconds)  # per stream, or None
        s = weights.sampler
        self._engine = engine
        self._backend = "torch" if engine is None else engine.engine.backend
        self._generator: StreamingGenerator | EngineStreamer
        if engine is None:  # the reference sampler, eager torch
            self._generator = StreamingGenerator(
                Denoiser(weights.model, s.guidance),
                self._normalizer.silence(),
                steps=s.steps,
                shift=s.shift,
                seed=0 if seed is None else int(seed),
                lookahead=lookahead,
            )
        else:  # the same frames from the step graph on another backend
            self._generator = EngineStreamer(
                engine.engine,
                cfg,
                engine.state_shapes,
                self._normalizer.silence(),
                seed=0 if seed is None else int(seed),
                lookahead=lookahead,
                slots=engine.slots,
            )
        self._generator.set_emotion(None if emotion is None else EMOTIONS.index(emotion), emotion_intensity)
        self._frontend = AudioFrontEnd(prosody=False)  # the model reads log-mel and speech only
        self._life = Life(seed=0 if seed is None else int(seed))
        self.reset()

    @property
    def lookahead_frames(self) -> int:
        return self._lookahead

    @property
    def generator(self) -> StreamingGenerator | EngineStreamer:
        """The session's streaming generator (benchmarks reach its cache through this)."""
        return self._generator

    def reset(self) -> None:
        self._frontend.reset()
        if self._shift is not None:
            self._shift.reset()
        self._life.reset()
        self._generator.reset()  # audio window, KV cache, position, noise generator (emotion stays)
        self._audio: list[np.ndarray] = []  # [n, 321] audio vectors not yet given to the generator
        self._speech: deque[float] = deque()  # speech weight of audio frames next_frame, next_frame + 1...
        self._next_frame = 0

    def push_audio(self, samples: np.ndarray) -> None:
        """Append float32 16 kHz mono samples; NaN/inf are zeroed and values clipped to [-1, 1]."""
        feats = self._frontend.push(samples)
        if len(feats):
            mel = feats.log_mel if self._shift is None else self._shift.apply(feats.log_mel, feats.speech)
            self._audio.append(self._normalizer.audio(mel, feats.speech))  # [n, 321]
            self._speech.extend(feats.speech.tolist())

    def pop_stage_seconds(self) -> dict[str, float]:
        """Seconds spent in VAD and in feature analysis since the last call (the front end's); the
        model's time is what the server counts as ``motion``."""
        return self._frontend.pop_stage_seconds()

    def batch_member(self) -> BatchMember | None:
        """On a step engine: queue the pushed audio's chunks (the worker may run them batched with
        other sessions'; ``pull`` runs whatever is still waiting)."""
        if self._engine is None or not isinstance(self._generator, EngineStreamer):
            return None
        self._enqueue()
        return StepMember(self._engine.engine, self._engine.branches, self._generator)

    def close(self) -> None:
        if isinstance(self._generator, EngineStreamer):
            self._generator.close()

    def _enqueue(self) -> None:
        if self._audio and isinstance(self._generator, EngineStreamer):
            self._generator.enqueue(np.concatenate(self._audio))  # [n, 321]
            self._audio = []

    def _model_frames(self) -> list[np.ndarray]:
        """Normalised motion of every frame that became ready since the last call."""
        if isinstance(self._generator, EngineStreamer):
            self._enqueue()
            return self._generator.run_due()  # those a batched call ran are already ready
        if not self._audio:
            return []
        vectors = np.concatenate(self._audio)  # [n, 321]
        self._audio = []
        return self._generator.push(vectors)

    def pull(self) -> list[MotionFrame]:
        frames = []
        chunk = self._weights.config.chunk
        for z in self._model_frames():  # frame k once audio frame k + L is in (C = 1)
            k = self._next_frame
            # Like the heuristic: the gate after the newest audio the frame depends on (k + L).
            speech = self._speech[self._lookahead]
            last = (k // chunk + 1) * chunk - 1  # a chunk's frames see each other: its last frame's audio
            frames.append(
                MotionFrame(
                    index=k,
                    motion=with_life_channels(
                        self._weights.absolute(z, self._lookahead), self._life.step(k, speech)
                    ),
                    newest_sample=frame_end_sample(last, self._lookahead),
                    speech=float(speech),
                )
            )
            self._speech.popleft()
            self._next_frame += 1
        return frames

    def describe(self) -> dict[str, Any]:
        s = self._weights.sampler
        emotion, intensity = self._emotion
        return {
            **super().describe(),
            "weights": self._label,
            "backend": self._backend,
            "steps": s.steps,
            "guidance": s.guidance,
            "emotion": emotion,
            "emotion_intensity": intensity if emotion is not None else None,
        }


def build_generator_source(options: MotionSourceOptions) -> MotionSource:
    """The ``generator`` source for ``options``, or, when its weights are missing or corrupt, the
    heuristic one (one warning, and ``fallback`` says why). A lookahead the weights were not
    trained for is a ValueError, not a fallback: the caller asked for something impossible."""
    folder = options.weights_dir or SHIPPED_DIR
    name = weights_name(folder)
    try:
        if not (folder / f"{name}.safetensors").is_file():
            raise WeightsError(f"{folder}: no {STUDENT}.safetensors or {TEACHER}.safetensors (missing)")
        weights = shared_weights(folder, name)
    except WeightsError as exc:
        from xactor.engines.motion_source.heuristic import HeuristicMotionSource

        log.warning("generator weights unusable: %s; falling back to the heuristic motion source", exc)
        source = HeuristicMotionSource(lookahead_frames=options.lookahead_frames, seed=options.seed)
        source.fallback = f"generator weights unusable: {exc}"
        return source
    engine = None
    files = (folder / f"{name}.safetensors", folder / f"{name}.json")
    backend = options.backend
    try:
        if backend == "auto":  # measured once per process and weights file
            backend = fastest_backend(weights, files)
        if backend != "torch":
            engine = step_engine(weights, files, backend)
    except Exception as exc:  # an export or runtime failure: the reference still runs
        log.warning("generator step on %s unavailable (%s); running it in torch", backend, exc)
    return GeneratorMotionSource(
        weights,
        lookahead_frames=options.lookahead_frames,
        seed=options.seed,
        emotion=options.emotion,
        emotion_intensity=options.emotion_intensity,
        weights_label=str(folder / name),
        engine=engine,
    )


register_motion_source(
    MotionSourceSpec(
        name="generator",
        description="learned: a causal diffusion transformer over a KV cache (falls back to heuristic "
        "without weights)",
        backends=STEP_BACKENDS,
        build=build_generator_source,
        measures_auto=True,
    )
)
