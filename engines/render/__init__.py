"""Renderers: motion + one avatar → RGB frames, by name, with a shared cache (docs/ARCHITECTURE.md §3)."""

from xactor.engines.render.base import (
    RENDERERS,
    Renderer,
    RendererOptions,
    RendererSpec,
    create_renderer,
    register_renderer,
)
from xactor.engines.render.pool import RendererPool

__all__ = [
    "RENDERERS",
    "Renderer",
    "RendererOptions",
    "RendererPool",
    "RendererSpec",
    "create_renderer",
    "register_renderer",
]
