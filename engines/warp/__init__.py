"""The photo-path warp renderer: avatar + motion → frames, no training needed (docs/ARCHITECTURE.md §3)."""

from xactor.engines.warp.cache import AvatarCache
from xactor.engines.warp.module import WarpRenderer
from xactor.engines.warp.renderer import AvatarRenderer

__all__ = ["AvatarCache", "AvatarRenderer", "WarpRenderer"]
