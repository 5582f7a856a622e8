"""The renderer contract: one avatar's per-avatar state, built once, turning motion into frames.

A :class:`Renderer` belongs to one (avatar, size, renderer, backend) and holds everything that is
computed once per avatar (for the warp renderer: the interpolation solve, eye and mouth
constants, the traced module). It is *shared* by every session on that avatar and size (see
:class:`xactor.engines.render.pool.RendererPool`), so ``render`` must be safe to call from several
threads and must not keep per-session state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
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

    def batch_key(self) -> Hashable:
        """Renderers with equal keys render together in one :meth:`render_together` call: the
        render stage's batching across sessions *and avatars*. The default key is the renderer
        itself, so only sessions on the same avatar and size share a call; a renderer whose per-frame
        network is shared by every avatar (the diffusion renderer's denoiser) returns a key of that
        network and gathers each avatar's tensors into one batch."""
        return id(self)

    def render_together(self, parts: Sequence[tuple[Renderer, np.ndarray]]) -> list[np.ndarray]:
        """Frames of several renderers that share this one's :meth:`batch_key`: ``parts`` are
        (renderer, motion [n_i, 40]) pairs, the result is uint8 [n_i, S, S, 3] per pair, in order.
        The default renders each renderer's rows in one :meth:`render` call."""
        return render_each(parts)

    def warm_up(self) -> None:
        """Pay first-call costs (allocation, tracing) now, not on a session's first frame."""
        self.render(np.zeros((1, 40), dtype=np.float32))


def render_each(parts: Sequence[tuple[Renderer, np.ndarray]]) -> list[np.ndarray]:
    """:meth:`Renderer.render_together` without a shared batch: the rows of each distinct renderer
    stacked into one call, split back per part."""
    rows: dict[int, list[int]] = {}  # renderer -> the parts it draws
    for i, (renderer, _) in enumerate(parts):
        rows.setdefault(id(renderer), []).append(i)
    out: list[np.ndarray] = [np.empty(0, np.uint8)] * len(parts)
    for members in rows.values():
        renderer = parts[members[0]][0]
        motion = [np.atleast_2d(np.asarray(parts[i][1], np.float32)) for i in members]
        frames = renderer.render(np.concatenate(motion))  # [sum n_i, S, S, 3]
        for i, chunk in zip(members, np.split(frames, np.cumsum([len(m) for m in motion])[:-1]), strict=True):
            out[i] = chunk
    return out


@dataclass(frozen=True)
class RendererOptions:
    """What the server (or CLI) hands a renderer it builds."""

    size: int = 256
    backend: str = "auto"  # one of engines.registry.BACKENDS the renderer supports
    weights_dir: Path | None = None  # where learned renderers find their weights
    # Intra-op threads of a renderer's own runtime session (the diffusion denoiser's ONNX Runtime):
    # a second one renders a frame sooner and costs more CPU per frame (bench/RESULTS.md).
    threads: int = 2


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
    return spec.build(bundle, replace(options, backend=backend))
