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
        self.audio_frames = 0
        self.rng = torch.Generator().manual_seed(self.seed)

    def set_emotion(self, label: int | None, intensity: float = 1.0) -> None:
        self.emotion = (self.cfg.n_emotions, 0.0) if label is None else (int(label), float(intensity))

    def push(self, audio: np.ndarray) -> list[np.ndarray]:
        """Audio vectors [n, A] in; the motion [40] (normalised) of every frame that became ready."""
        out: list[np.ndarray] = []
        for row in np.asarray(audio, np.float32):
            self.rows.append(row)
            self.audio_frames += 1
            if self.audio_frames > self.lookahead:
                out.extend(self._frame_ready())
        return out

    def flush(self) -> list[np.ndarray]:
        """End of stream: pad the lookahead with silence and return the frames still owed."""
        out: list[np.ndarray] = []
        for _ in range(self.lookahead):
            self.rows.append(self.silence)
            out.extend(self._frame_ready())
        return out

    def _frame_ready(self) -> list[np.ndarray]:
        self.labels.append(self.emotion)
        if len(self.labels) < self.cfg.chunk:
            return []
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
            **self.state,
        }
        self.labels = []
        out = self.engine(feeds)
        self.state = {k: out[f"{k}_out"] for k in STATE}
        return list(out["motion"][0])
