"""Renderers: motion frames + one avatar → RGB frames (docs/ARCHITECTURE.md §3), by name, with a shared cache."""

from engines.render.base import (
    RENDERERS,
    Renderer,
    RendererOptions,
    RendererSpec,
    create_renderer,
    register_renderer,
)
from engines.render.pool import RendererPool

__all__ = [
    "RENDERERS",
    "Renderer",
    "RendererOptions",
    "RendererPool",
    "RendererSpec",
    "create_renderer",
    "register_renderer",
]
