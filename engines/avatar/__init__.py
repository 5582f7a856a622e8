"""Avatars prepared from portraits: decode, detect, mesh, align, store as versioned bundles."""

from engines.avatar.align import Alignment, paste_back
from engines.avatar.bundle import BUNDLE_VERSION, SIZES, AvatarBundle, AvatarMeta
from engines.avatar.errors import AvatarError
from engines.avatar.store import DEFAULT_ALIAS, AvatarStore

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
