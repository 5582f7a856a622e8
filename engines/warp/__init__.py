"""The photo-path warp renderer: avatar + motion → frames, no training needed (docs/ARCHITECTURE.md §3)."""

from engines.warp.cache import AvatarCache
from engines.warp.renderer import AvatarRenderer, WarpRenderer

__all__ = ["AvatarCache", "AvatarRenderer", "WarpRenderer"]
