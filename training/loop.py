"""Pieces every training loop here shares: the progress bar, the JSON-lines log, the optimiser
step, the EMA update and the atomic checkpoint (a crash mid-write never leaves a half checkpoint
to resume from)."""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn


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
