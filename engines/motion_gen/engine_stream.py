"""A live stream over a step engine: the same frames as the reference sampler, on any backend.

:class:`EngineStreamer` has :class:`~engines.motion_gen.sampler.StreamingGenerator`'s interface
(``push``, ``flush``, ``reset``, ``set_emotion``) and produces the same frames from the same
audio and seed (tested), but holds its state as the named arrays of
:mod:`xactor.engines.motion_gen.step` and runs each chunk as one call of an
:class:`~engines.inference.Engine` — torch, ONNX Runtime or TensorRT.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque

import numpy as np
import torch

from xactor.engines.inference import Engine
from xactor.engines.motion_gen.config import MotionGenConfig
from xactor.engines.motion_gen.step import STATE


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
        slots: StateSlots | None = None,
    ) -> None:
        self.engine, self.cfg = engine, cfg
        self.slots = slots
        self.slot = -1 if slots is None else slots.acquire()
        # The slot goes back at close(), or when the streamer is collected if nobody closed it.
        self._release = None if slots is None else weakref.finalize(self, slots.release, self.slot)
        self._own_state: dict[str, np.ndarray] = {}
        self.lookahead = cfg.lookahead if lookahead is None else int(lookahead)
        cfg.check_lookahead(self.lookahead)
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
        self.state = {k: np.zeros(self.shapes[k], np.float32) for k in STATE}  # a fresh session
        self.labels: list[tuple[int, float]] = []  # emotion of each frame of the chunk being gathered
        self.due: deque[dict[str, np.ndarray]] = deque()  # complete chunks' feeds, not yet run
        self.ready: list[np.ndarray] = []  # frames run but not yet taken
        self.audio_frames = 0
        self.rng = torch.Generator().manual_seed(self.seed)

    def close(self) -> None:
        """Give the pool slot back now (a closed stream keeps no state); idempotent."""
        if self._release is not None:
            self._release()
        self.slots, self._own_state = None, {}

    @property
    def state(self) -> dict[str, np.ndarray]:
        """The session's step state (batch 1): its pool slot's rows, or its own arrays."""
        return self._own_state if self.slots is None else self.slots.gather([self.slot])

    @state.setter
    def state(self, value: dict[str, np.ndarray]) -> None:
        if self.slots is None:
            self._own_state = value
        else:
            self.slots.scatter([self.slot], value)

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
        self.state = {k: out[f"{k}_out"] for k in STATE}
        self.took(out["motion"])

    def took(self, motion: np.ndarray) -> None:
        """The oldest waiting chunk ran (its state already stored): its frames [1, C, 40]."""
        self.due.popleft()
        self.ready.extend(motion[0])

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


class StateSlots:
    """Every session's step state in arrays allocated once, one slot per session.

    Each state tensor is held for ``capacity`` sessions (the KV cache as [N, G·capacity, H, S, dh],
    its rows [conditional slots | unconditional slots]; the others as [capacity, ...]); a session
    owns one slot from start to end. A batched call gathers its sessions' rows with one ``take``
    per tensor and scatters the results back with one assignment, instead of stacking and
    splitting every session's own arrays each round; a GPU backend keeps the same layout in device
    memory. When every slot is taken the pool doubles (rare: a realloc and one copy).
    """

    def __init__(
        self, state_shapes: dict[str, tuple[tuple[int, ...], torch.dtype]], branches: int, capacity: int = 16
    ) -> None:
        self.branches = branches
        self.row_shapes = {k: shape for k, (shape, _) in state_shapes.items()}  # batch-1 shapes
        self.capacity = 0
        self.arrays: dict[str, np.ndarray] = {}
        self._free: list[int] = []
        self._lock = threading.Lock()
        self._grow(capacity)

    def _axis(self, name: str) -> int:
        return 1 if name in _KV else 0

    def _grow(self, capacity: int) -> None:
        old, old_capacity = self.arrays, self.capacity
        self.arrays = {}
        for name, shape in self.row_shapes.items():
            axis = self._axis(name)
            full = list(shape)
            full[axis] = shape[axis] * capacity  # G rows per session on the KV axis, else 1
            self.arrays[name] = np.zeros(full, np.float32)
            if old_capacity:
                rows = self._rows(name, list(range(old_capacity)), capacity)
                index: list[slice | np.ndarray] = [slice(None)] * len(full)
                index[axis] = rows
                self.arrays[name][tuple(index)] = old[name]
        self._free += list(range(old_capacity, capacity))
        self.capacity = capacity

    def _rows(self, name: str, slots: list[int], capacity: int | None = None) -> np.ndarray:
        """Indices along the tensor's batch axis of ``slots`` (both halves for the KV cache)."""
        cap = self.capacity if capacity is None else capacity
        g = self.branches if name in _KV else 1
        return np.array([k * cap + i for k in range(g) for i in slots], np.int64)

    def acquire(self) -> int:
        """A free slot, zeroed (a fresh session's state)."""
        with self._lock:
            if not self._free:
                self._grow(2 * self.capacity)
            slot = min(self._free)
            self._free.remove(slot)
        self.scatter([slot], {k: np.zeros(shape, np.float32) for k, shape in self.row_shapes.items()})
        return slot

    def release(self, slot: int) -> None:
        with self._lock:
            if slot not in self._free:
                self._free.append(slot)

    @property
    def in_use(self) -> int:
        return self.capacity - len(self._free)

    def gather(self, slots: list[int]) -> dict[str, np.ndarray]:
        """The state of ``slots``, in order, as one batch (fresh arrays)."""
        with self._lock:
            return {k: np.take(a, self._rows(k, slots), self._axis(k)) for k, a in self.arrays.items()}

    def scatter(self, slots: list[int], state: dict[str, np.ndarray]) -> None:
        """Store a batch's state (rows in the order of ``slots``) into their slots."""
        with self._lock:
            for name, array in self.arrays.items():
                index: list[slice | np.ndarray] = [slice(None)] * array.ndim
                index[self._axis(name)] = self._rows(name, slots)
                array[tuple(index)] = state[name]


class StepBatcher:
    """Runs many sessions' waiting chunks on one shared engine, one call per round.

    Each round takes the oldest waiting chunk of every session that has one, stacks their feeds
    and states along the batch axis (states gathered from their :class:`StateSlots` where the
    sessions share one) (rows of any age: the step masks each row's own cache), runs
    the engine once and hands each session its row. A session with several chunks waiting (it
    fell behind) takes part in several rounds; the others are not held back by it beyond those
    rounds. With guidance the KV cache's rows are [conditional rows | unconditional rows], so the
    sessions' halves are stacked separately.
    """

    def __init__(self, engine: Engine, branches: int) -> None:
        self.engine, self.branches = engine, branches
        self.calls = 0

    def run(self, streams: list[EngineStreamer]) -> None:
        limit = getattr(self.engine, "max_batch", None) or len(streams)  # a plan's largest batch
        while True:
            waiting = [s for s in streams if s.due]
            if not waiting:
                return
            for start in range(0, len(waiting), limit):
                self._round(waiting[start : start + limit])

    def _round(self, due: list[EngineStreamer]) -> None:
        pool = due[0].slots
        if pool is not None and all(s.slots is pool for s in due):  # one gather, one scatter
            slots = [s.slot for s in due]
            out = self.engine(self._stack([s.due[0] for s in due]) | pool.gather(slots))
            pool.scatter(slots, {k: out[f"{k}_out"] for k in STATE})
            for i, s in enumerate(due):
                s.took(out["motion"][i : i + 1])
        else:
            out = self.engine(self._stack([{**s.due[0], **s.state} for s in due]))
            for i, s in enumerate(due):
                s.accept(self._row(out, i))
        self.calls += 1

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
