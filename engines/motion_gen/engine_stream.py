"""A live stream over a step engine: the same frames as the reference sampler, on any backend.

:class:`EngineStreamer` has :class:`~engines.motion_gen.sampler.StreamingGenerator`'s interface
(``push``, ``flush``, ``reset``, ``set_emotion``) and produces the same frames from the same
audio and seed (tested), but holds its state as the named arrays of
:mod:`engines.motion_gen.step` and runs each chunk as one call of an
:class:`~engines.inference.Engine` — torch, ONNX Runtime or TensorRT.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from engines.inference import Engine
from engines.motion_gen.config import MotionGenConfig
from engines.motion_gen.step import STATE


class EngineStreamer:
    """One session's stream (batch 1) over ``engine`` (a :class:`~engines.motion_gen.step.MotionStep`
    on some backend); ``state_shapes`` is its ``state_shapes(1)``."""

    def __init__(
        self,
        engine: Engine,
        cfg: MotionGenConfig,
        state_shapes: dict[str, tuple[tuple[int, ...], torch.dtype]],
        silence: np.ndarray,
        seed: int = 0,
        lookahead: int | None = None,
    ) -> None:
        self.engine, self.cfg = engine, cfg
        self.lookahead = cfg.lookahead if lookahead is None else int(lookahead)
        if not 0 <= self.lookahead <= cfg.max_lookahead:
            raise ValueError(f"lookahead {self.lookahead} outside 0..{cfg.max_lookahead} for these weights")
        self.shapes = {k: shape for k, (shape, _) in state_shapes.items()}
        self.silence = np.asarray(silence, np.float32)
        self.seed = seed
        self.emotion = (cfg.n_emotions, 0.0)
        self.reset()

    def reset(self) -> None:
        cfg = self.cfg
        # The rows the next chunk's windows span: frames k - H + 1 .. k + C - 1 + L.
        self.rows: deque[np.ndarray] = deque(
            [self.silence] * (cfg.audio_history - 1),
            maxlen=cfg.audio_history + cfg.chunk - 1 + self.lookahead,
        )
        self.state = {k: np.zeros(self.shapes[k], np.float32) for k in STATE}
        self.labels: list[tuple[int, float]] = []  # emotion of each frame of the chunk being gathered
        self.due: deque[dict[str, np.ndarray]] = deque()  # complete chunks' feeds, not yet run
        self.ready: list[np.ndarray] = []  # frames run but not yet taken
        self.audio_frames = 0
        self.rng = torch.Generator().manual_seed(self.seed)

    def set_emotion(self, label: int | None, intensity: float = 1.0) -> None:
        self.emotion = (self.cfg.n_emotions, 0.0) if label is None else (int(label), float(intensity))

    def push(self, audio: np.ndarray) -> list[np.ndarray]:
        """Audio vectors [n, A] in; the motion [40] (normalised) of every frame that became ready."""
        self.enqueue(audio)
        return self.run_due()

    def flush(self) -> list[np.ndarray]:
        """End of stream: pad the lookahead with silence and return the frames still owed."""
        for _ in range(self.lookahead):
            self.rows.append(self.silence)
            self._frame_ready()
        return self.run_due()

    def enqueue(self, audio: np.ndarray) -> None:
        """Audio vectors [n, A] in; the chunks they complete wait in :attr:`due` (each chunk's audio,
        emotion and noise fixed now, in stream order) for :meth:`run_due` or a
        :class:`StepBatcher` that runs many sessions' chunks in one engine call."""
        for row in np.asarray(audio, np.float32):
            self.rows.append(row)
            self.audio_frames += 1
            if self.audio_frames > self.lookahead:
                self._frame_ready()

    def run_due(self) -> list[np.ndarray]:
        """Run this session's waiting chunks alone (batch 1); their frames, oldest first."""
        while self.due:
            self.accept(self.engine({**self.due[0], **self.state}))
        return self.take_ready()

    def accept(self, out: dict[str, np.ndarray]) -> None:
        """The engine's outputs (batch 1) for the oldest waiting chunk."""
        self.due.popleft()
        self.state = {k: out[f"{k}_out"] for k in STATE}
        self.ready.extend(out["motion"][0])

    def take_ready(self) -> list[np.ndarray]:
        out, self.ready = self.ready, []
        return out

    def _frame_ready(self) -> None:
        self.labels.append(self.emotion)
        if len(self.labels) < self.cfg.chunk:
            return
        cfg = self.cfg
        unheard = [self.silence] * (cfg.max_lookahead - self.lookahead)  # masked by the encoder
        audio = np.stack([*self.rows, *unheard])[None]  # [1, C + window - 1, A]
        noise = torch.randn((1, cfg.chunk, cfg.motion_dim), generator=self.rng).numpy()
        feeds = {
            "audio": audio,
            "lookahead": np.array([self.lookahead], np.int64),
            "emotion": np.array([[lab for lab, _ in self.labels]], np.int64),
            "intensity": np.array([[x for _, x in self.labels]], np.float32),
            "noise": noise,
        }
        self.labels = []
        self.due.append(feeds)


class StepBatcher:
    """Runs many sessions' waiting chunks on one shared engine, one call per round.

    Each round takes the oldest waiting chunk of every session that has one, stacks their feeds
    and states along the batch axis (rows of any age: the step masks each row's own cache), runs
    the engine once and hands each session its row. A session with several chunks waiting (it
    fell behind) takes part in several rounds; the others are not held back by it beyond those
    rounds. With guidance the KV cache's rows are [conditional rows | unconditional rows], so the
    sessions' halves are stacked separately.
    """

    def __init__(self, engine: Engine, branches: int) -> None:
        self.engine, self.branches = engine, branches
        self.calls = 0

    def run(self, streams: list[EngineStreamer]) -> None:
        while True:
            due = [s for s in streams if s.due]
            if not due:
                return
            out = self.engine(self._stack([{**s.due[0], **s.state} for s in due]))
            self.calls += 1
            for i, s in enumerate(due):
                s.accept(self._row(out, i))

    def _stack(self, feeds: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        out = {}
        for name in feeds[0]:
            if name in _KV:
                g = self.branches  # [N, G·1, H, S, dh] per session -> [N, G·B, H, S, dh]
                halves = [np.concatenate([f[name][:, k : k + 1] for f in feeds], 1) for k in range(g)]
                out[name] = np.concatenate(halves, 1)
            else:
                out[name] = np.concatenate([f[name] for f in feeds], 0)
        return out

    def _row(self, out: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
        row = {}
        for name, value in out.items():
            if name in _KV_OUT:
                b = value.shape[1] // self.branches
                row[name] = value[:, [k * b + i for k in range(self.branches)]]
            else:
                row[name] = value[i : i + 1]
        return row


_KV = {"cache_k", "cache_v"}
_KV_OUT = {"cache_k_out", "cache_v_out"}
