"""The photo-path warp renderer: avatar + motion → frames, no training needed (DESIGN §4)."""

from engines.warp.cache import AvatarCache
from engines.warp.renderer import AvatarRenderer, WarpRenderer

__all__ = ["AvatarCache", "AvatarRenderer", "WarpRenderer"]
