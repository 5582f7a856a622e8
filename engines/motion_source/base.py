"""The motion-source interface: streaming 16 kHz audio in, 25 fps motion frames out.

See docs/ARCHITECTURE.md §2 and §4.

A motion source is the stage between the microphone and the renderer. The server pushes whatever
audio it has (any chunk length) and pulls every motion frame whose audio, plus the source's
lookahead, is complete. Frame ``k`` covers input samples ``[k * 640, (k + 1) * 640)`` and may look
``lookahead_frames`` frames further, so it becomes available once
``(k + 1 + lookahead_frames) * 640`` samples have been pushed.

Silence is not a pause: the server feeds silence (zeros) when the microphone is silent or stalled,
so frames keep coming and the portrait keeps listening (blinks, small head motion); it never
freezes. Implementations must treat zeros as ordinary input, not as "no data".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from xactor.engines import timebase
from xactor.engines.registry import Registry

# The emotions a source can be asked to act, in the order of the generator's label indices. The
# same tuple as the corpus's (training.corpus.store.format.EMOTIONS; a test keeps them equal): serving
# never imports training/.
EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "surprised")


@dataclass(frozen=True)
class MotionFrame:
    """One motion frame produced by a :class:`MotionSource`."""

    index: int  # video frame number since the last reset (25 fps)
    motion: np.ndarray  # [MOTION_DIM=40] float32, inside engines.motion_space LOW/HIGH
    # Index in the 16 kHz input stream (counted from reset) of the newest audio sample this frame
    # depended on: (index + 1 + lookahead_frames) * 640 - 1. Used for latency accounting: the frame
    # can be no older than the moment that sample arrived.
    newest_sample: int
    speech: float  # 0..1 VAD speech weight at this frame


class MotionSource(ABC):
    """Push audio features, get motion frames, reset. One instance per session (it holds state)."""

    fps: int = timebase.FPS
    sample_rate: int = timebase.SAMPLE_RATE
    samples_per_frame: int = timebase.SAMPLES_PER_FRAME
    name: ClassVar[str] = "unnamed"  # the registered name of the implementation
    # Why this source runs instead of the one asked for (e.g. the generator's weights are
    # missing), or None; set by a builder that falls back, reported by :meth:`describe`.
    fallback: str | None = None

    @property
    @abstractmethod
    def lookahead_frames(self) -> int:
        """Future frames of audio a frame needs before it can be produced (latency floor L × 40 ms)."""

    @abstractmethod
    def push_audio(self, samples: np.ndarray) -> None:
        """Append float32 16 kHz mono samples in [-1, 1], any length (zeros when the mic is silent)."""

    @abstractmethod
    def pull(self) -> list[MotionFrame]:
        """All frames whose audio plus lookahead is complete, in order; never the same frame twice."""

    @abstractmethod
    def reset(self) -> None:
        """Forget all audio and state; the next frame has index 0 and sample counting restarts."""

    def pop_stage_seconds(self) -> dict[str, float]:
        """Compute seconds spent per named sub-stage (``vad``, ``features``...) since the last call.

        The server reports them as stage timings; whatever push + pull took beyond them counts as
        ``motion``. A source without sub-stages keeps this default.
        """
        return {}

    def batch_member(self) -> BatchMember | None:
        """For a source whose model step can run batched with other sessions' (the render worker
        then runs all such sessions' waiting steps together before pulling, see
        :class:`BatchMember`): this session's part, its pushed audio queued as steps. None (the
        default): the source runs its own model in ``pull``."""
        return None

    def close(self) -> None:
        """The session is over: give back what the source holds in shared pools (the default holds
        none). Called once, from the thread that runs the source, after its last use."""
        return None

    def describe(self) -> dict[str, Any]:
        """What actually runs (session stats, ``/health``, the CLI): a fallback must be visible."""
        info: dict[str, Any] = {"name": self.name, "lookahead_frames": self.lookahead_frames}
        if self.fallback is not None:
            info["fallback"] = self.fallback
        return info


class BatchMember(ABC):
    """A session's part in a batched model step (see :meth:`MotionSource.batch_member`).

    The caller (the render worker) knows nothing of the model: it groups the members whose
    :meth:`batch_key` is equal (e.g. those sharing one engine), and asks one of each group to
    :meth:`run_batch` the group's waiting steps; whatever a batch leaves undone, each source's
    ``pull`` runs alone.
    """

    @abstractmethod
    def batch_key(self) -> Hashable:
        """Members with equal keys can run in one batch (and are of one implementation)."""

    @abstractmethod
    def has_work(self) -> bool:
        """Steps are waiting (a member with none is left out of its batch)."""

    @abstractmethod
    def run_batch(self, members: Sequence[Self]) -> None:
        """Run the waiting steps of ``members`` (this one among them, all with its key) in as few
        calls as the model allows; each member's results wait for its source's ``pull``. Raises
        on failure: the steps stay queued for each source to run alone."""


@dataclass(frozen=True)
class MotionSourceOptions:
    """What the server (or CLI) hands every motion source it builds."""

    lookahead_frames: int = 1  # future 40 ms frames of audio a frame may use
    backend: str = "auto"  # one of engines.registry.BACKENDS the source supports
    weights_dir: Path | None = None  # where learned sources find their weights
    seed: int | None = None  # for reproducible randomness (blinks, idle motion)
    emotion: str | None = None  # one of EMOTIONS to act; None: inferred from the audio
    emotion_intensity: float = 1.0  # 0 (none) .. 1 (as trained); sources without emotions ignore both

    def __post_init__(self) -> None:
        if self.lookahead_frames < 0:
            raise ValueError(f"lookahead_frames must be >= 0, got {self.lookahead_frames}")
        check_emotion(self.emotion, self.emotion_intensity)


def check_emotion(emotion: str | None, intensity: float = 1.0) -> None:
    """Raise ValueError for an emotion that is not one of :data:`EMOTIONS` or an intensity outside
    0..1 (the range the generator was trained on)."""
    if emotion is not None and emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}; known: {', '.join(EMOTIONS)} (or none: inferred)")
    if not 0.0 <= intensity <= 1.0:
        raise ValueError(f"emotion_intensity must be in 0..1, got {intensity}")


@dataclass(frozen=True)
class MotionSourceSpec:
    """A registered motion source: how to build one per session, and what it runs on."""

    name: str
    description: str
    backends: tuple[str, ...]  # supported concrete backends, fastest first
    build: Callable[[MotionSourceOptions], MotionSource]
    # True: ``build`` receives "auto" unresolved and picks by measuring on this machine
    measures_auto: bool = False


MOTION_SOURCES: Registry[MotionSourceSpec] = Registry(
    "motion source",
    builtin_modules=("xactor.engines.motion_source.heuristic", "xactor.engines.motion_source.generator"),
)


def register_motion_source(spec: MotionSourceSpec) -> MotionSourceSpec:
    """Make ``spec`` available by name to the server (``motion_source`` setting) and the CLI."""
    return MOTION_SOURCES.register(spec.name, spec)


def create_motion_source(name: str, options: MotionSourceOptions) -> MotionSource:
    """Build the motion source registered as ``name`` (raises UnknownNameError for unknown names
    or a backend it lacks)."""
    from xactor.engines.registry import check_backend

    spec = MOTION_SOURCES.get(name)
    backend = check_backend(options.backend, spec.backends, f"motion source {name!r}")
    if options.backend == "auto" and spec.measures_auto:
        backend = "auto"
    return spec.build(replace(options, backend=backend))
