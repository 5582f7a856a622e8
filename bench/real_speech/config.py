"""What one ``xactor eval real`` run does: the dev set, the portraits, the sources, offline and live."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xactor.bench.real_speech.offline import PORTRAITS, SOURCES


@dataclass
class RealEvalConfig:
    devset: Path
    data_dir: Path  # avatar store of the run (portraits prepared there)
    weights_dir: Path
    out: Path | None = None
    portraits: tuple[str, ...] = PORTRAITS
    sources: tuple[str, ...] = SOURCES
    clips: list[str] | None = None
    offline: bool = True
    live: bool = False
    live_portraits: tuple[str, ...] = ("default", "grace-hopper")
    seed: int = 0
    lookahead: int = 1  # frames of future audio each frame waits for (offline and live alike)
    extra: dict[str, Any] = field(default_factory=dict)
