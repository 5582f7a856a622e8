"""The renderer contract: one avatar's per-avatar state, built once, turning motion into frames.

A :class:`Renderer` belongs to one (avatar, size, renderer, backend) and holds everything that is
computed once per avatar (for the warp renderer: the interpolation solve, eye and mouth
constants, the traced module). It is *shared* by every session on that avatar and size (see
:class:`xactor.engines.render.pool.RendererPool`), so ``render`` must be safe to call from several
threads and must not keep per-session state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xactor.engines.registry import Registry, check_backend

if TYPE_CHECKING:
    from xactor.engines.avatar.bundle import AvatarBundle


class Renderer(ABC):
    """motion [B, 40] float32 → frames [B, S, S, 3] uint8 RGB for one avatar at one size."""

    @property
    @abstractmethod
    def size(self) -> int:
        """Side of the square frames in pixels."""

    @abstractmethod
    def render(self, motion: np.ndarray) -> np.ndarray:
        """motion [B, 40] (or [40]) float32, any values (clamped) → uint8 [B, S, S, 3] (or [S, S, 3])."""

    @property
    def nbytes(self) -> int:
        """Memory this renderer keeps (its per-avatar cache), for the pool's memory limit."""
        return 0

    def warm_up(self) -> None:
        """Pay first-call costs (allocation, tracing) now, not on a session's first frame."""
        self.render(np.zeros((1, 40), dtype=np.float32))


@dataclass(frozen=True)
class RendererOptions:
    """What the server (or CLI) hands a renderer it builds."""

    size: int = 256
    backend: str = "auto"  # one of engines.registry.BACKENDS the renderer supports
    weights_dir: Path | None = None  # where learned renderers find their weights


@dataclass(frozen=True)
class RendererSpec:
    """A registered renderer: how to build one per avatar and size, and what it runs on."""

    name: str
    description: str
    backends: tuple[str, ...]  # supported concrete backends, fastest first
    build: Callable[[AvatarBundle, RendererOptions], Renderer]


RENDERERS: Registry[RendererSpec] = Registry(
    "renderer", builtin_modules=("xactor.engines.warp.renderer", "xactor.engines.diffusion.renderer")
)


def register_renderer(spec: RendererSpec) -> RendererSpec:
    """Make ``spec`` available by name to the server (``renderer`` setting) and the CLI."""
    return RENDERERS.register(spec.name, spec)


def resolve_backend(name: str, backend: str) -> str:
    """The concrete backend renderer ``name`` runs on for ``backend`` (``auto`` → its fastest)."""
    return check_backend(backend, RENDERERS.get(name).backends, f"renderer {name!r}")


def create_renderer(name: str, bundle: AvatarBundle, options: RendererOptions) -> Renderer:
    """Build renderer ``name`` for ``bundle`` (UnknownNameError for unknown names or backends)."""
    spec = RENDERERS.get(name)
    backend = resolve_backend(name, options.backend)
    return spec.build(bundle, RendererOptions(options.size, backend, options.weights_dir))
