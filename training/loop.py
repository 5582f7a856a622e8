"""Pieces every training loop here shares: :class:`TrainingLoop` (resume, the step loop, periodic
jobs), the progress bar, the JSON-lines log, the optimiser step, the EMA update and the atomic
checkpoint (a crash mid-write never leaves a half checkpoint to resume from)."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

log = logging.getLogger(__name__)


class Stateful(Protocol):
    """A module or optimiser: what a checkpoint saves and a resume loads."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any], /) -> Any: ...


def progress_bar(label: str, enabled: bool) -> Progress:
    """A bar ``label ━━━ done/total info ETA``; tasks carry an ``info`` field (the loss)."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} {task.fields[info]}"),
        TimeRemainingColumn(),
        disable=not enabled,
    )


class JsonLog:
    """Append-only JSON lines (one record per write, flushed); a no-op where ``enabled`` is False
    (ranks other than 0)."""

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self._file = path.open("a") if enabled else None

    def write(self, record: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> JsonLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def optimiser_step(
    opt: torch.optim.Optimizer, loss: torch.Tensor, model: torch.nn.Module, clip: float = 1.0
) -> None:
    """One update: gradients of ``loss``, their norm clipped to ``clip`` over ``model``, a step."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema ← decay · ema + (1 − decay) · model, parameter by parameter."""
    for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
        pe.lerp_(pm, 1.0 - decay)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file, then rename over ``path``."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


class TrainingLoop:
    """The scaffold every training script here shares, so that each supplies only its step and state.

    It owns the run's step count and training seconds, resume from ``out/<checkpoint>`` (the
    script's modules and optimisers by key, plus whatever else the script saved), the step loop with
    its progress bar, the JSON-lines log of the step loss every ``log_every`` steps, and the periodic
    jobs (validation, export, checkpoint) that run every N steps and at the last one. Only rank 0
    writes (``rank0``); the others step in lock-step.
    """

    def __init__(
        self,
        out: Path,
        label: str,
        total: int,
        *,
        checkpoint: str = "checkpoint.pt",
        log_name: str = "train_log.jsonl",
        rank0: bool = True,
        progress: bool = True,
    ) -> None:
        self.out, self.label, self.total = out, label, total
        self.checkpoint_path = out / checkpoint
        self.log_path = out / log_name
        self.rank0, self.progress = rank0, progress
        self.step, self.trained_s, self.loss = 0, 0.0, math.nan
        self._log: JsonLog | None = None

    def resume(self, parts: Mapping[str, Stateful], map_location: Any = None) -> dict[str, Any] | None:
        """Load ``parts`` (name → module or optimiser), the step and the training seconds from the
        checkpoint if there is one; returns the whole saved state (for script-specific fields)."""
        if not self.checkpoint_path.exists():
            return None
        state: dict[str, Any] = torch.load(
            self.checkpoint_path, map_location=map_location, weights_only=False
        )
        for name, part in parts.items():
            part.load_state_dict(state[name])
        self.step, self.trained_s = int(state["step"]), float(state["trained_s"])
        log.info(
            "resumed from %s at step %d (%.0f s trained)", self.checkpoint_path, self.step, self.trained_s
        )
        return state

    def save(self, parts: Mapping[str, Stateful], **extra: Any) -> None:
        """Checkpoint ``parts``' state dicts, the step, the training seconds and ``extra``, atomically."""
        state = {name: part.state_dict() for name, part in parts.items()}
        save_checkpoint(
            self.checkpoint_path, {**state, "step": self.step, "trained_s": self.trained_s, **extra}
        )

    def write(self, record: dict[str, Any]) -> None:
        """One record into the run's JSON log (for the periodic jobs; only while :meth:`run` runs)."""
        assert self._log is not None, "the log is open only inside run()"
        self._log.write(record)

    def entry(self) -> dict[str, Any]:
        """The default step record: step, loss, training seconds."""
        return {"step": self.step, "loss": round(self.loss, 5), "trained_s": round(self.trained_s, 1)}

    def run(
        self,
        step_fn: Callable[[int], torch.Tensor],
        log_every: int,
        entry: Callable[[], dict[str, Any]] | None = None,
        every: Sequence[tuple[int, Callable[[], dict[str, Any] | None]]] = (),
    ) -> dict[str, Any]:
        """Call ``step_fn(step)`` (one update; returns its loss) until ``total`` steps, timing each.

        Every ``log_every`` steps and at the last, ``entry()`` (default :meth:`entry`) goes to the
        log; then each ``(n, job)`` of ``every`` runs every ``n`` steps and at the last, in order.
        Returns the last record a job returned (the latest validation)."""
        record: dict[str, Any] = {}
        bar = progress_bar(self.label, self.progress and self.rank0)
        log_file = JsonLog(self.log_path, self.rank0)
        self._log = log_file
        try:
            with bar, log_file:
                task = bar.add_task(self.label.split()[0], total=self.total, completed=self.step, info="")
                while self.step < self.total:
                    t0 = time.perf_counter()
                    loss = step_fn(self.step)
                    self.step += 1
                    self.trained_s += time.perf_counter() - t0
                    self.loss = loss.item()
                    bar.update(task, completed=self.step, info=f"loss {self.loss:.4f}")
                    last = self.step == self.total
                    if self.step % log_every == 0 or last:
                        log_file.write((entry or self.entry)())
                    for n, job in every:
                        if self.step % n == 0 or last:
                            record = job() or record
        finally:
            self._log = None
        return record
