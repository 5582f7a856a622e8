"""The one way to open the avatar store and the renderer pool from settings (same guards everywhere)."""

from __future__ import annotations

from xactor.engines.avatar.store import AvatarStore
from xactor.engines.render.pool import RendererPool
from xactor.server.settings import Settings


def open_avatar_store(settings: Settings) -> AvatarStore:
    """The avatar store under ``settings.data_dir`` with the upload guards of the settings."""
    return AvatarStore(
        settings.data_dir / "avatars",
        max_image_pixels=settings.max_image_pixels,
        min_face_px=settings.min_face_px,
    )


def open_renderer_pool(settings: Settings) -> RendererPool:
    """The pool of shared per-avatar renderers, bounded by ``renderer_cache_mb``."""
    return RendererPool(max_bytes=int(settings.renderer_cache_mb * 1e6))
