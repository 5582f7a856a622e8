"""Avatars prepared from portraits: decode, detect, mesh, align, store as versioned bundles."""

from xactor.engines.avatar.align import Alignment, paste_back
from xactor.engines.avatar.bundle import BUNDLE_VERSION, SIZES, AvatarBundle, AvatarMeta
from xactor.engines.avatar.errors import AvatarError
from xactor.engines.avatar.store import DEFAULT_ALIAS, AvatarStore

__all__ = [
    "BUNDLE_VERSION",
    "DEFAULT_ALIAS",
    "SIZES",
    "Alignment",
    "AvatarBundle",
    "AvatarError",
    "AvatarMeta",
    "AvatarStore",
    "paste_back",
]
